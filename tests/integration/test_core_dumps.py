#!/usr/bin/env python3
"""Passwords pass through proxyauthd's and proxyauth-squid's memory, so
neither may leave a core file: both run with RLIMIT_CORE 0 (soft and
hard, so a child or a later setrlimit cannot raise it) whatever limit they
were started with.  proxyauth-check does the same (test_check_proxies.py).
"""
import os
import resource
import sys
import time

import e2e

CONF = """[server]
listen = 127.0.0.1:0
backends = htpasswd

[htpasswd]
file = @DIR@/htpasswd
"""


def core_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    return None


def allow_cores():
    # The soft limit up to the hard one, so that a limit of 0 can only
    # come from the program itself.
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def body(s):
    s.add_user(os.path.join(s.dir, "htpasswd"), "alice", "alice-pw")
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    if hard == 0:
        print("# the hard core limit here is already 0: the checks below cannot tell")
    daemon, port = s.start_daemon(CONF)
    s.check("proxyauthd: core file size limit 0, soft and hard",
            core_limit(daemon.pid) == ["0", "0"], core_limit(daemon.pid))
    conf = s.write("squid-helper.conf", CONF.replace("@DIR@", s.dir), 0o600)
    helper = s.spawn([e2e.SQUID_HELPER, "-c", conf], "helper.log", stdin=-1, stdout=-1)
    time.sleep(0.5)
    s.check("proxyauth-squid: core file size limit 0, soft and hard",
            helper.poll() is None and core_limit(helper.pid) == ["0", "0"],
            core_limit(helper.pid) if helper.poll() is None else s.read("helper.log"))
    helper.stdin.close()
    helper.wait(timeout=10)


if __name__ == "__main__":
    allow_cores()
    sys.exit(e2e.Suite("core-dumps").run(body))
