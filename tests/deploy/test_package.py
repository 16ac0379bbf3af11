#!/usr/bin/env python3
"""The Debian package (issue 13, part 3): deploy/debian/build.sh builds
proxyauthd_<version>_amd64.deb with debhelper; it holds every program the
CMake install() rules name, the systemd unit (systemd-analyze verify),
/etc/proxyauthd/proxyauthd.conf as a conffile, the SQL schema and deploy
examples under /usr/share/proxyauthd/, every man page of deploy/man; its
Depends come from shlibdeps and cover every library the programs link;
lintian reports no error.  Then, on a fresh Debian 12 root (the cached
debootstrap, copied): `apt-get install ./proxyauthd_*.deb` pulls in what
it needs and nothing to build with, makes the system user, `proxyauthd -t`
passes on the installed configuration; an upgrade over itself keeps a
local edit of the conffile; purge (and autoremove) leaves no stray file.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

import deploylib
from deploylib import run

# Package-manager state and logs, which change with any install: not
# stray files.  The user's entries stay after purge (Debian's policy), and
# so do the backups the shadow tools make when they add it.
NOT_STRAY = re.compile(r"^/(proc|sys|dev|tmp|run)/|^/var/lib/(apt|dpkg)/|^/var/cache/"
                       r"(apt|debconf|ldconfig)/|^/var/log/|^/etc/(passwd|group|shadow|"
                       r"gshadow)-$|^/etc/ld\.so\.cache$")


def listing(root):
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)[len(root):]
            if not NOT_STRAY.search(p + ("/" if n in dirs else "")):
                out.add(p + ("/" if n in dirs else ""))
    return out


def chroot(root, cmd, timeout=600, check=True):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LC_ALL": "C", "HOME": "/root"}
    return run(["chroot", root, "/bin/sh", "-c", cmd], timeout=timeout, check=check, env=env)


def packages(root):
    r = chroot(root, "dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n'")
    return {l.split()[1] for l in r.out.splitlines() if l.startswith("ii ")}


def body(s):
    build = os.environ.get("PA_BUILD_DIR")
    if not build:
        print("set PA_BUILD_DIR (tests/deploy/run.sh does)")
        sys.exit(2)
    out = os.path.join(s.dir, "deb")
    r = run([os.path.join(deploylib.ROOT, "deploy", "debian", "build.sh"), out], timeout=1200)
    debs = glob.glob(os.path.join(out, "proxyauthd_*_amd64.deb"))
    print("# package: deploy/debian/build.sh took %.1f s" % r.secs)
    if not s.check("package: one command builds proxyauthd_<version>_amd64.deb", len(debs) == 1,
                   r.out):
        return
    deb = debs[0]
    version = re.search(r"project\(proxyauthd VERSION ([0-9.]+)",
                        open(os.path.join(deploylib.ROOT, "CMakeLists.txt")).read()).group(1)
    s.check("package: named for the version of CMakeLists.txt",
            os.path.basename(deb) == "proxyauthd_%s_amd64.deb" % version, deb)
    files = set(l.split()[-1].lstrip(".") for l in run(["dpkg-deb", "-c", deb]).out.splitlines())

    # Every program the install() rules name (cmake --install of the
    # plain build, so a program added later is checked too).
    inst = os.path.join(s.dir, "cmake-install")
    run(["cmake", "--install", build, "--prefix", inst])
    progs = sorted(os.listdir(os.path.join(inst, "bin")))
    s.check("package: every program of the CMake install() rules is in /usr/bin (%s)" %
            ", ".join(progs), progs and all("/usr/bin/" + p in files for p in progs),
            progs, sorted(f for f in files if "/bin/" in f))
    pages = sorted(os.path.basename(p) for p in
                   glob.glob(os.path.join(deploylib.ROOT, "deploy", "man", "*.[1-8]")))
    s.check("package: every man page of deploy/man (%s)" % ", ".join(pages),
            pages and all("/usr/share/man/man%s/%s.gz" % (p[-1], p) in files for p in pages),
            sorted(f for f in files if "/man/" in f))
    want = ["/lib/systemd/system/proxyauthd.service", "/etc/proxyauthd/proxyauthd.conf",
            "/usr/share/proxyauthd/sql/schema.sql",
            "/usr/share/proxyauthd/examples/nginx/proxyauthd.conf",
            "/usr/share/proxyauthd/examples/k8s/proxyauthd.yaml",
            "/usr/share/proxyauthd/examples/squid/squid.conf"]
    s.check("package: the unit, the configuration, the schema and the examples",
            all(w in files for w in want), [w for w in want if w not in files])
    ctl = os.path.join(s.dir, "control")
    run(["dpkg-deb", "-e", deb, ctl])
    conffiles = open(os.path.join(ctl, "conffiles")).read().split()
    s.check("package: /etc/proxyauthd/proxyauthd.conf is a conffile",
            "/etc/proxyauthd/proxyauthd.conf" in conffiles, conffiles)
    depends = run(["dpkg-deb", "-f", deb, "Depends"]).out.strip()
    print("# package: Depends: " + depends)
    # shlibdeps: every library a program links is there by its package.
    x = os.path.join(s.dir, "x")
    run(["dpkg-deb", "-x", deb, x])
    needed = set()
    for p in progs:
        needed |= set(re.findall(r"NEEDED\s+(\S+)",
                                 run(["objdump", "-p", os.path.join(x, "usr/bin", p)]).out))
    owners = set()
    triple = run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).out.strip()
    for lib in sorted(needed):
        r = run(["dpkg", "-S", "*/%s/%s" % (triple, lib)], check=False)
        owners |= {l.split(":")[0] for l in r.out.splitlines() if ":" in l}
    dep_names = {d.strip().split()[0] for d in depends.split(",")}
    s.check("package: Depends (from shlibdeps) names the package of every linked library",
            owners and owners <= dep_names, sorted(owners - dep_names), depends)
    s.check("package: the control file keeps no hand list of libraries",
            "${shlibs:Depends}" in open(os.path.join(deploylib.ROOT, "deploy", "debian",
                                                     "control")).read())
    unit = os.path.join(x, "lib/systemd/system/proxyauthd.service")
    text = open(unit).read()
    s.check("package: the unit starts /usr/bin/proxyauthd",
            "ExecStart=/usr/bin/proxyauthd " in text and "/usr/local" not in text, text)
    if shutil.which("systemd-analyze"):
        vu = os.path.join(s.dir, "unit", "proxyauthd.service")
        os.makedirs(os.path.dirname(vu))
        with open(vu, "w") as f:
            f.write(text.replace("/usr/bin/proxyauthd", os.path.join(x, "usr/bin/proxyauthd")))
        # --man=no: the man pages it names are in the package (checked
        # above), not on this machine.
        r = run(["systemd-analyze", "verify", "--man=no", vu], check=False, timeout=60)
        s.check("package: systemd-analyze verify passes on the packaged unit",
                r.returncode == 0 and "proxyauthd" not in r.out, r.out)

    r = run(["lintian", "--fail-on", "error", "--no-tag-display-limit", deb], check=False,
            timeout=600)
    tags = [l for l in r.out.splitlines() if re.match(r"^[EWIXPO]: ", l)]
    print("# package: lintian: " + ("; ".join(tags) or "no tags"))
    s.check("package: lintian reports no error",
            r.returncode == 0 and not [t for t in tags if t.startswith("E:")], r.out)

    # A fresh Debian 12 root: the cached debootstrap, copied.
    root = os.path.join(s.dir, "root")
    rootfs = deploylib.base_rootfs()
    run(["cp", "-a", "--reflink=auto", rootfs, root])
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
    chroot(root, "apt-get update -q")
    before_pkgs = packages(root)
    before = listing(root)
    shutil.copy(deb, os.path.join(root, "tmp"))
    name = os.path.basename(deb)
    r = chroot(root, "apt-get install -y -q ./tmp/" + name, check=False)
    if not s.check("chroot: apt-get install ./%s" % name, r.returncode == 0, r.out):
        return
    added = sorted(packages(root) - before_pkgs)
    print("# chroot: apt-get installed: " + " ".join(added))
    s.check("chroot: every package of Depends is installed",
            dep_names <= set(added) | before_pkgs, sorted(dep_names - set(added) - before_pkgs))
    s.check("chroot: nothing to build with came along",
            not [p for p in added if p.endswith("-dev") or p in ("gcc", "cmake", "make")],
            added)
    r = chroot(root, "ldd /usr/bin/proxyauthd /usr/bin/proxyauth-passwd /usr/bin/proxyauth-squid")
    s.check("chroot: every library the programs link is installed", "not found" not in r.out,
            r.out)
    r = chroot(root, "proxyauthd -t", check=False)
    s.check("chroot: proxyauthd -t passes on the installed configuration",
            r.returncode == 0 and "configuration OK" in r.out, r.out)
    r = chroot(root, "getent passwd proxyauthd; stat -c '%a %U:%G %n' /etc/proxyauthd "
               "/etc/proxyauthd/proxyauthd.conf /etc/proxyauthd/users.htpasswd")
    s.check("chroot: the system user proxyauthd, without a shell or home",
            re.search(r"^proxyauthd:x:\d+:\d+:.*:/nonexistent:/usr/sbin/nologin$", r.out, re.M),
            r.out)
    s.check("chroot: /etc/proxyauthd 0750 and its files 0640, group proxyauthd",
            "750 root:proxyauthd /etc/proxyauthd\n" in r.out and
            "640 root:proxyauthd /etc/proxyauthd/proxyauthd.conf\n" in r.out and
            "640 root:proxyauthd /etc/proxyauthd/users.htpasswd" in r.out, r.out)
    r = chroot(root, "ls /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8")
    s.check("chroot: the man pages are installed",
            all(p + ".gz" in r.out for p in pages), r.out)

    # Upgrade over itself, with a local edit of the conffile.
    chroot(root, "echo '# local edit' >> /etc/proxyauthd/proxyauthd.conf")
    r = chroot(root, "apt-get install -y -q --reinstall ./tmp/" + name, check=False)
    s.check("chroot: upgrade over itself", r.returncode == 0, r.out)
    r = chroot(root, "tail -n 1 /etc/proxyauthd/proxyauthd.conf; proxyauthd -t", check=False)
    s.check("chroot: the upgrade keeps the local edit, and the configuration passes",
            r.returncode == 0 and r.out.startswith("# local edit") and
            "configuration OK" in r.out, r.out)

    # Recommends of the base system do not keep what came with the package:
    # apt Recommends ca-certificates, which libcurl4 pulled in (as
    # automatically installed), and apt's default would keep it.
    r = chroot(root, "apt-get purge -y -q proxyauthd && apt-get autoremove --purge -y -q "
               "-o APT::AutoRemove::RecommendsImportant=false "
               "-o APT::AutoRemove::SuggestsImportant=false", check=False)
    s.check("chroot: purge", r.returncode == 0, r.out)
    os.unlink(os.path.join(root, "tmp", name))
    after = listing(root)
    stray = sorted(after - before)
    gone = sorted(before - after)
    s.check("chroot: install, upgrade and purge leave no stray file", not stray and not gone,
            "left: %s" % stray, "removed: %s" % gone)
    s.check("chroot: the packages that came with it are gone again",
            packages(root) == before_pkgs, sorted(packages(root) ^ before_pkgs))


if __name__ == "__main__":
    sys.exit(deploylib.main("deploy-package", body))
