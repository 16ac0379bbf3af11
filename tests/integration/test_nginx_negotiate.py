#!/usr/bin/env python3
"""Kerberos single sign-on through real nginx (issue 15): a private MIT
KDC and a private slapd (kdc.py), proxyauthd with [negotiate] on a keytab
for HTTP/localhost and groups from LDAP, nginx from the shipped
deploy/nginx/proxyauthd.conf with only ports and paths substituted, and
`curl --proxy-negotiate -U : -x` with a user's ticket in a ccache of its
own.  A user with a ticket gets the page with no password, as the
principal, with the groups from slapd; a user without one gets both
challenges (Negotiate first, then Basic) and can log in with Basic; a
principal with no directory entry gets the challenge again; nothing
refused reaches the upstream.
"""
import os
import sys

import e2e
from e2e import CHALLENGE, upstream_saw
from echo_upstream import EchoUpstream
import kdc
from test_nginx import nginx_config


def body(s):
    up = EchoUpstream()
    s.closers.append(up.close)
    k = kdc.Kdc(s)
    uri, secret = kdc.slapd(s)
    keytab, cc = k.service_and_users(s, ["alice", "dave"])
    alice_cc, dave_cc = cc["alice"], cc["dave"]

    daemon, pa_port = s.start_daemon("""[server]
listen = 127.0.0.1:0
backends = ldap
max_failures = 0

[ldap]
uri = %s
bind_dn = %s
bind_password_file = %s
base_dn = %s

[negotiate]
keytab = %s
realms = %s
groups_from = ldap
""" % (uri, kdc.LDAP_SVC_DN, secret, kdc.LDAP_BASE, keytab, kdc.REALM), env=k.env())
    proxy_port = e2e.free_port()
    conf = nginx_config(s, pa_port, up.port, proxy_port)
    ngx = s.spawn(["nginx", "-p", s.dir, "-c", conf, "-g", "daemon off;"], "nginx.out")
    if not s.check("nginx comes up", e2e.wait_for(lambda: e2e.port_open(proxy_port) or
                                                  ngx.poll() is not None, 20)
                   and ngx.poll() is None, s.read("nginx.out"), s.read("error.log")):
        return
    url = "http://app.example.org/hello"

    st, h, b = e2e.curl(proxy_port, url)
    s.check("no credentials: 407 with both challenges, Negotiate first",
            st == 407 and h.get("proxy-authenticate") == ["Negotiate", CHALLENGE], st, h)
    s.check("the Basic copy for nginx is not passed to the client",
            "x-auth-challenge-basic" not in h, h)

    st, h, b = k.curl(alice_cc, proxy_port, url)
    s.check("alice with a ticket: the page, no password", st == 200 and up.count == 1,
            st, h, b, s.read("proxyauthd.log"))
    if up.count:
        seen = up.requests[-1]
        s.check("upstream saw X-Auth-User of the principal",
                upstream_saw(seen, "X-Auth-User") == ["alice"], seen)
        groups = upstream_saw(seen, "X-Auth-Groups")
        s.check("upstream saw the groups from slapd",
                len(groups) == 1 and set(groups[0].split(",")) == {"admins", "staff"}, seen)
        s.check("upstream saw X-Auth-Backend kerberos",
                upstream_saw(seen, "X-Auth-Backend") == ["kerberos"], seen)
        s.check("upstream did not see Proxy-Authorization",
                upstream_saw(seen, "Proxy-Authorization") == [], seen)

    n = up.count
    nobody_cc = os.path.join(s.dir, "nobody.cc")
    st, h, b = k.curl(nobody_cc, proxy_port, url)
    s.check("no ticket: 407 with both challenges (Basic fallback offered)",
            st == 407 and h.get("proxy-authenticate") == ["Negotiate", CHALLENGE], st, h)
    st, h, b = e2e.curl(proxy_port, url, "bob", "bob-pw")
    s.check("Basic beside Negotiate: bob's page", st == 200 and up.count == n + 1, st, h)
    if up.count == n + 1:
        s.check("Basic: upstream saw bob", upstream_saw(up.requests[-1], "X-Auth-User") ==
                ["bob"], up.requests[-1])
    n = up.count
    st, h, b = k.curl(dave_cc, proxy_port, url)
    s.check("a principal with no LDAP entry: 407", st == 407, st, h)
    s.check("no refused request reached the upstream", up.count == n, up.requests)
    log = s.read("proxyauthd.log")
    s.check("the log names the reason", "has no LDAP entry" in log, log[-2000:])


if __name__ == "__main__":
    sys.exit(e2e.Suite("nginx-negotiate").run(body))
