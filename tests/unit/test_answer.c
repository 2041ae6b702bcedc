/* The answer function against K8S-DNS.md section 6 (server rows as calls to
 * xs_answer_query; the upstream half of a chase is the caller's job and is
 * checked here as external_target). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "answer.h"
#include "registry.h"

static xs_registry *fixture;
static xs_snapshot *snap;
static xs_answer ans;
static xs_answer_cfg cfg;

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static int setup(void **state) {
  xs_error err;
  const char *ip[] = {"10.96.0.20"};
  (void)state;
  must(xs_registry_new(&fixture));
  must(xs_registry_add_namespace(fixture, "prod", &err));
  must(xs_registry_add_namespace(fixture, "dev", &err));
  must(xs_registry_add_external(fixture, "prod", "my-service",
                                "my.database.example.com", &err));
  must(xs_registry_add_port(fixture, "prod", "my-service", "pg", 5432, "TCP",
                            &err));
  must(xs_registry_add_external(fixture, "prod", "fq-alias",
                                "my.database.example.com.", &err));
  must(xs_registry_add_external(fixture, "prod", "v4only", "v4only.example.com",
                                &err));
  must(xs_registry_add_external(fixture, "prod", "broken", "nx.example.com",
                                &err));
  must(xs_registry_add_external(fixture, "prod", "to-internal",
                                "backend.prod.svc.cluster.local", &err));
  must(xs_registry_add_external(fixture, "prod", "to-missing",
                                "nothere.prod.svc.cluster.local", &err));
  must(xs_registry_add_external(fixture, "prod", "ip-like", "10.1.2.3", &err));
  must(xs_registry_add_external(fixture, "prod", "self",
                                "self.prod.svc.cluster.local", &err));
  must(xs_registry_add_external(fixture, "prod", "loop-a",
                                "loop-b.prod.svc.cluster.local", &err));
  must(xs_registry_add_external(fixture, "prod", "loop-b",
                                "loop-a.prod.svc.cluster.local", &err));
  must(xs_registry_add_external(fixture, "prod", "chain",
                                "my-service.prod.svc.cluster.local", &err));
  must(xs_registry_add_cluster_ip(fixture, "prod", "backend", ip, 1, &err));
  must(xs_registry_add_port(fixture, "prod", "backend", "http", 80, "TCP",
                            &err));
  must(xs_registry_add_headless(fixture, "prod", "hdls", &err));
  must(xs_registry_add_port(fixture, "prod", "hdls", "http", 80, NULL, &err));
  must(xs_registry_add_endpoint(fixture, "prod", "hdls", "10.1.0.1", "pet-0", 1,
                                &err));
  must(xs_registry_add_endpoint(fixture, "prod", "hdls", "10.1.0.2", NULL, 1,
                                &err));
  must(xs_registry_add_headless(fixture, "prod", "hdls-empty", &err));
  must(xs_registry_add_endpoint(fixture, "prod", "hdls-empty", "10.1.0.9", NULL,
                                0, &err));
  snap = xs_registry_snapshot(fixture);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  xs_snapshot_unref(snap);
  xs_registry_free(fixture);
  return 0;
}

static const xs_answer *query_mode(const char *name, uint16_t type,
                                   xs_mode mode, uint32_t ttl) {
  cfg.zone = "cluster.local";
  cfg.zone_len = strlen(cfg.zone);
  cfg.ttl = ttl;
  cfg.mode = mode;
  cfg.ip_literal = 0;
  xs_answer_free(&ans);
  assert_int_equal(xs_answer_query(snap, &cfg, name, strlen(name), type, &ans),
                   XS_OK);
  return &ans;
}

static const xs_answer *query(const char *name, uint16_t type) {
  return query_mode(name, type, XS_MODE_COREDNS, 5);
}

static void expect_rr(const xs_rr *rr, const char *owner, uint16_t type,
                      uint32_t ttl, const char *target) {
  assert_string_equal(rr->owner, owner);
  assert_int_equal(rr->type, type);
  assert_int_equal(rr->ttl, ttl);
  if (target != NULL)
    assert_string_equal(rr->target, target);
}

static void expect_a(const xs_rr *rr, const char *owner, uint32_t ttl,
                     const char *ip) {
  char buf[64];
  expect_rr(rr, owner, rr->addr.family == 6 ? XS_T_AAAA : XS_T_A, ttl, NULL);
  assert_string_equal(xs_addr_format(&rr->addr, buf, sizeof(buf)), ip);
}

/* NOERROR or NXDOMAIN with nothing in ANSWER and the zone SOA. */
static void expect_negative(const xs_answer *a, int rcode) {
  assert_int_equal(a->rcode, rcode);
  assert_int_equal(a->nanswer, 0);
  assert_true(a->soa);
  assert_string_equal(a->soa_owner, "cluster.local.");
  assert_int_equal(a->soa_ttl, 5);
  assert_int_equal(a->soa_minimum, 5);
}

