#!/usr/bin/env python3
"""End to end through real nginx (SPEC sections 2 and 9): curl -x and
Python's urllib (ProxyHandler + ProxyBasicAuthHandler, which only sends
credentials after a 407 with the challenge) -> nginx, configured from the
shipped deploy/nginx/proxyauthd.conf with only ports and paths
substituted -> proxyauthd /auth-request -> an echo upstream that records
every request it gets.  An unauthenticated or refused request must never
reach the upstream; proxyauthd stopped must give an error, never the page.
The issue 12 matrix (rules_matrix.py): hosts the config does not serve get
421 from nginx, and no host or path variant brings bob to the app's
/admin.  No tunnel to the app (tunnel_app.py): CONNECT refused, no 101 for
h2c or WebSocket, a smuggled request never reaches it.
"""
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import e2e
from e2e import CHALLENGE, curl, upstream_saw
from echo_upstream import EchoUpstream
import rules_matrix
import tunnel_app


def nginx_config(s, pa_port, app_port, proxy_port, prefix=""):
    shipped = open(os.path.join(e2e.DEPLOY, "nginx", "proxyauthd.conf")).read()
    site = (shipped.replace("127.0.0.1:9180", "127.0.0.1:%d" % pa_port)
            .replace("127.0.0.1:8080", "127.0.0.1:%d" % app_port)
            .replace("127.0.0.1:3128", "127.0.0.1:%d" % proxy_port))
    s.write(prefix + "site.conf", site)
    d = s.dir
    main = """
worker_processes 1;
error_log %(d)s/%(p)serror.log info;
pid %(d)s/%(p)snginx.pid;
events { worker_connections 256; }
http {
    access_log %(d)s/access.log;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    include %(d)s/%(p)ssite.conf;
}
""" % {"d": d, "p": prefix}
    return s.write(prefix + "nginx.conf", main)


def protected_locations_without_return(text):
    """Every location holding auth_request must not hold a `return`
    (the rewrite-phase trap).  Returns the offending location names."""
    bad = []
    for m in re.finditer(r"location\s+([^{]+)\{([^{}]*)\}", text):
        body = re.sub(r"#[^\n]*", "", m.group(2))
        if re.search(r"\bauth_request\s+/", body) and re.search(r"\b(return|rewrite)\b", body):
            bad.append(m.group(1).strip())
    return bad


