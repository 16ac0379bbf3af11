#!/usr/bin/env python3
"""The man pages of deploy/man (issue 13, part 4): every page passes
`mandoc -T lint -W all` (a cross-reference to another page of the set is
not an error: they are installed together); proxyauthd.conf(5) documents
every key of every configuration table in the code, with its default and
bounds, and no key the code does not have; the README links every page;
deploy/proxyauthd.conf names every key.

The tables are read from the C sources: every
`struct pa_conf_key NAME[] = { ... }` under lib/, backends/ and cmd/, its
section found from the backend ops that name it (`.name`, `.keys`), from
pa_server_keys and pa_rule_keys, or else from its name (pa_X_keys or
X_keys: [X]).  A section or key added to the code without its text in the
page fails here, naming it.
"""
import glob
import os
import re
import subprocess
import sys

import deploylib
from deploylib import ROOT

MAN = os.path.join(ROOT, "deploy", "man")
CONF5 = os.path.join(MAN, "proxyauthd.conf.5")
ROW = re.compile(r'\{\s*"([^"]+)"\s*,\s*(PA_CONF_\w+)\s*,\s*(-?\d+)L?\s*,\s*(-?\d+)L?\s*,\s*'
                 r'(NULL|"(?:[^"\\]|\\.)*")\s*,\s*(NULL|"[^"]*")\s*,\s*(\w+)\s*\}')


def c_string(tok):
    return None if tok == "NULL" else bytes(tok[1:-1], "utf-8").decode("unicode_escape")


def code_tables():
    """[(section, table, file, [key dicts])], and parse problems."""
    tables, problems, owners = [], [], {}
    files = []
    for d in ("lib", "backends", "cmd"):
        files += glob.glob(os.path.join(ROOT, d, "**", "*.c"), recursive=True)
    for f in sorted(files):
        text = open(f, errors="replace").read()
        for m in re.finditer(r'\.name\s*=\s*"([\w-]+)"[^;]*?\.keys\s*=\s*(\w+)', text, re.S):
            owners[m.group(2)] = m.group(1)
        for m in re.finditer(r'\.keys\s*=\s*(\w+)[^;]*?\.name\s*=\s*"([\w-]+)"', text, re.S):
            owners.setdefault(m.group(1), m.group(2))
    for f in sorted(files):
        text = open(f, errors="replace").read()
        rel = os.path.relpath(f, ROOT)
        for m in re.finditer(r"struct\s+pa_conf_key\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\n\s*\}\s*;",
                             text, re.S):
            name, rows = m.group(1), m.group(2)
            keys = []
            for r in ROW.finditer(rows):
                keys.append({"name": r.group(1), "type": r.group(2), "min": int(r.group(3)),
                             "max": int(r.group(4)), "def": c_string(r.group(5)),
                             "choices": c_string(r.group(6))})
            if len(keys) != len(re.findall(r'\{\s*"', rows)):
                problems.append("%s: %s: a row the test cannot read (keep rows as "
                                '{ "name", PA_CONF_X, min, max, "default"|NULL, '
                                '"choices"|NULL, check })' % (rel, name))
            tables.append((name, rel, keys))
    out = []
    for name, rel, keys in tables:
        if name == "pa_server_keys":
            sec = "server"
        elif name == "pa_rule_keys":
            sec = "rule NAME"
        elif name in owners:
            sec = owners[name]
        else:
            sec = re.sub(r"^pa_", "", re.sub(r"_keys$", "", name))
        out.append((sec, name, rel, keys))
    return out, problems


def page_keys(text):
    """{section: {key: {"Default": ..., "Range": ..., ...}}} from the page."""
    secs, sec, key = {}, None, None
    for line in text.splitlines():
        m = re.match(r"^\.Ss\s+(.*)$", line)
        if m:
            sec = re.sub(r'\\&|["\[\]]', "", m.group(1)).strip()
            secs.setdefault(sec, {})
            key = None
            continue
        if re.match(r"^\.(Sh|El)\b", line):
            key = None
            if line.startswith(".Sh"):
                sec = None
            continue
        m = re.match(r"^\.It\s+Ic\s+(\S+)", line)
        if m and sec is not None:
            key = m.group(1)
            secs[sec][key] = {}
            continue
        m = re.match(r"^(Default|Range|Length|Values):\s*(.*)$", line)
        if m and key is not None:
            secs[sec][key][m.group(1)] = m.group(2).strip()
    return secs


