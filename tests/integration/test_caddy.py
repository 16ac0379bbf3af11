#!/usr/bin/env python3
"""End to end through real Caddy 2.6 (SPEC sections 2, 3 and 9): curl -x ->
Caddy, configured from the shipped deploy/caddy/Caddyfile with only ports
substituted -> forward_auth to proxyauthd's /auth -> an echo upstream that
records every request it gets.

Caddy drops Proxy-Authorization and Proxy-Authenticate as hop-by-hop
headers; the shipped Caddyfile copies the credentials into
X-Proxy-Authorization (proxyauthd's credentials_header) and answers the
407 again with proxyauthd's challenge.  This test proves both, and that
without that copy proxyauthd would see no credentials at all.  The issue 12
matrix (rules_matrix.py): hosts the Caddyfile does not serve get 421 from
Caddy, client X-Auth-* and context headers never reach proxyauthd or the
app, and no host or path variant brings bob to the app's /admin.  No tunnel to
the app (tunnel_app.py): CONNECT 405, no 101 for h2c or WebSocket, a
smuggled request never reaches it; the WebSocket opt-in gives the 101.
"""
import os
import re
import subprocess
import sys

import e2e
from e2e import CHALLENGE, curl, upstream_saw
from echo_upstream import EchoUpstream
import rules_matrix
import tunnel_app


def caddy_env(s):
    return {"HOME": s.dir, "XDG_DATA_HOME": os.path.join(s.dir, "data"),
            "XDG_CONFIG_HOME": os.path.join(s.dir, "config")}


def start_caddy(s, name, text):
    conf = s.write(name + ".Caddyfile", text)
    p = s.spawn(["caddy", "run", "--config", conf, "--adapter", "caddyfile"], name + ".log",
                env=caddy_env(s))
    port = int(re.search(r"^http://app\.example\.org:(\d+) \{", text, re.M).group(1))
    ok = s.check("%s: caddy comes up" % name, e2e.wait_for(
        lambda: e2e.port_open(port) or p.poll() is not None, 30) and p.poll() is None,
        s.read(name + ".log")[-3000:])
    return p if ok else None


def tunnels(s, shipped):
    """No tunnel to the app (the red-team probe of issue 14's review): with
    bob's valid credentials, against a proxyauthd without rules (so that
    only Caddy stands in the way) and the stand-in app that opens tunnels,
    a CONNECT gets 405 and no-store, an h2c or a WebSocket upgrade no 101,
    and the smuggled request with a forged X-Auth-User never reaches the
    app.  Then the documented WebSocket opt-in: a WebSocket upgrade gets
    its 101, an h2c one still does not."""
    daemon, pa_port = s.start_daemon("[server]\nlisten = 127.0.0.1:0\nbackends = htpasswd\n"
                                     "credentials_header = X-Proxy-Authorization\n"
                                     "max_failures = 0\n\n[htpasswd]\nfile = @DIR@/htpasswd\n",
                                     "proxyauthd-norules")
    bob = "Proxy-Authorization: " + rules_matrix.basic("bob", "bob-pw")
    optin = re.sub(r"\n\t+request_header -Upgrade\n", "\n", shipped)
    optin = re.sub(r"\n\t+#(@not_websocket|request_header @not_websocket)", r"\n\t\t\1",
                   optin)
    for name, text, ws in (("caddy-tunnel", shipped, False), ("caddy-websocket", optin, True)):
        if ws and not s.check("the WebSocket opt-in differs from the shipped file",
                              optin != shipped and "@not_websocket not" in optin, optin):
            break
        up = tunnel_app.TunnelUpstream()
        s.closers.append(up.close)
        port = e2e.free_port()
        p = start_caddy(s, name, text.replace("127.0.0.1:9180", "127.0.0.1:%d" % pa_port)
                        .replace("127.0.0.1:8080", "127.0.0.1:%d" % up.port)
                        .replace(":3129", ":%d" % port))
        if p is None:
            continue
        tunnel_app.probe(s, name, port, up, bob, websocket_allowed=ws)
        if not ws:
            st, h, b = curl(port, "http://app.example.org:80", "bob", "bob-pw",
                            extra=["-p"])
            s.check("caddy: curl -p (CONNECT through the proxy): 405 with no-store",
                    st == 405 and h.get("cache-control") == ["no-store"], st, h, b)
            s.check("caddy: the stand-in app got plain requests only (no CONNECT, no "
                    "Upgrade)", not any(x.startswith("CONNECT") for x in up.lines) and
                    up.upgrades == [], up.lines, up.upgrades)
        s.stop(p, timeout=10)
    s.stop(daemon)


