#!/usr/bin/env python3
"""Kerberos single sign-on through real Squid with proxyauth-squid's
negotiate mode (issue 15): a private MIT KDC (kdc.py), the shipped
deploy/squid/squid.conf with its commented auth_param negotiate lines
enabled (only ports and paths substituted otherwise), and
`curl --proxy-negotiate -U : -x`.  Squid offers Negotiate first and
Basic second; a user with a ticket gets the page as the principal
without a password; a user without one falls back to Basic; a ticket for
a service principal the keytab lacks is refused (NA: 407 again).
"""
import os
import subprocess
import sys

import e2e
from e2e import upstream_saw
from echo_upstream import EchoUpstream
import kdc
from test_squid import SQUID_CHALLENGE, helper_path, own, squid_config


def body(s):
    up = EchoUpstream()
    s.closers.append(up.close)
    k = kdc.Kdc(s)
    keytab, cc = k.service_and_users(s, ["alice"])
    k.admin("addprinc -randkey HTTP/127.0.0.1")
    alice_cc = cc["alice"]
    hp = os.path.join(s.dir, "htpasswd")
    s.add_user(hp, "bob", "bob-pw", "staff")
    helper_conf = s.write("proxyauthd.conf", """[server]
backends = htpasswd
max_failures = 0

[htpasswd]
file = %s

[negotiate]
keytab = %s
""" % (hp, keytab), 0o600)
    own(s, [hp, keytab, k.dir, k.krb5_conf])
    os.chmod(s.dir, 0o755)
    proxy_port = e2e.free_port()
    conf, d = squid_config(s, "squid", proxy_port, helper_conf, to_localhost=True)
    text = open(conf).read()
    for line in ("auth_param negotiate program", "auth_param negotiate children",
                 "auth_param negotiate keep_alive"):
        s.check("shipped squid.conf has '#%s'" % line, ("\n#" + line) in text)
        text = text.replace("\n#" + line, "\n" + line)
    with open(conf, "w") as f:
        f.write(text)
    own(s, [d, helper_conf])
    r = subprocess.run(["squid", "-k", "parse", "-f", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=e2e.child_env(k.env()), timeout=60)
    s.check("squid -k parse accepts the config with negotiate", r.returncode == 0,
            r.stdout.decode()[-2000:])
    p = s.spawn(["squid", "-N", "-f", conf], "squid.out", env=k.env())
    up_ok = e2e.wait_for(lambda: e2e.port_open(proxy_port) or p.poll() is not None, 60)
    if not s.check("squid comes up", up_ok and p.poll() is None, s.read("squid.out"),
                   s.read("squid/cache.log")[-3000:]):
        return
    url = "http://127.0.0.1:%d/hello" % up.port

    st, h, b = e2e.curl(proxy_port, url)
    s.check("no credentials: 407 with Negotiate first, then Basic",
            st == 407 and h.get("proxy-authenticate") == ["Negotiate", SQUID_CHALLENGE],
            st, h)
    st, h, b = k.curl(alice_cc, proxy_port, url)
    s.check("alice with a ticket: the page, no password", st == 200 and up.count == 1,
            st, h, b, s.read("squid/cache.log")[-3000:])
    if up.count:
        s.check("upstream saw X-Auth-User alice (Squid's %un)",
                upstream_saw(up.requests[-1], "X-Auth-User") == ["alice"], up.requests[-1])
    st, h, b = e2e.curl(proxy_port, url, "bob", "bob-pw")
    s.check("Basic beside Negotiate: bob's page", st == 200 and up.count == 2, st, h)
    # curl names the proxy by its address: a ticket for HTTP/127.0.0.1,
    # which the keytab lacks.
    st, h, b = k.curl(alice_cc, proxy_port, url, proxy_host="127.0.0.1")
    s.check("a ticket for a service principal the keytab lacks: 407", st == 407 and
            up.count == 2, st, h, b)


if __name__ == "__main__":
    sys.exit(e2e.Suite("squid-negotiate").run(body))