#define SVC(x) x ".prod.svc.cluster.local."

static void test_answer_external_cname_query_not_chased(void **st) { /* 1 */
  const xs_answer *a = query(SVC("my-service"), XS_T_CNAME);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 1);
  expect_rr(&a->answer[0], SVC("my-service"), XS_T_CNAME, 5,
            "my.database.example.com.");
  assert_null(a->external_target);
  assert_false(a->soa);
}

static void test_answer_external_a_gives_cname_and_target(void **st) { /* 2,3 */
  uint16_t types[] = {XS_T_A, XS_T_AAAA};
  (void)st;
  for (int i = 0; i < 2; i++) {
    const xs_answer *a = query(SVC("my-service"), types[i]);
    assert_int_equal(a->rcode, XS_RCODE_NOERROR);
    assert_int_equal(a->status, XS_OK);
    assert_int_equal(a->nanswer, 1);
    expect_rr(&a->answer[0], SVC("my-service"), XS_T_CNAME, 5,
              "my.database.example.com.");
    assert_string_equal(a->external_target, "my.database.example.com.");
    assert_int_equal(a->nchain, 1);
  }
}

static void test_answer_ttl_option_sets_cname_ttl(void **st) { /* 4, 58 */
  const xs_answer *a =
      query_mode(SVC("my-service"), XS_T_CNAME, XS_MODE_COREDNS, 30);
  (void)st;
  expect_rr(&a->answer[0], SVC("my-service"), XS_T_CNAME, 30, NULL);
  a = query_mode(SVC("nope"), XS_T_A, XS_MODE_COREDNS, 30);
  assert_int_equal(a->rcode, XS_RCODE_NXDOMAIN);
  assert_int_equal(a->soa_ttl, 30);
  assert_int_equal(a->soa_minimum, 30);
}

static void test_answer_soa_ttl_capped_at_300(void **st) { /* 59 */
  const xs_answer *a = query_mode(SVC("nope"), XS_T_A, XS_MODE_COREDNS, 600);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NXDOMAIN);
  assert_int_equal(a->soa_ttl, 300);
  assert_int_equal(a->soa_minimum, 600);
}

static void test_answer_trailing_dot_external_single_dot(void **st) { /* 5 */
  const xs_answer *a = query(SVC("fq-alias"), XS_T_CNAME);
  (void)st;
  expect_rr(&a->answer[0], SVC("fq-alias"), XS_T_CNAME, 5,
            "my.database.example.com.");
}

static void test_answer_mixed_case_owner_kept(void **st) { /* 6 */
  const xs_answer *a = query("My-Service.PROD.svc.Cluster.Local.", XS_T_A);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  expect_rr(&a->answer[0], "My-Service.PROD.svc.Cluster.Local.", XS_T_CNAME, 5,
            "my.database.example.com.");
  a = query("NOPE.prod.svc.ClUsTeR.lOcAl", XS_T_A);
  assert_int_equal(a->rcode, XS_RCODE_NXDOMAIN);
  assert_string_equal(a->soa_owner, "ClUsTeR.lOcAl.");
}

static void test_answer_external_targets_are_handed_out(void **st) { /* 7-9 */
  const xs_answer *a = query(SVC("v4only"), XS_T_AAAA);
  (void)st;
  assert_string_equal(a->external_target, "v4only.example.com.");
  a = query(SVC("broken"), XS_T_A);
  assert_int_equal(a->nanswer, 1);
  assert_string_equal(a->external_target, "nx.example.com.");
}

static void test_answer_internal_target_chased(void **st) { /* 10 */
  const xs_answer *a = query(SVC("to-internal"), XS_T_A);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 2);
  expect_rr(&a->answer[0], SVC("to-internal"), XS_T_CNAME, 5, SVC("backend"));
  expect_a(&a->answer[1], SVC("backend"), 5, "10.96.0.20");
  assert_null(a->external_target);
}

