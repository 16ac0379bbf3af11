#!/usr/bin/env python3
"""The deploy kit (SPEC section 9) where it cannot run here: every YAML file
parses; the Kubernetes manifests refer only to ConfigMap/Secret keys and
volumes that exist, probe /healthz and /readyz, set resources, non-root
and a read-only root filesystem; the proxyauthd.conf embedded in the
ConfigMap passes `proxyauthd -t` (secret paths pointed at files made from
the Secret) and its nginx.conf passes `nginx -t`; the ingress-nginx and
Envoy/Traefik examples point at the right profiles; the Dockerfile copies
only files that exist and runs as non-root on debian:12-slim.  The image,
the pod, the package, the man pages and the systemd unit are built and run
by tests/deploy (once per suite run).
"""
import glob
import os
import re
import shutil
import subprocess
import sys

import e2e

try:
    import yaml
except ImportError:
    print("python3-yaml missing (deploy/install-deps.sh test)")
    sys.exit(1)

ROOT = os.path.abspath(os.path.join(e2e.DEPLOY, ".."))


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def pod_specs(docs):
    for d in docs:
        if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]
        elif d.get("kind") == "Pod":
            yield d["metadata"]["name"], d["spec"]


def check_k8s(s, docs):
    maps, secrets = {}, {}
    for d in docs:
        keys = set()
        for field in ("data", "stringData", "binaryData"):
            keys |= set((d.get(field) or {}).keys())
        if d.get("kind") == "ConfigMap":
            maps[d["metadata"]["name"]] = d
        elif d.get("kind") == "Secret":
            secrets[d["metadata"]["name"]] = d
        d["_keys"] = keys
    specs = list(pod_specs(docs))
    s.check("k8s: a Deployment is there", bool(specs))
    for name, spec in specs:
        problems = []
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        vol_files = {}
        for v in volumes.values():
            for kind, store in (("configMap", maps), ("secret", secrets)):
                if kind not in v:
                    continue
                ref = v[kind].get("name") or v[kind].get("secretName")
                if ref not in store:
                    if not v[kind].get("optional"):
                        problems.append("volume %s: no %s %s" % (v["name"], kind, ref))
                    continue
                keys = store[ref]["_keys"]
                items = v[kind].get("items")
                for it in items or []:
                    if it["key"] not in keys:
                        problems.append("volume %s: no key %s in %s" % (v["name"], it["key"],
                                                                       ref))
                vol_files[v["name"]] = {it["path"] for it in items} if items else set(keys)
        containers = spec.get("containers", []) + spec.get("initContainers", [])
        for c in containers:
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    problems.append("%s: mount of unknown volume %s" % (c["name"], m["name"]))
                elif "subPath" in m and m["name"] in vol_files and \
                        m["subPath"] not in vol_files[m["name"]]:
                    problems.append("%s: subPath %s not in volume %s" % (c["name"],
                                                                         m["subPath"], m["name"]))
            for e in c.get("env", []):
                vf = e.get("valueFrom") or {}
                for kind, store in (("configMapKeyRef", maps), ("secretKeyRef", secrets)):
                    if kind in vf and not vf[kind].get("optional"):
                        r = vf[kind]
                        if r["name"] not in store or r["key"] not in store[r["name"]]["_keys"]:
                            problems.append("%s: env %s refers to missing %s/%s" %
                                            (c["name"], e["name"], r["name"], r["key"]))
            for ef in c.get("envFrom", []):
                for kind, store in (("configMapRef", maps), ("secretRef", secrets)):
                    if kind in ef and ef[kind]["name"] not in store and \
                            not ef[kind].get("optional"):
                        problems.append("%s: envFrom missing %s" % (c["name"], ef[kind]["name"]))
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        problems.append("%s: no resources.%s.%s" % (c["name"], part, r))
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append("%s: readOnlyRootFilesystem is not true" % c["name"])
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append("%s: allowPrivilegeEscalation is not false" % c["name"])
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.append("%s: capabilities not dropped" % c["name"])
            if sc.get("runAsUser") == 0:
                problems.append("%s: runs as root" % c["name"])
        s.check("k8s %s: volumes, mounts, keys and env refer to what exists" % name,
                not problems, *problems)
        psc = spec.get("securityContext") or {}
        s.check("k8s %s: runAsNonRoot with a non-zero user" % name,
                psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, psc)
        s.check("k8s %s: every container has resources, read-only root, no escalation" % name,
                not [p for p in problems if "resources" in p or "readOnly" in p or
                     "Escalation" in p])
        pa = [c for c in spec.get("containers", []) if c["name"] == "proxyauthd"]
        if s.check("k8s %s: a proxyauthd sidecar next to an app and nginx" % name,
                   len(pa) == 1 and {"app", "nginx"} <= {c["name"] for c in
                                                         spec.get("containers", [])}):
            c = pa[0]
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            lp = (c.get("livenessProbe") or {}).get("httpGet") or {}
            rp = (c.get("readinessProbe") or {}).get("httpGet") or {}
            s.check("k8s: liveness on /healthz, readiness on /readyz, on proxyauthd's port",
                    lp.get("path") == "/healthz" and rp.get("path") == "/readyz" and
                    ports.get(lp.get("port"), lp.get("port")) == 9180 and
                    ports.get(rp.get("port"), rp.get("port")) == 9180, lp, rp, ports)
        sv = [v for v in volumes.values() if "secret" in v]
        s.check("k8s: Secret volumes mounted with defaultMode 0400",
                sv and all(v["secret"].get("defaultMode") == 0o400 for v in sv), sv)
        # The init container copies keys that exist into the emptyDir.
        for c in spec.get("initContainers", []):
            cmd = " ".join(c.get("command", []) + c.get("args", []))
            names = re.findall(r"/secrets-in/([\w.-]+)", cmd)
            all_keys = set().union(*(d["_keys"] for d in secrets.values()))
            s.check("k8s: init container copies only Secret keys that exist",
                    names and set(names) <= all_keys, names, all_keys)
    return maps, secrets


