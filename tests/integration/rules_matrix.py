"""The attack matrix of issue 12, shared by test_nginx.py, test_caddy.py and
test_squid.py: host and path variants sent through a real proxy with raw
sockets (curl and urllib would normalise dot segments, backslashes and
fragments before sending), each checked against what the echo upstream
recorded, not only against the status.

The protected path is /admin/ on app.example.org, for the group admins;
bob is not in it, alice is.  A variant is safe when the upstream never got
a request for bob whose path a lenient application would route to /admin
(app_view: decoded up to three times, '\\' as '/', ';' parameters dropped,
dot segments resolved, case folded).

Each test prints its answers as lines "MATRIX <proxy> <variant> <status>
<reached upstream path or ->", for the report.
"""
import base64
import posixpath
import re
import socket
import urllib.error
import urllib.parse
import urllib.request

from e2e import curl, upstream_saw

APP = "app.example.org"

# (label, path as sent on the wire)
PATH_VARIANTS = [
    ("plain", "/admin/x"),
    ("bare", "/admin"),
    ("slash", "/admin/"),
    ("upper", "/ADMIN/x"),
    ("mixed-case", "/Admin/x"),
    ("dotdot", "/admin/../x"),
    ("enc-dotdot", "/admin/%2e%2e/x"),
    ("enc-dotdot-mixed", "/admin/%2E%2e/x"),
    ("dotdot-out", "/admin/x/../../public"),
    ("dotdot-in", "/public/../admin/x"),
    ("enc-dotdot-in", "/public/%2e%2e/admin/x"),
    ("dot", "/./admin/x"),
    ("semicolon", "/admin;x/y"),
    ("dotdot-semicolon", "/public/..;/admin/x"),
    ("backslash", "/public\\..\\admin\\x"),
    ("enc-backslash", "/public%5c..%5cadmin%5cx"),
    ("enc-slash", "/public%2f..%2fadmin%2fx"),
    ("double-enc", "/%2561dmin/"),
    ("enc-letter", "/%61dmin/x"),
    ("fragment", "/admin#/"),
    ("double-slash", "//admin/x"),
    ("nul", "/admin%00/x"),
    ("dotless-i", "/adm%C4%B1n/x"),
    # Rails formats and Spring suffix patterns route /admin.json to /admin;
    # Windows paths drop a segment's trailing dots and spaces.
    ("format-suffix", "/admin.json"),
    ("seg-trailing-dot", "/admin./x"),
    ("seg-trailing-space", "/admin%20/x"),
    ("ntfs-stream", "/admin::$DATA"),
    # An encoded '?': a proxy that matches the decoded path takes what
    # follows for the query, an application that decodes then resolves
    # dot segments (nginx, Tomcat) serves /admin/x.
    ("enc-question-dotdot", "/public%3F/../admin/x"),
    ("enc-question-dotdot-semicolon", "/public%3f/..;/admin/x"),
    # Node's new URL(req.url, base) and Java's URI take "//host" for an
    # authority: the path they route is /admin/x.
    ("scheme-relative", "//other.example.org/admin/x"),
]
# Paths bob must still reach: the twins of the protected one.
OPEN_TWINS = [("twin-administrator", "/administrator"), ("twin-public", "/public/x"),
              ("twin-admin-tools", "/admin-tools"),
              ("twin-query", "/public/x?next=..%2Fadmin;y&q=a+b%2e%2e&r=%2F%5C%3F%23"),
              ("twin-query-dotdot", "/public/x?next=/admin/../x%2F;y")]

# (label, host in the request line, Host header)
HOST_VARIANTS = [
    ("other-host", "other.example.org", "other.example.org"),
    ("ip", "127.0.0.1", "127.0.0.1"),
    ("trailing-dot", "app.example.org.", "app.example.org."),
    ("two-dots", "app.example.org..", "app.example.org.."),
    ("upper-port", "APP.EXAMPLE.ORG:80", "APP.EXAMPLE.ORG:80"),
    ("unserved", "unserved.example.net", "unserved.example.net"),
    ("line-app-header-other", "app.example.org", "other.example.org"),
    ("line-other-header-app", "other.example.org", "app.example.org"),
]
# Origin-form requests (no host in the request line): the Host header decides.
HOST_HEADER_VARIANTS = [
    ("hdr-list", "other.example.org, app.example.org"),
    ("hdr-userinfo", "bob@app.example.org"),
    ("hdr-space", "app.example.org x"),
]