def body(s):
    up = EchoUpstream()
    s.closers.append(up.close)
    hp = os.path.join(s.dir, "htpasswd")
    s.add_user(hp, "alice", "alice-pw", "staff,admins")
    s.add_user(hp, "bob", "bob-pw", "staff")
    daemon, pa_port = s.start_daemon("""[server]
listen = 127.0.0.1:0
backends = htpasswd
credentials_header = X-Proxy-Authorization
max_failures = 0

[htpasswd]
file = @DIR@/htpasswd

[rule admin]
host = app.example.org
path_prefix = /admin/
require_groups = admins
""")
    proxy_port = e2e.free_port()
    shipped = open(os.path.join(e2e.DEPLOY, "caddy", "Caddyfile")).read()
    conf = s.write("Caddyfile", shipped.replace("127.0.0.1:9180", "127.0.0.1:%d" % pa_port)
                   .replace("127.0.0.1:8080", "127.0.0.1:%d" % up.port)
                   .replace(":3129", ":%d" % proxy_port))
    v = subprocess.run(["caddy", "validate", "--config", conf, "--adapter", "caddyfile"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=e2e.child_env(caddy_env(s)), timeout=60)
    s.check("caddy validate accepts the shipped Caddyfile", v.returncode == 0,
            v.stdout.decode()[-2000:])
    caddy = s.spawn(["caddy", "run", "--config", conf, "--adapter", "caddyfile"], "caddy.log",
                    env=caddy_env(s))
    if not s.check("caddy comes up", e2e.wait_for(lambda: e2e.port_open(proxy_port) or
                                                  caddy.poll() is not None, 30)
                   and caddy.poll() is None, s.read("caddy.log")[-3000:]):
        return
    url = "http://app.example.org/hello?x=1"

    st, h, b = curl(proxy_port, url)
    s.check("no credentials: 407 with the exact challenge",
            st == 407 and h.get("proxy-authenticate") == [CHALLENGE], st, h)
    st, h, b = curl(proxy_port, url, "alice", "wrong")
    s.check("wrong password: 407 with the challenge",
            st == 407 and h.get("proxy-authenticate") == [CHALLENGE], st, h)
    s.check("no refused request reached the upstream", up.count == 0, up.requests)

    st, h, b = curl(proxy_port, url, "alice", "alice-pw",
                    headers=["X-Auth-User: mallory", "X-Auth-Backend: forged",
                             "X-Forwarded-Host: evil.example", "X-Forwarded-Host: evil2.example",
                             "X-Forwarded-Uri: /admin/forged", "X-Original-URI: /admin/forged",
                             "X-Original-URL: http://evil/admin/forged",
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
        s.check("upstream got the request path", seen["path"] == "/hello?x=1", seen)
        s.check("upstream saw X-Auth-User from proxyauthd (client's replaced)",
                upstream_saw(seen, "X-Auth-User") == ["alice"], seen)
        s.check("upstream saw X-Auth-Groups",
                upstream_saw(seen, "X-Auth-Groups") == ["staff,admins"], seen)
        s.check("upstream did not see Proxy-Authorization",
                upstream_saw(seen, "Proxy-Authorization") == [], seen)
        s.check("upstream did not see the client's X-Auth-Backend (GHSA-7r4p-vjf4-gxv4)",
                upstream_saw(seen, "X-Auth-Backend") == [], seen)
        s.check("upstream saw no client context header",
                upstream_saw(seen, "X-Forwarded-Uri") == [] and
                upstream_saw(seen, "X-Original-URI") == [] and
                upstream_saw(seen, "X-Original-URL") == [] and
                "evil" not in str(upstream_saw(seen, "X-Forwarded-Host")), seen)
    log = s.read("proxyauthd.log")
    s.check("proxyauthd logged the real URI and the site's host (client's forwarded headers "
            "removed, none twice)",
            re.search(r'user=alice profile=auth outcome=allow.*host=app\.example\.org '
                      r'uri="?/hello\?x=1', log) is not None
            and "/admin/forged" not in log and "evil" not in log, log[-2000:])

    n = up.count
    st, h, b = curl(proxy_port, "http://app.example.org/admin/x", "bob", "bob-pw")
    s.check("user without the required group: 403, no challenge",
            st == 403 and "proxy-authenticate" not in h, st, h)
    s.check("the 403 never reached the upstream", up.count == n, up.requests[n:])

    # A client that sends X-Proxy-Authorization itself, without
    # Proxy-Authorization: Caddy's copy replaces it (empty), so no entry.
    import base64
    tok = base64.b64encode(b"alice:alice-pw").decode()
    n = up.count
    st, h, b = curl(proxy_port, url, headers=["X-Proxy-Authorization: Basic " + tok])
    s.check("X-Proxy-Authorization from the client is replaced by Caddy's copy: 407",
            st == 407 and up.count == n, st, h)

    # Why the workarounds are needed: the same Caddyfile without the copy
    # and without the 407 handler.  Caddy drops both headers.
    plain_port = e2e.free_port()
    plain = re.sub(r"\t+header_up X-Proxy-Authorization[^\n]*\n", "", shipped)
    plain = re.sub(r"\n\t+@challenge.*?\n\t\t\t\}\n", "\n", plain, flags=re.S)
    s.check("variant without the workarounds differs from the shipped file",
            "X-Proxy-Authorization" not in plain.split("# Proxy-Authorization never")[1] and
            "handle_response" not in plain, plain)
    pconf = s.write("Caddyfile.plain", plain.replace("127.0.0.1:9180", "127.0.0.1:%d" % pa_port)
                    .replace("127.0.0.1:8080", "127.0.0.1:%d" % up.port)
                    .replace(":3129", ":%d" % plain_port))
    caddy2 = s.spawn(["caddy", "run", "--config", pconf, "--adapter", "caddyfile"],
                     "caddy-plain.log", env=caddy_env(s))
    if s.check("plain caddy comes up", e2e.wait_for(lambda: e2e.port_open(plain_port) or
                                                    caddy2.poll() is not None, 30)
               and caddy2.poll() is None, s.read("caddy-plain.log")[-3000:]):
        n = up.count
        st, h, b = curl(plain_port, url, "alice", "alice-pw")
        s.check("without the copy: proxyauthd sees no credentials (407 for right ones)",
                st == 407 and up.count == n, st, h)
        s.check("without the 407 handler: Caddy drops Proxy-Authenticate",
                "proxy-authenticate" not in h, h)
        s.stop(caddy2, timeout=10)

    # The issue 12 matrix.
    n = up.count
    st, h, b = curl(proxy_port, "http://127.0.0.1:%d/public/x" % up.port, "alice", "alice-pw")
    s.check("curl to an IP host: 421 from Caddy, nothing at the upstream",
            st == 421 and up.count == n, st)
    m = rules_matrix.Matrix(s, "caddy", proxy_port, up,
                            lambda u, p: [("Proxy-Authorization", rules_matrix.basic(u, p))])
    m.curl_paths()
    m.paths()
    m.urllib_paths()
    m.hosts(served={"upper-port", "line-app-header-other"})

    tunnels(s, shipped)

    # proxyauthd stopped: an error from Caddy, never the page.
    s.stop(daemon)
    n = up.count
    st, h, b = curl(proxy_port, url, "alice", "alice-pw")
    s.check("proxyauthd stopped: a 5xx, not the page", 500 <= st <= 599, st, h, b)
    s.check("proxyauthd stopped: nothing reached the upstream", up.count == n, up.requests[n:])
    s.stop(caddy, timeout=10)


if __name__ == "__main__":
    sys.exit(e2e.Suite("caddy").run(body))