static void test_answer_internal_target_wrong_family(void **st) { /* 11 */
  const xs_answer *a = query(SVC("to-internal"), XS_T_AAAA);
  (void)st;
  expect_negative(a, XS_RCODE_NOERROR);
  assert_int_equal(a->status, XS_ENODATA);
  assert_int_equal(a->nchain, 1); /* the library still sees the link */
  a = query_mode(SVC("to-internal"), XS_T_AAAA, XS_MODE_STRICT, 5);
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 1);
  assert_int_equal(a->answer[0].type, XS_T_CNAME);
  assert_true(a->soa);
}

static void test_answer_missing_internal_target(void **st) { /* 12, 13 */
  const xs_answer *a = query(SVC("to-missing"), XS_T_A);
  (void)st;
  expect_negative(a, XS_RCODE_NOERROR);
  assert_int_equal(a->status, XS_ENOTFOUND);
  a = query_mode(SVC("to-missing"), XS_T_A, XS_MODE_STRICT, 5);
  assert_int_equal(a->rcode, XS_RCODE_NXDOMAIN);
  assert_int_equal(a->nanswer, 1);
  expect_rr(&a->answer[0], SVC("to-missing"), XS_T_CNAME, 5,
            "nothere.prod.svc.cluster.local.");
  a = query(SVC("to-missing"), XS_T_CNAME);
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  expect_rr(&a->answer[0], SVC("to-missing"), XS_T_CNAME, 5,
            "nothere.prod.svc.cluster.local.");
}

static void test_answer_chain_through_alias(void **st) { /* 14 */
  const xs_answer *a = query(SVC("chain"), XS_T_A);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 2);
  expect_rr(&a->answer[0], SVC("chain"), XS_T_CNAME, 5, SVC("my-service"));
  expect_rr(&a->answer[1], SVC("my-service"), XS_T_CNAME, 5,
            "my.database.example.com.");
  assert_string_equal(a->external_target, "my.database.example.com.");
  assert_int_equal(a->nchain, 2);
}

static void test_answer_ip_like_external_is_nxdomain(void **st) { /* 15-17 */
  uint16_t types[] = {XS_T_A, XS_T_CNAME, XS_T_AAAA};
  (void)st;
  for (int i = 0; i < 3; i++)
    expect_negative(query(SVC("ip-like"), types[i]), XS_RCODE_NXDOMAIN);
}

static void test_answer_ip_like_literal_option_answers_a(void **st) {
  const xs_answer *a;
  (void)st;
  cfg.zone = "cluster.local";
  cfg.zone_len = 13;
  cfg.ttl = 5;
  cfg.mode = XS_MODE_COREDNS;
  cfg.ip_literal = 1;
  xs_answer_free(&ans);
  must(xs_answer_query(snap, &cfg, SVC("ip-like"), strlen(SVC("ip-like")),
                       XS_T_A, &ans));
  a = &ans;
  assert_int_equal(a->nanswer, 1);
  expect_a(&a->answer[0], SVC("ip-like"), 5, "10.1.2.3");
}

static void test_answer_self_and_mutual_loops(void **st) { /* 18-20 */
  const xs_answer *a = query(SVC("self"), XS_T_A);
  (void)st;
  expect_negative(a, XS_RCODE_NOERROR);
  assert_int_equal(a->status, XS_ELOOP);
  a = query(SVC("loop-a"), XS_T_A);
  expect_negative(a, XS_RCODE_NOERROR);
  assert_int_equal(a->status, XS_ELOOP);
  assert_int_equal(a->nchain, 2);
  a = query_mode(SVC("loop-a"), XS_T_A, XS_MODE_STRICT, 5);
  assert_int_equal(a->rcode, XS_RCODE_SERVFAIL);
  a = query(SVC("loop-a"), XS_T_CNAME);
  assert_int_equal(a->nanswer, 1);
  expect_rr(&a->answer[0], SVC("loop-a"), XS_T_CNAME, 5, SVC("loop-b"));
}

