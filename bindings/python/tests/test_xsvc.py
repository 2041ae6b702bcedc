"""The Python binding against the library: load errors, resolve (sync and
asyncio, with cancellation), connect to a loopback listener, threads, and the
fake-DNS fixture answering a raw DNS query. Upstream DNS is the fake DNS
itself on 127.0.0.1 (an ExternalName chain: alias -> name served there).

run: XSVC_LIBRARY=build/libxsvc.so PYTHONPATH=bindings/python \
     python3 -m unittest discover -s bindings/python/tests
"""
import asyncio
import os
import socket
import struct
import tempfile
import threading
import unittest

import xsvc
import xsvc.testing

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
spec:
  clusterIP: 127.0.0.2
  ports: [{name: http, port: %d}]
"""


def dns_query(host, port, name, qtype=1):
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(60)  # a hang, not slowness
    try:
        s.sendto(q, (host, port))
        return s.recv(4096)
    finally:
        s.close()



LOOPBACK = ["127.0.0.0/8", "::1"]

class Fixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.listener = socket.socket()
        cls.listener.bind(("127.0.0.2", 0))
        cls.listener.listen(16)
        cls.port = cls.listener.getsockname()[1]
        cls.dir = tempfile.mkdtemp(prefix="xsvc-py-")
        path = os.path.join(cls.dir, "web.yaml")
        with open(path, "w") as f:
            f.write(SERVICE % cls.port)
        os.chmod(path, 0o644)
        # upstream: a fake DNS of another cluster (domain example.test);
        # "lb" answers as a name behind a load balancer's CNAME does
        cls.up_reg = xsvc.Registry()
        cls.up_reg.add_cluster_ip("ext", "target", "127.0.0.2")
        cls.up_reg.add_external("ext", "lb", "target.ext.svc.example.test.")
        cls.upstream = xsvc.testing.FakeDNS(cls.up_reg, cluster_domain="example.test")

    @classmethod
    def tearDownClass(cls):
        cls.upstream.close()
        cls.up_reg.close()
        cls.listener.close()
        for name in os.listdir(cls.dir):
            os.unlink(os.path.join(cls.dir, name))
        os.rmdir(cls.dir)

    def registry(self):
        reg = xsvc.Registry.load(self.dir)
        reg.add_external("prod", "alias", "target.ext.svc.example.test.")
        return reg

    def resolver(self, reg, **kw):
        kw.setdefault("allow", LOOPBACK)  # the fixtures live on loopback
        return xsvc.Resolver(registry=reg, namespace="prod",
                             servers=[self.upstream.address], timeout_ms=60000, attempts=1,
                             **kw)


class LoadTests(Fixture):
    def test_load_and_count(self):
        reg = self.registry()
        self.assertEqual(len(reg), 2)
        self.assertIn("2 services", repr(reg))
        reg.close()
        reg.close()  # twice is fine

    def test_manifest_error_has_position(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\n")
        os.chmod(f.name, 0o644)
        try:
            with self.assertRaises(xsvc.ManifestError) as cm:
                xsvc.Registry.load(f.name)
            e = cm.exception
            self.assertEqual((e.file, e.line, e.status), (f.name, 3, "EMANIFEST"))
            self.assertIn("metadata.name: Invalid value: \"Bad_Name\"", str(e))
            self.assertIsInstance(e, xsvc.Error)
        finally:
            os.unlink(f.name)

    def test_missing_file(self):
        with self.assertRaises(xsvc.ManifestError) as cm:
            xsvc.Registry.load("/nonexistent/xsvc.yaml")
        self.assertEqual(cm.exception.status, "EIO")

    def test_registry_in_code_validates(self):
        reg = xsvc.Registry()
        with self.assertRaises(xsvc.InvalidArgument):
            reg.add_external("prod", "Bad", "x.example.com")
        with self.assertRaises(xsvc.NotFound):
            reg.remove("prod", "nope")
        reg.close()
        with self.assertRaises(xsvc.InvalidArgument):
            len(reg)


class ResolveTests(Fixture):
    def test_cluster_ip_and_alias_chain(self):
        with self.registry() as reg, self.resolver(reg) as r:
            ans = r.resolve("web", "ipv4")
            self.assertEqual([a.address for a in ans.addresses], ["127.0.0.2"])
            self.assertEqual(ans.name, "web.prod.svc.cluster.local.")
            self.assertEqual(ans.addresses[0].source, "registry")
            ans = r.resolve("alias", "ipv4")  # through the upstream fake DNS
            self.assertEqual(ans.chain[0].target, "target.ext.svc.example.test.")
            self.assertEqual(ans.addresses[0].address, "127.0.0.2")
            self.assertEqual(ans.target, "target.ext.svc.example.test.")
            self.assertIn("alias", repr(ans))

    def test_target_is_not_the_upstream_cname_target(self):
        # upstream: lb.ext.svc.example.test CNAME target.ext.svc.example.test
        with self.registry() as reg, self.resolver(reg) as r:
            reg.add_external("prod", "db", "lb.ext.svc.example.test.")
            ans = r.resolve("db", "ipv4")
            self.assertEqual([(l.target, l.source) for l in ans.chain], [
                ("lb.ext.svc.example.test.", "registry"),
                ("target.ext.svc.example.test.", "upstream")])
            self.assertEqual(ans.target, "lb.ext.svc.example.test.")
            self.assertEqual(ans.final_name, "target.ext.svc.example.test.")
            reg.add_external("prod", "a", "db.prod.svc.cluster.local.")  # in-cluster alias
            ans = r.resolve("a", "ipv4")
            self.assertEqual(len(ans.chain), 3)
            self.assertEqual(ans.target, "lb.ext.svc.example.test.")
            self.assertEqual(ans.final_name, "target.ext.svc.example.test.")
            ans = r.resolve("lb.ext.svc.example.test.", "ipv4")  # outside the cluster
            self.assertEqual(ans.target, "lb.ext.svc.example.test.")
            self.assertEqual(ans.final_name, "target.ext.svc.example.test.")
            ans = r.resolve("web", "ipv4")
            self.assertEqual((ans.target, ans.final_name),
                             ("web.prod.svc.cluster.local.", "web.prod.svc.cluster.local."))

    def test_not_found_keeps_the_answer(self):
        with self.registry() as reg, self.resolver(reg) as r:
            with self.assertRaises(xsvc.NotFound) as cm:
                r.resolve("nosuch.prod.svc.cluster.local.")
            self.assertEqual(cm.exception.status, "ENOTFOUND")
            self.assertEqual(cm.exception.answer.candidates,
                             ["nosuch.prod.svc.cluster.local."])
            with self.assertRaises(xsvc.InvalidArgument):
                r.resolve("bad..name")

    def test_threads_resolve_at_once(self):
        with self.registry() as reg, self.resolver(reg) as r:
            bad = []

            def work():
                for _ in range(300):
                    if r.resolve("web", "ipv4").addresses[0].address != "127.0.0.2":
                        bad.append(1)
            ts = [threading.Thread(target=work) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(bad, [])


class AsyncTests(Fixture):
    def test_resolve_async(self):
        async def main(r):
            got = await asyncio.gather(r.resolve_async("web", "ipv4"),
                                       r.resolve_async("alias", "ipv4"))
            self.assertEqual(got[0].addresses[0].address, "127.0.0.2")
            self.assertEqual(got[1].chain[0].name, "alias.prod.svc.cluster.local.")
            with self.assertRaises(xsvc.NotFound):
                await r.resolve_async("nosuch.prod.svc.cluster.local.")
        with self.registry() as reg, self.resolver(reg) as r:
            asyncio.run(main(r))

    def test_cancel(self):
        # an upstream that never answers: the task is cancelled instead
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        server = "127.0.0.1:%d" % silent.getsockname()[1]

        async def main(r):
            task = asyncio.ensure_future(r.resolve_async("www.example.com.", "ipv4"))
            await asyncio.sleep(0.05)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            ans = await r.resolve_async("web", "ipv4")  # still works
            self.assertEqual(ans.addresses[0].address, "127.0.0.2")
        try:
            with self.registry() as reg, xsvc.Resolver(registry=reg, namespace="prod",
                                                       servers=[server], allow=LOOPBACK,
                                                       timeout_ms=5000) as r:
                asyncio.run(main(r))
        finally:
            silent.close()

    def test_requests_in_flight_bounded(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        server = "127.0.0.1:%d" % silent.getsockname()[1]

        async def main(r):
            waiting = [asyncio.ensure_future(r.resolve_async("h%d.example.com." % i, "ipv4"))
                       for i in range(2)]
            await asyncio.sleep(0.05)
            with self.assertRaises(xsvc.LimitError) as cm:
                await r.resolve_async("h2.example.com.", "ipv4")
            self.assertEqual(cm.exception.status, "ELIMIT")
            for t in waiting:
                t.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
        try:
            with self.registry() as reg, xsvc.Resolver(registry=reg, namespace="prod",
                                                       servers=[server], timeout_ms=5000,
                                                       max_pending=2) as r:
                asyncio.run(main(r))
            with self.assertRaises(xsvc.InvalidArgument):
                xsvc.Resolver(max_pending=0)
        finally:
            silent.close()


class ConnectTests(Fixture):
    def test_connect_named_port(self):
        with self.registry() as reg, self.resolver(reg) as r:
            sock = r.connect("web", "http")
            conn, _ = self.listener.accept()
            try:
                sock.sendall(b"ping")
                self.assertEqual(conn.recv(4), b"ping")
                self.assertEqual(sock.getpeername(), ("127.0.0.2", self.port))
                self.assertEqual(sock.target, "web.prod.svc.cluster.local")
                self.assertIsInstance(sock, socket.socket)
            finally:
                conn.close()
                sock.close()

    def test_connect_target_is_the_external_name(self):
        with self.registry() as reg, self.resolver(reg) as r:
            reg.add_external("prod", "db", "lb.ext.svc.example.test.")
            for name, want in (("db", "lb.ext.svc.example.test"),
                               ("lb.ext.svc.example.test.", "lb.ext.svc.example.test")):
                sock = r.connect(name, self.port)
                conn, _ = self.listener.accept()
                try:
                    self.assertEqual(sock.target, want)
                    self.assertEqual(sock.getpeername(), ("127.0.0.2", self.port))
                finally:
                    conn.close()
                    sock.close()

    def test_connect_errors(self):
        closed = socket.socket()
        closed.bind(("127.0.0.2", 0))
        port = closed.getsockname()[1]
        closed.close()
        with self.registry() as reg, self.resolver(reg) as r:
            with self.assertRaises(xsvc.ConnectError) as cm:
                r.connect("web", port)
            self.assertEqual(cm.exception.errno, 111)  # ECONNREFUSED
            with self.assertRaises(xsvc.NotFound):
                r.connect("web", "nope")


class FakeDNSTests(Fixture):
    def test_answers_raw_queries_and_follows_the_registry(self):
        reg = xsvc.Registry()
        reg.add_cluster_ip("prod", "db", "10.96.0.20")
        with xsvc.testing.FakeDNS(reg) as dns:
            reply = dns_query(dns.host, dns.port, "db.prod.svc.cluster.local.")
            self.assertEqual(reply[3] & 0x0F, 0)
            self.assertEqual(reply[-4:], bytes([10, 96, 0, 20]))
            reg.remove("prod", "db")
            reply = dns_query(dns.host, dns.port, "db.prod.svc.cluster.local.")
            self.assertEqual(reply[3] & 0x0F, 3)  # NXDOMAIN
            self.assertIn("127.0.0.1:", repr(dns))
        reg.close()



class PolicyTests(Fixture):
    def test_loopback_denied_by_default_and_lifted_by_allow(self):
        with self.registry() as reg:
            with self.resolver(reg, allow=()) as r:
                with self.assertRaises(xsvc.PolicyError) as cm:
                    r.resolve("web", "ipv4")
                self.assertIn("127.0.0.0/8 (loopback)", str(cm.exception))
            with self.resolver(reg) as r:
                self.assertEqual(r.resolve("web", "ipv4").addresses[0].address, "127.0.0.2")
            with self.resolver(reg, allow=LOOPBACK, deny=["127.0.0.2"]) as r:
                with self.assertRaises(xsvc.PolicyError) as cm:
                    r.resolve("web", "ipv4")
                self.assertIn("127.0.0.2/32", str(cm.exception))
            with self.resolver(reg, allow=(), default_denied=False) as r:
                self.assertEqual(r.resolve("web", "ipv4").addresses[0].address, "127.0.0.2")

    def test_allowed_targets_refuse_other_aliases(self):
        with self.registry() as reg:
            with self.resolver(reg, allowed_targets=["elsewhere.test"]) as r:
                with self.assertRaises(xsvc.PolicyError) as cm:
                    r.resolve("alias", "ipv4")
                self.assertIn("not below an allowed suffix (elsewhere.test)",
                              str(cm.exception))

    def test_bad_policy_arguments(self):
        with self.assertRaises(xsvc.InvalidArgument):
            xsvc.Resolver(deny=["10.0.0.0/33"])
        with self.assertRaises(xsvc.InvalidArgument):
            xsvc.Resolver(allowed_targets=["bad name"])
        with self.assertRaises(TypeError):
            xsvc.Resolver(allow="127.0.0.0/8")


if __name__ == "__main__":
    unittest.main(verbosity=2)