# Client headers spelt with '_': CGI, PHP, WSGI and Rack servers read
# X_Auth_User as HTTP_X_AUTH_USER, the variable X-Auth-User gives.
UNDERSCORE_FORGED = ["X_Auth_User: mallory", "x-auth_groups: admins", "X_AUTH-Backend: forged",
                     "X-Auth_User: mallory2", "x_auth-user: mallory3"]


# Headers that some application frameworks route by instead of the
# request line (Symfony before 2.7.49 / 3.4.14, Zend Framework 1 and 2):
# "GET /public" with X-Rewrite-URL: /admin/x serves /admin/x.
REWRITE_FORGED = ["X-Rewrite-URL: /admin/forged", "X-Original-URL: /admin/forged"]


def rewrite_headers(seen):
    """The URL-rewrite headers an upstream request carried."""
    return [(k, v) for k, v in seen["headers"]
            if k.lower() in ("x-rewrite-url", "x-original-url")]


def underscore_auth(seen):
    """The X-Auth-* headers an upstream request carried spelt with '_'."""
    return [(k, v) for k, v in seen["headers"]
            if "_" in k and k.lower().replace("_", "-").startswith("x-auth-")]


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def raw(port, request_line, headers, timeout=20):
    """Sends one request exactly as written; returns its status (0 when
    no answer came)."""
    msg = request_line + "\r\n" + "".join("%s: %s\r\n" % h for h in headers)
    msg += "Connection: close\r\n\r\n"
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(msg.encode("latin-1"))
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        pass
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def app_view(path):
    """The path a lenient application would route."""
    p = path.split("#", 1)[0].split("?", 1)[0]
    for _ in range(3):
        p = urllib.parse.unquote(p, errors="replace")
    p = p.replace("\\", "/")
    p = "/".join(seg.split(";", 1)[0] for seg in p.split("/"))
    p = posixpath.normpath(re.sub("/+", "/", "/" + p))
    # Windows: trailing dots and spaces dropped, an NTFS stream after ':';
    # Rails: a format suffix.
    segs = [seg.split(":", 1)[0].rstrip(". ") or seg for seg in p.split("/")]
    segs[-1] = segs[-1].split(".", 1)[0] or segs[-1]
    return "/".join(segs).replace("\u0131", "i").lower()


def whatwg_view(path):
    """The path of new URL(path, base) (Node), Java's URI: a leading "//"
    starts an authority."""
    if path.startswith("//"):
        rest = path[2:]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path


def protected(path):
    for v in (app_view(path), app_view(whatwg_view(path))):
        if v == "/admin" or v.startswith("/admin/"):
            return True
    return False


