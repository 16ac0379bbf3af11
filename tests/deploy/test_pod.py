#!/usr/bin/env python3
"""The Kubernetes sidecar pod of deploy/k8s/proxyauthd.yaml, composed with
podman and exercised (issue 13, part 2).  Podman's `kube play` applies
neither fsGroup nor ConfigMap subPath mounts, so the test reads the
Deployment itself and makes the same pod: one podman pod (one network
namespace with only loopback), the init container then app, nginx and
proxyauthd with the users, groups, read-only roots, dropped capabilities,
no-new-privileges, environment, arguments and mounts the manifest
declares; the ConfigMap's nginx.conf and proxyauthd.conf and the Secret's
files come from the YAML itself, so they cannot drift.  Images: the
proxyauthd image built from deploy/docker/Dockerfile, and stand-ins for
the app and nginx built from Debian packages (tests/deploy/standins).

Checked, with curl -x on the pod's loopback (nsenter into its network
namespace): the manifest's probes pass, 407 with the challenge, the app's
page with credentials (identity handed on, Proxy-Authorization not), 403
for a user without the required group, 421 for another host, /readyz.  The
init container runs twice over the same volume (a pod restart) and leaves
the secrets 0400 and owned by the proxyauthd user.
"""
import os
import re
import shlex
import subprocess
import sys
import time

import deploylib
from deploylib import e2e, podman

try:
    import yaml
except ImportError:
    print("python3-yaml missing (deploy/install-deps.sh test)")
    sys.exit(1)

MANIFEST = os.path.join(deploylib.ROOT, "deploy", "k8s", "proxyauthd.yaml")
STANDINS = os.path.join(deploylib.HERE, "standins")
# The images the manifest names (a user replaces them) -> what runs here.
IMAGES = {
    "registry.example.org/proxyauthd:0.1.0": deploylib.IMAGE,
    "nginxinc/nginx-unprivileged:1.25": "localhost/pa-standin-nginx:latest",
    "hashicorp/http-echo:1.0.0": "localhost/pa-standin-app:latest",
}


def build_standins():
    secs = 0.0
    for target in ("nginx", "app"):
        r = podman("build", "--pull=never", *deploylib.ULIMITS, "--target", target,
                   "-f", os.path.join(STANDINS, "Containerfile"),
                   "-t", "localhost/pa-standin-%s:latest" % target, STANDINS, timeout=900)
        secs += r.secs
    return secs


def memory_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", str(q))
    return int(m.group(1)) * {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[m.group(2)]


def cpus(q):
    q = str(q)
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)


