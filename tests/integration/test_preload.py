"""libxsvc-preload.so under real, unmodified programs: getent, curl and
Python's socket module resolve cluster names from manifests and reach HTTP
servers on loopback through them. Outside AliasTargetTests only names the
shim answers, or that /etc/hosts holds (localhost), are asked: nothing goes
to a DNS server. AliasTargetTests hand alias targets to glibc's DNS inside
a network namespace of their own (see in_netns), and skip visibly where
unshare is not permitted.

usage: test_preload.py BUILD_DIR
"""
import http.server
import json
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
    for ip in ("127.0.0.2",):
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


# The services here live on loopback, which the policy denies by default:
# every run opts in with XSVC_ALLOW unless the test says otherwise (None
# removes a variable).
OPT_IN = {"XSVC_ALLOW": "127.0.0.0/8"}


def environment(env, **base):
    e = dict(os.environ, LD_PRELOAD=SHIM, **base)
    for k in ("XSVC_QUIET", "XSVC_DENY", "XSVC_ALLOW", "LOCALDOMAIN", "RES_OPTIONS"):
        e.pop(k, None)
    for k, v in dict(OPT_IN, **(env or {})).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def run(*args, env=None, ns="prod"):
    e = environment(env, XSVC_MANIFESTS=MDIR, XSVC_NAMESPACE=ns)
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

    def test_cluster_ip_denied_by_policy_is_not_found(self):
        p = run("getent", "hosts", "web", env={"XSVC_DENY": "127.0.0.2/32"})
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertIn("xsvc-preload: web: address 127.0.0.2 is in denied range "
                      "127.0.0.2/32", p.stderr)
        # without the opt-in, loopback is denied by default
        p = run(sys.executable, "-c", PY_LOOKUPS, "web", env={"XSVC_ALLOW": None})
        self.assertEqual(p.stdout.splitlines(), ["gaierror True", "gaierror True"])
        self.assertIn("xsvc-preload: web: address 127.0.0.2 is in denied range "
                      "127.0.0.0/8 (loopback)", p.stderr)

    def test_allow_knob_lifts_a_default_denial(self):
        p = run("getent", "hosts", "web", env={"XSVC_ALLOW": None})
        self.assertEqual(p.returncode, 2, p.stdout)
        p = run("getent", "hosts", "web", env={"XSVC_ALLOW": "127.0.0.2"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split()[0], "127.0.0.2")
        p = run("getent", "hosts", "web", env={"XSVC_ALLOW": "::1, 127.0.0.0/8"})
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run("getent", "hosts", "web", env={"XSVC_ALLOW": "127.0.0.0/33"})
        self.assertEqual(p.returncode, 2)
        self.assertIn("xsvc-preload: invalid address range in XSVC_ALLOW: 127.0.0.0/33",
                      p.stderr)

    def test_bad_policy_range_reports_and_passes_through(self):
        p = run("getent", "hosts", "localhost", env={"XSVC_DENY": "10.0.0.0/8,not-a-range"})
        self.assertEqual(p.returncode, 0)
        self.assertIn("localhost", p.stdout)
        self.assertIn("xsvc-preload: invalid address range in XSVC_DENY: not-a-range",
                      p.stderr)
        p = run("getent", "hosts", "web", env={"XSVC_DENY": "not-a-range"})
        self.assertEqual(p.returncode, 2)  # cluster names are not resolved

    def test_environment_read_with_secure_getenv(self):
        # a set-user-ID program (the shim in /etc/ld.so.preload) must not
        # take XSVC_MANIFESTS or XSVC_ALLOW from whoever started it
        if shutil.which("nm") is None:
            self.skipTest("nm not installed")
        p = subprocess.run(["nm", "-D", "--undefined-only", SHIM], capture_output=True,
                           text=True, check=True)
        imported = {l.split()[-1].split("@")[0] for l in p.stdout.splitlines() if l.strip()}
        self.assertIn("secure_getenv", imported)
        self.assertNotIn("getenv", imported)

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


# Alias targets go to glibc, which asks DNS: these tests run in a fresh
# network namespace (only lo) with a private resolv.conf pointing at a
# DnsStub on 127.0.0.1:53 (netns_child.py), so no question leaves the
# machine and the real /etc/resolv.conf is never touched.
RESOLV_CONF = "nameserver 127.0.0.1\nsearch evil.test\noptions ndots:5 timeout:2 attempts:2\n"
DNS = {
    "good.example.com": ["127.0.0.10"],
    # what a search domain an attacker controls would answer
    "good.example.com.evil.test": ["127.0.0.66"],
    "mixed.example.com": ["127.0.0.5", "127.0.0.6"],
    "mixed.example.com.evil.test": ["127.0.0.66"],
    "denied.example.com": ["127.0.0.5"],
}
ALIASES = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: good, namespace: prod}
  spec: {type: ExternalName, externalName: good.example.com}
