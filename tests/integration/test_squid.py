#!/usr/bin/env python3
"""End to end through real Squid (SPEC sections 6 and 9): curl -x -> Squid,
configured from the shipped deploy/squid/squid.conf with only ports and
paths substituted -> proxyauth-squid (the proxyauthd pipeline as Squid's
basic-auth helper, concurrency on) -> an echo upstream that records every
request it gets.  Squid answers 407 itself without credentials and serves
the page with them; a backend that is down (Redis on a closed port) gives
an error, never the page.  The issue 12 matrix (rules_matrix.py) with the
shipped example for a protected /admin/ enabled: Squid refuses ambiguous
paths itself and keeps /admin/ of the app's address from bob under every
host spelling; a client's X-Auth-* and context headers never reach the
upstream.  No tunnel to the app (tunnel_app.py): CONNECT to its port 403,
no 101 for h2c or WebSocket, a smuggled request never reaches it.
"""
import os
import pwd
import re
import shutil
import subprocess
import sys

import e2e
from e2e import curl, upstream_saw
from echo_upstream import EchoUpstream
import rules_matrix
import tunnel_app

SQUID_CHALLENGE = 'Basic realm="proxyauthd"'


def helper_path(s):
    """The helper as Squid's cache_effective_user can run it: started as
    root, Squid runs helpers as proxy, which may not reach the build tree
    (a checkout under /root), so a copy in the test folder is used."""
    if os.geteuid() != 0:
        return e2e.SQUID_HELPER
    dst = os.path.join(s.dir, "proxyauth-squid")
    if not os.path.exists(dst):
        shutil.copy2(e2e.SQUID_HELPER, dst)
        os.chmod(dst, 0o755)
    return dst


def squid_config(s, name, proxy_port, helper_conf, to_localhost=False, admin_example=False):
    shipped = open(os.path.join(e2e.DEPLOY, "squid", "squid.conf")).read()
    if admin_example:
        # The shipped example block, enabled for the app on 127.0.0.1.
        assert "#http_access deny app_servers app_admin_path !app_admins all" in shipped
        shipped = (shipped.replace("\n#acl app_", "\nacl app_")
                   .replace("\n#http_access deny app_servers", "\nhttp_access deny app_servers")
                   .replace("dst 192.0.2.10", "dst 127.0.0.1"))
    if to_localhost:
        # The one change beyond ports and paths: the test's upstream is on
        # 127.0.0.1, which the shipped config refuses (checked below).
        assert "\nhttp_access deny to_localhost\n" in shipped
        shipped = shipped.replace("\nhttp_access deny to_localhost\n", "\n")
    d = os.path.join(s.dir, name)
    os.makedirs(d, exist_ok=True)
    text = (shipped.replace("http_port 127.0.0.1:3128", "http_port 127.0.0.1:%d" % proxy_port)
            .replace("/usr/local/bin/proxyauth-squid", helper_path(s))
            .replace("/etc/proxyauthd/proxyauthd.conf", helper_conf)
            .replace("/run/squid.pid", d + "/squid.pid")
            .replace("/var/log/squid/", d + "/")
            .replace("/var/spool/squid", d))
    # Paths Squid would otherwise take from its build defaults.
    text += "netdb_filename none\npinger_enable off\n"
    # Names for the matrix, all on the test's loopback upstream.
    hosts = s.write(name + ".hosts", "127.0.0.1 app.example.org other.example.org\n")
    text += "hosts_file %s\n" % hosts
    conf = s.write(name + ".conf", text)
    return conf, d


def own(s, paths):
    """Squid started as root runs itself and its helpers as proxy."""
    if os.geteuid() != 0:
        return
    u = pwd.getpwnam("proxy")
    for p in paths:
        os.chown(p, u.pw_uid, u.pw_gid)


