#!/usr/bin/env python3
"""The proxyauth-squid helper's line protocol (SPEC section 6), driving the
real binary over pipes as Squid does: channel IDs echoed, answers out of
order under concurrency (a slow bcrypt lookup overtaken by a cached one),
URL-escaped names and passwords, BH when the backend is unavailable (Redis
on a closed port), a very long line answered and skipped, the lockout and
the log of the shared pipeline, lines without channel IDs (-n), and the
end of input answering everything in flight before exit 0.
"""
import os
import re
import select
import subprocess
import sys
import time

import e2e


class Helper:
    def __init__(self, s, conf, args=(), name="helper"):
        self.s = s
        self.p = s.spawn([e2e.SQUID_HELPER, "-c", conf] + list(args), name + ".log",
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.name = name
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def line(self, timeout=20.0):
        """The next answer line (without newline), or None on timeout/EOF."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def ask(self, text, timeout=20.0):
        self.send(text + "\n")
        return self.line(timeout)

    def log(self):
        return self.s.read(self.name + ".log")

    def close(self, timeout=20):
        self.p.stdin.close()
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def body(s):
    if not e2e.SQUID_HELPER:
        s.check("PA_SQUID_BIN set (run through ctest)", False)
        return
    hp = os.path.join(s.dir, "htpasswd")
    s.add_user(hp, "alice", "alice-pw", "staff")
    s.add_user(hp, "slow", "slow-pw", cost=13)
    s.add_user(hp, "J\u00fcrgen", "p w%x")
    s.add_user(hp, "plus", "a+b")
    s.add_user(hp, "locky", "locky-pw")
    conf = s.write("helper.conf", """[server]
backends = htpasswd
max_failures = 3
failure_window = 60
lockout = 300

[htpasswd]
file = %s
""" % hp, 0o600)

    h = Helper(s, conf)
    s.check("allow: channel ID echoed, OK user=",
            h.ask("0 alice alice-pw") == '0 OK user="alice"', h.log())
    s.check("wrong password: ERR with the ID",
            h.ask("1 alice wrong") == '1 ERR message="authentication failed"')
    s.check("unknown user: ERR", h.ask("2 nobody x") == '2 ERR message="authentication failed"')
    s.check("large channel ID echoed",
            h.ask("98765432109876543210 alice alice-pw") ==
            '98765432109876543210 OK user="alice"')
    s.check("URL-escaped UTF-8 name and password with %20 and %25",
            h.ask("3 J%C3%BCrgen p%20w%25x") == '3 OK user="J\u00fcrgen"')
    s.check("the unescaped password is refused",
            h.ask("4 J%C3%BCrgen p%20w%x") == '4 ERR message="authentication failed"')
    s.check("'+' is a literal plus", h.ask("5 plus a+b") == '5 OK user="plus"')
    s.check("escaped control character: ERR",
            h.ask("6 alice alice-pw%0A") == '6 ERR message="authentication failed"')
    # A line without a channel ID (Squid's concurrency=0 without -n): BH
    # saying so, never an OK; an empty line is skipped; the next is read.
    s.check("line without channel ID: BH naming -n",
            h.ask("alice alice-pw") ==
            'BH message="no channel ID: with concurrency=0 run proxyauth-squid -n"')
    h.send("\n")
    s.check("an empty line is skipped, the next answered",
            h.ask("7 alice alice-pw") == '7 OK user="alice"')

    s.check("NUL byte in a line: ERR, not a cut password",
            h.ask("8 alice alice-pw\0junk") == '8 ERR message="authentication failed"')
    s.check("CRLF line end accepted", h.ask("9 alice alice-pw\r") == '9 OK user="alice"')

    # Out of order: warm the cache for alice, then a slow bcrypt (cost 13)
    # lookup followed by alice's cached one on the same pipe.
    h.ask("7 alice alice-pw")
    h.send("10 slow slow-pw\n11 alice alice-pw\n")
    first, second = h.line(60), h.line(60)
    s.check("answers out of order: the cached one overtakes the slow lookup",
            first == '11 OK user="alice"' and second == '10 OK user="slow"', first, second)

    # Many at once, all answered with their own IDs.
    h.send("".join("%d %s\n" % (100 + i, "alice alice-pw" if i % 2 else "ghost%d x" % i)
                   for i in range(40)))
    got = [h.line(60) for _ in range(40)]
    want = {'%d %s' % (100 + i, 'OK user="alice"' if i % 2 else
                       'ERR message="authentication failed"') for i in range(40)}
    s.check("40 concurrent requests: every ID answered once, right answer each",
            set(got) == want and len(got) == 40, sorted(set(got) ^ want)[:6])

    # A very long line: answered for its ID, then the next line works.
    h.send("20 alice " + "x" * 100000 + "\n21 alice alice-pw\n")
    a, b = h.line(), h.line()
    s.check("very long line: ERR for its ID", a == '20 ERR message="authentication failed"', a)
    s.check("after a long line the next request is read normally",
            b == '21 OK user="alice"', b)

    # Lockout from the shared pipeline: 3 distinct wrong passwords lock
    # locky (a repeated one would count once).
    for i in range(3):
        h.ask("%d locky wrong%d" % (30 + i, i))
    s.check("locked out after max_failures: the right password is refused",
            h.ask("33 locky locky-pw") == '33 ERR message="authentication failed"')
    # The client address from key_extras ("%>a") is logged.
    h.ask("34 carol wrong 192.0.2.9")

    # EOF with a slow lookup in flight: answered, then exit 0.
    h.send("40 slow slow-pw\n")
    h.p.stdin.close()
    last = h.line(60)
    rc = h.p.wait(30)
    s.check("end of input: the request in flight is answered, exit 0",
            last == '40 OK user="slow"' and rc == 0, last, rc)

    log = h.log()
    s.check("decisions logged on stderr with profile=squid",
            re.search(r"client=squid user=alice profile=squid outcome=allow", log) is not None,
            log[-1500:])
    s.check("lockout logged", "outcome=locked" in log and "lockout: user locky" in log,
            log[-1500:])
    s.check("key_extras client address logged",
            re.search(r"client=192\.0\.2\.9 user=carol profile=squid outcome=deny", log)
            is not None, log[-1500:])
    s.check("malformed lines logged with a reason",
            'reason="request line too long"' in log and
            "a request line without a channel ID: answered BH" in log,
            log[-1500:])
    s.check("no password in the log",
            not any(p in log for p in ("alice-pw", "slow-pw", "locky-pw", "p w%x",
                                       "p%20w%25x", "a+b")), log)

    # Without channel IDs (Squid concurrency=0).
    h2 = Helper(s, conf, ["-n"], "helper-n")
    s.check("-n: OK without ID", h2.ask("alice alice-pw") == 'OK user="alice"', h2.log())
    s.check("-n: numeric user name is a user",
            h2.ask("42 x") == 'ERR message="authentication failed"')
    s.check("-n: ERR without ID", h2.ask("alice nope") == 'ERR message="authentication failed"')
    h2.send("alice alice-pw")
    h2.p.stdin.close()
    last = h2.line()
    s.check("-n: a last line without newline is answered, then exit 0",
            last == 'OK user="alice"' and h2.p.wait(30) == 0, last)

    # Backend unavailable: Redis on a closed port gives BH, never OK.
    dead = e2e.free_port()
    conf2 = s.write("dead.conf", """[server]
backends = redis

[redis]
address = 127.0.0.1:%d
timeout_ms = 500
""" % dead, 0o600)
    h3 = Helper(s, conf2, name="helper-dead")
    a = h3.ask("1 alice alice-pw", 30)
    s.check("backend unavailable: BH with the ID",
            a is not None and a.startswith("1 BH message="), a, h3.log())
    s.check("backend unavailable: logged as unavailable",
            e2e.wait_for(lambda: "outcome=unavailable" in h3.log(), 10), h3.log())
    # The helper runs the readiness probes too: the backend going down is
    # logged once, as proxyauthd logs it (their round also sweeps lockout).
    s.check("backend unavailable: the probes log it down, once",
            e2e.wait_for(lambda: "backend redis is down" in h3.log(), 10) and
            h3.log().count("backend redis is down") == 1, h3.log())
    s.check("backend unavailable: EOF exits 0", h3.close() == 0)

    # A configuration problem: exit non-zero with the reason on stderr.
    bad = s.write("bad.conf", "[server]\nbackends = htpasswd\nbogus = 1\n", 0o600)
    r = subprocess.run([e2e.SQUID_HELPER, "-c", bad], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e2e.child_env(),
                       timeout=30)
    s.check("bad configuration: non-zero exit, reason on stderr",
            r.returncode != 0 and b"bogus" in r.stderr, r.returncode, r.stderr)


if __name__ == "__main__":
    sys.exit(e2e.Suite("squid-helper").run(body))
