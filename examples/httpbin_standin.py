#!/usr/bin/env python3
"""A stand-in for httpbin.org on loopback, for the offline walkthrough:
GET /uuid answers {"uuid": "..."} as httpbin.org does, but only for requests
whose Host header is httpbin.org (what a client connecting through the
alias must send: the alias's target, not the Service name).

usage: httpbin_standin.py PORTFILE   (listens on a free 127.0.0.1 port and
writes it to PORTFILE once ready; stops on SIGTERM)
"""
import http.server
import json
import sys
import uuid


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        if host != "httpbin.org":
            self.reply(421, {"error": "Host must be httpbin.org, got %r" % host})
        elif self.path == "/uuid":
            self.reply(200, {"uuid": str(uuid.uuid4())})
        else:
            self.reply(404, {"error": "only /uuid here"})

    def reply(self, code, obj):
        body = (json.dumps(obj, indent=2) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