def start_squid(s, name, proxy_port, helper_conf, to_localhost=True, admin_example=False):
    conf, d = squid_config(s, name, proxy_port, helper_conf, to_localhost, admin_example)
    own(s, [d, helper_conf])
    r = subprocess.run(["squid", "-k", "parse", "-f", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=e2e.child_env(), timeout=60)
    s.check("%s: squid -k parse accepts the config" % name, r.returncode == 0,
            r.stdout.decode()[-2000:])
    p = s.spawn(["squid", "-N", "-f", conf], name + ".out")
    up = e2e.wait_for(lambda: e2e.port_open(proxy_port) or p.poll() is not None, 60)
    ok = s.check("%s: squid comes up" % name, up and p.poll() is None,
                 s.read(name + ".out"), s.read(name + "/cache.log")[-3000:])
    return p if ok else None


def body(s):
    up = EchoUpstream()
    s.closers.append(up.close)
    hp = os.path.join(s.dir, "htpasswd")
    s.add_user(hp, "alice", "alice-pw", "staff")
    s.add_user(hp, "J\u00fcrgen", "p w:%x", "staff")
    s.add_user(hp, "outsider", "out-pw")
    helper_conf = s.write("proxyauthd.conf", """[server]
backends = htpasswd
require_groups = staff
max_failures = 0

[htpasswd]
file = %s
""" % hp, 0o600)
    own(s, [hp])
    proxy_port = e2e.free_port()
    squid = start_squid(s, "squid", proxy_port, helper_conf)
    if squid is None:
        return
    url = "http://127.0.0.1:%d/hello?x=1" % up.port

    st, h, b = curl(proxy_port, url)
    s.check("no credentials: Squid's 407 with the challenge",
            st == 407 and h.get("proxy-authenticate") == [SQUID_CHALLENGE], st, h)
    st, h, b = curl(proxy_port, url, "alice", "wrong")
    s.check("wrong password: 407", st == 407 and SQUID_CHALLENGE in h.get(
        "proxy-authenticate", []), st, h)
    st, h, b = curl(proxy_port, url, "outsider", "out-pw")
    s.check("user lacking require_groups: 407 (ERR from the helper)", st == 407, st, h)
    s.check("no refused request reached the upstream", up.count == 0, up.requests)

    st, h, b = curl(proxy_port, url, "alice", "alice-pw",
                    headers=["X-Auth-User: mallory", "X-Auth-Groups: admins",
                             "X-Auth-Backend: forged", "X-Forwarded-Uri: /forged",
                             "X-Original-URI: /forged", "X-Forwarded-Host: evil.example",
                             "Forwarded: for=192.0.2.66;host=admin.example.org;proto=https"] + rules_matrix.UNDERSCORE_FORGED +
                    rules_matrix.REWRITE_FORGED)
    s.check("right credentials: the upstream's page", st == 200 and up.count == 1, st, h, b)
    if up.count:
        seen = up.requests[-1]
        s.check("upstream saw no client X_Auth_* (read as X-Auth-* by CGI, PHP, WSGI)",
                not rules_matrix.underscore_auth(seen), seen)
        s.check("upstream saw no client X-Rewrite-URL / X-Original-URL (Symfony, Zend route "
                "by them)", not rules_matrix.rewrite_headers(seen), seen)
        s.check("upstream saw no client Forwarded (Rack 3 and Spring take its host= over "
                "X-Forwarded-Host: a host the rules never judged)",
                upstream_saw(seen, "Forwarded") == [], seen)
        s.check("upstream saw X-Auth-User from Squid (client's replaced)",
                upstream_saw(seen, "X-Auth-User") == ["alice"], seen)
        s.check("upstream did not see Proxy-Authorization",
                upstream_saw(seen, "Proxy-Authorization") == [], seen)
        s.check("upstream did not see the client's other X-Auth-* or context headers",
                all(upstream_saw(seen, n) == [] for n in (
                    "X-Auth-Groups", "X-Auth-Backend", "X-Forwarded-Uri", "X-Original-URI",
                    "X-Forwarded-Host")), seen)
    st, h, b = curl(proxy_port, url, "J\u00fcrgen", "p w:%x")
    s.check("UTF-8 user, password with space, colon and %: allowed", st == 200, st, h)

    # A deleted user loses access through Squid within seconds, as through
    # proxyauthd: the helper re-reads the file within a second and drops
    # that user's cached answers, but Squid asks it again only after
    # credentialsttl (the shipped 60 seconds kept carol in for a minute).
    s.add_user(hp, "carol", "carol-pw", "staff")
    s.check("carol: allowed once the helper re-read the file",
            e2e.wait_for(lambda: curl(proxy_port, url, "carol", "carol-pw")[0] == 200, 10,
                         0.5))
    r = subprocess.run([e2e.PASSWD, "-f", hp, "--delete", "carol"], env=e2e.child_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    s.check("carol deleted from the htpasswd file", r.returncode == 0, r.stdout)
    gone = e2e.wait_for(lambda: curl(proxy_port, url, "carol", "carol-pw")[0] == 407, 10, 0.5)
    s.check("carol: refused (407) within 10 s of her deletion, not after Squid's "
            "credentialsttl", gone)

    log = s.read("squid/cache.log")
    s.check("the helper's decisions are in cache.log with the client address",
            re.search(r"client=127\.0\.0\.1 user=alice profile=squid outcome=allow", log)
            is not None, log[-2000:])
    s.check("no password in cache.log", "alice-pw" not in log and "p w:%x" not in log)

    # No tunnel to the app: with alice's valid credentials, a CONNECT to
    # the app's plain-HTTP port gets 403 (CONNECT only to 443), and an h2c
    # or a WebSocket upgrade no 101 (Squid forwards no Upgrade unless
    # http_upgrade_request_protocols allows it), so the smuggled request
    # never reaches the stand-in app.
    tup = tunnel_app.TunnelUpstream()
    s.closers.append(tup.close)
    st = tunnel_app.probe(s, "squid", proxy_port, tup,
                          "Proxy-Authorization: " + rules_matrix.basic("alice", "alice-pw"),
                          target="http://127.0.0.1:%d/hello" % tup.port,
                          connect="127.0.0.1:%d" % tup.port)
    s.check("squid: the CONNECT to a plain-HTTP port is refused with 403", st == 403, st)
    s.check("squid: the stand-in app got plain requests only",
            not any(x.startswith("CONNECT") for x in tup.lines) and tup.upgrades == [],
            tup.lines, tup.upgrades)
    s.stop(squid, timeout=20)

    # The issue 12 matrix, with the shipped /admin/ example enabled.
    s.add_user(hp, "bob", "bob-pw", "staff")
    s.add_user(hp, "alice", "alice-pw", "staff")
    port_m = e2e.free_port()
    squid_m = start_squid(s, "squid-matrix", port_m, helper_conf, admin_example=True)
    if squid_m is None:
        return
    m = rules_matrix.Matrix(s, "squid", port_m, up,
                            lambda u, p: [("Proxy-Authorization", rules_matrix.basic(u, p))],
                            port_suffix=":%d" % up.port)
    # Squid matches the decoded URL, where an encoded '?' looks like the
    # query's: a dot segment after a '?' is refused (squid.conf).
    m.curl_paths()
    m.paths(refused_twins={"twin-query-dotdot"})
    m.urllib_paths()
    # Squid goes where the URL says: every name of the app's address is
    # the app (judged by the dst ACL); a name that does not resolve is 503.
    m.hosts(served={"other-host", "ip", "trailing-dot", "two-dots", "upper-port",
                    "line-app-header-other", "line-other-header-app"},
            refused=(400, 403, 502, 503))
    s.stop(squid_m, timeout=20)

    # The backend down: Redis on a closed port.  BH from the helper; Squid
    # must not serve the page.
    dead_conf = s.write("dead.conf", """[server]
backends = redis

[redis]
address = 127.0.0.1:%d
timeout_ms = 500
""" % e2e.free_port(), 0o600)
    port2 = e2e.free_port()
    squid2 = start_squid(s, "squid-dead", port2, dead_conf)
    if squid2 is None:
        return
    n = up.count
    st, h, b = curl(proxy_port=port2, url=url, user="alice", password="alice-pw")
    s.check("backend unavailable: an error status, not the page",
            st != 200 and st != 0 and up.count == n, st, h, b[:300])
    s.check("backend unavailable: the helper answered BH",
            e2e.wait_for(lambda: "result=BH" in s.read("squid-dead/cache.log"), 10),
            s.read("squid-dead/cache.log")[-2000:])
    s.stop(squid2, timeout=20)

    # The shipped config as it is: an authenticated user cannot reach a
    # service on this host through Squid.
    port3 = e2e.free_port()
    squid3 = start_squid(s, "squid-strict", port3, helper_conf, to_localhost=False)
    if squid3 is None:
        return
    n = up.count
    st, h, b = curl(port3, url, "alice", "alice-pw")
    s.check("shipped config: a loopback upstream is refused (403), even authenticated",
            st == 403 and up.count == n, st, h, b[:300])
    s.stop(squid3, timeout=20)


if __name__ == "__main__":
    sys.exit(e2e.Suite("squid").run(body))
