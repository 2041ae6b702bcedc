"""End-to-end tests of the `xsvc` command: exit codes, exact diagnostics,
exact JSON answers.

Usage: test_cli.py --xsvc PATH [unittest arguments...]
       (or XSVC=PATH test_cli.py ...)

Every resolve runs against a "silent" upstream: a UDP socket this test binds
on 127.0.0.1 and never reads. In-cluster answers must not need it (a query
sent there would come back as a timeout), and the external-alias test uses it
to produce a real upstream timeout.
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
XSVC = os.environ.get("XSVC", "")

DNS1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or "
    "'-', start with an alphabetic character, and end with an alphanumeric "
    "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
    "'[a-z]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

SILENT = None  # the silent upstream socket, bound in setUpModule


def setUpModule():
    global SILENT
    SILENT = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    SILENT.bind(("127.0.0.1", 0))


def tearDownModule():
    SILENT.close()


def silent_server():
    return "127.0.0.1:%d" % SILENT.getsockname()[1]


def run(*args, timeout=30):
    """Run xsvc from this directory (so paths in diagnostics are the
    relative ones given) and return (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [XSVC, *args],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def upstream_args():
    return ["--server", silent_server(), "--timeout", "200", "--attempts", "1"]


def resolve_json(*args):
    """xsvc resolve --json against the fixture cluster; returns (rc, obj)."""
    rc, out, err = run(
        "resolve", "-f", "data/valid", *upstream_args(), "--json", *args
    )
    lines = out.splitlines()
    if len(lines) != 1:
        raise AssertionError("want one JSON line, got %r (stderr %r)" % (out, err))
    return rc, json.loads(lines[0]), err


def link(name, target, ttl=5, source="registry"):
    return {"name": name, "target": target, "ttl": ttl, "source": source}


def addr(address, family="ipv4", ttl=5, source="registry"):
    return {"address": address, "family": family, "ttl": ttl, "source": source}


class CheckTests(unittest.TestCase):
    def test_check_valid_directory_prints_summary_exit_0(self):
        rc, out, err = run("check", "-f", "data/valid")
        self.assertEqual(err, "")
        self.assertEqual(out, "ok: 8 services, 1 skipped object(s)\n")
        self.assertEqual(rc, 0)

    def test_check_several_files_counts_all(self):
        rc, out, err = run(
            "check", "-f", "data/valid/cluster.yaml", "--file", "data/valid/extra.yaml"
        )
        self.assertEqual((rc, out, err), (0, "ok: 8 services, 1 skipped object(s)\n", ""))

    def test_check_single_file_summary(self):
        rc, out, err = run("check", "-f", "data/valid/extra.yaml", "-n", "prod")
        self.assertEqual((rc, out, err), (0, "ok: 1 service, 0 skipped object(s)\n", ""))

    def test_check_invalid_names_prints_every_error_exit_2(self):
        rc, out, err = run("check", "-f", "data/invalid/bad-name.yaml")
        self.assertEqual(out, "")
        self.assertEqual(
            err.splitlines(),
            [
                'data/invalid/bad-name.yaml:4:9: error: metadata.name: '
                'Invalid value: "My-Service": ' + DNS1035,
                'data/invalid/bad-name.yaml:17:17: error: spec.externalName: '
                'Invalid value: "db_eu.example.com": ' + SUBDOMAIN,
                "xsvc: invalid: 2 error(s), 0 warning(s)",
            ],
        )
        self.assertEqual(rc, 2)

    def test_check_yaml_syntax_error_has_position_exit_2(self):
        rc, out, err = run("check", "-f", "data/invalid/syntax.yaml")
        self.assertEqual(out, "")
        self.assertEqual(
            err.splitlines(),
            [
                SYNTAX_ERROR_LINE,
                "xsvc: invalid: 1 error(s), 0 warning(s)",
            ],
        )
        self.assertEqual(rc, 2)

    def test_check_one_bad_file_fails_the_whole_load(self):
        rc, out, _ = run(
            "check", "-f", "data/valid", "-f", "data/invalid/bad-name.yaml"
        )
        self.assertEqual((rc, out), (2, ""))

    def test_check_missing_file_exit_2(self):
        rc, out, err = run("check", "-f", "data/no-such-file.yaml")
        self.assertEqual(out, "")
        self.assertEqual(
            err.splitlines(),
            [MISSING_FILE_LINE, "xsvc: invalid: 1 error(s), 0 warning(s)"],
        )
        self.assertEqual(rc, 2)

    def test_check_ip_like_external_name_warns_exit_0(self):
        rc, out, err = run("check", "-f", "data/warn/ip-like.yaml")
        self.assertEqual(err.splitlines(), [IP_LIKE_WARNING_LINE])
        self.assertEqual(out, "ok: 1 service, 0 skipped object(s), 1 warning(s)\n")
        self.assertEqual(rc, 0)


class UsageTests(unittest.TestCase):
    def assertUsage(self, args, first_line):
        rc, out, err = run(*args)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(lines[0], first_line)
        self.assertTrue(any(l.startswith("usage: xsvc") for l in lines), err)

    def test_no_arguments_usage_exit_2(self):
        rc, out, err = run()
        self.assertEqual((rc, out), (2, ""))
        self.assertEqual(err.splitlines()[0], "usage: xsvc COMMAND [OPTIONS]")

    def test_unknown_command_exit_2(self):
        self.assertUsage(["frobnicate"], "xsvc: unknown command 'frobnicate'")

    def test_unknown_top_level_flag_exit_2(self):
        self.assertUsage(["--frobnicate"], "xsvc: unknown option '--frobnicate'")

    def test_check_unknown_flag_exit_2(self):
        self.assertUsage(
            ["check", "--bogus", "-f", "data/valid"],
            "xsvc check: unrecognized option '--bogus'",
        )

    def test_check_without_file_exit_2(self):
        self.assertUsage(["check"], "xsvc: check: no manifest given (-f PATH)")

    def test_check_missing_option_argument_exit_2(self):
        self.assertUsage(
            ["check", "-f"], "xsvc check: option requires an argument -- 'f'"
        )

    def test_resolve_without_name_exit_2(self):
        self.assertUsage(["resolve", "--json"], "xsvc: resolve: no NAME given")

    def test_resolve_two_names_exit_2(self):
        self.assertUsage(
            ["resolve", "a", "b"], "xsvc: resolve: unexpected argument 'b'"
        )

    def test_resolve_bad_type_exit_2(self):
        self.assertUsage(
            ["resolve", "-t", "MX", "backend"],
            "xsvc: resolve: invalid type 'MX' (A, AAAA or ANY)",
        )

    def test_resolve_ttl_out_of_range_exit_2(self):
        self.assertUsage(
            ["resolve", "--ttl", "3601", "backend"],
            "xsvc: resolve: ttl must be in range [0, 3600]: 3601",
        )

    def test_serve_cache_out_of_range_exit_2(self):
        self.assertUsage(
            ["serve", "--cache", "0"],
            "xsvc: serve: cache TTL must be in range [1, 86400]: 0",
        )

    def test_resolve_bad_ndots_exit_2(self):
        self.assertUsage(
            ["resolve", "--ndots", "x", "backend"],
            "xsvc: resolve: invalid --ndots 'x' (0..15)",
        )

    def test_resolve_unknown_flag_exit_2(self):
        self.assertUsage(
            ["resolve", "--frob", "backend"],
            "xsvc resolve: unrecognized option '--frob'",
        )

    def test_resolve_bad_manifest_prints_like_check_exit_2(self):
        rc, out, err = run(
            "resolve", "-f", "data/invalid/bad-name.yaml", *upstream_args(),
            "--json", "backend",
        )
        self.assertEqual(out, "")
        self.assertEqual(
            err.splitlines(),
            [
                'data/invalid/bad-name.yaml:4:9: error: metadata.name: '
                'Invalid value: "My-Service": ' + DNS1035,
                'data/invalid/bad-name.yaml:17:17: error: spec.externalName: '
                'Invalid value: "db_eu.example.com": ' + SUBDOMAIN,
            ],
        )
        self.assertEqual(rc, 2)

    def test_help_and_version_exit_0(self):
        for args in (["help"], ["-h"], ["--help"]):
            rc, out, err = run(*args)
            self.assertEqual((rc, err), (0, ""))
            self.assertTrue(out.startswith("usage: xsvc COMMAND"), out)
        rc, out, err = run("help", "resolve")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("usage: xsvc resolve [OPTIONS] NAME\n"))
        rc, out, err = run("check", "--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("usage: xsvc check -f PATH"))
        rc, out, err = run("--version")
        self.assertEqual((rc, out, err), (0, "xsvc 0.1.0 (libxsvc 0.1.0)\n", ""))


class PolicyOptionTests(unittest.TestCase):
    """--deny, --allow and --allow-target on xsvc resolve."""

    def test_deny_refuses_a_range_exit_3(self):
        rc, obj, _ = resolve_json("-n", "prod", "--deny", "10.96.0.0/16", "backend")
        self.assertEqual((rc, obj["status"], obj["addresses"]), (3, "policy", []))
        self.assertEqual(obj["message"], "refused by policy")

    def test_allow_lifts_a_more_general_deny(self):
        rc, obj, _ = resolve_json("-n", "prod", "--deny", "10.0.0.0/8",
                                  "--allow", "10.96.0.20", "backend")
        self.assertEqual((rc, obj["status"]), (0, "ok"))

    def test_allow_target_refuses_an_in_cluster_alias_without_upstream(self):
        rc, obj, _ = resolve_json("-n", "prod", "--allow-target", "example.com",
                                  "to-internal")
        self.assertEqual((rc, obj["status"]), (3, "policy"))
        rc, obj, _ = resolve_json("-n", "prod", "--allow-target", "example.com",
                                  "--allow-target", "svc.cluster.local", "to-internal")
        self.assertEqual((rc, obj["status"]), (0, "ok"))

    def test_bad_policy_values_are_usage_errors(self):
        for args, msg in ((["--deny", "10.0.0.0/33"], "invalid --deny '10.0.0.0/33'"),
                          (["--allow", "nope"], "invalid --allow 'nope'"),
                          (["--allow-target", "bad name"], "invalid --allow-target")):
            rc, out, err = run("resolve", "-f", "data/valid", *args, "backend.prod")
            self.assertEqual(rc, 2, err)
            self.assertIn(msg, err)


class ResolveTests(unittest.TestCase):
    def test_cluster_ip_answers_from_registry(self):
        rc, obj, err = resolve_json("-n", "prod", "backend")
        self.assertEqual(err, "")
        self.assertEqual(
            obj,
            {
                "query": "backend",
                "namespace": "prod",
                "type": "ANY",
                "status": "ok",
                "message": "success",
                "name": "backend.prod.svc.cluster.local.",
                "target": "backend.prod.svc.cluster.local.",
                "final_name": "backend.prod.svc.cluster.local.",
                "ttl": 5,
                "candidates": ["backend.prod.svc.cluster.local."],
                "chain": [],
                "addresses": [addr("10.96.0.20")],
            },
        )
        self.assertEqual(rc, 0)

    def test_ttl_option_sets_registry_ttl(self):
        rc, obj, _ = resolve_json("-n", "prod", "--ttl", "30", "-t", "A", "backend")
        self.assertEqual(rc, 0)
        self.assertEqual(obj["type"], "A")
        self.assertEqual(obj["ttl"], 30)
        self.assertEqual(obj["addresses"], [addr("10.96.0.20", ttl=30)])

    def test_cluster_ip_wrong_family_is_nodata_exit_1(self):
        rc, obj, _ = resolve_json("-t", "AAAA", "backend.prod.svc.cluster.local.")
        self.assertEqual(obj["status"], "nodata")
        self.assertEqual(obj["name"], "backend.prod.svc.cluster.local.")
        self.assertEqual(obj["candidates"], ["backend.prod.svc.cluster.local."])
        self.assertEqual(obj["addresses"], [])
        self.assertEqual(rc, 1)

    def test_headless_answers_every_ready_endpoint(self):
        rc, obj, _ = resolve_json("hdls.prod.svc.cluster.local.")
        self.assertEqual(obj["status"], "ok")
        self.assertEqual(obj["chain"], [])
        self.assertEqual(obj["addresses"], [addr("10.1.0.1"), addr("10.1.0.2")])
        self.assertEqual(rc, 0)

    def test_headless_endpoint_hostname(self):
        rc, obj, _ = resolve_json("-n", "prod", "pet-0.hdls")
        self.assertEqual(obj["status"], "ok")
        self.assertEqual(obj["name"], "pet-0.hdls.prod.svc.cluster.local.")
        self.assertEqual(obj["addresses"], [addr("10.1.0.1")])
        self.assertEqual(rc, 0)

    def test_absent_service_in_zone_is_nxdomain_exit_1(self):
        rc, obj, _ = resolve_json("-n", "prod", "nope.prod.svc.cluster.local.")
        self.assertEqual(
            obj,
            {
                "query": "nope.prod.svc.cluster.local.",
                "namespace": "prod",
                "type": "ANY",
                "status": "nxdomain",
                "message": "name not found",
                "name": "nope.prod.svc.cluster.local.",
                "target": "nope.prod.svc.cluster.local.",
                "final_name": "nope.prod.svc.cluster.local.",
                "ttl": 5,
                "candidates": ["nope.prod.svc.cluster.local."],
                "chain": [],
                "addresses": [],
            },
        )
        self.assertEqual(rc, 1)

    def test_existing_namespace_name_is_nodata_exit_1(self):
        rc, obj, _ = resolve_json("prod.svc.cluster.local.")
        self.assertEqual(obj["status"], "nodata")
        self.assertEqual(rc, 1)

    def test_cname_loop_is_loop_exit_3_with_chain(self):
        rc, obj, _ = resolve_json("-n", "prod", "loop-a.prod.svc.cluster.local.")
        self.assertEqual(obj["status"], "loop")
        self.assertEqual(obj["name"], "loop-a.prod.svc.cluster.local.")
        self.assertEqual(
            obj["chain"],
            [
                link("loop-a.prod.svc.cluster.local.", "loop-b.prod.svc.cluster.local."),
                link("loop-b.prod.svc.cluster.local.", "loop-a.prod.svc.cluster.local."),
            ],
        )
        self.assertEqual(obj["addresses"], [])
        self.assertEqual(rc, 3)

    def test_alias_to_internal_service_follows_chain(self):
        rc, obj, _ = resolve_json("-n", "prod", "-t", "A", "to-internal")
        self.assertEqual(obj["status"], "ok")
        self.assertEqual(obj["name"], "to-internal.prod.svc.cluster.local.")
        self.assertEqual(obj["target"], "backend.prod.svc.cluster.local.")
        self.assertEqual(
            obj["chain"],
            [link("to-internal.prod.svc.cluster.local.", "backend.prod.svc.cluster.local.")],
        )
        self.assertEqual(obj["addresses"], [addr("10.96.0.20")])
        self.assertEqual(rc, 0)

    def test_search_walk_from_other_namespace_second_candidate(self):
        rc, obj, _ = resolve_json("-n", "dev", "backend.prod")
        self.assertEqual(obj["namespace"], "dev")
        self.assertEqual(obj["status"], "ok")
        self.assertEqual(
            obj["candidates"],
            ["backend.prod.dev.svc.cluster.local.", "backend.prod.svc.cluster.local."],
        )
        self.assertEqual(obj["name"], "backend.prod.svc.cluster.local.")
        self.assertEqual(obj["addresses"], [addr("10.96.0.20")])
        self.assertEqual(rc, 0)

    def test_search_walk_third_candidate(self):
        rc, obj, _ = resolve_json("-n", "dev", "backend.prod.svc")
        self.assertEqual(
            obj["candidates"],
            [
                "backend.prod.svc.dev.svc.cluster.local.",
                "backend.prod.svc.svc.cluster.local.",
                "backend.prod.svc.cluster.local.",
            ],
        )
        self.assertEqual(obj["name"], "backend.prod.svc.cluster.local.")
        self.assertEqual((obj["status"], rc), ("ok", 0))

    def test_search_walk_absolute_name_last_with_4_dots(self):
        rc, obj, _ = resolve_json("-n", "dev", "backend.prod.svc.cluster.local")
        self.assertEqual(
            obj["candidates"],
            [
                "backend.prod.svc.cluster.local.dev.svc.cluster.local.",
                "backend.prod.svc.cluster.local.svc.cluster.local.",
                "backend.prod.svc.cluster.local.cluster.local.",
                "backend.prod.svc.cluster.local.",
            ],
        )
        self.assertEqual(obj["name"], "backend.prod.svc.cluster.local.")
        self.assertEqual((obj["status"], rc), ("ok", 0))

    def test_search_walk_ndots_1_tries_as_is_first(self):
        rc, obj, _ = resolve_json(
            "-n", "dev", "--ndots", "1", "backend.prod.svc.cluster.local"
        )
        self.assertEqual(obj["candidates"], ["backend.prod.svc.cluster.local."])
        self.assertEqual((obj["status"], rc), ("ok", 0))

    def test_cluster_domain_option(self):
        rc, obj, _ = resolve_json(
            "-n", "prod", "--cluster-domain", "corp.internal", "-t", "A", "backend"
        )
        self.assertEqual(obj["name"], "backend.prod.svc.corp.internal.")
        self.assertEqual(obj["addresses"], [addr("10.96.0.20")])
        self.assertEqual(rc, 0)

    def test_namespace_option_is_default_namespace_of_manifests(self):
        rc, obj, _ = resolve_json("-n", "team", "-t", "A", "payments.team.svc.cluster.local.")
        self.assertEqual(
            obj["chain"],
            [link("payments.team.svc.cluster.local.", "payments.example.com.")],
        )
        # The target is external: the silent upstream times out.
        self.assertEqual((obj["status"], rc), ("timeout", 3))

    def test_external_alias_upstream_timeout_keeps_chain_exit_3(self):
        rc, obj, _ = resolve_json("-n", "prod", "my-service")
        self.assertEqual(
            obj,
            {
                "query": "my-service",
                "namespace": "prod",
                "type": "ANY",
                "status": "timeout",
                "message": "upstream DNS timed out",
                "name": "my-service.prod.svc.cluster.local.",
                "target": "my.database.example.com.",
                "final_name": "my.database.example.com.",
                "ttl": 5,
                "candidates": ["my-service.prod.svc.cluster.local."],
                "chain": [
                    link("my-service.prod.svc.cluster.local.", "my.database.example.com.")
                ],
                "addresses": [],
            },
        )
        self.assertEqual(rc, 3)

    def test_bad_name_is_error_and_json_escaped_exit_3(self):
        rc, out, err = run(
            "resolve", *upstream_args(), "--json", 'a"b\\c\tx..y\u00e9'
        )
        obj = json.loads(out)
        self.assertEqual(obj["query"], 'a"b\\c\tx..y\u00e9')
        self.assertEqual(obj["namespace"], "default")
        self.assertEqual(obj["status"], "error")
        self.assertEqual(obj["message"], "invalid DNS name")
        self.assertEqual((obj["candidates"], obj["chain"], obj["addresses"]), ([], [], []))
        self.assertEqual(rc, 3)

    def test_text_output_is_dig_like(self):
        rc, out, err = run(
            "resolve", "-f", "data/valid", *upstream_args(), "-n", "dev", "-t", "A",
            "to-internal.prod",
        )
        self.assertEqual(err, "")
        self.assertEqual(
            out.splitlines(),
            [
                ';; status: ok (success), query "to-internal.prod", namespace dev, type A',
                "to-internal.prod.svc.cluster.local.\t5\tIN\tCNAME\tbackend.prod.svc.cluster.local.",
                "backend.prod.svc.cluster.local.\t5\tIN\tA\t10.96.0.20",
                ";; candidates: to-internal.prod.dev.svc.cluster.local. "
                "to-internal.prod.svc.cluster.local.",
                ";; answer from to-internal.prod.svc.cluster.local. (source registry, ttl 5)",
            ],
        )
        self.assertEqual(rc, 0)

    def test_text_output_negative(self):
        rc, out, _ = run(
            "resolve", "-f", "data/valid", *upstream_args(),
            "nope.prod.svc.cluster.local.",
        )
        self.assertEqual(
            out.splitlines(),
            [
                ';; status: nxdomain (name not found), query '
                '"nope.prod.svc.cluster.local.", namespace default, type ANY',
                ";; candidates: nope.prod.svc.cluster.local.",
                ";; answer from nope.prod.svc.cluster.local. (source none, ttl 5)",
            ],
        )
        self.assertEqual(rc, 1)


# Lines whose exact wording belongs to the manifest loader.
SYNTAX_ERROR_LINE = (
    "data/invalid/syntax.yaml:6:5: error: YAML: did not find expected ',' or ']' "
    "while parsing a flow sequence"
)
MISSING_FILE_LINE = (
    "data/no-such-file.yaml: error: cannot read: No such file or directory"
)
IP_LIKE_WARNING_LINE = (
    'data/warn/ip-like.yaml:8:17: warning: spec.externalName: "10.1.2.3" '
    "looks like an IPv4 address: CoreDNS answers NXDOMAIN for it (an "
    "ExternalName must be a DNS name)"
)



WEB = """apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
spec:
  clusterIP: 127.0.0.2
  ports:
  - {name: http, port: %d}
  - {name: closed, port: %d}
"""


class ConnectTests(unittest.TestCase):
    """xsvc connect against listeners on 127.0.0.2, and the permission
    check on manifests."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="xsvc-cli-")
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.2", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        closed = socket.socket()
        closed.bind(("127.0.0.2", 0))
        self.closed = closed.getsockname()[1]
        closed.close()  # nothing listens there: refused
        self.path = os.path.join(self.dir, "web.yaml")
        with open(self.path, "w") as f:
            f.write(WEB % (self.port, self.closed))
        os.chmod(self.path, 0o644)

    def tearDown(self):
        self.listener.close()
        shutil.rmtree(self.dir)

    def connect(self, *args):
        return run("connect", "-f", self.dir, "-n", "prod", *upstream_args(),
                   "--connect-timeout", "60000", "--allow", "127.0.0.0/8", *args)

    def test_connect_to_loopback_refused_by_default_exit_3(self):
        rc, out, err = run("connect", "-f", self.dir, "-n", "prod", *upstream_args(),
                           "--connect-timeout", "60000", "web:http")
        self.assertEqual(rc, 3)
        self.assertIn("refused by policy", err)
        self.assertIn("127.0.0.0/8 (loopback)", err)

    def test_connect_named_port_exit_0(self):
        rc, out, err = self.connect("web:http")
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^connected to 127\.0\.0\.2 port %d "
                         r"\(IPv4\) in \d+ ms, 1 attempt$" % self.port)
        self.assertEqual(lines[1], "target: web.prod.svc.cluster.local")
        conn, _ = self.listener.accept()  # the connection really arrived
        conn.close()

    def test_connect_numeric_port_exit_0(self):
        rc, out, _ = self.connect("web:%d" % self.port)
        self.assertEqual(rc, 0)
        self.assertIn("port %d" % self.port, out)

    def test_connect_refused_exit_3(self):
        rc, out, err = self.connect("web:closed")
        self.assertEqual((rc, out), (3, ""))
        self.assertIn("every address failed (last: Connection refused)", err)

    def test_connect_unknown_port_name_exit_1(self):
        rc, _, err = self.connect("web:nope")
        self.assertEqual(rc, 1)
        self.assertIn('port "nope" not found in Service prod/web', err)

    def test_connect_needs_name_and_port_exit_2(self):
        rc, _, err = self.connect("web")
        self.assertEqual(rc, 2)
        self.assertIn("'web' is not NAME:PORT", err)

    def test_group_writable_manifest_refused_unless_allowed(self):
        os.chmod(self.path, 0o664)
        rc, out, err = run("check", "-f", self.path)
        self.assertEqual(rc, 2)
        self.assertIn("web.yaml: error: file is writable by group (mode 0664)",
                      err)
        rc, out, err = run("check", "--allow-insecure-permissions", "-f",
                           self.path)
        self.assertEqual((rc, err), (0, ""))
        rc, _, _ = self.connect("--allow-insecure-permissions", "web:http")
        self.assertEqual(rc, 0)

def dns_a(port, name):
    """One UDP A query to 127.0.0.1:port; returns (rcode, [addresses])."""
    qid = 0x4242
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(60)  # a hang, not slowness
        s.sendto(q, ("127.0.0.1", port))
        r = s.recv(4096)
    rid, flags, _, ancount, _, _ = struct.unpack(">HHHHHH", r[:12])
    assert rid == qid
    off = len(q)  # the question comes back as sent
    addrs = []
    for _ in range(ancount):
        while r[off] != 0 and r[off] & 0xC0 != 0xC0:
            off += r[off] + 1
        off += 2 if r[off] & 0xC0 == 0xC0 else 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", r[off:off + 10])
        off += 10
        if rtype == 1:
            addrs.append(socket.inet_ntoa(r[off:off + rdlen]))
        off += rdlen
    return flags & 0x0F, addrs


class ServeAccessTests(unittest.TestCase):
    """xsvc serve answers loopback clients only, unless --allow-from."""

    def serve(self, *args):
        d = tempfile.mkdtemp(prefix="xsvc-cli-acl-")
        self.addCleanup(shutil.rmtree, d)
        os.chmod(d, 0o755)
        path = os.path.join(d, "api.yaml")
        with open(path, "w") as f:
            f.write(api_manifest("10.3.0.1"))
        os.chmod(path, 0o644)
        proc = subprocess.Popen([XSVC, "serve", "-f", d, "--listen", "127.0.0.1:0", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def stop():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(stop)
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline().strip())
        self.assertTrue(m)
        return int(m.group(1))

    def test_loopback_answered_by_default(self):
        port = self.serve()
        self.assertEqual(dns_a(port, "api.default.svc.cluster.local"), (0, ["10.3.0.1"]))

    def test_clients_outside_allow_from_refused(self):
        port = self.serve("--allow-from", "127.0.0.2/32")  # not our 127.0.0.1
        self.assertEqual(dns_a(port, "api.default.svc.cluster.local"), (5, []))
        port = self.serve("--allow-from", "127.0.0.0/8")
        self.assertEqual(dns_a(port, "api.default.svc.cluster.local"), (0, ["10.3.0.1"]))

    def test_bad_allow_from_is_a_usage_error(self):
        rc, _, err = run("serve", "--listen", "127.0.0.1:0", "--allow-from", "nope")
        self.assertNotEqual(rc, 0)
        self.assertIn("nope", err)


def parse_prometheus(text):
    """The text exposition format, checked line by line: returns
    ({family: type}, [(name, labels, value)])."""
    types, helps, samples = {}, set(), []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, name
            assert name in helps, name
            types[name] = kind
        else:
            m = re.fullmatch(r'([a-z_]+)(?:\{([^}]*)\})? (\S+)', line)
            assert m, line
            samples.append((m.group(1), m.group(2) or "", float(m.group(3))))
    return types, samples


def api_manifest(ip):
    return ("apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: default}\n"
            "spec: {clusterIP: %s, ports: [{port: 80}]}\n" % ip)


class ServeLiveTests(unittest.TestCase):
    """xsvc serve --watch --metrics: edits picked up without a signal, a
    broken edit refused, metrics a Prometheus scrape can read."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="xsvc-cli-live-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "api.yaml")
        self.write(api_manifest("10.3.0.1"))
        self.proc = subprocess.Popen(
            [XSVC, "serve", "-f", self.dir, "--listen", "127.0.0.1:0",
             "--metrics", "127.0.0.1:0", "--watch"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        listen = self.proc.stdout.readline().strip()
        metrics = self.proc.stdout.readline().strip()
        watching = self.proc.stdout.readline().strip()
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", listen)
        self.assertTrue(m, listen)
        self.port = int(m.group(1))
        m = re.fullmatch(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", metrics)
        self.assertTrue(m, metrics)
        self.url = m.group(1)
        self.assertEqual(watching, "watching 1 path(s)")

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.dir)

    def write(self, text):
        tmp = self.path + ".tmp~"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.path)

    def scrape(self):
        with urllib.request.urlopen(self.url, timeout=60) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"],
                             "text/plain; version=0.0.4; charset=utf-8")
            return parse_prometheus(r.read().decode())

    def test_watch_reloads_and_metrics_parse(self):
        name = "api.default.svc.cluster.local"
        self.assertEqual(dns_a(self.port, name), (0, ["10.3.0.1"]))
        self.write(api_manifest("10.3.0.2"))
        self.assertEqual(self.proc.stdout.readline().strip(),
                         "watch: reloaded: 1 service(s): changed default/api")
        self.assertEqual(dns_a(self.port, name), (0, ["10.3.0.2"]))
        self.write("kind: Service\nmetadata: {name: [\n")
        line = self.proc.stdout.readline().strip()
        self.assertRegex(line, r"^watch: reload failed: .*api\.yaml:\d+:\d+: .*"
                               r": still serving the previous manifests$")
        self.assertEqual(dns_a(self.port, name), (0, ["10.3.0.2"]))
        self.assertEqual(dns_a(self.port, "nope.default.svc.cluster.local")[0], 3)

        types, samples = self.scrape()
        for fam, kind in types.items():
            self.assertTrue(fam.startswith("xsvc_"), fam)
            self.assertIn(kind, ("counter", "gauge", "histogram"))
            if kind == "counter":
                self.assertTrue(fam.endswith("_total"), fam)
        values = {(n, l): v for n, l, v in samples}
        self.assertEqual(values[("xsvc_reloads_total", 'result="ok"')], 1)
        self.assertEqual(values[("xsvc_reloads_total", 'result="failed"')], 1)
        self.assertEqual(values[("xsvc_server_responses_total", 'rcode="NOERROR"')], 3)
        self.assertEqual(values[("xsvc_server_responses_total", 'rcode="NXDOMAIN"')], 1)
        self.assertEqual(values[("xsvc_lookups_total", 'outcome="ok"')], 0)  # server answers from the registry
        for fam, kind in types.items():
            if kind != "histogram":
                continue
            buckets = [(l, v) for n, l, v in samples if n == fam + "_bucket"]
            les = [float(l[4:-1].replace("+Inf", "inf")) for l, _ in buckets]
            counts = [v for _, v in buckets]
            self.assertEqual(les, sorted(les))
            self.assertEqual(les[-1], float("inf"))
            self.assertEqual(counts, sorted(counts))
            self.assertEqual(values[(fam + "_count", "")], counts[-1])

    def test_http_paths_and_methods(self):
        base = self.url[: -len("/metrics")]
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/", timeout=60)
        self.assertEqual(e.exception.code, 404)
        req = urllib.request.Request(self.url, data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=60)
        self.assertEqual(e.exception.code, 405)
        req = urllib.request.Request(self.url + "?x=1", method="HEAD")
        with urllib.request.urlopen(req, timeout=60) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"")
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0)

    def test_metrics_answered_while_a_client_trickles_its_request(self):
        """A client that sends a byte every 0.5 s (under the 2 s of the old
        per-read wait, so it held the only thread forever) does not keep a
        scrape from being answered; it is cut off at its own deadline."""
        host, port = re.match(r"http://([^:/]+):(\d+)/", self.url).groups()
        slow = socket.create_connection((host, int(port)), timeout=60)
        done = threading.Event()
        cut = threading.Event()

        def trickle():
            for ch in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 200:
                if done.wait(0.5):
                    return
                try:
                    slow.send(bytes([ch]))
                except OSError:
                    cut.set()
                    return

        t = threading.Thread(target=trickle)
        t.start()
        try:
            types, _ = self.scrape()  # a hang (60 s) if the trickler blocks it
            self.assertIn("xsvc_reloads_total", types)
            slow.settimeout(60)
            self.assertEqual(slow.recv(100), b"")  # closed at its deadline
        finally:
            done.set()
            t.join()
            slow.close()

    def test_usage_errors(self):
        rc, _, err = run("serve", "--watch", "--listen", "127.0.0.1:0")
        self.assertEqual(rc, 2)
        self.assertIn("xsvc: serve: --watch needs -f PATH", err)
        rc, _, err = run("serve", "-f", self.dir, "--listen", "127.0.0.1:0",
                         "--metrics", "nonsense")
        self.assertEqual(rc, 2)
        self.assertIn("xsvc: serve: invalid --metrics 'nonsense' (HOST:PORT)", err)
        rc, _, _ = run("resolve", "--watch", "x")
        self.assertEqual(rc, 2)


def main():
    global XSVC
    argv = list(sys.argv)
    if len(argv) >= 3 and argv[1] == "--xsvc":
        XSVC = argv[2]
        del argv[1:3]
    if not XSVC or not os.access(XSVC, os.X_OK):
        sys.exit("test_cli.py: give the xsvc binary with --xsvc PATH or XSVC=PATH")
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