def check_embedded_configs(s, maps, secrets):
    cm = maps.get("proxyauthd-config")
    if not s.check("k8s: ConfigMap proxyauthd-config has proxyauthd.conf and nginx.conf",
                   cm is not None and {"proxyauthd.conf", "nginx.conf"} <= cm["_keys"]):
        return
    sec = os.path.join(s.dir, "secrets")
    os.makedirs(sec)
    for d in secrets.values():
        for k, v in (d.get("stringData") or {}).items():
            s.write(os.path.join("secrets", k), v, 0o600)
    conf = cm["data"]["proxyauthd.conf"].replace("/run/proxyauthd/secrets/", sec + "/")
    path = s.write("proxyauthd.conf", conf, 0o600)
    r = subprocess.run([e2e.DAEMON, "-t", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=e2e.child_env(), timeout=60)
    s.check("k8s: the ConfigMap's proxyauthd.conf passes proxyauthd -t",
            r.returncode == 0 and b"configuration OK" in r.stdout, r.stdout.decode())
    # The example runs: its user (alice / change-me, as the Secret says)
    # is allowed, and /healthz and /readyz answer 200.
    import base64
    import urllib.error
    import urllib.request
    run_conf = conf.replace("listen = 0.0.0.0:9180", "listen = 127.0.0.1:0")
    s.check("k8s: listen line found for the run", run_conf != conf)
    _, port = s.start_daemon(run_conf, name="k8s-proxyauthd")

    def get(path, headers=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.headers
    tok = base64.b64encode(b"alice:change-me").decode()
    st, h = get("/auth", {"Proxy-Authorization": "Basic " + tok})
    s.check("k8s: the example Secret's user is allowed by the example config",
            st == 204 and h.get("X-Auth-User") == "alice" and
            h.get("X-Auth-Groups") == "staff", st, dict(h or {}))
    s.check("k8s: /healthz and /readyz answer 200",
            get("/healthz")[0] == 200 and
            e2e.wait_for(lambda: get("/readyz")[0] == 200, 10))
    ngx = cm["data"]["nginx.conf"].replace("/tmp/", s.dir + "/").replace(
        "/dev/stderr", s.dir + "/error.log").replace("/dev/stdout", s.dir + "/access.log")
    npath = s.write("nginx.conf", ngx)
    if shutil.which("nginx"):
        r = subprocess.run(["nginx", "-t", "-p", s.dir, "-c", npath], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=e2e.child_env(), timeout=60)
        s.check("k8s: the ConfigMap's nginx.conf passes nginx -t", r.returncode == 0,
                r.stdout.decode())
    import test_nginx
    s.check("k8s: nginx.conf has no return in a location protected by auth_request",
            not test_nginx.protected_locations_without_return(ngx))
    shipped = open(os.path.join(e2e.DEPLOY, "nginx", "proxyauthd.conf")).read()
    body = lambda t: re.findall(r"^\s*(auth_request\S*|proxy_set_header|error_page|add_header)"
                                r"\s+([^;]*);", t, re.M)
    s.check("k8s: nginx.conf's auth directives are those of deploy/nginx/proxyauthd.conf",
            body(ngx) == body(shipped), body(ngx), body(shipped))
    served = lambda t: re.findall(r"server_name\s+([^;]*);", t)
    s.check("k8s: nginx.conf serves the hosts deploy/nginx serves, 421 for the rest",
            served(ngx) == served(shipped) == ["_", "app.example.org"] and
            re.search(r"listen\s+3128 default_server;.*?return 421;", ngx, re.S) is not None,
            served(ngx), served(shipped))


def check_dockerfile(s):
    path = os.path.join(e2e.DEPLOY, "docker", "Dockerfile")
    text = open(path).read()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    missing = []
    for l in lines:
        m = re.match(r"\s*(COPY|ADD)\s+(.*)", l)
        if not m or "--from=" in m.group(2):
            continue
        parts = [p for p in m.group(2).split() if not p.startswith("--")]
        for src in parts[:-1]:
            if not glob.glob(os.path.join(ROOT, src)):
                missing.append(src)
    s.check("Dockerfile: every COPY source exists in the repository", not missing, missing)
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    s.check("Dockerfile: multi-stage, both debian:12-slim",
            len(froms) >= 2 and all(f == "debian:12-slim" for f in froms), froms)
    last = text[text.rindex("\nFROM "):]
    users = re.findall(r"^USER\s+(\S+)", last, re.M)
    s.check("Dockerfile: the final stage runs as a non-root user",
            users and users[-1].split(":")[0] not in ("0", "root"), users)
    s.check("Dockerfile: the final stage installs no compiler or -dev package",
            not re.search(r"build-essential|-dev\b|cmake|gcc", last), last)
    s.check("Dockerfile: README says which test builds and runs it",
            "tests/deploy/test_image.py" in open(os.path.join(e2e.DEPLOY, "docker",
                                                              "README.md")).read())


def check_proxies(s):
    env = load_all(os.path.join(e2e.DEPLOY, "envoy", "envoy.yaml"))[0]
    flat = yaml.safe_dump(env)
    s.check("envoy: ext_authz to /ext-authz, proxy-authorization forwarded, fails closed",
            "path_prefix: /ext-authz" in flat and "exact: proxy-authorization" in flat and
            "failure_mode_allow: false" in flat)
    # Issue 12: the context headers are Envoy's own, set before ext_authz,
    # and an unserved host never reaches proxyauthd or the app.
    hcm = env["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]
    filters = [f["name"] for f in hcm["http_filters"]]
    muts = (hcm["http_filters"][0].get("typed_config", {}).get("mutations", {})
            .get("request_mutations", []))
    set_by_envoy = {m["append"]["header"]["key"]: (m["append"]["header"]["value"],
                                                   m["append"].get("append_action"))
                    for m in muts if "append" in m}
    removed = {m["remove"] for m in muts if "remove" in m}
    s.check("envoy: header_mutation before ext_authz overwrites the context headers",
            filters[:2] == ["envoy.filters.http.header_mutation", "envoy.filters.http.ext_authz"]
            and set_by_envoy.get("x-forwarded-host") == ("%REQ(:authority)%",
                                                         "OVERWRITE_IF_EXISTS_OR_ADD")
            and set_by_envoy.get("x-original-uri") == ("%REQ(:path)%",
                                                       "OVERWRITE_IF_EXISTS_OR_ADD")
            and {"x-original-url", "x-forwarded-uri", "x-auth-user"} <= removed,
            filters, set_by_envoy, removed)
    vhosts = hcm["route_config"]["virtual_hosts"]
    s.check("envoy: one served host, a catch-all 421 without ext_authz",
            vhosts[0]["domains"] == ["app.example.org"] and vhosts[-1]["domains"] == ["*"] and
            vhosts[-1]["routes"][0]["direct_response"]["status"] == 421 and
            vhosts[-1]["routes"][0]["typed_per_filter_config"]
            ["envoy.filters.http.ext_authz"]["disabled"] is True and
            hcm.get("strip_trailing_host_dot") is True, vhosts)
    # X_Auth_User reaches a CGI, PHP, WSGI or Rack app as X-Auth-User.
    s.check("envoy: client header names with '_' dropped (as nginx does)",
            hcm.get("common_http_protocol_options", {}).get("headers_with_underscores_action")
            == "DROP_HEADER", hcm.get("common_http_protocol_options"))
    tr = load_all(os.path.join(e2e.DEPLOY, "traefik", "dynamic.yml"))[0]
    fa = tr["http"]["middlewares"]["proxyauthd"]["forwardAuth"]
    s.check("traefik: forwardAuth to /auth with the identity headers",
            fa["address"].endswith("/auth") and "X-Auth-User" in fa["authResponseHeaders"])
    emptied = {k.lower(): v for k, v in tr["http"]["middlewares"]["strip-client-context"]
               ["headers"]["customRequestHeaders"].items()}
    want = {a + "auth" + b + n for a in "-_" for b in "-_" for n in ("user", "groups", "backend")}
    s.check("traefik: client X-Auth-* emptied in every '-'/'_' spelling",
            all(emptied.get("x" + w) == "" for w in want), sorted(emptied))
    # Symfony and Zend Framework route by X-Rewrite-URL / X-Original-URL.
    s.check("envoy and traefik: client X-Rewrite-URL and X-Original-URL removed",
            {"x-rewrite-url", "x-original-url"} <= removed and
            emptied.get("x-rewrite-url") == "" and emptied.get("x-original-url") == "",
            removed, sorted(emptied))
    # Rack 3 and Spring take Forwarded: host= over X-Forwarded-Host; apps
    # build URLs from X-Forwarded-Prefix.
    s.check("envoy and traefik: client Forwarded and X-Forwarded-Prefix removed",
            {"forwarded", "x-forwarded-prefix"} <= removed and
            emptied.get("forwarded") == "" and emptied.get("x-forwarded-prefix") == "",
            removed, sorted(emptied))
    for p in ("envoy", "traefik"):
        txt = open(os.path.join(e2e.DEPLOY, p, "README.md")).read().lower()
        s.check("%s README says plainly it is not run here" % p,
                "not run here" in txt or "not tested" in txt)
    ing = [d for d in load_all(os.path.join(e2e.DEPLOY, "k8s", "ingress-nginx.yaml"))
           if d.get("kind") == "Ingress"]
    ann = ing[0]["metadata"]["annotations"] if ing else {}
    s.check("ingress-nginx: auth-url to /auth-request, identity headers passed on",
            ann.get("nginx.ingress.kubernetes.io/auth-url", "").endswith("/auth-request") and
            "X-Auth-User" in ann.get("nginx.ingress.kubernetes.io/auth-response-headers", ""),
            ann)


def body(s):
    files = sorted(glob.glob(os.path.join(e2e.DEPLOY, "**", "*.y*ml"), recursive=True))
    docs = {}
    for f in files:
        try:
            docs[f] = load_all(f)
            ok = True
        except yaml.YAMLError as e:
            ok, docs[f] = False, e
        s.check("YAML parses: %s" % os.path.relpath(f, ROOT), ok, docs[f])
    s.check("YAML files found", len(files) >= 4, files)
    k8s = [d for f, ds in docs.items() if "/k8s/" in f and isinstance(ds, list) for d in ds]
    s.check("k8s: every document has apiVersion, kind and metadata.name",
            k8s and all(d.get("apiVersion") and d.get("kind") and
                        (d.get("metadata") or {}).get("name") for d in k8s))
    maps, secrets = check_k8s(s, k8s)
    check_embedded_configs(s, maps, secrets)
    check_dockerfile(s)
    check_proxies(s)


if __name__ == "__main__":
    sys.path.insert(0, e2e.TESTS)
    sys.exit(e2e.Suite("deploy-kit").run(body))
