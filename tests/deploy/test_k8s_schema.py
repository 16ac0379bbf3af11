#!/usr/bin/env python3
"""The manifests of deploy/k8s validated against the Kubernetes API schema
(issue 13, part 2): the npm package kubernetes-models, pinned to the
version in tests/deploy/k8s-schema/package-lock.json, ships validators
generated from the Kubernetes OpenAPI spec; it is installed with `npm ci`
under build/deploy-cache/k8s-schema (again when the lock file changes) and
every document of every YAML file of deploy/k8s is checked with it.  A
copy of the Deployment with a wrongly typed field must be refused, so the
check is known to bite.

The schema does not refuse unknown fields (Kubernetes' OpenAPI document
allows additional properties); kubectl's server-side strict validation
would.  tests/integration/test_deploy_kit.py checks the references
between the documents.
"""
import copy
import glob
import json
import os
import shutil
import subprocess
import sys

import deploylib
from deploylib import run

try:
    import yaml
except ImportError:
    print("python3-yaml missing (deploy/install-deps.sh test)")
    sys.exit(1)

SRC = os.path.join(deploylib.HERE, "k8s-schema")
DEST = os.path.join(deploylib.CACHE, "k8s-schema")


# npm's codes for a registry it cannot reach or whose TLS certificate it
# cannot verify (an intercepting proxy whose CA this root lacks: the fresh
# root of ../shared/tools/ci-in-fresh-root is one): the schema cannot be
# had, which is a loud skip, as podman that cannot run is; anything else
# npm says is a failure.
UNREACHABLE = ("SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_VERIFY_LEAF",
               "CERT_HAS_EXPIRED", "ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET",
               "ETIMEDOUT", "ENETUNREACH")


class Unreachable(Exception):
    pass


def install():
    lock = open(os.path.join(SRC, "package-lock.json")).read()
    have = os.path.join(DEST, "package-lock.json")
    if not (os.path.isdir(os.path.join(DEST, "node_modules", "kubernetes-models")) and
            os.path.exists(have) and open(have).read() == lock):
        shutil.rmtree(DEST, ignore_errors=True)
        os.makedirs(DEST)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(SRC, f), DEST)
        # Node.js's own CA list lacks a CA added to the system's store (a
        # company's proxy): hand it the system's too, as npm's cafile does.
        env = dict(os.environ)
        system_cas = "/etc/ssl/certs/ca-certificates.crt"
        if "NODE_EXTRA_CA_CERTS" not in env and os.path.exists(system_cas):
            env["NODE_EXTRA_CA_CERTS"] = system_cas
        r = run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DEST,
                timeout=600, check=False, env=env)
        if r.returncode != 0:
            shutil.rmtree(DEST, ignore_errors=True)
            if any(code in r.out for code in UNREACHABLE):
                raise Unreachable(r.out)
            raise RuntimeError("npm ci: exit %d\n%s" % (r.returncode, r.out[-3000:]))
        print("# k8s schema: npm ci took %.1f s" % r.secs)
    shutil.copy(os.path.join(SRC, "validate.mjs"), DEST)
    pkg = json.load(open(os.path.join(DEST, "node_modules", "kubernetes-models",
                                      "package.json")))
    return pkg["version"]


def validate(docs):
    r = subprocess.run(["node", os.path.join(DEST, "validate.mjs")],
                       input=json.dumps(docs).encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    return r.returncode, r.stdout.decode(errors="replace")


def body(s):
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            s.check("k8s schema: %s is installed (the machine's Node.js)" % tool, False)
            return
    try:
        version = install()
    except Unreachable as e:
        bar = "!" * 72
        print(bar)
        print("!!! SKIPPED: k8s schema: the npm registry cannot be reached or verified here")
        for line in str(e).splitlines()[-6:]:
            print("!!!   " + line)
        print(bar)
        s.check("k8s schema: skipped (no npm registry)", True)
        return
    print("# k8s schema: kubernetes-models %s" % version)
    files = sorted(glob.glob(os.path.join(deploylib.ROOT, "deploy", "k8s", "*.yaml")))
    deployment = None
    for f in files:
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
        rc, out = validate(docs)
        print("\n".join("#   " + l for l in out.splitlines()))
        s.check("k8s schema: %s: %d documents valid" % (os.path.relpath(f, deploylib.ROOT),
                                                         len(docs)), rc == 0 and docs, out)
        deployment = deployment or next((d for d in docs if d["kind"] == "Deployment"), None)
    if s.check("k8s schema: a Deployment was validated", deployment is not None):
        bad = copy.deepcopy(deployment)
        c = bad["spec"]["template"]["spec"]["containers"][0]
        c["ports"] = [{"containerPort": "not-a-number"}]
        rc, out = validate([bad])
        s.check("k8s schema: a wrongly typed containerPort is refused (the check bites)",
                rc == 1 and "containerPort" in out, out)


if __name__ == "__main__":
    sys.exit(deploylib.main("deploy-k8s-schema", body))
