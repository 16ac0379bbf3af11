"""A private MIT Kerberos KDC (and a plain slapd for groups) for the
end-to-end tests, the Python counterpart of kdc_server.c and
ldap_server.c.

Kdc(s) writes a krb5.conf and a kdc.conf for realm EXAMPLE.ORG on a free
loopback port into the suite's folder, makes the realm with
`kdb5_util create -s`, and starts `krb5kdc -n` as a child of the suite
(killed in its teardown).  Nothing in this process's environment is
changed: env() gives the variables (KRB5_CONFIG, KRB5_KDC_PROFILE) to
hand to each child that should see this KDC, and user_env() adds a
private KRB5CCNAME for one user's tickets.

slapd(s) starts a slapd on plain ldap:// with tests/ldap/fixture.ldif
loaded (users alice, bob, carol; memberOf filled by the memberof overlay),
the service account's password in a 0600 file; returns (uri, secret
path).
"""
import os
import subprocess

import e2e

REALM = "EXAMPLE.ORG"
LDAP_BASE = "dc=example,dc=org"
LDAP_SVC_DN = "cn=svc,ou=services,dc=example,dc=org"
LDAP_SVC_PASSWORD = "svc-S3cret-4a1"
LDAP_ROOT_DN = "cn=admin,dc=example,dc=org"
LDAP_ROOT_PASSWORD = "admin-S3cret-77e"