static void test_answer_external_other_types_nodata(void **st) {
  /* 21, 26-29 */
  uint16_t types[] = {XS_T_SRV, XS_T_TXT, XS_T_MX, XS_T_HTTPS, XS_T_SOA};
  (void)st;
  for (int i = 0; i < 5; i++) {
    const xs_answer *a = query(SVC("my-service"), types[i]);
    expect_negative(a, XS_RCODE_NOERROR);
    assert_null(a->external_target);
  }
}

static void test_answer_strict_https_keeps_cname_and_chases(void **st) {
  /* 28 R */
  const xs_answer *a =
      query_mode(SVC("my-service"), XS_T_HTTPS, XS_MODE_STRICT, 5);
  (void)st;
  assert_int_equal(a->nanswer, 1);
  assert_string_equal(a->external_target, "my.database.example.com.");
}

static void test_answer_names_below_external_nxdomain(void **st) {
  /* 22-25 */
  (void)st;
  expect_negative(query("_pg._tcp." SVC("my-service"), XS_T_SRV),
                  XS_RCODE_NXDOMAIN);
  expect_negative(query("_pg._tcp." SVC("my-service"), XS_T_A),
                  XS_RCODE_NXDOMAIN);
  expect_negative(query("endpoint." SVC("my-service"), XS_T_CNAME),
                  XS_RCODE_NXDOMAIN);
  expect_negative(query("a.b." SVC("my-service"), XS_T_CNAME),
                  XS_RCODE_NXDOMAIN);
}

static void test_answer_ptr_for_ip_like_value_nxdomain(void **st) { /* 30 */
  const xs_answer *a = query("3.2.1.10.in-addr.arpa.", XS_T_PTR);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NXDOMAIN);
  assert_int_equal(a->nanswer, 0);
}

static void test_answer_structure_of_the_zone(void **st) { /* 31-36 */
  (void)st;
  expect_negative(query(SVC("nope"), XS_T_A), XS_RCODE_NXDOMAIN);
  expect_negative(query("my-service.nons.svc.cluster.local.", XS_T_A),
                  XS_RCODE_NXDOMAIN);
  expect_negative(query("prod.svc.cluster.local.", XS_T_A), XS_RCODE_NOERROR);
  expect_negative(query("svc.cluster.local.", XS_T_A), XS_RCODE_NOERROR);
  expect_negative(query("foo.cluster.local.", XS_T_A), XS_RCODE_NXDOMAIN);
  expect_negative(query("*.prod.svc.cluster.local.", XS_T_A),
                  XS_RCODE_NXDOMAIN);
  expect_negative(query("cluster.local.", XS_T_A), XS_RCODE_NOERROR);
}

/* Labels are taken right to left only as far as needed: more labels than
 * any record has is NXDOMAIN even below an existing service; relative
 * queries name the same SOA as absolute ones. */
static void test_answer_label_count_and_relative_soa(void **st) {
  const xs_answer *a;
  (void)st;
  a = query("x.pet-0.hdls.prod.svc.cluster.local.", XS_T_A);
  expect_negative(a, XS_RCODE_NXDOMAIN);
  a = query("a.b._http._tcp.backend.prod.svc.cluster.local.", XS_T_SRV);
  expect_negative(a, XS_RCODE_NXDOMAIN);
  a = query("_http._tcp.backend.prod.svc.cluster.local.", XS_T_SRV);
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 1);
  a = query("nope.prod.svc.cluster.local", XS_T_A); /* no trailing dot */
  expect_negative(a, XS_RCODE_NXDOMAIN);
  a = query("prod.svc.cluster.local", XS_T_A);
  expect_negative(a, XS_RCODE_NOERROR);
}

/* Service names of every length: the label split reads eight octets at a
 * time, so dots land at every position of a word. */
