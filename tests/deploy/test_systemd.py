#!/usr/bin/env python3
"""The systemd unit (issue 13, part 5).  With a running systemd (PID 1 is
systemd and /run/systemd/system exists) the unit, pointed at the build's
proxyauthd and a test configuration, is started as a transient copy:
/healthz answers, `systemctl stop` ends it cleanly.  Without one (this
test machine: a container whose PID 1 is not systemd) it says so, and
`systemd-analyze verify` plus the hardening checks read from the unit
apply, with `systemd-analyze security --offline` giving the exposure
score (printed; it must stay at 2.0 or below, the "OK" band).  Moved here
from tests/integration/test_deploy_kit.py.
"""
import os
import re
import shutil
import subprocess
import sys
import urllib.request

import deploylib
from deploylib import e2e, run

UNIT = os.path.join(deploylib.ROOT, "deploy", "systemd", "proxyauthd.service")


def systemd_running():
    try:
        return open("/proc/1/comm").read().strip() == "systemd" and \
            os.path.isdir("/run/systemd/system")
    except OSError:
        return False


def check_text(s, text):
    want = ["DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
            "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=\n",
            "AmbientCapabilities=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
            "ConfigurationDirectory=proxyauthd", "ExecReload=/bin/kill -HUP $MAINPID",
            "KillSignal=SIGTERM", "MemoryDenyWriteExecute=yes", "UMask=0077"]
    s.check("systemd: hardening directives present", all(w in text for w in want),
            [w for w in want if w not in text])
    m = re.search(r"^TimeoutStopSec=(\d+)", text, re.M)
    s.check("systemd: TimeoutStopSec above the 10 s drain", m and int(m.group(1)) > 10)
    s.check("systemd: the configuration is checked (-t) before start",
            re.search(r"^ExecStartPre=\S*proxyauthd -t ", text, re.M))


def run_under_systemd(s, text):
    # Not under /tmp: the unit has a private /tmp (PrivateTmp=yes).
    d = "/run/pa-deploy-test-%d" % os.getpid()
    os.makedirs(d, 0o755)
    s.closers.append(lambda: shutil.rmtree(d, ignore_errors=True))
    users = os.path.join(d, "users.htpasswd")
    s.add_user(users, "demo", "demo-password", "demo")
    os.chmod(users, 0o644)
    port = e2e.free_port()
    conf = os.path.join(d, "proxyauthd.conf")
    with open(conf, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:%d\n[htpasswd]\nfile = %s\n" % (port, users))
    os.chmod(conf, 0o644)
    name = "pa-deploy-test-%d.service" % os.getpid()
    unit = text.replace("/usr/local/bin/proxyauthd", e2e.DAEMON).replace(
        "/etc/proxyauthd/proxyauthd.conf", conf)
    path = os.path.join("/run/systemd/system", name)
    with open(path, "w") as f:
        f.write(unit)
    s.closers.append(lambda: (run(["systemctl", "stop", name], check=False),
                              os.unlink(path), run(["systemctl", "daemon-reload"], check=False)))
    run(["systemctl", "daemon-reload"])
    r = run(["systemctl", "start", name], check=False, timeout=60)
    s.check("systemd: the unit starts", r.returncode == 0, r.out)

    def healthy():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=2) as h:
                return h.status == 200
        except OSError:
            return False
    s.check("systemd: /healthz answers under systemd", e2e.wait_for(healthy, 20))
    r = run(["systemctl", "stop", name], check=False, timeout=60)
    st = run(["systemctl", "show", "-p", "Result", "-p", "ExecMainStatus", name]).out
    s.check("systemd: systemctl stop ends it with status 0",
            r.returncode == 0 and "Result=success" in st and "ExecMainStatus=0" in st, st)


def body(s):
    text = open(UNIT).read()
    check_text(s, text)
    if systemd_running():
        print("# systemd: running here: the unit is started under systemd")
        run_under_systemd(s, text)
    else:
        print("# systemd: not running here (PID 1 is %s): systemd-analyze verify and the "
              "hardening checks read from the unit apply" % open("/proc/1/comm").read().strip())
    sa = shutil.which("systemd-analyze")
    if not s.check("systemd: systemd-analyze is installed (deploy/install-deps.sh test)", sa):
        return
    d = os.path.join(s.dir, "unit")
    os.makedirs(d)
    unit = s.write(os.path.join("unit", "proxyauthd.service"),
                   text.replace("/usr/local/bin/proxyauthd", e2e.DAEMON))
    r = subprocess.run([sa, "verify", unit], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=e2e.child_env(), timeout=60)
    out = r.stdout.decode()
    # Messages about other units on the machine are not ours.
    ours = [l for l in out.splitlines() if "proxyauthd" in l]
    s.check("systemd: systemd-analyze verify passes", r.returncode == 0 and not ours, out)
    r = subprocess.run([sa, "security", "--offline=yes", unit], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=e2e.child_env(), timeout=60)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", out)
    if m:
        print("# systemd: systemd-analyze security exposure %s %s" % (m.group(1), m.group(2)))
    s.check("systemd: systemd-analyze security exposure at most 2.0",
            m and float(m.group(1)) <= 2.0, out[-3000:])


if __name__ == "__main__":
    sys.exit(deploylib.main("deploy-systemd", body))