- apiVersion: v1
  kind: Service
  metadata: {name: mixed, namespace: prod}
  spec: {type: ExternalName, externalName: mixed.example.com}
- apiVersion: v1
  kind: Service
  metadata: {name: denied, namespace: prod}
  spec: {type: ExternalName, externalName: denied.example.com}
"""

_NETNS = None


def netns_problem():
    """Why the namespace tests cannot run here, or None."""
    global _NETNS
    if _NETNS is None:
        missing = [t for t in ("unshare", "ip", "mount") if shutil.which(t) is None]
        if missing:
            _NETNS = "missing " + ", ".join(missing)
        else:
            p = subprocess.run(["unshare", "-n", "--mount", "true"],
                               capture_output=True, text=True, timeout=30)
            _NETNS = "" if p.returncode == 0 else \
                "unshare -n --mount not permitted: " + p.stderr.strip()
    return _NETNS or None


def in_netns(runs, http=()):
    """Run [(args, env), ...] in the namespace (HTTP servers on the
    addresses in http, "{port}" in args their port); (runs, asked)."""
    mdir = tempfile.mkdtemp(prefix="xsvc-preload-ns-")
    path = None
    try:
        with open(os.path.join(mdir, "aliases.yaml"), "w") as f:
            f.write(ALIASES)
        os.chmod(os.path.join(mdir, "aliases.yaml"), 0o644)
        os.chmod(mdir, 0o755)
        spec = {"resolv_conf": RESOLV_CONF, "dns": DNS, "http": list(http), "runs": []}
        for args, env in runs:
            e = environment(env, XSVC_MANIFESTS=mdir, XSVC_NAMESPACE="prod")
            spec["runs"].append({"args": list(args), "env": e})
        with tempfile.NamedTemporaryFile("w", prefix="xsvc-spec-", suffix=".json",
                                         delete=False) as f:
            json.dump(spec, f)
            path = f.name
        p = subprocess.run(["unshare", "-n", "--mount", sys.executable,
                            os.path.join(HERE, "netns_child.py"), path],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise AssertionError("netns_child.py failed: " + p.stderr)
        out = json.loads(p.stdout)
        return out["runs"], [tuple(a) for a in out["asked"]]
    finally:
        shutil.rmtree(mdir, ignore_errors=True)
        if path is not None:
            os.unlink(path)


PY_LOOKUPS = r"""
import socket, sys
name = sys.argv[1]
try:
    print(sorted({a[4][0] for a in socket.getaddrinfo(name, 80, socket.AF_INET,
                                                      socket.SOCK_STREAM)}))
except socket.gaierror as e:
    print("gaierror", e.errno == socket.EAI_NONAME)
try:
    print(sorted(socket.gethostbyname_ex(name)[2]))
except socket.herror as e:
    print("herror", e.errno)
except socket.gaierror as e:
    print("gaierror", e.errno == socket.EAI_NONAME)