static void test_answer_every_name_length_found(void **st) {
  xs_registry *reg;
  xs_snapshot *sn;
  xs_error err;
  xs_answer_cfg c;
  xs_answer a;
  char name[64], q[128];
  size_t len, i;
  (void)st;
  must(xs_registry_new(&reg));
  for (len = 1; len <= 63; len++) {
    for (i = 0; i < len; i++)
      name[i] = (char)('a' + (i + len) % 26);
    name[len] = '\0';
    must(xs_registry_add_external(reg, "n", name, "t.example.com", &err));
  }
  sn = xs_registry_snapshot(reg);
  memset(&c, 0, sizeof(c));
  c.zone = "cluster.local";
  c.zone_len = strlen(c.zone);
  c.ttl = 5;
  for (len = 1; len <= 63; len++) {
    for (i = 0; i < len; i++)
      name[i] = (char)('a' + (i + len) % 26);
    name[len] = '\0';
    snprintf(q, sizeof(q), "%s.n.svc.cluster.local.", name);
    must(xs_answer_query(sn, &c, q, strlen(q), XS_T_A, &a));
    assert_int_equal(a.status, XS_OK);
    assert_string_equal(a.external_target, "t.example.com.");
    xs_answer_free(&a);
    snprintf(q, sizeof(q), "x.%s.n.svc.cluster.local.", name);
    must(xs_answer_query(sn, &c, q, strlen(q), XS_T_A, &a));
    assert_int_equal(a.status, XS_ENOTFOUND); /* nothing below an alias */
    xs_answer_free(&a);
  }
  xs_snapshot_unref(sn);
  xs_registry_free(reg);
}

static void test_answer_dns_version_txt(void **st) { /* 37 */
  const xs_answer *a = query("dns-version.cluster.local.", XS_T_TXT);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 1);
  expect_rr(&a->answer[0], "dns-version.cluster.local.", XS_T_TXT, 28800,
            "1.1.0");
}

static void test_answer_cluster_ip_records(void **st) { /* 38-40 */
  const xs_answer *a = query(SVC("backend"), XS_T_A);
  (void)st;
  assert_int_equal(a->nanswer, 1);
  expect_a(&a->answer[0], SVC("backend"), 5, "10.96.0.20");
  expect_negative(query(SVC("backend"), XS_T_AAAA), XS_RCODE_NOERROR);
  a = query("_http._tcp." SVC("backend"), XS_T_SRV);
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 1);
  expect_rr(&a->answer[0], "_http._tcp." SVC("backend"), XS_T_SRV, 5,
            SVC("backend"));
  assert_int_equal(a->answer[0].priority, 0);
  assert_int_equal(a->answer[0].weight, 100);
  assert_int_equal(a->answer[0].port, 80);
  assert_int_equal(a->nadditional, 1);
  expect_a(&a->additional[0], SVC("backend"), 5, "10.96.0.20");
  expect_negative(query("_https._tcp." SVC("backend"), XS_T_SRV),
                  XS_RCODE_NXDOMAIN);
  expect_negative(query("_http._udp." SVC("backend"), XS_T_SRV),
                  XS_RCODE_NXDOMAIN);
}

static void test_answer_srv_target_keeps_zone_case(void **st) {
  const xs_answer *a =
      query("_http._tcp.backend.prod.svc.cLuStEr.LoCaL.", XS_T_SRV);
  (void)st;
  assert_string_equal(a->answer[0].target, "backend.prod.svc.cLuStEr.LoCaL.");
}

static void test_answer_ptr_for_cluster_ip_and_endpoint(void **st) { /* 41 */
  const xs_answer *a = query("20.0.96.10.in-addr.arpa.", XS_T_PTR);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 1);
  expect_rr(&a->answer[0], "20.0.96.10.in-addr.arpa.", XS_T_PTR, 5,
            SVC("backend"));
  a = query("1.0.1.10.in-addr.arpa.", XS_T_PTR);
  expect_rr(&a->answer[0], "1.0.1.10.in-addr.arpa.", XS_T_PTR, 5,
            "pet-0.hdls.prod.svc.cluster.local.");
  a = query("9.0.1.10.in-addr.arpa.", XS_T_PTR); /* not ready */
  assert_int_equal(a->rcode, XS_RCODE_NXDOMAIN);
}

static void test_answer_headless_records(void **st) { /* 42-44 */
  const xs_answer *a = query(SVC("hdls"), XS_T_A);
  (void)st;
  assert_int_equal(a->rcode, XS_RCODE_NOERROR);
  assert_int_equal(a->nanswer, 2);
  expect_a(&a->answer[0], SVC("hdls"), 5, "10.1.0.1");
  expect_a(&a->answer[1], SVC("hdls"), 5, "10.1.0.2");
  a = query("pet-0." SVC("hdls"), XS_T_A);
  assert_int_equal(a->nanswer, 1);
  expect_a(&a->answer[0], "pet-0." SVC("hdls"), 5, "10.1.0.1");
  a = query("10-1-0-2." SVC("hdls"), XS_T_A); /* dashed-IP hostname */
  assert_int_equal(a->nanswer, 1);
  expect_negative(query("bogus." SVC("hdls"), XS_T_A), XS_RCODE_NXDOMAIN);
  expect_negative(query(SVC("hdls-empty"), XS_T_A), XS_RCODE_NXDOMAIN);
  expect_negative(query(SVC("hdls"), XS_T_AAAA), XS_RCODE_NOERROR);
}

