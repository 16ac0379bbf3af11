"""Shared pieces of the deploy tests (tests/deploy/test_*.py, run once per
suite run by tests/deploy/run.sh): the build tree and checkout, a command
runner that prints what failed, the Debian 12 base made with debootstrap
and cached under build/deploy-cache/ (rebuilt when older than a week), the
same base imported into podman as debian:12-slim, podman with runc and
explicit ulimits (a containers.conf of our own through CONTAINERS_CONF),
and the question whether podman can run a container here at all.

The checks and the report come from tests/integration/e2e.py (Suite:
"ok -"/"not ok -" lines, "N passed, M failed", children killed in
teardown).
"""
import fcntl
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import e2e  # noqa: E402

CACHE = os.path.join(ROOT, "build", "deploy-cache")
MIRROR = os.environ.get("PA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
MAX_AGE = 7 * 86400
BASE_IMAGE = "localhost/debian:12-slim"
IMAGE = "localhost/proxyauthd:deploy-test"
# Trimmed from the image (as Debian's own -slim images are); the chroot
# keeps everything.
SLIM_EXCLUDES = ["./var/lib/apt/lists/*", "./usr/share/doc/*", "./usr/share/man/*",
                 "./usr/share/locale/*", "./usr/share/info/*", "./var/cache/apt/*",
                 "./var/cache/debconf/*-old", "./var/log/*"]


def run(argv, timeout=600, check=True, **kw):
    """Runs argv, output (both streams) as text in .out; on check, raises
    with the tail of it when the exit status is not 0."""
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=timeout, **kw)
    r.out = r.stdout.decode("utf-8", "replace")
    r.secs = time.monotonic() - t0
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(argv[:6]), r.returncode,
                                                "\n".join(r.out.splitlines()[-40:])))
    return r


class _Lock:
    def __init__(self, name):
        os.makedirs(CACHE, exist_ok=True)
        self.f = open(os.path.join(CACHE, name + ".lock"), "w")

    def __enter__(self):
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *a):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def base_rootfs():
    """build/deploy-cache/rootfs: debootstrap --variant=minbase bookworm,
    made again when its stamp is older than a week.  Returns the path."""
    path = os.path.join(CACHE, "rootfs")
    stamp = os.path.join(CACHE, "rootfs.stamp")
    with _Lock("rootfs"):
        try:
            fresh = time.time() - os.stat(stamp).st_mtime < MAX_AGE
        except OSError:
            fresh = False
        if fresh and os.path.isdir(os.path.join(path, "usr", "bin")):
            return path
        print("# debootstrap %s into %s (cache missing or older than a week)" % (SUITE, path))
        tmp = path + ".tmp"
        for d in (tmp, path):
            shutil.rmtree(d, ignore_errors=True)
        if os.path.exists(stamp):
            os.unlink(stamp)
        r = run(["debootstrap", "--variant=minbase", SUITE, tmp, MIRROR], timeout=900)
        print("# debootstrap took %.0f s" % r.secs)
        for f in os.listdir(os.path.join(tmp, "var", "cache", "apt", "archives")):
            if f.endswith(".deb"):
                os.unlink(os.path.join(tmp, "var", "cache", "apt", "archives", f))
        os.rename(tmp, path)
        with open(stamp, "w") as f:
            f.write("%d\n" % time.time())
        return path


def containers_env():
    """The environment for podman: our containers.conf (runc: the cgroups
    here are hybrid, which crun does not handle; ulimits this machine can
    grant) instead of the system's."""
    conf = os.path.join(CACHE, "containers.conf")
    text = ('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
            '[engine]\nruntime = "runc"\n')
    os.makedirs(CACHE, exist_ok=True)
    if not os.path.exists(conf) or open(conf).read() != text:
        with open(conf + ".new", "w") as f:
            f.write(text)
        os.rename(conf + ".new", conf)
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = conf
    return env


ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def podman(*args, timeout=600, check=True):
    return run(["podman", "--runtime", "runc"] + list(args), timeout=timeout, check=check,
               env=containers_env())


def base_image():
    """debian:12-slim in podman's storage, imported from the cached rootfs
    (trimmed); imported again when the rootfs was remade."""
    rootfs = base_rootfs()
    stamp = open(os.path.join(CACHE, "rootfs.stamp")).read().strip()
    with _Lock("image"):
        r = podman("image", "inspect", "--format", '{{index .Labels "pa.base"}}', BASE_IMAGE,
                   check=False)
        if r.returncode == 0 and r.out.strip() == stamp:
            return BASE_IMAGE
        excl = []
        for e in SLIM_EXCLUDES:
            excl += ["--exclude", e]
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c"] + excl + ["."],
                               stdout=subprocess.PIPE)
        imp = subprocess.run(["podman", "--runtime", "runc", "import", "-q",
                              "--change", "LABEL pa.base=%s" % stamp,
                              "--change", 'CMD ["/bin/bash"]', "-", BASE_IMAGE],
                             stdin=tar.stdout, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=containers_env(), timeout=600)
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise RuntimeError("podman import: " + imp.stdout.decode(errors="replace"))
        return BASE_IMAGE


_can_run = None


def can_run_containers():
    """(True, "") when podman runs a container here, else (False, why)."""
    global _can_run
    if _can_run is None:
        if not shutil.which("podman"):
            _can_run = (False, "podman is not installed")
        else:
            base_rootfs()   # a failed debootstrap is a failure, not a skip
            try:
                img = base_image()
                r = podman("run", "--rm", "--network", "none", img, "true", timeout=120,
                           check=False)
                _can_run = (r.returncode == 0, r.out.strip())
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                _can_run = (False, str(e))
    return _can_run


def skip_loudly(name, why):
    bar = "!" * 72
    print(bar)
    print("!!! SKIPPED: %s: podman cannot run a container on this machine" % name)
    for line in why.splitlines()[-10:]:
        print("!!!   " + line)
    print(bar)


def build_image(tag=IMAGE):
    """Builds deploy/docker/Dockerfile (podman's layer cache makes a
    rebuild quick); returns the build's seconds."""
    base_image()
    r = podman("build", "--pull=never", *ULIMITS,
               "--ignorefile", os.path.join(ROOT, "deploy", "docker", "Dockerfile.dockerignore"),
               "-f", os.path.join(ROOT, "deploy", "docker", "Dockerfile"), "-t", tag, ROOT,
               timeout=1200)
    return r.secs


def image_bytes(tag):
    r = podman("image", "inspect", "--format", "{{.Size}}", tag)
    return int(r.out.strip())


def main(name, body):
    """Runs a deploy test: an e2e.Suite with its wall time printed."""
    t0 = time.monotonic()
    rc = e2e.Suite(name).run(body)
    print("# %s: wall time %.1f s" % (name, time.monotonic() - t0))
    return rc
