"""xs_resolve (through the xsvc program and examples/resolve.c) against a
real, independent DNS server: Knot DNS started on a free 127.0.0.1 port by
this test (tests/integration/knot.sh) and always stopped.

usage: test_upstream.py BUILD_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from knot import KnotServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else os.path.join(ROOT, "build")
XSVC = os.path.join(BUILD, "xsvc")
EXAMPLE = os.path.join(BUILD, "examples", "example_resolve")
EXAMPLE_ASYNC = os.path.join(BUILD, "examples", "example_resolve_async")

MANIFESTS = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: my-service, namespace: prod}
  spec: {type: ExternalName, externalName: my.database.example.com}
- apiVersion: v1
  kind: Service
  metadata: {name: v4only, namespace: prod}
  spec: {type: ExternalName, externalName: v4only.example.com}
- apiVersion: v1
  kind: Service
  metadata: {name: broken, namespace: prod}
  spec: {type: ExternalName, externalName: nx.example.com}
- apiVersion: v1
  kind: Service
  metadata: {name: via-alias, namespace: prod}
  spec: {type: ExternalName, externalName: alias.example.com.}
- apiVersion: v1
  kind: Service
  metadata: {name: chain, namespace: prod}
  spec: {type: ExternalName, externalName: my-service.prod.svc.cluster.local}
"""


def setUpModule():
    global SERVER, MDIR
    SERVER = KnotServer()
    MDIR = tempfile.mkdtemp(prefix="xsvc-manifests-")
    with open(os.path.join(MDIR, "services.yaml"), "w") as f:
        f.write(MANIFESTS)


def tearDownModule():
    SERVER.stop()
    shutil.rmtree(MDIR, ignore_errors=True)


def resolve(name, *args, server=None):
    server = server or "127.0.0.1:%d" % SERVER.port
    p = subprocess.run([XSVC, "resolve", "-f", MDIR, "-n", "prod", "--server", server,
                        "--json", *args, name], capture_output=True, text=True, timeout=60)
    return p.returncode, json.loads(p.stdout)