class Kdc:
    def __init__(self, s):
        self.s = s
        self.dir = os.path.join(s.dir, "kdc")
        os.mkdir(self.dir, 0o700)
        self.port = e2e.free_port()
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.log = os.path.join(self.dir, "kdc.log")
        with open(self.krb5_conf, "w") as f:
            f.write("""[libdefaults]
 default_realm = %(r)s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
[realms]
 %(r)s = {
  kdc = 127.0.0.1:%(p)d
 }
[domain_realm]
 localhost = %(r)s
 .example.org = %(r)s
""" % {"r": REALM, "p": self.port})
        os.chmod(self.krb5_conf, 0o644)
        with open(self.kdc_conf, "w") as f:
            f.write("""[kdcdefaults]
 kdc_listen = 127.0.0.1:%(p)d
 kdc_tcp_listen = 127.0.0.1:%(p)d
[realms]
 %(r)s = {
  database_name = %(d)s/principal
  key_stash_file = %(d)s/stash
  acl_file = %(d)s/kadm5.acl
  max_life = 10h
  max_renewable_life = 0
  supported_enctypes = aes256-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:%(l)s
""" % {"r": REALM, "p": self.port, "d": self.dir, "l": self.log})
        open(os.path.join(self.dir, "kadm5.acl"), "w").close()
        self._run(["kdb5_util", "-r", REALM, "create", "-s", "-P", "master-pw-for-tests"])
        self.proc = s.spawn(["krb5kdc", "-n", "-r", REALM], "kdc/krb5kdc.out", env=self.env())

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("krb5kdc exited:\n" + s.read("kdc/kdc.log"))
            return "commencing operation" in s.read("kdc/kdc.log")
        if not e2e.wait_for(up, 10):
            raise RuntimeError("krb5kdc did not come up:\n" + s.read("kdc/kdc.log"))

    def env(self, extra=None):
        # KRB5RCACHEDIR: MIT's default replay caches stay in the suite's
        # folder instead of /var/tmp.
        e = {"KRB5_CONFIG": self.krb5_conf, "KRB5_KDC_PROFILE": self.kdc_conf,
             "KRB5RCACHEDIR": self.dir}
        e.update(extra or {})
        return e

    def user_env(self, ccache):
        return self.env({"KRB5CCNAME": "FILE:" + ccache})

    def _run(self, argv):
        r = subprocess.run(argv, env=e2e.child_env(self.env()), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("%s: %s%s" % (" ".join(argv), r.stdout.decode(errors="replace"),
                                              r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def admin(self, query):
        return self._run(["kadmin.local", "-r", REALM, "-q", query])

    def add_keytab(self, principal, keytab):
        """principal with a random key, its keys appended to keytab (0600)."""
        self.admin("addprinc -randkey " + principal)
        self.admin("ktadd -k %s %s" % (keytab, principal))
        os.chmod(keytab, 0o600)

    def kinit(self, principal, keytab, ccache, lifetime=None):
        argv = ["kinit", "-k", "-t", keytab, "-c", "FILE:" + ccache]
        if lifetime:
            argv += ["-l", lifetime]
        self._run(argv + [principal])

    def curl(self, ccache, proxy_port, url, extra=(), proxy_host="localhost"):
        """curl --proxy-negotiate -U : -x proxy_host:proxy_port url with the
        tickets in ccache (the ticket is for HTTP/proxy_host); returns
        e2e.parse_http's (status, headers, body)."""
        argv = ["curl", "-sS", "--noproxy", "", "-x", "http://%s:%d" % (proxy_host, proxy_port),
                "--proxy-negotiate", "-U", ":", "-D", "-", "-o", "-", "--max-time", "20"]
        argv += list(extra) + [url]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=e2e.child_env(self.user_env(ccache)), timeout=30)
        return e2e.parse_http(r.stdout.decode("utf-8", "replace"),
                              r.stderr.decode(errors="replace"))

    def service_and_users(self, s, users):
        """HTTP/localhost's keys in s.dir/http.keytab, and a ticket for
        each of users in s.dir/NAME.cc; returns (keytab, {name: ccache})."""
        keytab = os.path.join(s.dir, "http.keytab")
        users_kt = os.path.join(s.dir, "users.keytab")
        self.add_keytab("HTTP/localhost", keytab)
        caches = {}
        for u in users:
            self.add_keytab(u, users_kt)
        for u in users:
            caches[u] = os.path.join(s.dir, u + ".cc")
            self.kinit(u, users_kt, caches[u])
        return keytab, caches


def slapd(s):
    d = os.path.join(s.dir, "slapd")
    os.mkdir(d, 0o700)
    os.mkdir(os.path.join(d, "db"), 0o700)
    port = e2e.free_port()
    uri = "ldap://127.0.0.1:%d" % port
    conf = os.path.join(d, "slapd.conf")
    with open(conf, "w") as f:
        f.write("""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload ppolicy
pidfile %(d)s/slapd.pid
argsfile %(d)s/slapd.args
database mdb
maxsize 16777216
suffix "%(b)s"
rootdn "%(rd)s"
rootpw %(rp)s
directory %(d)s/db
index objectClass eq
index uid eq
index member eq
overlay memberof
access to attrs=userPassword by * auth
access to dn.base="" by * read
access to dn.subtree="ou=groups,%(b)s" by dn.exact="%(svc)s" read by users read by * none
access to * by dn.exact="%(svc)s" read by self read by * none
""" % {"d": d, "b": LDAP_BASE, "rd": LDAP_ROOT_DN, "rp": LDAP_ROOT_PASSWORD,
       "svc": LDAP_SVC_DN})
    p = s.spawn(["/usr/sbin/slapd", "-f", conf, "-h", uri, "-d", "0"], "slapd/slapd.log")

    def up():
        if p.poll() is not None:
            raise RuntimeError("slapd exited:\n" + s.read("slapd/slapd.log"))
        return subprocess.run(["ldapsearch", "-x", "-H", uri, "-b", "", "-s", "base"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=e2e.child_env({"LDAPNOINIT": "1"})).returncode == 0
    if not e2e.wait_for(up, 20):
        raise RuntimeError("slapd did not come up:\n" + s.read("slapd/slapd.log"))
    r = subprocess.run(["ldapadd", "-x", "-H", uri, "-D", LDAP_ROOT_DN, "-w",
                        LDAP_ROOT_PASSWORD, "-f",
                        os.path.join(e2e.TESTS, "..", "ldap", "fixture.ldif")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=e2e.child_env({"LDAPNOINIT": "1"}), timeout=60)
    if r.returncode != 0:
        raise RuntimeError("ldapadd: " + r.stdout.decode(errors="replace"))
    secret = s.write("slapd/svc.secret", LDAP_SVC_PASSWORD + "\n", 0o600)
    return uri, secret