static void test_answer_headless_srv_per_endpoint(void **st) {
  const xs_answer *a = query("_http._tcp." SVC("hdls"), XS_T_SRV);
  (void)st;
  assert_int_equal(a->nanswer, 2);
  assert_string_equal(a->answer[0].target, "pet-0." SVC("hdls"));
  assert_string_equal(a->answer[1].target, "10-1-0-2." SVC("hdls"));
  assert_int_equal(a->nadditional, 2);
}

static void test_answer_search_capture_by_namespace_named_service(void **st) {
  /* 54, 55: dev/prod ExternalName does not capture x.prod.dev...; a dev/prod
   * headless with endpoint hostname x does. */
  xs_registry *reg;
  xs_snapshot *s;
  xs_error err;
  xs_answer a;
  cfg.zone = "cluster.local";
  cfg.zone_len = 13;
  cfg.ttl = 5;
  cfg.mode = XS_MODE_COREDNS;
  cfg.ip_literal = 0;
  (void)st;
  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "dev", "prod", "x.example.com", &err));
  s = xs_registry_snapshot(reg);
  must(xs_answer_query(s, &cfg, "x.prod.dev.svc.cluster.local.", 29, XS_T_A,
                       &a));
  assert_int_equal(a.rcode, XS_RCODE_NXDOMAIN);
  xs_answer_free(&a);
  xs_snapshot_unref(s);
  must(xs_registry_remove(reg, "dev", "prod"));
  must(xs_registry_add_headless(reg, "dev", "prod", &err));
  must(xs_registry_add_endpoint(reg, "dev", "prod", "10.2.0.1", "x", 1, &err));
  s = xs_registry_snapshot(reg);
  must(xs_answer_query(s, &cfg, "x.prod.dev.svc.cluster.local.", 29, XS_T_A,
                       &a));
  assert_int_equal(a.rcode, XS_RCODE_NOERROR);
  assert_int_equal(a.nanswer, 1);
  xs_answer_free(&a);
  xs_snapshot_unref(s);
  xs_registry_free(reg);
}

static void test_answer_repoint_is_visible_in_next_snapshot(void **st) {
  /* 62 */
  xs_error err;
  xs_snapshot *s;
  xs_answer a;
  (void)st;
  must(xs_registry_set_external(fixture, "prod", "v4only", "other.example.com",
                                &err));
  s = xs_registry_snapshot(fixture);
  must(xs_answer_query(s, &cfg, SVC("v4only"), strlen(SVC("v4only")),
                       XS_T_CNAME, &a));
  assert_string_equal(a.answer[0].target, "other.example.com.");
  xs_answer_free(&a);
  xs_snapshot_unref(s);
  /* the old snapshot still answers the old way */
  query(SVC("v4only"), XS_T_CNAME);
  assert_string_equal(ans.answer[0].target, "v4only.example.com.");
}

static void test_answer_chain_limit_is_a_loop(void **st) {
  xs_registry *reg;
  xs_snapshot *s;
  xs_error err;
  xs_answer a;
  char name[16], target[64];
  (void)st;
  must(xs_registry_new(&reg));
  for (int i = 0; i < 12; i++) {
    snprintf(name, sizeof(name), "s%d", i);
    snprintf(target, sizeof(target), "s%d.prod.svc.cluster.local", i + 1);
    must(xs_registry_add_external(reg, "prod", name, target, &err));
  }
  must(xs_registry_add_external(reg, "prod", "s12", "end.example.com", &err));
  s = xs_registry_snapshot(reg);
  must(xs_answer_query(s, &cfg, "s3.prod.svc.cluster.local", 25, XS_T_A, &a));
  assert_int_equal(a.status, XS_OK); /* 10 links: s3 .. s12 */
  assert_int_equal(a.nchain, 10);
  xs_answer_free(&a);
  must(xs_answer_query(s, &cfg, "s2.prod.svc.cluster.local", 25, XS_T_A, &a));
  assert_int_equal(a.status, XS_ELOOP); /* 11 links */
  xs_answer_free(&a);
  xs_snapshot_unref(s);
  xs_registry_free(reg);
}

