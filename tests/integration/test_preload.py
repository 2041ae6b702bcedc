"""libxsvc-preload.so under real, unmodified programs: getent, curl and
Python's socket module resolve cluster names from manifests and reach HTTP
servers on loopback through them. Only names the shim answers, or that
/etc/hosts holds (localhost), are asked: nothing goes to a DNS server.

usage: test_preload.py BUILD_DIR
"""
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else os.path.join(ROOT, "build")
SHIM = os.path.join(BUILD, "libxsvc-preload.so")

MANIFESTS = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: prod}
  spec: {clusterIP: 127.0.0.2, ports: [{name: http, port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: web-alias, namespace: prod}
  spec: {type: ExternalName, externalName: localhost}
"""


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


def setUpModule():
    global MDIR, SERVERS
    MDIR = tempfile.mkdtemp(prefix="xsvc-preload-")
    with open(os.path.join(MDIR, "services.yaml"), "w") as f:
        f.write(MANIFESTS)
    os.chmod(os.path.join(MDIR, "services.yaml"), 0o644)
    SERVERS = {}
    for ip in ("127.0.0.2", "127.0.0.1"):
        s = http.server.HTTPServer((ip, 0), Handler)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        SERVERS[ip] = s


def tearDownModule():
    for s in SERVERS.values():
        s.shutdown()
        s.server_close()
    shutil.rmtree(MDIR, ignore_errors=True)


def port(ip):
    return SERVERS[ip].server_address[1]


def run(*args, env=None, ns="prod"):
    e = dict(os.environ, LD_PRELOAD=SHIM, XSVC_MANIFESTS=MDIR, XSVC_NAMESPACE=ns)
    e.pop("XSVC_QUIET", None)
    if env:
        e.update(env)
    return subprocess.run(list(args), capture_output=True, text=True, env=e, timeout=60)


class GetentTests(unittest.TestCase):
    def test_cluster_ip_by_short_and_search_names(self):
        for name in ("web", "web.prod", "web.prod.svc", "web.prod.svc.cluster.local"):
            p = run("getent", "hosts", name)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.split(), ["127.0.0.2", "web.prod.svc.cluster.local"])

    def test_other_namespace_walks_the_search_list(self):
        p = run("getent", "hosts", "web.prod", ns="dev")
        self.assertEqual(p.stdout.split()[0], "127.0.0.2")

    def test_alias_target_resolved_by_libc(self):
        p = run("getent", "ahostsv4", "web-alias")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split()[0], "127.0.0.1")

    def test_names_libc_knows_pass_through(self):
        p = run("getent", "hosts", "localhost")
        self.assertEqual(p.returncode, 0)
        self.assertIn("localhost", p.stdout)
        self.assertEqual(p.stderr, "")

    def test_bad_configuration_reports_once_and_passes_through(self):
        p = run("getent", "hosts", "localhost", env={"XSVC_MANIFESTS": "/nonexistent"})
        self.assertEqual(p.returncode, 0)
        self.assertIn("localhost", p.stdout)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        self.assertIn("xsvc-preload: cannot load XSVC_MANIFESTS", p.stderr)
        p = run("getent", "hosts", "localhost", env={"XSVC_MANIFESTS": "/nonexistent",
                                                      "XSVC_QUIET": "1"})
        self.assertEqual(p.stderr, "")
        p = run("getent", "hosts", "localhost", env={"XSVC_NAMESPACE": "Bad_NS"})
        self.assertEqual(p.returncode, 0)
        self.assertIn("invalid XSVC_NAMESPACE", p.stderr)


class CurlTests(unittest.TestCase):
    def test_curl_reaches_the_service(self):
        p = run("curl", "-sS", "--max-time", "10", "http://web:%d/uuid" % port("127.0.0.2"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('"uuid": "served-by-127.0.0.2"', p.stdout)
        self.assertIn('"host": "web:%d"' % port("127.0.0.2"), p.stdout)

    def test_curl_through_the_alias(self):
        p = run("curl", "-sS", "-4", "--max-time", "10",
                "http://web-alias:%d/uuid" % port("127.0.0.1"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("served-by-127.0.0.1", p.stdout)


class PythonTests(unittest.TestCase):
    def test_socket_module(self):
        code = r"""
import socket, threading
print(sorted({a[4][0] for a in socket.getaddrinfo("web", 80, proto=socket.IPPROTO_TCP)}))
print(socket.getnameinfo(("127.0.0.2", 80), socket.NI_NUMERICSERV))
print(socket.gethostbyname("web.prod"))
bad = []
def worker():
    for _ in range(200):
        if socket.getaddrinfo("web", 80)[0][4][0] != "127.0.0.2":
            bad.append(1)
ts = [threading.Thread(target=worker) for _ in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print("bad", len(bad))
"""
        p = run(sys.executable, "-c", code)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "['127.0.0.2']")
        self.assertEqual(lines[1], "('web.prod.svc.cluster.local', '80')")
        self.assertEqual(lines[2], "127.0.0.2")
        self.assertEqual(lines[3], "bad 0")


if __name__ == "__main__":
    unittest.main(verbosity=2)
