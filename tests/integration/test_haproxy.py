#!/usr/bin/env python3
"""End to end through real HAProxy 2.6 (issue 14): curl -x -> HAProxy,
configured from the shipped deploy/haproxy/haproxy.cfg and proxyauth.lua
with only ports and paths substituted -> the Lua action's core.httpclient
call to proxyauthd's /auth -> an echo upstream that records every request.
A refused request never reaches the upstream; hosts the config does not
serve get 421; proxyauthd stopped or hung gives 503, never the page.  The issue 12
matrix (rules_matrix.py) runs through it as through the other proxies.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import e2e
from e2e import CHALLENGE, curl, upstream_saw
from echo_upstream import EchoUpstream
import rules_matrix
from tunnel_app import TunnelUpstream, raw_exchange

DAEMON_CONF = """[server]
listen = 127.0.0.1:0
backends = htpasswd
max_failures = 0

[htpasswd]
file = @DIR@/htpasswd

[rule admin]
host = app.example.org
path_prefix = /admin/
require_groups = admins
"""


def haproxy_config(s, pa_port, app_port, proxy_port, name="haproxy", edit=None):
    """The shipped haproxy.cfg with ports and the Lua path substituted;
    edit(text) may change it further (the broken variants)."""
    d = os.path.join(e2e.DEPLOY, "haproxy")
    text = (open(os.path.join(d, "haproxy.cfg")).read()
            .replace("127.0.0.1:9180", "127.0.0.1:%d" % pa_port)
            .replace("127.0.0.1:8080", "127.0.0.1:%d" % app_port)
            .replace("127.0.0.1:3130", "127.0.0.1:%d" % proxy_port)
            .replace("/etc/haproxy/proxyauth.lua", os.path.join(d, "proxyauth.lua")))
    if edit:
        text = edit(text)
    return s.write(name + ".cfg", text)


def start_haproxy(s, conf, proxy_port, name="haproxy"):
    t = subprocess.run(["haproxy", "-c", "-f", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=e2e.child_env(), timeout=60)
    s.check("%s: haproxy -c accepts the config" % name, t.returncode == 0, t.stdout.decode())
    p = s.spawn(["haproxy", "-db", "-f", conf], name + ".out")
    up = e2e.wait_for(lambda: e2e.port_open(proxy_port) or p.poll() is not None, 20)
    ok = s.check("%s: haproxy comes up" % name, up and p.poll() is None, s.read(name + ".out"))
    return p if ok else None


def add_users(s):
    hp = os.path.join(s.dir, "htpasswd")
    s.add_user(hp, "alice", "alice-pw", "staff,admins")
    s.add_user(hp, "bob", "bob-pw", "staff")
    return hp


def tunnels(s):
    """No tunnel to the app: a CONNECT (proxyauthd without rules allows any
    user) and an h2c upgrade (bob at a page he may see) would let a second
    request, with a forged X-Auth-User, reach the app unjudged."""
    up = TunnelUpstream()
    s.closers.append(up.close)
    daemon, pa_port = s.start_daemon(DAEMON_CONF.split("[rule")[0], "proxyauthd-norules")
    port = e2e.free_port()
    hap = start_haproxy(s, haproxy_config(s, pa_port, up.port, port, "haproxy-tunnel"),
                        port, "haproxy-tunnel")
    if hap is None:
        return
    bob = "Proxy-Authorization: " + rules_matrix.basic("bob", "bob-pw")
    smuggled = (b"GET /admin/smuggled HTTP/1.1\r\nHost: app.example.org\r\n"
                b"X-Auth-User: alice\r\nConnection: close\r\n\r\n")
    out = raw_exchange(port, ("CONNECT app.example.org:80 HTTP/1.1\r\nHost: app.example.org"
                              "\r\n%s\r\n\r\n" % bob).encode(), smuggled)
    s.check("CONNECT: 405, no tunnel to the app",
            out.startswith("HTTP/1.1 405") and
            not any("smuggled" in x for x in up.lines), out[:600], up.lines)
    out = raw_exchange(port, ("GET /hello HTTP/1.1\r\nHost: app.example.org\r\n%s\r\n"
                              "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                              "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" % bob).encode(),
                       smuggled)
    s.check("h2c upgrade: no 101, the smuggled request is judged (407), not tunnelled",
            "101 Switching" not in out and "HTTP/1.1 407" in out and
            not any("smuggled" in x for x in up.lines), out[:600], up.lines)
    s.stop(hap, timeout=10)
    s.stop(daemon)


def odd_answers(s):
    """A stand-in for proxyauthd giving answers it never gives: only a 204
    naming exactly one user lets the request through; two X-Auth-User (or
    X-Auth-Groups) headers, none or an empty one, another 2xx, a redirect
    or garbage give 503, and nothing reaches the app."""
    answer = [b""]
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    s.closers.append(srv.close)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            try:
                c.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
                c.sendall(answer[0])
            except OSError:
                pass
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    up = EchoUpstream()
    s.closers.append(up.close)
    port = e2e.free_port()
    hap = start_haproxy(s, haproxy_config(s, srv.getsockname()[1], up.port, port,
                                          "haproxy-odd"), port, "haproxy-odd")
    if hap is None:
        return
    ok = b"HTTP/1.1 204 No Content\r\nX-Auth-User: bob\r\nX-Auth-Groups: staff\r\n\r\n"
    cases = [("a 204 with one user", ok, 200),
             ("a 204 with two X-Auth-User", ok.replace(b"\r\n\r\n", b"\r\nX-Auth-User: alice\r\n\r\n"),
              503),
             ("a 204 with two X-Auth-Groups", ok.replace(b"\r\n\r\n", b"\r\nX-Auth-Groups: admins\r\n\r\n"),
              503),
             ("a 204 without X-Auth-User", b"HTTP/1.1 204 No Content\r\nX-Auth-Groups: staff\r\n\r\n", 503),
             ("a 204 with an empty X-Auth-User", b"HTTP/1.1 204 No Content\r\nX-Auth-User: \r\n\r\n", 503),
             ("a 200", b"HTTP/1.1 200 OK\r\nX-Auth-User: bob\r\nContent-Length: 0\r\n\r\n", 503),
             ("a 302", b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n", 503),
             ("garbage", b"HELLO\r\n\r\n", 503)]
    for what, raw, want in cases:
        answer[0] = raw
        n = up.count
        st, h, b = curl(port, "http://app.example.org/x", "bob", "pw")
        s.check("auth service answering %s: %d%s" % (
            what, want, "" if want == 200 else ", nothing upstream"),
            st == want and up.count == n + (want == 200), st, h, up.requests[n:])
    s.stop(hap, timeout=10)


def body(s):
    up = EchoUpstream()
    s.closers.append(up.close)
    add_users(s)
    s.add_user(os.path.join(s.dir, "htpasswd"), "J\u00fcrgen", "p w:%x")
    daemon, pa_port = s.start_daemon(DAEMON_CONF)
    proxy_port = e2e.free_port()
    conf = haproxy_config(s, pa_port, up.port, proxy_port)
    hap = start_haproxy(s, conf, proxy_port)
    if hap is None:
        return
    url = "http://app.example.org/hello?x=1"

    st, h, b = curl(proxy_port, url)
    s.check("no credentials: 407 with the exact challenge and no-store",
            st == 407 and h.get("proxy-authenticate") == [CHALLENGE] and
            h.get("cache-control") == ["no-store"], st, h)
    st, h, b = curl(proxy_port, url, "alice", "wrong")
    s.check("wrong password: 407 with the challenge",
            st == 407 and h.get("proxy-authenticate") == [CHALLENGE], st, h)
    st, h, b = curl(proxy_port, url, headers=["Proxy-Authorization: Bearer abc"])
    s.check("other scheme: 407", st == 407, st)
    st, h, b = curl(proxy_port, url, headers=["Proxy-Authorization: " + rules_matrix.basic(
        "alice", "alice-pw")] * 2)
    s.check("two Proxy-Authorization headers: 407", st == 407, st, h)
    s.check("no refused request reached the upstream", up.count == 0, up.requests)

    st, h, b = curl(proxy_port, url, "alice", "alice-pw",
                    headers=["X-Auth-User: mallory", "X-Auth-Groups: admins",
                             "X-Auth-Backend: forged", "X-Original-URI: /admin/forged",
                             "X-Forwarded-Host: evil.example", "X-Forwarded-For: 192.0.2.66",
                             "X-Forwarded-Prefix: /forged", "X.Auth.User: mallory-dot",
                             "X-Forwarded-Uri: /admin/forged",
                             "Forwarded: for=192.0.2.66;host=evil.example"] +
                    rules_matrix.UNDERSCORE_FORGED +
                    rules_matrix.REWRITE_FORGED)
    s.check("right credentials: the upstream's page", st == 200 and up.count == 1, st, h, b)
    if up.count:
        seen = up.requests[-1]
        s.check("upstream got the request path", seen["path"] == "/hello?x=1", seen)
        s.check("upstream saw X-Auth-User and X-Auth-Groups from proxyauthd only",
                upstream_saw(seen, "X-Auth-User") == ["alice"] and
                upstream_saw(seen, "X-Auth-Groups") == ["staff,admins"], seen)
        s.check("upstream did not see Proxy-Authorization",
                upstream_saw(seen, "Proxy-Authorization") == [], seen)
        s.check("upstream saw no client X-Auth-* alias, X-Auth-Backend or context header",
                not rules_matrix.underscore_auth(seen) and
                not rules_matrix.rewrite_headers(seen) and
                upstream_saw(seen, "X-Auth-Backend") == [] and
                upstream_saw(seen, "X.Auth.User") == [] and
                upstream_saw(seen, "X-Forwarded-Prefix") == [] and
                upstream_saw(seen, "X-Original-URI") == [] and
                upstream_saw(seen, "X-Forwarded-Uri") == [] and
                upstream_saw(seen, "Forwarded") == [], seen)
        s.check("upstream saw X-Forwarded-Host and X-Forwarded-For set by HAProxy",
                upstream_saw(seen, "X-Forwarded-Host") == ["app.example.org"] and
                upstream_saw(seen, "X-Forwarded-For") == ["127.0.0.1"], seen)
    log = s.read("proxyauthd.log")
    s.check("proxyauthd judged the real URI and host, none of the client's",
            re.search(r'user=alice profile=auth outcome=allow.*uri="?/hello\?x=1', log)
            is not None and "/admin/forged" not in log and "evil" not in log, log[-2000:])

    st, h, b = curl(proxy_port, url, "J\u00fcrgen", "p w:%x")
    s.check("UTF-8 user, password with space, colon and %: allowed", st == 200, st, h)
    n = up.count
    st, h, b = curl(proxy_port, "http://app.example.org/admin/panel", "bob", "bob-pw")
    s.check("user without the required group: 403, no challenge, no-store",
            st == 403 and "proxy-authenticate" not in h and
            h.get("cache-control") == ["no-store"], st, h)
    st, h, b = curl(proxy_port, "http://other.example.org/x", "alice", "alice-pw")
    s.check("another host: 421", st == 421, st)
    s.check("neither reached the upstream", up.count == n, up.requests[n:])

    m = rules_matrix.Matrix(s, "haproxy", proxy_port, up,
                            lambda u, p: [("Proxy-Authorization", rules_matrix.basic(u, p))])
    m.curl_paths()
    m.paths()
    m.hosts(served={"upper-port"})
    tunnels(s)
    odd_answers(s)

    # proxyauthd hung (SIGSTOP: connections accepted, never answered),
    # through a second HAProxy whose per-attempt timeout is 400 ms: 503
    # once the HTTP client gives up, never the page.
    quick_port = e2e.free_port()
    quick = start_haproxy(s, haproxy_config(
        s, pa_port, up.port, quick_port, "haproxy-quick",
        lambda t: t.replace("PROXYAUTHD_TIMEOUT_MS 3000", "PROXYAUTHD_TIMEOUT_MS 400")),
        quick_port, "haproxy-quick")
    if quick is not None:
        os.kill(daemon.pid, signal.SIGSTOP)
        try:
            n = up.count
            t0 = time.monotonic()
            st, h, b = curl(quick_port, url, "alice", "alice-pw")
            s.check("proxyauthd hung: a 5xx (503 from the config), not the page, nothing "
                    "upstream", 500 <= st <= 599 and up.count == n, st, h, b,
                    "after %.1f s" % (time.monotonic() - t0), up.requests[n:],
                    s.read("haproxy-quick.out")[-2000:])
        finally:
            os.kill(daemon.pid, signal.SIGCONT)
        s.stop(quick, timeout=10)

    # proxyauthd stopped: 503 from HAProxy, never the page.
    s.stop(daemon)
    n = up.count
    st, h, b = curl(proxy_port, url, "alice", "alice-pw")
    s.check("proxyauthd stopped: 503 with Retry-After, not the page",
            st == 503 and h.get("retry-after") == ["1"], st, h, b)
    s.check("proxyauthd stopped: nothing reached the upstream", up.count == n, up.requests[n:])
    s.stop(hap, timeout=10)


if __name__ == "__main__":
    sys.exit(e2e.Suite("haproxy").run(body))