"""


class AliasTargetTests(unittest.TestCase):
    """An alias's target is looked up as an absolute name, and the
    address policy applies to what libc returns."""

    def setUp(self):
        why = netns_problem()
        if why:
            self.skipTest(why)

    def test_alias_target_is_not_expanded_through_the_search_list(self):
        runs, asked = in_netns([
            (["getent", "hosts", "good"], {}),
            (["getent", "ahostsv4", "good"], {}),
            ([sys.executable, "-c", PY_LOOKUPS, "good"], {}),
        ])
        for r in runs:
            self.assertEqual(r["rc"], 0, r["stderr"])
        self.assertEqual(runs[0]["stdout"].split()[0], "127.0.0.10")
        self.assertEqual({l.split()[0] for l in runs[1]["stdout"].splitlines()},
                         {"127.0.0.10"})
        self.assertEqual(runs[2]["stdout"].splitlines(),
                         ["['127.0.0.10']", "['127.0.0.10']"])
        self.assertNotIn("good.example.com.evil.test", {n for n, _ in asked})
        self.assertIn(("good.example.com", "A"), asked)

    def test_alias_loopback_denied_by_default(self):
        runs, asked = in_netns([
            (["getent", "ahostsv4", "good"], {"XSVC_ALLOW": None}),
        ])
        self.assertEqual(runs[0]["rc"], 2, runs[0]["stdout"])
        self.assertIn("xsvc-preload: good: address 127.0.0.10 is in denied range "
                      "127.0.0.0/8 (loopback)", runs[0]["stderr"])
        self.assertIn(("good.example.com", "A"), asked)

    def test_alias_denied_addresses_left_out(self):
        # the denied /32 is more specific than the 127.0.0.0/8 opt-in
        env = {"XSVC_DENY": "127.0.0.5/32"}
        runs, _ = in_netns([
            (["getent", "ahostsv4", "mixed"], env),
            (["getent", "hosts", "mixed"], env),
            ([sys.executable, "-c", PY_LOOKUPS, "mixed"], env),
            (["getent", "ahostsv4", "mixed"], {}),
        ])
        for r in runs:
            self.assertEqual(r["rc"], 0, r["stderr"])
        self.assertEqual({l.split()[0] for l in runs[0]["stdout"].splitlines()},
                         {"127.0.0.6"})
        self.assertEqual(runs[1]["stdout"].split()[0], "127.0.0.6")
        self.assertEqual(runs[2]["stdout"].splitlines(),
                         ["['127.0.0.6']", "['127.0.0.6']"])
        # without XSVC_DENY both stay
        self.assertEqual({l.split()[0] for l in runs[3]["stdout"].splitlines()},
                         {"127.0.0.5", "127.0.0.6"})

    def test_alias_every_address_denied_is_not_found(self):
        env = {"XSVC_DENY": "127.0.0.5/32"}
        runs, _ = in_netns([
            (["getent", "ahostsv4", "denied"], env),
            (["getent", "hosts", "denied"], env),
            ([sys.executable, "-c", PY_LOOKUPS, "denied"], env),
            (["getent", "hosts", "denied"], dict(env, XSVC_QUIET="1")),
        ])
        self.assertEqual(runs[0]["rc"], 2, runs[0]["stdout"])  # getent: not found
        self.assertEqual(runs[1]["rc"], 2, runs[1]["stdout"])
        self.assertEqual(runs[2]["stdout"].splitlines(),
                         ["gaierror True", "gaierror True"])  # EAI_NONAME
        self.assertIn("xsvc-preload: denied: address 127.0.0.5 is in denied "
                      "range 127.0.0.5/32", runs[0]["stderr"])
        self.assertEqual(runs[3]["stderr"], "")

    def test_curl_through_the_alias(self):
        runs, _ = in_netns([
            (["curl", "-sS", "-4", "--max-time", "10", "http://good:{port}/uuid"], {}),
        ], http=["127.0.0.10"])
        self.assertEqual(runs[0]["rc"], 0, runs[0]["stderr"])
        self.assertIn("served-by-127.0.0.10", runs[0]["stdout"])


class CurlTests(unittest.TestCase):
    def test_curl_reaches_the_service(self):
        p = run("curl", "-sS", "--max-time", "10", "http://web:%d/uuid" % port("127.0.0.2"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('"uuid": "served-by-127.0.0.2"', p.stdout)
        self.assertIn('"host": "web:%d"' % port("127.0.0.2"), p.stdout)



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
