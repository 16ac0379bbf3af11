#!/usr/bin/env python3
"""The container image, built and run (issue 13, part 1): the base is
Debian 12 made with debootstrap and imported into podman as
debian:12-slim (no registry here), deploy/docker/Dockerfile is built with
podman (runc, explicit ulimits), and the image runs as user 10001 on a
read-only root with the demo htpasswd mounted and `listen` overridden from
the environment.  Checked: 407 with the challenge, 204 with the demo
user, /healthz, /readyz, exit 0 on SIGTERM, no compiler or -dev package
in the runtime stage and every shared library the programs link present;
the image size is printed.  Skips loudly only when podman cannot run a
container at all.
"""
import base64
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import deploylib
from deploylib import e2e, podman


def get(port, path, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers
    except OSError:
        return 0, {}


def body(s):
    ok, why = deploylib.can_run_containers()
    if not ok:
        deploylib.skip_loudly("test_image", why)
        s.check("image: skipped (podman cannot run containers here)", True)
        return
    secs = deploylib.build_image()
    size = deploylib.image_bytes(deploylib.IMAGE)
    print("# image: podman build took %.1f s; %s is %.1f MB" % (secs, deploylib.IMAGE,
                                                             size / 1e6))
    s.check("image: built from deploy/docker/Dockerfile", size > 0)

    r = podman("image", "inspect", "--format", "{{.Config.User}}", deploylib.IMAGE)
    s.check("image: USER is 10001", r.out.strip().split(":")[0] == "10001", r.out)
    # The runtime stage: the programs, their shared libraries, nothing to
    # build with.
    r = podman("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", deploylib.IMAGE,
               "-c", "ldd /usr/local/bin/*; for t in gcc cc cmake make pkg-config; do "
               "command -v $t; done; dpkg-query -W -f '${Package}\\n' | grep -- '-dev$' || true",
               check=False)
    s.check("image: every shared library the programs link is there",
            r.returncode == 0 and "not found" not in r.out and
            r.out.count("/usr/local/bin/") >= 3, r.out)
    s.check("image: no compiler, build tool or -dev package in the runtime stage",
            not any(w in r.out for w in ("/gcc", "/cc\n", "/cmake", "/make\n", "/pkg-config",
                                         "-dev\n")), r.out)

    users = os.path.join(s.dir, "users.htpasswd")
    s.add_user(users, "demo", "demo-password", "demo")
    os.chmod(users, 0o644)
    port = e2e.free_port()
    name = "pa-image-test-%d" % os.getpid()
    s.closers.append(lambda: podman("rm", "-f", "-t", "0", name, check=False))
    podman("run", "-d", "--name", name, *deploylib.ULIMITS, "--read-only",
           "--read-only-tmpfs=false", "--cap-drop", "ALL",
           "--security-opt", "no-new-privileges", "-p", "127.0.0.1:%d:9180" % port,
           "-e", "PROXYAUTHD_SERVER_LISTEN=0.0.0.0:9180",
           "-v", "%s:/etc/proxyauthd/users.htpasswd:ro" % users, deploylib.IMAGE)
    up = e2e.wait_for(lambda: get(port, "/healthz")[0] == 200, 20)
    if not s.check("image: /healthz answers 200 on the published port (listen from the "
                   "environment: the image's config listens on 127.0.0.1)", up,
                   podman("logs", name, check=False).out):
        return
    r = podman("exec", name, "id", "-u")
    s.check("image: runs as uid 10001", r.out.strip() == "10001", r.out)
    r = podman("exec", name, "/bin/sh", "-c", "touch /etc/proxyauthd/x || touch /x", check=False)
    s.check("image: the root filesystem is read-only", r.returncode != 0 and
            "Read-only file system" in r.out, r.out)
    st, h = get(port, "/auth")
    s.check("image: 407 with the challenge without credentials",
            st == 407 and h.get("Proxy-Authenticate") == e2e.CHALLENGE, st, dict(h))
    tok = base64.b64encode(b"demo:demo-password").decode()
    st, h = get(port, "/auth", {"Proxy-Authorization": "Basic " + tok})
    s.check("image: 204 with the demo user's credentials",
            st == 204 and h.get("X-Auth-User") == "demo" and h.get("X-Auth-Groups") == "demo",
            st, dict(h))
    s.check("image: /readyz answers 200", e2e.wait_for(lambda: get(port, "/readyz")[0] == 200,
                                                       10))
    t0 = time.monotonic()
    podman("kill", "--signal", "TERM", name)
    r = podman("wait", name, timeout=60, check=False)
    took = time.monotonic() - t0
    print("# image: SIGTERM to exit: %.2f s (drain bound 10 s)" % took)
    logs = podman("logs", name, check=False).out
    s.check("image: SIGTERM gives exit 0 (within the drain time: podman wait returned)",
            r.returncode == 0 and r.out.strip() == "0", r.out, logs)
    s.check("image: the log says where it listened and never holds the password",
            "0.0.0.0:9180" in logs and "demo-password" not in logs and tok not in logs, logs)


if __name__ == "__main__":
    sys.exit(deploylib.main("deploy-image", body))