class UpstreamTests(unittest.TestCase):
    def test_alias_resolves_both_families_with_target_ttls(self):
        rc, r = resolve("my-service")
        self.assertEqual(rc, 0)
        self.assertEqual(r["status"], "ok")
        self.assertEqual(r["name"], "my-service.prod.svc.cluster.local.")
        self.assertEqual(r["chain"], [{"name": "my-service.prod.svc.cluster.local.",
                                       "target": "my.database.example.com.",
                                       "ttl": 5, "source": "registry"}])
        self.assertEqual(r["addresses"], [
            {"address": "192.0.2.10", "family": "ipv4", "ttl": 300, "source": "upstream"},
            {"address": "2001:db8::10", "family": "ipv6", "ttl": 300, "source": "upstream"}])

    def test_external_cname_chain_keeps_distinct_ttls(self):
        rc, r = resolve("via-alias", "-t", "A")
        self.assertEqual(rc, 0)
        self.assertEqual([(c["name"], c["target"], c["ttl"], c["source"]) for c in r["chain"]], [
            ("via-alias.prod.svc.cluster.local.", "alias.example.com.", 5, "registry"),
            ("alias.example.com.", "my.database.example.com.", 120, "upstream")])
        # the name for TLS stays the alias's target; the CNAME's is the final
        self.assertEqual((r["target"], r["final_name"]),
                         ("alias.example.com.", "my.database.example.com."))
        self.assertEqual([a["address"] for a in r["addresses"]], ["192.0.2.10"])
        self.assertEqual(r["addresses"][0]["ttl"], 300)

    def test_in_cluster_chain_then_upstream(self):
        rc, r = resolve("chain", "-t", "AAAA")
        self.assertEqual(rc, 0)
        self.assertEqual([c["target"] for c in r["chain"]],
                         ["my-service.prod.svc.cluster.local.", "my.database.example.com."])
        self.assertEqual([a["address"] for a in r["addresses"]], ["2001:db8::10"])

    def test_target_without_aaaa_is_nodata_with_chain(self):
        rc, r = resolve("v4only", "-t", "AAAA")
        self.assertEqual(rc, 1)
        self.assertEqual(r["status"], "nodata")
        self.assertEqual(len(r["chain"]), 1)
        self.assertEqual(r["addresses"], [])
        rc, r = resolve("v4only", "-t", "A")
        self.assertEqual(rc, 0)
        self.assertEqual(r["addresses"][0]["ttl"], 60)

    def test_missing_target_is_nxdomain_with_chain(self):
        rc, r = resolve("broken")
        self.assertEqual(rc, 1)
        self.assertEqual(r["status"], "nxdomain")
        self.assertEqual(r["chain"][0]["target"], "nx.example.com.")

    def test_external_name_walks_cluster_suffixes_locally_first(self):
        rc, r = resolve("www.example.com")
        self.assertEqual(rc, 1)
        self.assertEqual(r["candidates"], [
            "www.example.com.prod.svc.cluster.local.", "www.example.com.svc.cluster.local.",
            "www.example.com.cluster.local.", "www.example.com."])
        self.assertEqual(r["status"], "nxdomain")

    def test_unreachable_upstream_times_out_quickly(self):
        # --timeout and --attempts are honoured: one query per type (not the
        # default two), and not before the 200 ms. No upper bound on the
        # time: a loaded machine may be slow, and the counts tell.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        try:
            start = time.monotonic()
            rc, r = resolve("my-service", "--timeout", "200", "--attempts", "1",
                            server="127.0.0.1:%d" % silent.getsockname()[1])
            took = time.monotonic() - start
            silent.setblocking(False)
            queries = 0
            try:
                while True:
                    silent.recv(4096)
                    queries += 1
            except BlockingIOError:
                pass
        finally:
            silent.close()
        self.assertEqual(rc, 3)
        self.assertEqual(r["status"], "timeout")
        self.assertEqual(r["chain"][0]["target"], "my.database.example.com.")
        self.assertEqual(queries, 2)  # A and AAAA, one attempt each
        self.assertGreaterEqual(took, 0.2)

    def test_example_program_prints_chain_and_addresses(self):
        p = subprocess.run([EXAMPLE, os.path.join(ROOT, "examples", "manifests"), "prod",
                            "127.0.0.1:%d" % SERVER.port, "my-service"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("my-service.prod.svc.cluster.local. 5 IN CNAME my.database.example.com.",
                      p.stdout)
        self.assertIn("IN A 192.0.2.10", p.stdout)


    def test_async_example_resolves_names_from_a_poll_loop(self):
        p = subprocess.run([EXAMPLE_ASYNC, os.path.join(ROOT, "examples", "manifests"), "prod",
                            "127.0.0.1:%d" % SERVER.port, "my-service",
                            "httpbin-service.default", "nope.prod.svc.cluster.local."],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)  # one name fails
        self.assertIn("my-service: ok -> my.database.example.com.", p.stdout)
        self.assertIn("  192.0.2.10 ttl 300 (upstream)", p.stdout)
        # the stand-in httpbin.org is on 127.0.0.1: loopback is denied
        self.assertIn("httpbin-service.default: policy -> httpbin.org.", p.stdout)
        self.assertIn("nope.prod.svc.cluster.local.: nxdomain", p.stdout)


class DemoTests(unittest.TestCase):
    def test_demo_runs_the_seed_walkthrough(self):
        p = subprocess.run([os.path.join(ROOT, "examples", "demo.sh"), BUILD],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("httpbin.org.", p.stdout)
        self.assertIn("127.0.0.1", p.stdout)
        self.assertIn("192.0.2.10", p.stdout)
        # the connection through httpbin-service fetched a uuid, with the
        # alias's target as the Host header (the stand-in refuses others)
        self.assertIn("target: httpbin.org", p.stdout)
        self.assertRegex(p.stdout, r"HTTP/1\.[01] 200 OK")
        self.assertRegex(p.stdout, r'"uuid": "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-'
                                   r'[89ab][0-9a-f]{3}-[0-9a-f]{12}"')
        self.assertIn("demo: done", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