class Matrix:
    """Runs the variants through one proxy.  auth(user, password) gives
    the headers that carry the credentials for this proxy."""

    def __init__(self, s, proxy, port, up, auth, port_suffix=""):
        self.s, self.proxy, self.port, self.up, self.auth = s, proxy, port, up, auth
        self.suffix = port_suffix	# ":PORT" where the proxy goes where the URL says
        self.app = APP + port_suffix
        self.rows = []

    def curl_paths(self):
        """A few path variants as a user would type them, through curl
        --path-as-is (which sends the path exactly): refused for bob, and
        nothing reaches the upstream."""
        for path in ("/admin/../x", "/admin/%2e%2e/x", "/admin;x/y", "/%2561dmin/", "/ADMIN/x",
                     "/admin"):
            n = self.up.count
            st, _, _ = curl(self.port, "http://" + self.app + path, "bob", "bob-pw",
                            extra=["--path-as-is"])
            self.s.check("%s: curl --path-as-is %s: refused for bob" % (self.proxy, path),
                         st in (400, 403) and self.up.count == n, st, self.up.requests[n:])

    def authority(self, host):
        if not self.suffix:
            return host
        if host.rsplit(":", 1)[-1].isdigit():
            host = host.rsplit(":", 1)[0]
        return host + self.suffix

    def send(self, label, target, host, user, password):
        n = self.up.count
        st = raw(self.port, "GET %s HTTP/1.1" % target,
                 [("Host", host)] + self.auth(user, password))
        new = self.up.requests[n:]
        reached = [r["path"] for r in new]
        self.rows.append((label, user, st, reached))
        print("MATRIX %s %s %s %d %s" % (self.proxy, label, user, st,
                                          ",".join(reached) if reached else "-"))
        return st, new

    def bob_never_reaches_admin(self, label, new):
        bad = [r for r in new if protected(r["path"])]
        return self.s.check("%s: %s: bob never reaches the app's /admin" % (self.proxy, label),
                            not bad, bad)

    def paths(self, expect_refused=True, refused_twins=()):
        """Every path variant for bob: never the protected path; refused
        (no 2xx, nothing at the upstream) when expect_refused.  The open
        twins reach the upstream, but those in refused_twins (refused on
        purpose by this proxy: 403, nothing at the upstream)."""
        for label, path in PATH_VARIANTS:
            st, new = self.send(label, "http://%s%s" % (self.app, path), self.app, "bob",
                                "bob-pw")
            self.bob_never_reaches_admin(label, new)
            if expect_refused:
                self.s.check("%s: %s (%r) refused before the upstream" % (
                    self.proxy, label, path), not (200 <= st < 300) and not new, st, new)
        for label, path in OPEN_TWINS:
            st, new = self.send(label, "http://%s%s" % (self.app, path), self.app, "bob",
                                "bob-pw")
            if label in refused_twins:
                self.s.check("%s: %s: refused on purpose" % (self.proxy, label),
                             st == 403 and not new, st, new)
                continue
            self.s.check("%s: %s: bob reaches %s" % (self.proxy, label, path),
                         st == 200 and [r["path"] for r in new] == [path], st, new)
        st, new = self.send("admin-for-alice", "http://%s/admin/x" % self.app, self.app,
                            "alice", "alice-pw")
        self.s.check("%s: alice (admins) reaches /admin/x" % self.proxy,
                     st == 200 and [r["path"] for r in new] == ["/admin/x"], st, new)

    def urllib_paths(self):
        """The path variants again through Python's urllib with a proxy
        (credentials sent up front): never a 2xx, nothing at the upstream.
        urllib sends most of them as written; one it refuses to send (a
        control character) is recorded as status 0."""
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": "http://127.0.0.1:%d" % self.port}))
        for label, path in PATH_VARIANTS:
            n = self.up.count
            req = urllib.request.Request("http://%s%s" % (self.app, path))
            for k, v in self.auth("bob", "bob-pw"):
                req.add_header(k, v)
            try:
                with opener.open(req, timeout=20) as r:
                    st = r.status
            except urllib.error.HTTPError as e:
                st = e.code
            except (urllib.error.URLError, ValueError, OSError):
                st = 0
            new = self.up.requests[n:]
            print("MATRIX %s urllib:%s bob %d %s" % (self.proxy, label, st, ",".join(
                r["path"] for r in new) or "-"))
            self.s.check("%s: urllib %s (%r) refused before the upstream" % (
                self.proxy, label, path), not (200 <= st < 300) and not new, st, new)

    def hosts(self, served, refused=(400, 403, 421)):
        """Every host variant for bob on /admin/x: refused by the proxy, or
        judged by the rule for the host actually routed (403).  served:
        the labels the proxy routes to app.example.org; refused: the
        statuses the proxy gives for a host it does not serve."""
        for label, line_host, hdr in HOST_VARIANTS:
            line_host, hdr = self.authority(line_host), self.authority(hdr)
            st, new = self.send(label, "http://%s/admin/x" % line_host, hdr, "bob", "bob-pw")
            self.bob_never_reaches_admin(label, new)
            self.s.check("%s: host %s refused or judged as app.example.org" % (
                self.proxy, label), not (200 <= st < 300) and not new, st, new)
            if label not in served:
                # alice may not reach an unserved host either: the proxy
                # refuses it, whoever asks.
                st, new = self.send(label, "http://%s/public/x" % line_host, hdr, "alice",
                                    "alice-pw")
                self.s.check("%s: unserved host %s refused for everyone" % (
                    self.proxy, label), st in refused and not new, st, new)
        for label, hdr in HOST_HEADER_VARIANTS:
            st, new = self.send(label, "/admin/x", hdr, "bob", "bob-pw")
            self.bob_never_reaches_admin(label, new)
            self.s.check("%s: Host %r refused" % (self.proxy, hdr),
                         not (200 <= st < 300) and not new, st, new)