def check_key(k, doc):
    """Problems of one documented key against its code row."""
    p = []
    d = doc.get("Default")
    if d is None:
        p.append("no Default: line")
    elif k["def"] in (None, ""):
        if d not in ("none", "empty"):
            p.append("Default: %s, the code has none" % d)
    elif d != k["def"]:
        p.append("Default: %s, the code has %s" % (d, k["def"]))
    if k["type"] == "PA_CONF_INT":
        want = "%d to %d" % (k["min"], k["max"])
        if doc.get("Range") != want:
            p.append("Range: %s, the code has %s" % (doc.get("Range"), want))
    elif "Range" in doc:
        p.append("Range: on a key that is not a number")
    if k["type"] == "PA_CONF_STRING" and k["max"] > 0:
        want = "%d to %d characters" % (k["min"], k["max"])
        if doc.get("Length") != want:
            p.append("Length: %s, the code has %s" % (doc.get("Length"), want))
    if k["type"] == "PA_CONF_ENUM":
        want = ", ".join(k["choices"].split("|"))
        if doc.get("Values") != want:
            p.append("Values: %s, the code has %s" % (doc.get("Values"), want))
    return p


def body(s):
    pages = sorted(glob.glob(os.path.join(MAN, "*.[1-8]")))
    names = {os.path.basename(p) for p in pages}
    s.check("man: the four pages are there", {"proxyauthd.8", "proxyauthd.conf.5",
                                              "proxyauth-passwd.1",
                                              "proxyauth-squid.8"} <= names, names)
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "all"] + pages, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode(errors="replace")
    own = [l for l in out.splitlines()
           if (lambda m: m and "%s.%s" % (m.group(1), m.group(2)) in names)(
               re.search(r"referenced manual not found: Xr (\S+) (\d)", l))]
    rest = [l for l in out.splitlines() if l not in own]
    s.check("man: mandoc -T lint -W all is clean (%d pages)" % len(pages), not rest, *rest)

    tables, problems = code_tables()
    s.check("man: the configuration tables are read from the code (%s)" %
            ", ".join("[%s] %d" % (sec, len(k)) for sec, _, _, k in tables),
            tables and not problems, *problems)
    doc = page_keys(open(CONF5).read())
    missing, wrong, extra = [], [], []
    for sec, table, rel, keys in tables:
        dsec = doc.get(sec)
        for k in keys:
            if dsec is None or k["name"] not in dsec:
                missing.append("[%s] %s (%s, %s): not in proxyauthd.conf.5" %
                               (sec, k["name"], rel, table))
                continue
            for p in check_key(k, dsec[k["name"]]):
                wrong.append("[%s] %s: %s" % (sec, k["name"], p))
    code = {sec: {k["name"] for k in keys} for sec, _, _, keys in tables}
    for sec, keys in doc.items():
        for k in keys:
            if k not in code.get(sec, set()):
                extra.append("[%s] %s: documented, but no such key in the code" % (sec, k))
    s.check("man: proxyauthd.conf(5) documents every key of the code", not missing, *missing)
    s.check("man: every documented default and bound is the code's", not wrong, *wrong)
    s.check("man: proxyauthd.conf(5) documents no key the code lacks", not extra, *extra)

    # The shipped example configuration names every key too, set or
    # commented out ("key =" or "#key ="), under its section ("[x]",
    # "#[x]", "[rule NAME]"): the README says it lists them all.
    have, sec = {}, None
    for line in open(os.path.join(ROOT, "deploy", "proxyauthd.conf")):
        m = re.match(r"^#?\[(\w+)( [^\]]*)?\]", line)
        if m:
            sec = m.group(1) + (" NAME" if m.group(2) else "")
            continue
        m = re.match(r"^#?(\w+)\s*=", line)
        if m and sec:
            have.setdefault(sec, set()).add(m.group(1))
    absent = ["[%s] %s" % (sec, k["name"]) for sec, _, _, keys in tables for k in keys
              if k["name"] not in have.get(sec, set())]
    s.check("deploy/proxyauthd.conf names every key of the code", not absent, *absent)

    readme = open(os.path.join(ROOT, "README.md")).read()
    unlinked = [n for n in sorted(names) if "(deploy/man/%s)" % n not in readme]
    s.check("man: the README links every page", not unlinked, unlinked)


if __name__ == "__main__":
    sys.exit(deploylib.main("deploy-manpages", body))
