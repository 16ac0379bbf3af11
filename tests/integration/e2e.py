"""Shared pieces of the end-to-end proxy tests (test_nginx.py,
test_caddy.py, test_squid.py, test_squid_helper.py): a temporary folder,
free loopback ports, child processes that die with the test (PDEATHSIG)
and are killed in teardown even after a failure, proxyauthd started from a
configuration text, htpasswd users, and a small check/report runner in
the style of test_cli.sh (every check runs; the last line is "N passed,
M failed"; the exit status is non-zero on any failure).

Configurations of the proxies come from the shipped files in deploy/,
with only ports and paths substituted.
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

DAEMON = os.environ.get("PA_DAEMON_BIN")
PASSWD = os.environ.get("PROXYAUTH_PASSWD_BIN")
SQUID_HELPER = os.environ.get("PA_SQUID_BIN")
DEPLOY = os.environ.get("PA_DEPLOY_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy")
TESTS = os.path.dirname(os.path.abspath(__file__))

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgid(0, 0)


def child_env(extra=None):
    """The environment for a child: no PROXYAUTHD_* (they are overrides)
    and none of ctest's PA_* variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROXYAUTHD_") and not k.startswith("PA_")}
    env.update(extra or {})
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Suite:
    """Owns a temporary folder and every child process; close() (run from
    a finally) kills them all and removes the folder."""

    def __init__(self, name):
        if not DAEMON or not PASSWD:
            print("run through ctest (PA_DAEMON_BIN, PROXYAUTH_PASSWD_BIN)", file=sys.stderr)
            sys.exit(2)
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="pa-%s." % name)
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.closers = []
        self.passed = 0
        self.failed = 0

    # processes -------------------------------------------------------
    def spawn(self, argv, log_name, env=None, **kw):
        log = open(os.path.join(self.dir, log_name), "ab")
        p = subprocess.Popen(argv, stdout=kw.pop("stdout", log), stderr=log,
                             stdin=kw.pop("stdin", subprocess.DEVNULL),
                             env=child_env(env), preexec_fn=_die_with_parent, **kw)
        p.log_path = log.name
        log.close()
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=15):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        return p.returncode

    def read(self, name):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        for p in reversed(self.procs):
            try:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(10)
            except Exception:
                pass
        for c in reversed(self.closers):
            try:
                c()
            except Exception:
                pass
        if os.environ.get("PA_KEEP_TMP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # files and users -------------------------------------------------
    def write(self, name, text, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def add_user(self, file, user, password, groups=None, cost=4):
        args = [PASSWD, "-a", "bcrypt", "-C", str(cost), "-f", file, user]
        if groups:
            args.append(groups)
        r = subprocess.run(args, input=(password + "\n").encode(), env=child_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("proxyauth-passwd: %s" % r.stderr.decode(errors="replace"))

    # proxyauthd ------------------------------------------------------
    def start_daemon(self, config, name="proxyauthd", port=0, env=None):
        """Starts proxyauthd on 127.0.0.1 (port 0: any) from config text;
        @DIR@ becomes the suite folder; env adds variables (a KDC's).
        Returns (process, port)."""
        conf = self.write(name + ".conf", config.replace("@DIR@", self.dir), 0o600)
        conf_text = open(conf).read()
        if "listen" not in conf_text:
            conf_text = conf_text.replace("[server]", "[server]\nlisten = 127.0.0.1:%d" % port, 1)
            self.write(name + ".conf", conf_text, 0o600)
        p = self.spawn([DAEMON, "-c", conf], name + ".log", env=env)
        pat = re.compile(r"listening on 127\.0\.0\.1:(\d+)")

        def up():
            if p.poll() is not None:
                raise RuntimeError("proxyauthd exited:\n" + self.read(name + ".log"))
            m = pat.search(self.read(name + ".log"))
            return int(m.group(1)) if m else None
        got = wait_for(up, 10)
        if not got:
            raise RuntimeError("proxyauthd did not come up:\n" + self.read(name + ".log"))
        return p, got

    # checks ----------------------------------------------------------
    def check(self, name, cond, *details):
        if cond:
            self.passed += 1
            print("ok - " + name)
        else:
            self.failed += 1
            print("not ok - " + name)
            for d in details:
                for line in str(d).splitlines()[:40]:
                    print("    " + line)
        sys.stdout.flush()
        return cond

    def run(self, body):
        """Runs body(self), then closes; returns the exit status."""
        try:
            body(self)
        except Exception:
            self.failed += 1
            print("not ok - unexpected error")
            traceback.print_exc(file=sys.stdout)
        finally:
            self.close()
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed or not self.passed else 0


def curl(proxy_port, url, user=None, password=None, headers=(), method=None, timeout=20,
         extra=()):
    """curl -x through the proxy.  Returns (status, headers dict lower-case
    name -> list of values, body text); status 0 when no answer came."""
    argv = ["curl", "-sS", "--noproxy", "", "-x", "http://127.0.0.1:%d" % proxy_port,
            "-D", "-", "-o", "-", "--max-time", str(timeout)]
    if user is not None:
        argv += ["--proxy-user", "%s:%s" % (user, password), "--proxy-basic"]
    for h in headers:
        argv += ["-H", h]
    if method:
        argv += ["-X", method]
    argv += list(extra) + [url]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=child_env({"http_proxy": "", "HTTP_PROXY": "", "no_proxy": ""}),
                       timeout=timeout + 10)
    return parse_http(r.stdout.decode("utf-8", "replace"), r.stderr.decode(errors="replace"))


def parse_http(text, err=""):
    status, hdrs = 0, {}
    # -D - writes every header block (e.g. after a 100 Continue); take the last.
    while True:
        m = re.match(r"HTTP/[\d.]+ (\d+)[^\n]*\n(.*?)\r?\n\r?\n", text, re.S)
        if not m:
            break
        status = int(m.group(1))
        hdrs = {}
        for line in m.group(2).splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        text = text[m.end():]
        if not text.startswith("HTTP/"):
            break
    if status == 0:
        return 0, {}, err
    return status, hdrs, text


def upstream_saw(req, name):
    """Values of header name (any case) in one recorded upstream request."""
    return [v for k, v in req["headers"] if k.lower() == name.lower()]


CHALLENGE = 'Basic realm="proxyauthd", charset="UTF-8"'