static void test_answer_outside_zone_is_not_answered(void **st) {
  const xs_answer *a = query("www.example.com.", XS_T_A);
  (void)st;
  assert_int_equal(a->status, XS_ENOTFOUND);
  assert_false(a->soa);
}

static void test_answer_bad_name_rejected(void **st) {
  xs_answer a;
  (void)st;
  assert_int_equal(xs_answer_query(snap, &cfg, ".", 1, XS_T_A, &a),
                   XS_EBADNAME);
  assert_int_equal(xs_answer_query(snap, &cfg, "", 0, XS_T_A, &a), XS_EBADNAME);
}

static void test_answer_many_records_grow_beyond_inline(void **st) {
  xs_registry *reg;
  xs_snapshot *s;
  xs_error err;
  xs_answer a;
  char ip[32];
  (void)st;
  must(xs_registry_new(&reg));
  must(xs_registry_add_headless(reg, "prod", "big", &err));
  for (int i = 0; i < 300; i++) {
    snprintf(ip, sizeof(ip), "10.3.%d.%d", i / 250, i % 250 + 1);
    must(xs_registry_add_endpoint(reg, "prod", "big", ip, NULL, 1, &err));
  }
  must(xs_registry_add_port(reg, "prod", "big", "http", 80, "TCP", &err));
  s = xs_registry_snapshot(reg);
  must(xs_answer_query(s, &cfg, "_http._tcp.big.prod.svc.cluster.local", 37,
                       XS_T_SRV, &a));
  assert_int_equal(a.nanswer, 300);
  assert_int_equal(a.nadditional, 300);
  assert_string_equal(a.answer[299].target,
                      "10-3-1-50.big.prod.svc.cluster.local.");
  xs_answer_free(&a);
  xs_snapshot_unref(s);
  xs_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answer_external_cname_query_not_chased),
      cmocka_unit_test(test_answer_external_a_gives_cname_and_target),
      cmocka_unit_test(test_answer_ttl_option_sets_cname_ttl),
      cmocka_unit_test(test_answer_soa_ttl_capped_at_300),
      cmocka_unit_test(test_answer_trailing_dot_external_single_dot),
      cmocka_unit_test(test_answer_mixed_case_owner_kept),
      cmocka_unit_test(test_answer_external_targets_are_handed_out),
      cmocka_unit_test(test_answer_internal_target_chased),
      cmocka_unit_test(test_answer_internal_target_wrong_family),
      cmocka_unit_test(test_answer_missing_internal_target),
      cmocka_unit_test(test_answer_chain_through_alias),
      cmocka_unit_test(test_answer_ip_like_external_is_nxdomain),
      cmocka_unit_test(test_answer_ip_like_literal_option_answers_a),
      cmocka_unit_test(test_answer_self_and_mutual_loops),
      cmocka_unit_test(test_answer_external_other_types_nodata),
      cmocka_unit_test(test_answer_strict_https_keeps_cname_and_chases),
      cmocka_unit_test(test_answer_names_below_external_nxdomain),
      cmocka_unit_test(test_answer_ptr_for_ip_like_value_nxdomain),
      cmocka_unit_test(test_answer_structure_of_the_zone),
      cmocka_unit_test(test_answer_dns_version_txt),
      cmocka_unit_test(test_answer_label_count_and_relative_soa),
      cmocka_unit_test(test_answer_every_name_length_found),
      cmocka_unit_test(test_answer_cluster_ip_records),
      cmocka_unit_test(test_answer_srv_target_keeps_zone_case),
      cmocka_unit_test(test_answer_ptr_for_cluster_ip_and_endpoint),
      cmocka_unit_test(test_answer_headless_records),
      cmocka_unit_test(test_answer_headless_srv_per_endpoint),
      cmocka_unit_test(test_answer_search_capture_by_namespace_named_service),
      cmocka_unit_test(test_answer_repoint_is_visible_in_next_snapshot),
      cmocka_unit_test(test_answer_chain_limit_is_a_loop),
      cmocka_unit_test(test_answer_outside_zone_is_not_answered),
      cmocka_unit_test(test_answer_bad_name_rejected),
      cmocka_unit_test(test_answer_many_records_grow_beyond_inline),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  xs_answer_free(&ans);
  return rc;
}
