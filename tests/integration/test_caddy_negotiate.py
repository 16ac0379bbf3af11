#!/usr/bin/env python3
"""Kerberos single sign-on through real Caddy (issue 15): a private MIT
KDC (kdc.py), proxyauthd with [negotiate] on a keytab for HTTP/localhost
(groups_from = none), Caddy from the shipped deploy/caddy/Caddyfile with
only ports substituted, and `curl --proxy-negotiate -U : -x`.  Caddy
drops Proxy-Authenticate as hop-by-hop, and the shipped 407 handler
rebuilds it.  Its placeholder would join proxyauthd's two fields into one
("Negotiate,Basic realm=..."), which curl reads but browsers do not, so
the handler makes two fields, Negotiate then the Basic challenge from
X-Auth-Challenge-Basic: this test shows both reach the client, that curl
picks Negotiate, and that Basic still works beside it.
"""
import os
import sys

import e2e
from e2e import CHALLENGE, upstream_saw
from echo_upstream import EchoUpstream
import kdc
from test_caddy import caddy_env


def body(s):
    up = EchoUpstream()
    s.closers.append(up.close)
    k = kdc.Kdc(s)
    keytab, cc = k.service_and_users(s, ["alice"])
    hp = os.path.join(s.dir, "htpasswd")
    s.add_user(hp, "bob", "bob-pw", "staff")
    daemon, pa_port = s.start_daemon("""[server]
listen = 127.0.0.1:0
backends = htpasswd
credentials_header = X-Proxy-Authorization
max_failures = 0

[htpasswd]
file = @DIR@/htpasswd

[negotiate]
keytab = %s
""" % keytab, env=k.env())
    proxy_port = e2e.free_port()
    shipped = open(os.path.join(e2e.DEPLOY, "caddy", "Caddyfile")).read()
    conf = s.write("Caddyfile", shipped.replace("127.0.0.1:9180", "127.0.0.1:%d" % pa_port)
                   .replace("127.0.0.1:8080", "127.0.0.1:%d" % up.port)
                   .replace(":3129", ":%d" % proxy_port))
    caddy = s.spawn(["caddy", "run", "--config", conf, "--adapter", "caddyfile"], "caddy.log",
                    env=caddy_env(s))
    if not s.check("caddy comes up", e2e.wait_for(lambda: e2e.port_open(proxy_port) or
                                                  caddy.poll() is not None, 30)
                   and caddy.poll() is None, s.read("caddy.log")[-3000:]):
        return
    url = "http://app.example.org/hello"

    st, h, b = e2e.curl(proxy_port, url)
    # Caddy's placeholder would join the two fields with ",", which curl
    # reads as two challenges but browsers do not: the shipped 407 handler
    # makes two fields, Negotiate from X-Auth-Challenge-Basic's presence.
    s.check("no credentials: 407 offering Negotiate first, then Basic, one field each",
            st == 407 and h.get("proxy-authenticate") == ["Negotiate", CHALLENGE] and
            "x-auth-challenge-basic" not in h, st, h)
    st, h, b = k.curl(cc["alice"], proxy_port, url)
    s.check("alice with a ticket: the page, no password", st == 200 and up.count == 1,
            st, h, b, s.read("proxyauthd.log")[-2000:])
    if up.count:
        s.check("upstream saw X-Auth-User alice",
                upstream_saw(up.requests[-1], "X-Auth-User") == ["alice"], up.requests[-1])
    st, h, b = e2e.curl(proxy_port, url, "bob", "bob-pw")
    s.check("Basic beside Negotiate: bob's page", st == 200 and up.count == 2, st, h)


if __name__ == "__main__":
    sys.exit(e2e.Suite("caddy-negotiate").run(body))
