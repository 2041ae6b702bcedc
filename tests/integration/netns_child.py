"""Runs inside `unshare -n --mount` (started by test_preload.py): a network
namespace where only lo exists, and a private mount namespace in which a
test's resolv.conf is bind-mounted over /etc/resolv.conf, so glibc's stub
resolver asks our DnsStub on 127.0.0.1:53 and nothing leaves the machine.
The real /etc/resolv.conf is never written; the bind mount ends with the
namespace.

usage: netns_child.py SPEC.json   (prints one JSON object on stdout)
SPEC: {"resolv_conf": text, "dns": {name: [address, ...]},
       "http": [address, ...],
       "runs": [{"args": [...], "env": {...}}, ...]}
"http" starts an HTTP server on a free port of each address (inside the
namespace); "{port}" in an argument becomes the first one's port. The
server answers {"uuid": "served-by-ADDRESS", "host": "HOST HEADER"}.
Output: {"runs": [{"rc": n, "stdout": s, "stderr": s}, ...],
         "asked": [[name, type], ...]}
"""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsstub import DnsStub  # noqa: E402


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ('{"uuid": "served-by-%s", "host": "%s"}\n'
                % (self.server.server_address[0], self.headers.get("Host"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # getaddrinfo's AI_ADDRCONFIG (getent ahosts sets it) counts an IPv4
    # address other than 127.0.0.1 as "IPv4 configured": a second loopback
    # address, so lookups are not refused before they are asked.
    subprocess.run(["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"], check=True)
    conf = tempfile.NamedTemporaryFile("w", prefix="xsvc-resolv-", suffix=".conf", delete=False)
    conf.write(spec["resolv_conf"])
    conf.close()
    os.chmod(conf.name, 0o644)
    subprocess.run(["mount", "--bind", conf.name, "/etc/resolv.conf"], check=True)
    stub = DnsStub(spec["dns"], port=53)
    servers = []
    out = {"runs": []}
    try:
        for ip in spec.get("http", []):
            s = http.server.HTTPServer((ip, 0), Handler)
            threading.Thread(target=s.serve_forever, daemon=True).start()
            servers.append(s)
        port = str(servers[0].server_address[1]) if servers else ""
        for run in spec["runs"]:
            args = [a.replace("{port}", port) for a in run["args"]]
            p = subprocess.run(args, capture_output=True, text=True,
                               env=run["env"], timeout=60)
            out["runs"].append({"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr})
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        stub.stop()
        subprocess.run(["umount", "/etc/resolv.conf"])
        os.unlink(conf.name)
    out["asked"] = stub.asked
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