def body(s):
    up = EchoUpstream()
    s.closers.append(up.close)
    hp = os.path.join(s.dir, "htpasswd")
    s.add_user(hp, "alice", "alice-pw", "staff,admins")
    s.add_user(hp, "bob", "bob-pw", "staff")
    s.add_user(hp, "J\u00fcrgen", "p w:%x")
    daemon, pa_port = s.start_daemon("""[server]
listen = 127.0.0.1:0
backends = htpasswd
max_failures = 0

[htpasswd]
file = @DIR@/htpasswd

[rule admin]
host = app.example.org
path_prefix = /admin/
require_groups = admins
""")
    proxy_port = e2e.free_port()
    conf = nginx_config(s, pa_port, up.port, proxy_port)
    shipped = open(os.path.join(e2e.DEPLOY, "nginx", "proxyauthd.conf")).read()
    s.check("shipped config: no return/rewrite in a location protected by auth_request",
            not protected_locations_without_return(shipped),
            protected_locations_without_return(shipped))
    t = subprocess.run(["nginx", "-t", "-p", s.dir, "-c", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=e2e.child_env())
    s.check("nginx -t accepts the shipped config", t.returncode == 0, t.stdout.decode())
    ngx = s.spawn(["nginx", "-p", s.dir, "-c", conf, "-g", "daemon off;"], "nginx.out")
    if not s.check("nginx comes up", e2e.wait_for(lambda: e2e.port_open(proxy_port) or
                                                  ngx.poll() is not None, 20)
                   and ngx.poll() is None, s.read("nginx.out"), s.read("error.log")):
        return
    url = "http://app.example.org/hello?x=1"

    st, h, b = curl(proxy_port, url)
    s.check("no credentials: 407 with the exact challenge",
            st == 407 and h.get("proxy-authenticate") == [CHALLENGE], st, h)
    st, h, b = curl(proxy_port, url, "alice", "wrong")
    s.check("wrong password: 407 with the challenge",
            st == 407 and h.get("proxy-authenticate") == [CHALLENGE], st, h)
    st, h, b = curl(proxy_port, url, "nobody", "x")
    s.check("unknown user: 407", st == 407, st, h)
    st, h, b = curl(proxy_port, url, headers=["Proxy-Authorization: Bearer abc"])
    s.check("other scheme: 407", st == 407, st)
    s.check("no refused request reached the upstream", up.count == 0, up.requests)

    st, h, b = curl(proxy_port, url, "alice", "alice-pw",
                    headers=["X-Auth-User: mallory", "X-Auth-Groups: admins",
                             "X-Auth-Backend: forged", "X-Original-URI: /admin/forged",
                             "X-Forwarded-Host: evil.example", "X-Forwarded-Host: evil2.example",
                             "X-Forwarded-Uri: /admin/forged", "X-Original-URL: http://evil/",
                             "Forwarded: for=192.0.2.66;host=admin.example.org;proto=https"] + rules_matrix.UNDERSCORE_FORGED +
                    rules_matrix.REWRITE_FORGED)
    ok = st == 200 and up.count == 1
    s.check("right credentials: the upstream's page", ok, st, h, b)
    if up.count:
        seen = up.requests[-1]
        s.check("upstream saw no client X_Auth_* (read as X-Auth-* by CGI, PHP, WSGI)",
                not rules_matrix.underscore_auth(seen), seen)
        s.check("upstream saw no client X-Rewrite-URL / X-Original-URL (Symfony, Zend route "
                "by them)", not rules_matrix.rewrite_headers(seen), seen)
        s.check("upstream saw no client Forwarded (Rack 3 and Spring take its host= over "
                "X-Forwarded-Host: a host the rules never judged)",
                upstream_saw(seen, "Forwarded") == [], seen)
        s.check("upstream got the request path", seen["path"] == "/hello?x=1", seen)
        s.check("upstream saw X-Auth-User from proxyauthd (client's replaced)",
                upstream_saw(seen, "X-Auth-User") == ["alice"], seen)
        s.check("upstream saw X-Auth-Groups",
                upstream_saw(seen, "X-Auth-Groups") == ["staff,admins"], seen)
        s.check("upstream did not see Proxy-Authorization",
                upstream_saw(seen, "Proxy-Authorization") == [], seen)
        s.check("upstream saw X-Auth-Backend from proxyauthd (client's replaced)",
                upstream_saw(seen, "X-Auth-Backend") == ["htpasswd"], seen)
        s.check("upstream saw the routed host and the real URI, no client context header",
                upstream_saw(seen, "Host") == ["app.example.org"] and
                upstream_saw(seen, "X-Forwarded-Host") == ["app.example.org"] and
                upstream_saw(seen, "X-Original-URI") == ["/hello?x=1"] and
                upstream_saw(seen, "X-Forwarded-Uri") == [] and
                upstream_saw(seen, "X-Original-URL") == [], seen)
    log = s.read("proxyauthd.log")
    s.check("proxyauthd logged the real URI and host (client's context headers replaced, "
            "the duplicate X-Forwarded-Host dropped by nginx)",
            re.search(r'user=alice profile=auth-request outcome=allow.*uri="?/hello\?x=1',
                      log) is not None and "/admin/forged" not in log and "evil" not in log
            and re.search(r"user=alice .*host=app\.example\.org ", log) is not None,
            log[-2000:])
    s.check("nginx over loopback is a trusted proxy: no rules warning",
            "not in trusted_proxies" not in log, log[-2000:])

    n = up.count
    st, h, b = curl(proxy_port, "http://app.example.org/admin/panel", "bob", "bob-pw")
    s.check("user without the required group: 403, no challenge",
            st == 403 and "proxy-authenticate" not in h, st, h)
    st, h, b = curl(proxy_port, "http://app.example.org/admin/panel", "alice",
                    "alice-pw")
    s.check("user with the group: the admin page", st == 200, st)
    s.check("the 403 never reached the upstream", up.count == n + 1, up.requests[n:])

    st, h, b = curl(proxy_port, url, "J\u00fcrgen", "p w:%x")
    s.check("UTF-8 user, password with space, colon and %: allowed", st == 200, st, h)
    if st == 200:
        s.check("upstream saw the UTF-8 user",
                upstream_saw(up.requests[-1], "X-Auth-User") == ["J\u00c3\u00bcrgen"] or
                upstream_saw(up.requests[-1], "X-Auth-User") == ["J\u00fcrgen"],
                up.requests[-1])

    # Python's urllib: a real client that waits for the 407 challenge.
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, "127.0.0.1:%d" % proxy_port, "bob", "bob-pw")
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": "http://127.0.0.1:%d" % proxy_port}),
        urllib.request.ProxyBasicAuthHandler(mgr))
    n = up.count
    try:
        with opener.open(url, timeout=20) as r:
            got = (r.status, json.loads(r.read()))
    except Exception as e:
        got = (getattr(e, "code", 0), repr(e))
    s.check("urllib with ProxyBasicAuthHandler: challenge answered, page served",
            got[0] == 200 and up.count == n + 1 and
            upstream_saw(got[1], "X-Auth-User") == ["bob"], got)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": "http://127.0.0.1:%d" % proxy_port}))
    try:
        with opener.open(url, timeout=20) as r:
            got = r.status
    except urllib.error.HTTPError as e:
        got = (e.code, e.headers.get("Proxy-Authenticate"))
    s.check("urllib without credentials: 407 with the challenge", got == (407, CHALLENGE), got)

    # The issue 12 matrix, with curl for the variants it sends as they are.
    n = up.count
    st, h, b = curl(proxy_port, "http://127.0.0.1:%d/public/x" % up.port, "alice", "alice-pw")
    s.check("curl to an IP host: 421 from nginx, nothing at the upstream",
            st == 421 and up.count == n, st)
    st, h, b = curl(proxy_port, "http://other.example.org/admin/x", "bob", "bob-pw")
    s.check("curl to another host: 421", st == 421, st)
    st, h, b = curl(proxy_port, "http://app.example.org./admin/x", "bob", "bob-pw")
    s.check("curl to app.example.org. (trailing dot): judged as app.example.org, 403",
            st == 403, st)
    m = rules_matrix.Matrix(s, "nginx", proxy_port, up,
                            lambda u, p: [("Proxy-Authorization", rules_matrix.basic(u, p))])
    m.curl_paths()
    m.paths()
    m.urllib_paths()
    m.hosts(served={"trailing-dot", "upper-port", "line-app-header-other"})

    # No tunnel to the app: the shipped config forwards no Upgrade and
    # nginx refuses CONNECT, so with bob's valid credentials neither a
    # CONNECT nor an h2c or WebSocket upgrade gets the stand-in app's 200
    # or 101, and the smuggled request never reaches it.
    tup = tunnel_app.TunnelUpstream()
    s.closers.append(tup.close)
    tport = e2e.free_port()
    tconf = nginx_config(s, pa_port, tup.port, tport, "tunnel-")
    tngx = s.spawn(["nginx", "-p", s.dir, "-c", tconf, "-g", "daemon off;"], "tunnel-nginx.out")
    if s.check("nginx-tunnel: nginx comes up", e2e.wait_for(
            lambda: e2e.port_open(tport) or tngx.poll() is not None, 20) and tngx.poll() is None,
            s.read("tunnel-nginx.out"), s.read("tunnel-error.log")):
        tunnel_app.probe(s, "nginx-tunnel", tport, tup,
                         "Proxy-Authorization: " + rules_matrix.basic("bob", "bob-pw"))
        s.check("nginx-tunnel: the stand-in app got plain requests only",
                not any(x.startswith("CONNECT") for x in tup.lines) and tup.upgrades == [],
                tup.lines, tup.upgrades)
        s.stop(tngx, timeout=10)

    # proxyauthd stopped: an error from nginx, never the page.
    s.stop(daemon)
    n = up.count
    st, h, b = curl(proxy_port, url, "alice", "alice-pw")
    s.check("proxyauthd stopped: a 5xx, not the page", 500 <= st <= 599, st, h, b)
    s.check("proxyauthd stopped: nothing reached the upstream", up.count == n, up.requests[n:])
    s.stop(ngx, timeout=10)


if __name__ == "__main__":
    sys.exit(e2e.Suite("nginx").run(body))