class Pod:
    def __init__(self, s, docs, extra_env):
        self.s = s
        self.name = "pa-pod-test-%d" % os.getpid()
        self.maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
        self.secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
        dep = [d for d in docs if d["kind"] == "Deployment"][0]
        self.spec = dep["spec"]["template"]["spec"]
        self.psc = self.spec.get("securityContext") or {}
        self.extra_env = extra_env
        self.volumes = {}
        self.pid = None

    # volumes ---------------------------------------------------------
    def make_volumes(self, secret_override):
        fsgroup = self.psc.get("fsGroup")
        for v in self.spec["volumes"]:
            name = v["name"]
            if "configMap" in v:
                d = os.path.join(self.s.dir, "vol-" + name)
                os.makedirs(d)
                data = self.maps[v["configMap"]["name"]]["data"]
                for it in v["configMap"].get("items") or [{"key": k, "path": k} for k in data]:
                    p = os.path.join(d, it["path"])
                    with open(p, "w") as f:
                        f.write(data[it["key"]])
                    os.chmod(p, v["configMap"].get("defaultMode", 0o644))
                self.volumes[name] = ("dir", d)
            elif "secret" in v:
                d = os.path.join(self.s.dir, "vol-" + name)
                os.makedirs(d)
                os.chmod(d, 0o755)
                sec = self.secrets[v["secret"]["secretName"]]
                data = dict(sec.get("stringData") or {})
                data.update(secret_override)
                mode = v["secret"].get("defaultMode", 0o644)
                for k, text in data.items():
                    p = os.path.join(d, k)
                    with open(p, "w") as f:
                        f.write(text)
                    # What the kubelet does: root's files, and with fsGroup
                    # the group owns them and may read them.
                    if fsgroup is not None:
                        os.chown(p, 0, fsgroup)
                        mode |= (mode & 0o700) >> 3 & 0o040
                    os.chmod(p, mode)
                self.volumes[name] = ("dir", d)
            elif "emptyDir" in v:
                # A folder of the test, which lives as long as the pod (a
                # podman tmpfs volume is made anew for each container that
                # mounts it, so the init container's files would be gone);
                # medium Memory: a tmpfs of sizeLimit mounted on it.
                d = os.path.join(self.s.dir, "vol-" + name)
                os.makedirs(d)
                ed = v["emptyDir"] or {}
                if ed.get("medium") == "Memory":
                    opts = "mode=2777" + (",gid=%d" % fsgroup if fsgroup is not None else "")
                    if "sizeLimit" in ed:
                        opts += ",size=%d" % memory_bytes(ed["sizeLimit"])
                    deploylib.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", d])
                    # Closers run last first: after the pod is removed.
                    self.s.closers.append(lambda d=d: deploylib.run(["umount", d],
                                                                    check=False))
                else:
                    os.chmod(d, 0o2777)
                    if fsgroup is not None:
                        os.chown(d, 0, fsgroup)
                self.volumes[name] = ("dir", d)
            else:
                raise RuntimeError("volume %s: kind not handled by the test" % name)

    def mount_args(self, c):
        args = []
        for m in c.get("volumeMounts", []):
            kind, src = self.volumes[m["name"]]
            if "subPath" in m:
                src = os.path.join(src, m["subPath"])
            opt = ":ro" if m.get("readOnly") else ""
            args += ["-v", "%s:%s%s" % (src, m["mountPath"], opt)]
        return args

    # containers ------------------------------------------------------
    def run_args(self, c):
        sc = dict(self.psc)
        sc.update(c.get("securityContext") or {})
        args = ["--pod", self.name, *deploylib.ULIMITS]
        if "runAsUser" in sc:
            args += ["--user", "%d:%d" % (sc["runAsUser"], sc.get("runAsGroup", 0))]
        if self.psc.get("fsGroup") is not None:
            args += ["--group-add", str(self.psc["fsGroup"])]
        if sc.get("readOnlyRootFilesystem"):
            args += ["--read-only", "--read-only-tmpfs=false"]
        for cap in (sc.get("capabilities") or {}).get("drop", []):
            args += ["--cap-drop", cap]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        lim = (c.get("resources") or {}).get("limits") or {}
        if "memory" in lim:
            args += ["--memory", str(memory_bytes(lim["memory"]))]
        if "cpu" in lim:
            args += ["--cpus", str(cpus(lim["cpu"]))]
        for e in c.get("env", []) + self.extra_env.get(c["name"], []):
            if "value" not in e:
                raise RuntimeError("env %s: only plain values are handled" % e["name"])
            args += ["-e", "%s=%s" % (e["name"], e["value"])]
        args += self.mount_args(c)
        if "command" in c:
            args += ["--entrypoint", "[%s]" % ",".join('"%s"' % a.replace('"', '\\"')
                                                       for a in c["command"])]
        image = IMAGES.get(c["image"])
        if image is None:
            raise RuntimeError("no local image for %s (add it to IMAGES)" % c["image"])
        return args + [image] + list(c.get("args", []))

    def create(self):
        podman("pod", "create", "--name", self.name, "--network", "none")
        self.s.closers.append(lambda: podman("pod", "rm", "-f", "-t", "0", self.name,
                                             check=False))
        podman("pod", "start", self.name)
        infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", self.name).out
        self.pid = int(podman("inspect", "--format", "{{.State.Pid}}", infra.strip()).out)

    def run_init(self, c):
        return podman("run", "--rm", "--name", "%s-%s" % (self.name, c["name"]),
                      *self.run_args(c), timeout=120, check=False)

    def start(self, c):
        cname = "%s-%s" % (self.name, c["name"])
        podman("run", "-d", "--name", cname, *self.run_args(c))
        return cname

    # the pod's network namespace ----------------------------------------
    def inside(self, argv, timeout=30):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-n"] + argv,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=timeout)

    def curl(self, url, proxy=None, user=None):
        argv = ["curl", "-sS", "--noproxy", "", "-D", "-", "-o", "-", "--max-time", "15"]
        if proxy:
            argv += ["-x", proxy]
        if user:
            argv += ["--proxy-user", user, "--proxy-basic"]
        r = self.inside(argv + [url])
        return e2e.parse_http(r.stdout.decode("utf-8", "replace"),
                              r.stderr.decode(errors="replace"))

    def probe(self, c, kind):
        p = c.get(kind)
        if not p:
            return True
        ports = {q.get("name"): q["containerPort"] for q in c.get("ports", [])}
        if "httpGet" in p:
            port = ports.get(p["httpGet"]["port"], p["httpGet"]["port"])
            st, _, _ = self.curl("http://127.0.0.1:%d%s" % (port, p["httpGet"]["path"]))
            return 200 <= st < 400
        if "tcpSocket" in p:
            port = ports.get(p["tcpSocket"]["port"], p["tcpSocket"]["port"])
            r = self.inside(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/%d" % port])
            return r.returncode == 0
        raise RuntimeError("%s %s: probe kind not handled" % (c["name"], kind))


def body(s):
    ok, why = deploylib.can_run_containers()
    if not ok:
        deploylib.skip_loudly("test_pod", why)
        s.check("pod: skipped (podman cannot run containers here)", True)
        return
    t0 = time.monotonic()
    deploylib.build_image()
    secs = build_standins()
    print("# pod: images built or found in podman's cache in %.1f s (stand-ins %.1f s)" %
          (time.monotonic() - t0, secs))
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    # A second user, without the group this test requires (through the
    # environment override the manifest itself uses), for the 403.
    users = os.path.join(s.dir, "bob.htpasswd")
    s.add_user(users, "bob", "bob-password", "interns")
    secret = [d for d in docs if d["kind"] == "Secret"][0]
    htpasswd = secret["stringData"]["users.htpasswd"] + open(users).read()
    pod = Pod(s, docs, {"proxyauthd": [{"name": "PROXYAUTHD_SERVER_REQUIRE_GROUPS",
                                       "value": "staff"}]})
    pod.make_volumes({"users.htpasswd": htpasswd})
    pod.create()

    # The init container, twice over the same volume: a pod restart.
    for c in pod.spec.get("initContainers", []):
        first = pod.run_init(c)
        again = pod.run_init(c)
        s.check("pod: init container %s exits 0" % c["name"], first.returncode == 0, first.out)
        s.check("pod: init container %s exits 0 again over the same volume (pod restart)" %
                c["name"], again.returncode == 0, again.out)
    r = podman("run", "--rm", "--pod", pod.name, "--user", "0", *pod.mount_args(
        [c for c in pod.spec["containers"] if c["name"] == "proxyauthd"][0]),
        "--entrypoint", "/bin/sh", deploylib.IMAGE, "-c",
        "stat -c '%a %u %n' /run/proxyauthd/secrets/*")
    modes = sorted(r.out.split("\n"))
    s.check("pod: the secrets in the emptyDir are 0400, owned by 10001",
            all(l.startswith("400 10001 ") for l in modes if l) and len([l for l in modes
                                                                      if l]) == 2, r.out)

    names = {}
    for c in pod.spec["containers"]:
        names[c["name"]] = pod.start(c)
    by_name = {c["name"]: c for c in pod.spec["containers"]}

    def all_ready():
        return all(pod.probe(c, "readinessProbe") for c in pod.spec["containers"])
    ready = e2e.wait_for(all_ready, 30, 0.5)
    logs = {n: podman("logs", cn, check=False).out for n, cn in names.items()}
    s.check("pod: every readinessProbe of the manifest passes", ready, logs)
    s.check("pod: every livenessProbe of the manifest passes",
            all(pod.probe(c, "livenessProbe") for c in pod.spec["containers"]))
    for n, cn in names.items():
        r = podman("exec", cn, "id", "-u", check=False) if n != "app" else \
            podman("top", cn, "user", check=False)
        s.check("pod: %s runs as the manifest's user 10001" % n,
                "10001" in r.out and "root" not in r.out, r.out)
    r = podman("exec", names["proxyauthd"], "/bin/sh", "-c", "touch /x", check=False)
    s.check("pod: read-only root filesystem", "Read-only file system" in r.out, r.out)

    proxy = "http://127.0.0.1:%d" % by_name["nginx"]["ports"][0]["containerPort"]
    url = "http://app.example.org/"
    st, h, b = pod.curl(url, proxy)
    s.check("pod: 407 with the challenge without credentials",
            st == 407 and h.get("proxy-authenticate") == [e2e.CHALLENGE], st, h, b)
    st, h, b = pod.curl(url, proxy, "alice:change-me")
    s.check("pod: the app's page with the Secret's user, identity handed on, "
            "Proxy-Authorization not", st == 200 and "hello from the app" in b and
            "x-auth-user=alice\n" in b and "x-auth-groups=staff\n" in b and
            "proxy-authorization=no" in b, st, h, b)
    st, h, b = pod.curl(url, proxy, "alice:wrong")
    s.check("pod: 407 with a wrong password", st == 407, st, b)
    st, h, b = pod.curl(url, proxy, "bob:bob-password")
    s.check("pod: 403 for a user without the required group",
            st == 403 and "proxy-authenticate" not in h, st, h, b)
    st, h, b = pod.curl("http://other.example.org/", proxy, "alice:change-me")
    s.check("pod: 421 for a host the pod does not serve", st == 421, st, b)
    port = by_name["proxyauthd"]["ports"][0]["containerPort"]
    st, h, b = pod.curl("http://127.0.0.1:%d/readyz" % port)
    s.check("pod: /readyz answers 200", st == 200, st, b)
    log = podman("logs", names["proxyauthd"], check=False).out
    s.check("pod: proxyauthd logged JSON decisions and no password",
            '"outcome":"allow"' in log.replace(" ", "") and "change-me" not in log and
            "bob-password" not in log, log)

    t1 = time.monotonic()
    podman("pod", "stop", "-t", "20", pod.name, timeout=90)
    print("# pod: stopped in %.1f s" % (time.monotonic() - t1))
    r = podman("inspect", "--format", "{{.State.ExitCode}}", names["proxyauthd"])
    s.check("pod: proxyauthd exits 0 on the pod's stop (SIGTERM)", r.out.strip() == "0", r.out)


if __name__ == "__main__":
    sys.exit(deploylib.main("deploy-pod", body))
