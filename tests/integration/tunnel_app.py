#!/usr/bin/env python3
"""A stand-in app that opens tunnels, and the tunnel probe the proxy tests
share (test_haproxy, test_caddy, test_squid, test_nginx).

A CONNECT or a protocol upgrade (h2c, WebSocket) makes the client's
connection a raw pipe to the app once the proxy passes the app's 200 or
101 on: every later request on it reaches the app unjudged, with any
X-Auth-User the client writes.  The probe sends, with valid credentials,
a CONNECT, an h2c upgrade and a WebSocket upgrade, then a smuggled
`GET /admin/smuggled` with a forged X-Auth-User on the same connection,
and checks that no tunnel opened and that the smuggled request never
reached the app.
"""
import socket
import threading

SMUGGLED = (b"GET /admin/smuggled HTTP/1.1\r\nHost: app.example.org\r\n"
            b"X-Auth-User: alice\r\nConnection: close\r\n\r\n")
H2C = ("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
       "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n")
WEBSOCKET = ("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")


class TunnelUpstream:
    """A raw upstream that, like an h2c-capable app server, answers a
    CONNECT with 200 and an Upgrade with 101, then reads further requests
    from the same connection: what a client smuggles through a tunnel the
    proxy opened shows up in `lines` (the request lines it received) and
    `upgrades` (the Upgrade values that reached it)."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.lines = []
        self.upgrades = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(10)
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                hdrs = []
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    hdrs.append(h.decode("latin-1").lower())
                self.lines.append(line.decode("latin-1").strip())
                up = [h.split(":", 1)[1].strip() for h in hdrs if h.startswith("upgrade:")]
                self.upgrades += up
                if line.startswith(b"CONNECT"):
                    c.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
                elif up:
                    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                              b"Upgrade: " + up[0].encode() + b"\r\n\r\n")
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass
        finally:
            c.close()

    def smuggled(self):
        return any("smuggled" in x for x in self.lines)

    def close(self):
        self.srv.close()


def raw_exchange(port, first, then, wait=3.0):
    """Sends `first`, waits for its answer, then sends `then` on the same
    connection; returns everything the proxy answered."""
    c = socket.create_connection(("127.0.0.1", port), timeout=wait)
    out = b""
    try:
        c.sendall(first)
        out = c.recv(65536)
        c.sendall(then)
        while True:
            b = c.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    finally:
        c.close()
    return out.decode("latin-1")


def status(out):
    """The status of the first answer in raw proxy output (0: none)."""
    parts = out.split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return 0


def probe(s, label, port, up, auth, target="/hello", connect="app.example.org:80",
          websocket_allowed=False):
    """With valid credentials (`auth`, a whole Proxy-Authorization line):
    a CONNECT to `connect`, an h2c upgrade and a WebSocket upgrade of GET
    `target` (origin or absolute form), each followed by the smuggled
    request on the same connection.  None may open a tunnel (a 2xx to the
    CONNECT, a 101) or let the smuggled request reach `up`; the h2c
    Upgrade never reaches the app.  With websocket_allowed (a documented
    opt-in) the WebSocket upgrade is expected to get its 101 instead.
    Returns the CONNECT's status."""
    out = raw_exchange(port, ("CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n" % (
        connect, connect, auth)).encode(), SMUGGLED)
    st = status(out)
    s.check("%s: CONNECT %s with valid credentials: %d, no tunnel, the smuggled request "
            "not at the app" % (label, connect, st),
            st != 0 and not 200 <= st <= 299 and not up.smuggled(), out[:600], up.lines)
    req = "GET %s HTTP/1.1\r\nHost: app.example.org\r\n%s\r\n" % (target, auth)
    n = len(up.upgrades)
    out = raw_exchange(port, (req + H2C + "\r\n").encode(), SMUGGLED)
    s.check("%s: h2c upgrade: %d, no 101, Upgrade not at the app, the smuggled request "
            "not tunnelled" % (label, status(out)),
            status(out) != 0 and "101 Switching" not in out and not up.smuggled() and
            up.upgrades[n:] == [], out[:600], up.lines, up.upgrades[n:])
    out = raw_exchange(port, (req + WEBSOCKET + "\r\n").encode(), SMUGGLED)
    if websocket_allowed:
        s.check("%s: WebSocket upgrade (opt-in): 101 from the app" % label,
                status(out) == 101, out[:600], up.lines)
    else:
        s.check("%s: WebSocket upgrade: %d, no 101, the smuggled request not tunnelled" % (
            label, status(out)),
            status(out) != 0 and "101 Switching" not in out and not up.smuggled() and
            up.upgrades[n:] == [], out[:600], up.lines, up.upgrades[n:])
    return st
