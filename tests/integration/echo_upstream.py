#!/usr/bin/env python3
"""A tiny upstream for the proxy tests: answers every request with 200 and
a JSON body holding the method, the path and the headers it received, and
counts the requests, so a test can prove that a request never reached it.

    python3 echo_upstream.py PORT      serve on 127.0.0.1:PORT until killed

Tests import it and run EchoUpstream in a thread instead.
"""
import http.server
import json
import sys
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
        }
        self.server.record(seen)
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, fmt, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port):
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.requests = []

    def record(self, seen):
        with self.lock:
            self.requests.append(seen)


class EchoUpstream:
    """Serves on 127.0.0.1 (a free port unless given) in a thread."""

    def __init__(self, port=0):
        self.server = _Server(port)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def count(self):
        with self.server.lock:
            return len(self.server.requests)

    @property
    def requests(self):
        with self.server.lock:
            return list(self.server.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    srv = _Server(int(sys.argv[1]))
    srv.serve_forever()
