"""xsvc serve against real clients: kdig (Debian knot-dnsutils) over UDP and
TCP for the server rows of K8S-DNS.md section 6 (the fixture registry of
tests/cli/data/valid plus the aliases whose targets Knot DNS serves: Knot is
the upstream, started on a loopback port by this test), truncation with
many endpoints, and malformed packets sent from here.

usage: test_serve.py BUILD_DIR
"""
import os
import re
import shutil
import signal
import socket
import struct
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
T = 5  # the synthesized TTL

EXTRA = """\
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: fq-alias, namespace: prod},
   spec: {type: ExternalName, externalName: my.database.example.com.}}
- {apiVersion: v1, kind: Service, metadata: {name: v4only, namespace: prod},
   spec: {type: ExternalName, externalName: v4only.example.com}}
- {apiVersion: v1, kind: Service, metadata: {name: broken, namespace: prod},
   spec: {type: ExternalName, externalName: nx.example.com}}
- {apiVersion: v1, kind: Service, metadata: {name: chain, namespace: prod},
   spec: {type: ExternalName, externalName: my-service.prod.svc.cluster.local}}
- {apiVersion: v1, kind: Service, metadata: {name: self, namespace: prod},
   spec: {type: ExternalName, externalName: self.prod.svc.cluster.local}}
- {apiVersion: v1, kind: Service, metadata: {name: ip-like, namespace: prod},
   spec: {type: ExternalName, externalName: 10.1.2.3}}
- {apiVersion: v1, kind: Service, metadata: {name: hdls-empty, namespace: prod},
   spec: {clusterIP: None, ports: [{name: http, port: 80}]}}
- {apiVersion: v1, kind: Service, metadata: {name: many, namespace: prod},
   spec: {clusterIP: None, ports: [{name: http, port: 80}]}}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: many-1
    namespace: prod
    labels: {kubernetes.io/service-name: many}
  addressType: IPv4
  ports: [{name: http, port: 80}]
  endpoints:
%s
""" % "\n".join("  - addresses: [\"10.2.%d.%d\"]" % (i // 200, i % 200 + 1) for i in range(100))


def setUpModule():
    global KNOT, MDIR, SERVE, PORT
    KNOT = KnotServer()
    MDIR = tempfile.mkdtemp(prefix="xsvc-serve-")
    shutil.copy(os.path.join(ROOT, "tests", "cli", "data", "valid", "cluster.yaml"), MDIR)
    with open(os.path.join(MDIR, "extra.yaml"), "w") as f:
        f.write(EXTRA)
    for name in os.listdir(MDIR):
        os.chmod(os.path.join(MDIR, name), 0o644)
    SERVE, PORT = start_serve()


def start_serve(*extra):
    """xsvc serve on a free port with the fixture and Knot upstream; returns
    (process, port)."""
    proc = subprocess.Popen(
        [XSVC, "serve", "-f", MDIR, "--listen", "127.0.0.1:0",
         "--upstream", "127.0.0.1:%d" % KNOT.port, "--timeout", "60000", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)$", line.strip())
    if not m:
        proc.kill()
        raise RuntimeError("xsvc serve did not start: %r" % line)
    return proc, int(m.group(1))


def stop_serve(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def tearDownModule():
    try:
        stop_serve(SERVE)
    finally:
        KNOT.stop()
        shutil.rmtree(MDIR, ignore_errors=True)


def kdig(name, qtype, *opts, port=None, server="127.0.0.1"):
    """(status, flags, {section: [normalised records]}) from kdig."""
    # waits for the answer, however busy the machine (a minute: a hang)
    p = subprocess.run(["kdig", "@" + server, "-p", str(port or PORT), "+timeout=60",
                        "+retry=0", *opts, name, qtype],
                       capture_output=True, text=True, timeout=120)
    status = re.search(r"status: (\w+)", p.stdout)
    flags = re.search(r";; Flags: ([a-z ]*);", p.stdout)
    sections, cur = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}, None
    for line in p.stdout.splitlines():
        m = re.match(r";; (\w+) SECTION:", line)
        if m:
            cur = m.group(1)
            continue
        if not line.strip() or line.startswith(";"):
            if not line.strip():
                cur = None if cur != "QUESTION" else None
            continue
        if cur in sections:
            sections[cur].append(" ".join(line.split()))
    return (status.group(1) if status else None,
            flags.group(1).split() if flags else [], sections)


def soa(zone="cluster.local.", ttl=T):
    return re.compile(r"^%s %d IN SOA ns\.dns\.%s hostmaster\.%s \d+ 7200 1800 86400 %d$"
                      % (re.escape(zone), ttl, re.escape(zone), re.escape(zone), ttl))


SVC = ".prod.svc.cluster.local."
CN = lambda owner, target, ttl=T: "%s %d IN CNAME %s" % (owner, ttl, target)
A = lambda owner, addr, ttl=T: "%s %d IN A %s" % (owner, ttl, addr)
AAAA = lambda owner, addr, ttl=T: "%s %d IN AAAA %s" % (owner, ttl, addr)

# (row, name, type, status, answer records, negative SOA expected)
ROWS = [
    (1, "my-service" + SVC, "CNAME", "NOERROR", [CN("my-service" + SVC, "my.database.example.com.")], False),
    (2, "my-service" + SVC, "A", "NOERROR", [CN("my-service" + SVC, "my.database.example.com."),
                                            A("my.database.example.com.", "192.0.2.10", 300)], False),
    (3, "my-service" + SVC, "AAAA", "NOERROR", [CN("my-service" + SVC, "my.database.example.com."),
                                               AAAA("my.database.example.com.", "2001:db8::10", 300)], False),
    (5, "fq-alias" + SVC, "CNAME", "NOERROR", [CN("fq-alias" + SVC, "my.database.example.com.")], False),
    (7, "v4only" + SVC, "AAAA", "NOERROR", [CN("v4only" + SVC, "v4only.example.com.")], False),
    (8, "v4only" + SVC, "A", "NOERROR", [CN("v4only" + SVC, "v4only.example.com."),
                                        A("v4only.example.com.", "192.0.2.20", 60)], False),
    (9, "broken" + SVC, "A", "NOERROR", [CN("broken" + SVC, "nx.example.com.")], False),
    (10, "to-internal" + SVC, "A", "NOERROR", [CN("to-internal" + SVC, "backend" + SVC),
                                              A("backend" + SVC, "10.96.0.20")], False),
    (11, "to-internal" + SVC, "AAAA", "NOERROR", [], True),
    (12, "to-missing" + SVC, "A", "NOERROR", [], True),
    (13, "to-missing" + SVC, "CNAME", "NOERROR", [CN("to-missing" + SVC, "nothere" + SVC)], False),
    (14, "chain" + SVC, "A", "NOERROR", [CN("chain" + SVC, "my-service" + SVC),
                                        CN("my-service" + SVC, "my.database.example.com."),
                                        A("my.database.example.com.", "192.0.2.10", 300)], False),
    (15, "ip-like" + SVC, "A", "NXDOMAIN", [], True),
    (16, "ip-like" + SVC, "CNAME", "NXDOMAIN", [], True),
    (17, "ip-like" + SVC, "AAAA", "NXDOMAIN", [], True),
    (18, "self" + SVC, "A", "NOERROR", [], True),
    (19, "loop-a" + SVC, "A", "NOERROR", [], True),
    (20, "loop-a" + SVC, "CNAME", "NOERROR", [CN("loop-a" + SVC, "loop-b" + SVC)], False),
    (21, "my-service" + SVC, "SRV", "NOERROR", [], True),
    (22, "_pg._tcp.my-service" + SVC, "SRV", "NXDOMAIN", [], True),
    (23, "_pg._tcp.my-service" + SVC, "A", "NXDOMAIN", [], True),
    (24, "endpoint.my-service" + SVC, "CNAME", "NXDOMAIN", [], True),
    (25, "a.b.my-service" + SVC, "CNAME", "NXDOMAIN", [], True),
    (26, "my-service" + SVC, "TXT", "NOERROR", [], True),
    (27, "my-service" + SVC, "MX", "NOERROR", [], True),
    (28, "my-service" + SVC, "TYPE65", "NOERROR", [], True),
    (29, "my-service" + SVC, "SOA", "NOERROR", [], True),
    (30, "3.2.1.10.in-addr.arpa.", "PTR", "NXDOMAIN", [], None),
    (31, "nope" + SVC, "A", "NXDOMAIN", [], True),
    (32, "my-service.nons.svc.cluster.local.", "A", "NXDOMAIN", [], True),
    (33, "prod.svc.cluster.local.", "A", "NOERROR", [], True),
    (34, "svc.cluster.local.", "A", "NOERROR", [], True),
    (35, "foo.cluster.local.", "A", "NXDOMAIN", [], True),
    (36, "*" + SVC, "A", "NXDOMAIN", [], True),
    (37, "dns-version.cluster.local.", "TXT", "NOERROR",
     ['dns-version.cluster.local. 28800 IN TXT "1.1.0"'], False),
    (38, "backend" + SVC, "A", "NOERROR", [A("backend" + SVC, "10.96.0.20")], False),
    (39, "backend" + SVC, "AAAA", "NOERROR", [], True),
    (41, "20.0.96.10.in-addr.arpa.", "PTR", "NOERROR",
     ["20.0.96.10.in-addr.arpa. %d IN PTR backend%s" % (T, SVC)], False),
    (42, "hdls" + SVC, "A", "NOERROR", [A("hdls" + SVC, "10.1.0.1"), A("hdls" + SVC, "10.1.0.2")], False),
    (43, "pet-0.hdls" + SVC, "A", "NOERROR", [A("pet-0.hdls" + SVC, "10.1.0.1")], False),
    (44, "hdls-empty" + SVC, "A", "NXDOMAIN", [], True),
]


def same_records(testcase, got, want):
    """got == want, but a record fetched from upstream (its TTL not the
    synthesized T) may have aged a few seconds in the resolver's cache."""
    testcase.assertEqual(len(got), len(want), (got, want))
    for g, w in zip(got, want):
        gf, wf = g.split(" ", 2), w.split(" ", 2)
        if wf[1].isdigit() and int(wf[1]) != T and gf[1].isdigit() and gf[0] == wf[0] \
                and gf[2] == wf[2] and int(wf[1]) - 10 <= int(gf[1]) <= int(wf[1]):
            continue
        testcase.assertEqual(g, w, (got, want))


class ConformanceTests(unittest.TestCase):
    def check_rows(self, *opts):
        for row, name, qtype, status, answer, negative in ROWS:
            with self.subTest(row=row, transport=opts or "udp"):
                st, flags, sec = kdig(name, qtype, *opts)
                self.assertEqual(st, status)
                self.assertIn("aa", flags)
                same_records(self, sec["ANSWER"], answer)
                if negative is None:  # a reverse zone's SOA
                    self.assertEqual(len(sec["AUTHORITY"]), 1, sec)
                    self.assertIn(" IN SOA ", sec["AUTHORITY"][0])
                elif negative:
                    self.assertEqual(len(sec["AUTHORITY"]), 1, sec)
                    self.assertRegex(sec["AUTHORITY"][0], soa())
                else:
                    self.assertEqual(sec["AUTHORITY"], [])

    def test_rows_over_udp(self):
        self.check_rows()

    def test_rows_over_tcp(self):
        self.check_rows("+tcp")

    def test_case_kept(self):  # row 6 (kdig lowercases names: a raw query)
        name = qname(b"My-Service", b"PROD", b"svc", b"Cluster", b"Local")
        reply = raw(header() + name + b"\0\5\0\1")
        self.assertIsNotNone(reply)
        self.assertEqual(reply[3] & 0x0F, 0)
        self.assertEqual(struct.unpack(">H", reply[6:8])[0], 1)  # one answer
        answer = reply[12 + len(name) + 4:]
        # its owner: the question's name as spelled, by pointer or in full
        self.assertTrue(answer.startswith(b"\xc0\x0c") or answer.startswith(name))
        self.assertEqual(reply[12:12 + len(name)], name)
        self.assertTrue(answer.endswith(qname(b"my", b"database", b"example", b"com")))

    def test_srv_with_additional(self):  # row 40
        st, _, sec = kdig("_http._tcp.backend" + SVC, "SRV")
        self.assertEqual(st, "NOERROR")
        self.assertEqual(sec["ANSWER"], ["_http._tcp.backend%s %d IN SRV 0 100 80 backend%s"
                                         % (SVC, T, SVC)])
        self.assertEqual(sec["ADDITIONAL"], [A("backend" + SVC, "10.96.0.20")])

    def test_outside_the_zone_forwarded_with_ra(self):
        st, flags, sec = kdig("v4only.example.com.", "A")
        self.assertEqual(st, "NOERROR")
        self.assertIn("ra", flags)
        self.assertNotIn("aa", flags)
        same_records(self, sec["ANSWER"], [A("v4only.example.com.", "192.0.2.20", 60)])

    def test_other_types_forwarded_as_they_are(self):
        st, flags, sec = kdig("example.com.", "MX")
        self.assertEqual(st, "NOERROR")
        self.assertIn("ra", flags)
        self.assertEqual(sec["ANSWER"], ["example.com. 300 IN MX 10 mail.example.com."])
        st, _, sec = kdig("info.example.com.", "TXT", "+tcp")
        self.assertEqual(sec["ANSWER"], ['info.example.com. 120 IN TXT "forwarded as it is"'])
        st, _, sec = kdig("nothere.example.com.", "TXT")  # the upstream's NXDOMAIN and SOA
        self.assertEqual(st, "NXDOMAIN")
        self.assertRegex(sec["AUTHORITY"][0], r"^example\.com\. \d+ IN SOA ns\.example\.com\. ")
        # over 512 octets: TC without EDNS0, whole with EDNS0 or over TCP
        st, flags, sec = kdig("bigtxt.example.com.", "TXT", "+noedns", "+ignore")
        self.assertIn("tc", flags)
        self.assertEqual(sec["ANSWER"], [])
        for opts in (("+bufsize=4096",), ("+tcp",)):
            st, flags, sec = kdig("bigtxt.example.com.", "TXT", *opts)
            self.assertNotIn("tc", flags)
            self.assertEqual(len(sec["ANSWER"]), 10, opts)
        st, _, _ = kdig("example.com.", "AXFR", "+tcp")  # no zone transfers
        self.assertNotEqual(st, "NOERROR")


class OptionTests(unittest.TestCase):
    """Rows that need another server configuration: --ttl (58), --strict
    (the R column of rows 9, 12 and 11)."""

    def test_ttl_30(self):  # row 58
        proc, port = start_serve("--ttl", "30")
        try:
            st, _, sec = kdig("my-service" + SVC, "CNAME", port=port)
            self.assertEqual(sec["ANSWER"], [CN("my-service" + SVC, "my.database.example.com.", 30)])
            st, _, sec = kdig("nope" + SVC, "A", port=port)
            self.assertEqual(st, "NXDOMAIN")
            self.assertRegex(sec["AUTHORITY"][0], soa(ttl=30))
        finally:
            self.assertEqual(stop_serve(proc), 0)

    def test_ttl_600(self):  # row 59: the negative SOA's TTL is capped at 300
        proc, port = start_serve("--ttl", "600")
        try:
            for tcp in ((), ("+tcp",)):
                st, _, sec = kdig("nope" + SVC, "A", *tcp, port=port)
                self.assertEqual(st, "NXDOMAIN")
                self.assertRegex(sec["AUTHORITY"][0],
                                 r"^cluster\.local\. 300 IN SOA ns\.dns\.cluster\.local\. "
                                 r"hostmaster\.cluster\.local\. \d+ 7200 1800 86400 600$")
        finally:
            self.assertEqual(stop_serve(proc), 0)

    def test_ttl_30_cache_30(self):  # row 4: kubeadm's `ttl 30` + `cache 30`
        proc, port = start_serve("--ttl", "30", "--cache", "30")
        try:
            for _ in range(2):  # fetched, then from the reply cache
                st, _, sec = kdig("my-service" + SVC, "A", port=port)
                self.assertEqual(st, "NOERROR")
                self.assertEqual(sec["ANSWER"], [
                    CN("my-service" + SVC, "my.database.example.com.", 30),
                    A("my.database.example.com.", "192.0.2.10", 30)])
        finally:
            self.assertEqual(stop_serve(proc), 0)
        proc, port = start_serve("--cache", "30")  # the default ttl 5: both 5
        try:
            st, _, sec = kdig("my-service" + SVC, "AAAA", port=port)
            self.assertEqual(sec["ANSWER"], [
                CN("my-service" + SVC, "my.database.example.com.", 5),
                AAAA("my.database.example.com.", "2001:db8::10", 5)])
            st, _, sec = kdig("v4only.example.com.", "A", port=port)  # forwarded: 60 -> 30
            self.assertEqual(sec["ANSWER"], [A("v4only.example.com.", "192.0.2.20", 30)])
        finally:
            self.assertEqual(stop_serve(proc), 0)

    def test_fallthrough(self):  # row 57: NXDOMAIN passed on, NODATA not
        updir = tempfile.mkdtemp(prefix="xsvc-upstream-")
        try:
            path = os.path.join(updir, "up.yaml")
            with open(path, "w") as f:
                f.write("apiVersion: v1\nkind: Service\nmetadata: {name: nope, namespace: prod}\n"
                        "spec: {clusterIP: 10.96.0.99, ports: [{port: 80}]}\n")
            os.chmod(path, 0o644)
            up = subprocess.Popen([XSVC, "serve", "-f", updir, "--listen", "127.0.0.1:0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                m = re.match(r"listening on (127\.0\.0\.1:\d+)$", up.stdout.readline().strip())
                self.assertTrue(m)
                proc = subprocess.Popen(
                    [XSVC, "serve", "-f", MDIR, "--listen", "127.0.0.1:0",
                     "--upstream", m.group(1), "--fallthrough", "all"],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                try:
                    port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
                    for tcp in ((), ("+tcp",)):
                        st, flags, sec = kdig("nope" + SVC, "A", *tcp, port=port)
                        self.assertEqual(st, "NOERROR")
                        self.assertIn("ra", flags)
                        self.assertEqual(sec["ANSWER"], [A("nope" + SVC, "10.96.0.99")])
                    st, flags, sec = kdig("prod.svc.cluster.local.", "A", port=port)
                    self.assertEqual(st, "NOERROR")  # NODATA: ours, not passed on
                    self.assertIn("aa", flags)
                    self.assertEqual(sec["ANSWER"], [])
                finally:
                    self.assertEqual(stop_serve(proc), 0)
            finally:
                stop_serve(up)
        finally:
            shutil.rmtree(updir, ignore_errors=True)

    def test_listen_on_two_addresses(self):
        proc = subprocess.Popen(
            [XSVC, "serve", "-f", MDIR, "--listen", "127.0.0.1:0", "--listen", "[::1]:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            v4 = re.match(r"listening on 127\.0\.0\.1:(\d+)$", proc.stdout.readline().strip())
            v6 = re.match(r"listening on \[::1\]:(\d+)$", proc.stdout.readline().strip())
            self.assertTrue(v4 and v6)
            for server, m in (("127.0.0.1", v4), ("::1", v6)):
                st, _, sec = kdig("backend" + SVC, "A", port=int(m.group(1)), server=server)
                self.assertEqual(sec["ANSWER"], [A("backend" + SVC, "10.96.0.20")])
        finally:
            self.assertEqual(stop_serve(proc), 0)

    def test_strict(self):
        proc, port = start_serve("--strict")
        try:
            st, _, sec = kdig("broken" + SVC, "A", port=port)  # row 9 R
            self.assertEqual(st, "NXDOMAIN")
            self.assertEqual(sec["ANSWER"], [CN("broken" + SVC, "nx.example.com.")])
            st, _, sec = kdig("to-missing" + SVC, "A", port=port)  # row 12 R
            self.assertEqual(st, "NXDOMAIN")
            self.assertEqual(sec["ANSWER"], [CN("to-missing" + SVC, "nothere" + SVC)])
            st, _, sec = kdig("to-internal" + SVC, "AAAA", port=port)  # row 11 R
            self.assertEqual(st, "NOERROR")
            self.assertEqual(sec["ANSWER"], [CN("to-internal" + SVC, "backend" + SVC)])
            self.assertEqual(len(sec["AUTHORITY"]), 1)
        finally:
            self.assertEqual(stop_serve(proc), 0)


class ReloadTests(unittest.TestCase):
    def reload(self):
        SERVE.send_signal(signal.SIGHUP)
        return SERVE.stdout.readline().strip()

    def test_sighup_reloads_and_a_failed_load_keeps_the_old(self):
        path = os.path.join(MDIR, "zz-reload.yaml")
        with open(path, "w") as f:
            f.write("apiVersion: v1\nkind: Service\nmetadata: {name: added, namespace: prod}\n"
                    "spec: {clusterIP: 10.96.0.99, ports: [{name: http, port: 80}]}\n")
        os.chmod(path, 0o644)
        try:
            self.assertEqual(kdig("added" + SVC, "A")[0], "NXDOMAIN")
            self.assertRegex(self.reload(), r"^reloaded: \d+ service\(s\)$")
            self.assertEqual(kdig("added" + SVC, "A")[2]["ANSWER"],
                             [A("added" + SVC, "10.96.0.99")])
            with open(path, "w") as f:
                f.write("apiVersion: v1\nkind: Service\nmetadata: {name: Bad}\n")
            self.assertRegex(self.reload(), r"^reload failed \(\d+ error\(s\)\): still serving the previous")
            self.assertEqual(kdig("added" + SVC, "A")[2]["ANSWER"],
                             [A("added" + SVC, "10.96.0.99")])
        finally:
            os.unlink(path)
            self.assertRegex(self.reload(), r"^reloaded")
        self.assertEqual(kdig("added" + SVC, "A")[0], "NXDOMAIN")


class TruncationTests(unittest.TestCase):
    def test_many_endpoints_truncate_over_udp_and_come_whole_over_tcp(self):
        st, flags, sec = kdig("many" + SVC, "A", "+ignore", "+bufsize=0", "+noedns")
        self.assertEqual(st, "NOERROR")
        self.assertIn("tc", flags)
        self.assertEqual(sec["ANSWER"], [])
        st, flags, sec = kdig("many" + SVC, "A")  # kdig retries over TCP
        self.assertNotIn("tc", flags)
        self.assertEqual(len(sec["ANSWER"]), 100)
        st, flags, sec = kdig("many" + SVC, "A", "+tcp")
        self.assertEqual(len(sec["ANSWER"]), 100)
        self.assertIn(A("many" + SVC, "10.2.0.1"), sec["ANSWER"])


def raw(packet, timeout=60):
    """The reply to packet (waited for up to a minute: a hang)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(packet, ("127.0.0.1", PORT))
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def ignored(packet):
    """True if the server drops packet. Not by waiting a while: a good query
    follows it on the same socket, and the server reads datagrams in order,
    so the first reply is to the good query unless packet got one."""
    probe = header(ident=0x7777) + qname(b"kubernetes", b"default", b"svc",
                                         b"cluster", b"local") + b"\0\1\0\1"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(60)
    try:
        s.sendto(packet, ("127.0.0.1", PORT))
        s.sendto(probe, ("127.0.0.1", PORT))
        return s.recv(65535)[:2] == b"\x77\x77"
    finally:
        s.close()


def header(qd=1, flags=0x0100, an=0, ns=0, ar=0, ident=0x1234):
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


def qname(*labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


class MalformedTests(unittest.TestCase):
    def rcode(self, packet):
        reply = raw(packet)
        self.assertIsNotNone(reply, "no reply")
        self.assertEqual(reply[:2], packet[:2])  # same id
        self.assertTrue(reply[2] & 0x80)  # a response
        return reply[3] & 0x0F

    def test_short_header_dropped(self):
        self.assertTrue(ignored(b"\x12\x34\x01"))

    def test_responses_dropped(self):
        self.assertTrue(ignored(header(flags=0x8100) + qname(b"a") + b"\0\1\0\1"))

    def test_qdcount_0_and_2_formerr(self):
        self.assertEqual(self.rcode(header(qd=0)), 1)
        q = qname(b"a") + b"\0\1\0\1"
        self.assertEqual(self.rcode(header(qd=2) + q + q), 1)

    def test_label_over_63_formerr(self):
        self.assertEqual(self.rcode(header() + qname(b"a" * 64) + b"\0\1\0\1"), 1)

    def test_name_over_255_formerr(self):
        self.assertEqual(self.rcode(header() + qname(*[b"a" * 63] * 5) + b"\0\1\0\1"), 1)

    def test_compression_loop_formerr(self):
        self.assertEqual(self.rcode(header() + b"\xc0\x0c\0\1\0\1"), 1)

    def test_truncated_question_formerr(self):
        self.assertEqual(self.rcode(header() + qname(b"abc")[:3]), 1)

    def test_other_opcode_notimp(self):
        self.assertEqual(self.rcode(header(flags=0x1000) + qname(b"a") + b"\0\1\0\1"), 4)

    def test_server_still_answers(self):
        st, _, sec = kdig("backend" + SVC, "A")
        self.assertEqual(sec["ANSWER"], [A("backend" + SVC, "10.96.0.20")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
