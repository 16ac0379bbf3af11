#!/usr/bin/env python3
"""Kerberos single sign-on through real HAProxy 2.6 (issues 14 and 15): a
private MIT KDC (kdc.py), proxyauthd with [negotiate] on a keytab for
HTTP/localhost (groups_from = none), HAProxy from the shipped
deploy/haproxy/haproxy.cfg and proxyauth.lua with only ports and paths
substituted, and `curl --proxy-negotiate -U : -x`.  The Lua action reads
one Proxy-Authenticate of proxyauthd's 407; the Basic challenge comes
from X-Auth-Challenge-Basic as a second line, so the client is offered
both, Negotiate first, and Basic still works beside Negotiate.
"""
import os
import sys

import e2e
from e2e import CHALLENGE, upstream_saw
from echo_upstream import EchoUpstream
import kdc
from test_haproxy import haproxy_config, start_haproxy


def body(s):
    up = EchoUpstream()
    s.closers.append(up.close)
    k = kdc.Kdc(s)
    keytab, cc = k.service_and_users(s, ["alice"])
    s.add_user(os.path.join(s.dir, "htpasswd"), "bob", "bob-pw", "staff")
    daemon, pa_port = s.start_daemon("""[server]
listen = 127.0.0.1:0
backends = htpasswd
max_failures = 0

[htpasswd]
file = @DIR@/htpasswd

[negotiate]
keytab = %s
""" % keytab, env=k.env())
    proxy_port = e2e.free_port()
    hap = start_haproxy(s, haproxy_config(s, pa_port, up.port, proxy_port), proxy_port)
    if hap is None:
        return
    url = "http://app.example.org/hello"

    st, h, b = e2e.curl(proxy_port, url)
    s.check("no credentials: 407 offering Negotiate first, then Basic, one line each",
            st == 407 and h.get("proxy-authenticate") == ["Negotiate", CHALLENGE] and
            "x-auth-challenge-basic" not in h, st, h)
    st, h, b = k.curl(cc["alice"], proxy_port, url)
    s.check("alice with a ticket: the page, no password", st == 200 and up.count == 1,
            st, h, b, s.read("proxyauthd.log")[-2000:])
    if up.count:
        seen = up.requests[-1]
        s.check("upstream saw X-Auth-User alice and no Proxy-Authorization",
                upstream_saw(seen, "X-Auth-User") == ["alice"] and
                upstream_saw(seen, "Proxy-Authorization") == [], seen)
    st, h, b = e2e.curl(proxy_port, url, "bob", "bob-pw")
    s.check("Basic beside Negotiate: bob's page", st == 200 and up.count == 2, st, h)
    st, h, b = e2e.curl(proxy_port, url, "bob", "wrong")
    s.check("wrong Basic password: 407 with both challenges again",
            st == 407 and h.get("proxy-authenticate") == ["Negotiate", CHALLENGE], st, h)
    s.stop(hap, timeout=10)


if __name__ == "__main__":
    sys.exit(e2e.Suite("haproxy-negotiate").run(body))
