/* The target policy: the module (ranges, suffixes, limits) and through
 * xs_resolve against a scripted DNS server: aliases to names outside the
 * allowed suffixes are refused without upstream traffic, denied addresses
 * never reach a result, and the refusal names its rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"
#include "responder.h"
#include "xsvc.h"

static responder srv;
static xs_registry *reg;

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static int setup(void **state) {
  xs_error err;
  const char *meta[] = {"169.254.169.254"};
  const char *internal[] = {"10.0.0.7"};
  (void)state;
  if (responder_start(&srv) != 0)
    return -1;
  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "prod", "db", "db.example.test", &err));
  must(xs_registry_add_external(reg, "prod", "evil", "evil.attacker.test",
                                &err));
  must(xs_registry_add_external(reg, "prod", "look-alike", "db.badexample.test",
                                &err));
  must(xs_registry_add_cluster_ip(reg, "prod", "meta", meta, 1, &err));
  must(xs_registry_add_cluster_ip(reg, "prod", "internal", internal, 1, &err));
  {
    static const char *const aliases[][2] = {
        {"local", "local.attacker.test"},
        {"hop", "hop.attacker.test"},
        {"zero", "zero.attacker.test"},
        {"nat64", "nat64.attacker.test"},
        {"sixtofour", "6to4.attacker.test"},
        {"compat", "compat.attacker.test"},
        {"mixed", "mixed.attacker.test"},
        {"cloud", "cloud.attacker.test"},
        {"to-backend", "backend.prod.svc.cluster.local"},
        {"lit", "10.0.0.5"},
        {"meta-lit", "169.254.169.254"},
        {"chain", "chain.example.test"},
    };
    const char *backend[] = {"10.0.0.8"};
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
      must(xs_registry_add_external(reg, "prod", aliases[i][0], aliases[i][1],
                                    &err));
    must(xs_registry_add_cluster_ip(reg, "prod", "backend", backend, 1, &err));
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  xs_registry_free(reg);
  responder_stop(&srv);
  return 0;
}

typedef void (*config_fn)(xs_config *cfg);

static xs_resolver *make(config_fn fn) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  atomic_store(&srv.queries, 0);
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, srv.server));
  must(xs_config_set_timeout_ms(cfg, 60000)); /* the responder answers */
  if (fn != NULL)
    fn(cfg);
  must(xs_resolver_new(cfg, reg, &res, &err));
  xs_config_free(cfg);
  return res;
}

static xs_result *resolve(xs_resolver *res, const char *name, xs_family f,
                          xs_status want) {
  xs_result *r = NULL;
  assert_int_equal(xs_resolve(res, name, f, &r), want);
  assert_non_null(r);
  return r;
}

/* ---- the module ---------------------------------------------------------- */

static void test_policy_ranges_parse_and_match(void **st) {
  xs_policy p;
  xs_addr a;
  const xs_range *r;
  (void)st;
  xs_policy_init(&p);
  assert_int_equal(p.ndenied, 0); /* the defaults are apart */
  assert_true(p.defaults);
  assert_int_equal(xs_policy_deny_range(&p, "10.1.2.3/8"), XS_OK);
  assert_string_equal(p.denied[0].text, "10.0.0.0/8"); /* host bits dropped */
  assert_int_equal(xs_policy_deny_range(&p, "192.0.2.7"), XS_OK);
  assert_string_equal(p.denied[1].text, "192.0.2.7/32");
  assert_int_equal(xs_policy_deny_range(&p, "2001:db8::1/127"), XS_OK);
  assert_string_equal(p.denied[2].text, "2001:db8::/127");
  static const char *const bad[] = {"10.0.0.0/33", "::/129", "1.2.3.4/",   "/8",
                                    "1.2.3.4/8x",  "abc",    "1.2.3.4/-1", "",
                                    "1.2.3.4/0008"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(xs_policy_deny_range(&p, bad[i]), XS_EINVAL);
    assert_int_equal(xs_policy_allow_range(&p, bad[i]), XS_EINVAL);
  }
  assert_int_equal(p.ndenied, 3);
  assert_int_equal(p.nlifted, 0);

  assert_true(xs_addr_parse("169.254.169.254", 15, &a));
  r = xs_policy_denies(&p, &a);
  assert_non_null(r);
  assert_string_equal(r->text, "169.254.0.0/16");
  assert_true(xs_addr_parse("169.255.0.1", 11, &a));
  assert_null(xs_policy_denies(&p, &a));
  assert_true(xs_addr_parse("::ffff:169.254.1.1", 18, &a)); /* mapped */
  assert_non_null(xs_policy_denies(&p, &a));
  assert_true(xs_addr_parse("febf::1", 7, &a)); /* fe80::/10 ends at febf */
  assert_non_null(xs_policy_denies(&p, &a));
  assert_true(xs_addr_parse("fec0::1", 7, &a));
  assert_null(xs_policy_denies(&p, &a));
  assert_true(xs_addr_parse("192.0.2.7", 9, &a));
  assert_non_null(xs_policy_denies(&p, &a));
  assert_true(xs_addr_parse("192.0.2.8", 9, &a));
  assert_null(xs_policy_denies(&p, &a));
  assert_true(xs_addr_parse("2001:db8::1", 11, &a)); /* /127: ::0 and ::1 */
  assert_non_null(xs_policy_denies(&p, &a));
  assert_true(xs_addr_parse("2001:db8::2", 11, &a));
  assert_null(xs_policy_denies(&p, &a));
  assert_int_equal(xs_policy_deny_range(&p, "0.0.0.0/0"), XS_OK); /* all */
  assert_true(xs_addr_parse("8.8.8.8", 7, &a));
  assert_non_null(xs_policy_denies(&p, &a));
  xs_policy_clear_ranges(&p);
  assert_null(xs_policy_denies(&p, &a));
  assert_true(xs_addr_parse("127.0.0.1", 9, &a)); /* defaults gone too */
  assert_null(xs_policy_denies(&p, &a));
  while (p.ndenied < XS_POLICY_MAX_RANGES)
    assert_int_equal(xs_policy_deny_range(&p, "10.0.0.0/8"), XS_OK);
  assert_int_equal(xs_policy_deny_range(&p, "10.0.0.0/8"), XS_ELIMIT);
  while (p.nlifted < XS_POLICY_MAX_RANGES)
    assert_int_equal(xs_policy_allow_range(&p, "10.0.0.0/8"), XS_OK);
  assert_int_equal(xs_policy_allow_range(&p, "10.0.0.0/8"), XS_ELIMIT);
}

/* The verdict of the default policy (plus what fn adds) on one address. */
static const char *verdict(const char *text, void (*fn)(xs_policy *)) {
  static char why[XS_POLICY_WHY];
  xs_policy p;
  xs_addr a;
  const xs_range *r;
  xs_policy_init(&p);
  if (fn != NULL)
    fn(&p);
  assert_true(xs_addr_parse(text, strlen(text), &a));
  r = xs_policy_denies(&p, &a);
  if (r == NULL)
    return "allowed";
  xs_policy_explain(r, &a, why, sizeof(why));
  return why;
}

/* Loopback, unspecified, link-local, metadata, multicast and broadcast are
 * denied out of the box; private ranges are not. */
static void test_policy_defaults_deny_what_no_alias_should_reach(void **st) {
  static const char *const denied[][2] = {
      {"127.0.0.1", "127.0.0.0/8 (loopback)"},
      {"127.255.255.254", "127.0.0.0/8 (loopback)"},
      {"::1", "::1/128 (loopback)"},
      {"0.0.0.0", "0.0.0.0/8"},
      {"0.1.2.3", "0.0.0.0/8"},
      {"::", "::/128 (unspecified)"},
      {"169.254.169.254", "169.254.0.0/16"},
      {"fe80::1", "fe80::/10 (link-local)"},
      {"fd00:ec2::254", "fd00:ec2::254/128 (AWS"},
      {"100.100.100.200", "100.100.100.200/32 (Alibaba"},
      {"168.63.129.16", "168.63.129.16/32 (Azure"},
      {"224.0.0.1", "224.0.0.0/4 (multicast)"},
      {"239.255.255.250", "224.0.0.0/4 (multicast)"},
      {"ff02::1", "ff00::/8 (multicast)"},
      {"255.255.255.255", "255.255.255.255/32 (broadcast)"},
  };
  static const char *const allowed[] = {
      "10.0.0.7",        "172.16.0.1",     "172.31.255.255", "192.168.1.1",
      "fc00::1",         "fd12::5",        "8.8.8.8",        "2001:db8::a",
      "100.100.100.201", "168.63.129.17",  "1.0.0.0",        "223.255.255.255",
      "fd00:ec2::253",   "64:ff9b::a00:7", /* NAT64 of 10.0.0.7 */
  };
  size_t i;
  (void)st;
  for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
    const char *why = verdict(denied[i][0], NULL);
    if (strstr(why, denied[i][1]) == NULL)
      fail_msg("%s: \"%s\", want \"%s\"", denied[i][0], why, denied[i][1]);
  }
  for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
    assert_string_equal(verdict(allowed[i], NULL), "allowed");
}

/* IPv4 inside IPv6: mapped, compatible, NAT64 and 6to4 forms are judged as
 * the IPv4 address they carry. */
static void test_policy_embedded_ipv4_judged_as_ipv4(void **st) {
  static const char *const forms[][2] = {
      {"::ffff:169.254.169.254", "169.254.0.0/16"},
      {"::ffff:127.0.0.1", "127.0.0.0/8"},
      {"::169.254.169.254", "169.254.0.0/16"}, /* compatible */
      {"::127.0.0.1", "127.0.0.0/8"},
      {"64:ff9b::a9fe:a9fe", "169.254.0.0/16"}, /* NAT64 */
      {"64:ff9b::7f00:1", "127.0.0.0/8"},
      {"64:ff9b::6464:64c8", "100.100.100.200/32"},
      {"2002:a9fe:a9fe::1", "169.254.0.0/16"}, /* 6to4 */
      {"2002:7f00:1::", "127.0.0.0/8"},
      {"2002:a83f:8110:1::5", "168.63.129.16/32"},
  };
  size_t i;
  (void)st;
  for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    const char *why = verdict(forms[i][0], NULL);
    if (strstr(why, forms[i][1]) == NULL || strstr(why, "(IPv4 ") == NULL)
      fail_msg("%s: \"%s\", want %s", forms[i][0], why, forms[i][1]);
  }
  assert_string_equal(verdict("2002:a9fe:a9fe::1", NULL),
                      "address 2002:a9fe:a9fe::1 (IPv4 169.254.169.254) is in "
                      "denied range 169.254.0.0/16 (link-local, cloud metadata "
                      "169.254.169.254)");
  /* private IPv4 inside stays allowed; other IPv6 is IPv6 only */
  assert_string_equal(verdict("2002:c0a8:101::1", NULL), "allowed");
  assert_string_equal(verdict("::ffff:10.1.2.3", NULL), "allowed");
  assert_string_equal(verdict("64:ff9b:1::a9fe:a9fe", NULL), "allowed");
}

static void lift_loopback(xs_policy *p) {
  assert_int_equal(xs_policy_allow_range(p, "127.0.0.0/8"), XS_OK);
  assert_int_equal(xs_policy_allow_range(p, "::1"), XS_OK);
}

static void lift_then_deny_one(xs_policy *p) {
  lift_loopback(p);
  assert_int_equal(xs_policy_deny_range(p, "127.0.0.53"), XS_OK);
}

static void lift_more_specific(xs_policy *p) {
  assert_int_equal(xs_policy_allow_range(p, "169.254.10.0/24"), XS_OK);
}

/* Allowed ranges lift denials; the most specific range decides. */
static void test_policy_allowed_ranges_lift_denials(void **st) {
  (void)st;
  assert_string_equal(verdict("127.0.0.1", lift_loopback), "allowed");
  assert_string_equal(verdict("::1", lift_loopback), "allowed");
  assert_string_equal(verdict("::ffff:127.0.0.1", lift_loopback), "allowed");
  assert_string_equal(verdict("64:ff9b::7f00:1", lift_loopback), "allowed");
  assert_string_equal(verdict("169.254.169.254", lift_loopback) + 0,
                      "address 169.254.169.254 is in denied range "
                      "169.254.0.0/16 (link-local, cloud metadata "
                      "169.254.169.254)");
  assert_string_equal(verdict("127.0.0.53", lift_then_deny_one),
                      "address 127.0.0.53 is in denied range 127.0.0.53/32");
  assert_string_equal(verdict("127.0.0.54", lift_then_deny_one), "allowed");
  assert_string_equal(verdict("169.254.10.9", lift_more_specific), "allowed");
  assert_string_equal(verdict("169.254.11.9", lift_more_specific) + 0,
                      "address 169.254.11.9 is in denied range 169.254.0.0/16 "
                      "(link-local, cloud metadata 169.254.169.254)");
}

static void test_policy_suffixes(void **st) {
  xs_policy p;
  char why[XS_POLICY_WHY];
  int i;
  (void)st;
  xs_policy_init(&p);
  assert_true(xs_policy_target_ok(&p, "anything.test.", 14, why)); /* none */
  assert_int_equal(xs_policy_allow_suffix(&p, "Example.TEST."), XS_OK);
  assert_true(xs_policy_target_ok(&p, "example.test", 12, why));
  assert_true(xs_policy_target_ok(&p, "db.EXAMPLE.test.", 16, why));
  assert_false(xs_policy_target_ok(&p, "db.badexample.test.", 19, why));
  assert_string_equal(why, "target db.badexample.test. is not below an "
                           "allowed suffix (example.test)");
  assert_false(xs_policy_target_ok(&p, "example.test.evil.", 18, why));
  assert_int_equal(xs_policy_allow_suffix(&p, ""), XS_EINVAL);
  assert_int_equal(xs_policy_allow_suffix(&p, "a..b"), XS_EINVAL);
  assert_int_equal(xs_policy_allow_suffix(&p, "bad name"), XS_EINVAL);
  for (i = 1; i < XS_POLICY_MAX_SUFFIXES; i++)
    assert_int_equal(xs_policy_allow_suffix(&p, "other.test"), XS_OK);
  assert_int_equal(xs_policy_allow_suffix(&p, "other.test"), XS_ELIMIT);
}

/* ---- through xs_resolve ---------------------------------------------------
 */

static void test_resolve_link_local_denied_by_default(void **st) {
  xs_resolver *res = make(NULL);
  xs_result *r;
  (void)st;
  r = resolve(res, "meta", XS_FAMILY_IPV4, XS_EPOLICY);
  assert_int_equal(xs_result_address_count(r), 0);
  assert_string_equal(xs_result_policy(r),
                      "address 169.254.169.254 is in denied range "
                      "169.254.0.0/16 (link-local, cloud metadata "
                      "169.254.169.254)");
  assert_string_equal(xs_result_name(r), "meta.prod.svc.cluster.local.");
  xs_result_free(r);
  r = resolve(res, "internal", XS_FAMILY_IPV4, XS_OK); /* private: allowed */
  assert_string_equal(xs_result_policy(r), "");
  xs_result_free(r);
  xs_resolver_free(res);
}

static void deny_private(xs_config *cfg) {
  must(xs_config_add_denied_range(cfg, "10.0.0.0/8"));
  must(xs_config_add_denied_range(cfg, "192.0.2.0/24"));
}

static void test_resolve_denied_ranges_filter_addresses(void **st) {
  xs_resolver *res = make(deny_private);
  xs_result *r;
  (void)st;
  r = resolve(res, "internal", XS_FAMILY_IPV4, XS_EPOLICY);
  assert_string_equal(xs_result_policy(r),
                      "address 10.0.0.7 is in denied range 10.0.0.0/8");
  xs_result_free(r);
  /* upstream addresses too: A 192.0.2.10 is denied ... */
  r = resolve(res, "db", XS_FAMILY_IPV4, XS_EPOLICY);
  assert_int_equal(xs_result_address_count(r), 0);
  assert_int_equal(xs_result_chain_count(r), 1); /* the alias is shown */
  assert_string_equal(xs_result_policy(r), "address 192.0.2.10 is in denied "
                                           "range 192.0.2.0/24");
  xs_result_free(r);
  /* ... AAAA 2001:db8::a is not: both families give just that one (::a) */
  r = resolve(res, "db", XS_FAMILY_ANY, XS_OK);
  assert_int_equal(xs_result_address_count(r), 1);
  assert_string_equal(xs_result_address_text(r, 0), "2001:db8::a");
  assert_string_equal(xs_result_policy(r), "");
  xs_result_free(r);
  /* again, from the cache and from the result memo: still filtered */
  for (int i = 0; i < 3; i++) {
    r = resolve(res, "db", XS_FAMILY_IPV4, XS_EPOLICY);
    assert_int_equal(xs_result_address_count(r), 0);
    xs_result_free(r);
  }
  xs_resolver_free(res);
}

static void allow_example(xs_config *cfg) {
  must(xs_config_add_allowed_target(cfg, "example.test"));
}

static void test_resolve_alias_outside_allowed_suffixes(void **st) {
  xs_resolver *res = make(allow_example);
  xs_result *r;
  (void)st;
  r = resolve(res, "evil", XS_FAMILY_ANY, XS_EPOLICY);
  assert_string_equal(xs_result_policy(r),
                      "target evil.attacker.test. is not below an allowed "
                      "suffix (example.test)");
  assert_int_equal(xs_result_chain_count(r), 1);
  assert_string_equal(xs_result_chain_target(r, 0), "evil.attacker.test.");
  assert_int_equal(xs_result_address_count(r), 0);
  xs_result_free(r);
  assert_int_equal(atomic_load(&srv.queries), 0); /* never asked */
  r = resolve(res, "look-alike", XS_FAMILY_IPV4, XS_EPOLICY);
  xs_result_free(r);
  assert_int_equal(atomic_load(&srv.queries), 0);
  r = resolve(res, "db", XS_FAMILY_IPV4, XS_OK);
  assert_string_equal(xs_result_address_text(r, 0), "192.0.2.10");
  xs_result_free(r);
  /* a name asked directly is not an alias: not refused */
  r = resolve(res, "www.other.test.", XS_FAMILY_IPV4, XS_OK);
  xs_result_free(r);
  xs_resolver_free(res);
}

static void no_ranges(xs_config *cfg) {
  must(xs_config_clear_denied_ranges(cfg));
}

static void test_resolve_ranges_cleared(void **st) {
  xs_resolver *res = make(no_ranges);
  xs_result *r;
  xs_config *cfg;
  (void)st;
  r = resolve(res, "meta", XS_FAMILY_IPV4, XS_OK);
  assert_string_equal(xs_result_address_text(r, 0), "169.254.169.254");
  xs_result_free(r);
  xs_resolver_free(res);
  must(xs_config_new(&cfg));
  assert_int_equal(xs_config_add_denied_range(cfg, "nope"), XS_EINVAL);
  assert_int_equal(xs_config_add_allowed_target(cfg, "bad name"), XS_EINVAL);
  assert_int_equal(xs_config_add_denied_range(NULL, "10.0.0.0/8"), XS_EINVAL);
  assert_int_equal(xs_config_clear_denied_ranges(NULL), XS_EINVAL);
  xs_config_free(cfg);
}

/* What the attacker's DNS answers for the aliases' targets. */
static const rsp_record attacker[] = {
    {"local.attacker.test.", 1, "127.0.0.1"},
    {"local.attacker.test.", 28, "::1"},
    {"hop.attacker.test.", 5, "127.0.0.1.nip.io."},
    {"127.0.0.1.nip.io.", 1, "127.0.0.1"},
    {"zero.attacker.test.", 1, "0.0.0.0"},
    {"zero.attacker.test.", 28, "::"},
    {"nat64.attacker.test.", 28, "64:ff9b::a9fe:a9fe"},
    {"6to4.attacker.test.", 28, "2002:a9fe:a9fe::1"},
    {"compat.attacker.test.", 28, "::a9fe:a9fe"},
    {"mixed.attacker.test.", 1, "127.0.0.1"},
    {"mixed.attacker.test.", 1, "10.0.0.9"},
    {"cloud.attacker.test.", 1, "100.100.100.200"},
    {"cloud.attacker.test.", 1, "168.63.129.16"},
    {"cloud.attacker.test.", 28, "fd00:ec2::254"},
    {"chain.example.test.", 5, "hop2.evil.test."},
    {"hop2.evil.test.", 1, "10.0.0.9"},
    {NULL, 0, NULL},
};

static void expect_refused(xs_resolver *res, const char *name, xs_family f,
                           const char *why_part) {
  xs_result *r = NULL;
  xs_status st = xs_resolve(res, name, f, &r);
  assert_non_null(r);
  if (st != XS_EPOLICY || strstr(xs_result_policy(r), why_part) == NULL)
    fail_msg("%s: %s \"%s\", want policy \"%s\"", name, xs_status_name(st),
             xs_result_policy(r), why_part);
  assert_int_equal(xs_result_address_count(r), 0);
  xs_result_free(r);
}

/* An alias whose target resolves to loopback, unspecified or metadata
 * addresses (directly, through an upstream CNAME, in IPv6 forms carrying
 * IPv4) is refused by default. */
static void test_resolve_alias_to_loopback_and_metadata_refused(void **st) {
  xs_resolver *res = make(NULL);
  xs_result *r;
  (void)st;
  atomic_store(&srv.script, attacker);
  expect_refused(res, "local", XS_FAMILY_ANY, "(loopback)");
  expect_refused(res, "local", XS_FAMILY_IPV4, "127.0.0.0/8 (loopback)");
  expect_refused(res, "local", XS_FAMILY_IPV6, "::1/128 (loopback)");
  expect_refused(res, "hop", XS_FAMILY_IPV4, "127.0.0.0/8");
  expect_refused(res, "127.0.0.1.nip.io.", XS_FAMILY_IPV4, "127.0.0.0/8");
  expect_refused(res, "zero", XS_FAMILY_IPV4, "0.0.0.0/8");
  expect_refused(res, "zero", XS_FAMILY_IPV6, "::/128");
  expect_refused(res, "nat64", XS_FAMILY_IPV6, "169.254.0.0/16");
  expect_refused(res, "sixtofour", XS_FAMILY_IPV6, "169.254.0.0/16");
  expect_refused(res, "compat", XS_FAMILY_IPV6, "169.254.0.0/16");
  expect_refused(res, "cloud", XS_FAMILY_IPV4, "100.100.100.200/32");
  expect_refused(res, "cloud", XS_FAMILY_IPV6, "fd00:ec2::254/128");
  /* a denied address is left out, the others stay */
  r = resolve(res, "mixed", XS_FAMILY_IPV4, XS_OK);
  assert_int_equal(xs_result_address_count(r), 1);
  assert_string_equal(xs_result_address_text(r, 0), "10.0.0.9");
  xs_result_free(r);
  xs_resolver_free(res);
  atomic_store(&srv.script, NULL);
}

static void allow_loopback(xs_config *cfg) {
  must(xs_config_allow_range(cfg, "127.0.0.0/8"));
  must(xs_config_allow_range(cfg, "::1"));
}

static void test_resolve_loopback_allowed_when_lifted(void **st) {
  xs_resolver *res = make(allow_loopback);
  xs_result *r;
  xs_config *cfg;
  (void)st;
  atomic_store(&srv.script, attacker);
  r = resolve(res, "local", XS_FAMILY_ANY, XS_OK);
  assert_int_equal(xs_result_address_count(r), 2);
  assert_string_equal(xs_result_address_text(r, 0), "127.0.0.1");
  assert_string_equal(xs_result_address_text(r, 1), "::1");
  xs_result_free(r);
  expect_refused(res, "nat64", XS_FAMILY_IPV6, "169.254.0.0/16"); /* still */
  xs_resolver_free(res);
  atomic_store(&srv.script, NULL);
  must(xs_config_new(&cfg));
  assert_int_equal(xs_config_allow_range(cfg, "127.0.0.0/33"), XS_EINVAL);
  assert_int_equal(xs_config_allow_range(NULL, "127.0.0.0/8"), XS_EINVAL);
  xs_config_free(cfg);
}

static void allow_example_literal(xs_config *cfg) {
  must(xs_config_add_allowed_target(cfg, "example.test"));
  must(xs_config_set_ip_literal_targets(cfg, 1));
}

/* With allowed suffixes, every name a chain from an alias passes through is
 * checked: in-cluster targets, upstream CNAME targets, IP literals. */
static void test_resolve_allowed_targets_hold_for_every_link(void **st) {
  xs_resolver *res = make(allow_example_literal);
  (void)st;
  atomic_store(&srv.script, attacker);
  expect_refused(res, "to-backend", XS_FAMILY_IPV4,
                 "target backend.prod.svc.cluster.local. is not below an "
                 "allowed suffix (example.test)");
  expect_refused(res, "chain", XS_FAMILY_IPV4,
                 "target hop2.evil.test. is not below an allowed suffix");
  expect_refused(res, "chain", XS_FAMILY_IPV4, "hop2.evil.test."); /* cached */
  expect_refused(res, "lit", XS_FAMILY_IPV4,
                 "target 10.0.0.5. is not below an allowed suffix");
  xs_resolver_free(res);
  atomic_store(&srv.script, NULL);
}

static void allow_example_and_cluster(xs_config *cfg) {
  allow_example_literal(cfg);
  must(xs_config_add_allowed_target(cfg, "svc.cluster.local"));
}

static void literal_only(xs_config *cfg) {
  must(xs_config_set_ip_literal_targets(cfg, 1));
}

static void
test_resolve_allowed_targets_pass_when_every_link_allowed(void **st) {
  xs_resolver *res = make(allow_example_and_cluster);
  xs_result *r;
  (void)st;
  r = resolve(res, "to-backend", XS_FAMILY_IPV4, XS_OK);
  assert_string_equal(xs_result_address_text(r, 0), "10.0.0.8");
  xs_result_free(r);
  r = resolve(res, "db", XS_FAMILY_IPV4, XS_OK);
  xs_result_free(r);
  xs_resolver_free(res);
  /* no suffixes: IP literals are answered, under the address policy */
  res = make(literal_only);
  r = resolve(res, "lit", XS_FAMILY_IPV4, XS_OK);
  assert_string_equal(xs_result_address_text(r, 0), "10.0.0.5");
  xs_result_free(r);
  expect_refused(res, "meta-lit", XS_FAMILY_IPV4, "169.254.0.0/16");
  xs_resolver_free(res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_ranges_parse_and_match),
      cmocka_unit_test(test_policy_defaults_deny_what_no_alias_should_reach),
      cmocka_unit_test(test_policy_embedded_ipv4_judged_as_ipv4),
      cmocka_unit_test(test_policy_allowed_ranges_lift_denials),
      cmocka_unit_test(test_policy_suffixes),
      cmocka_unit_test(test_resolve_link_local_denied_by_default),
      cmocka_unit_test(test_resolve_denied_ranges_filter_addresses),
      cmocka_unit_test(test_resolve_alias_outside_allowed_suffixes),
      cmocka_unit_test(test_resolve_ranges_cleared),
      cmocka_unit_test(test_resolve_alias_to_loopback_and_metadata_refused),
      cmocka_unit_test(test_resolve_loopback_allowed_when_lifted),
      cmocka_unit_test(test_resolve_allowed_targets_hold_for_every_link),
      cmocka_unit_test(
          test_resolve_allowed_targets_pass_when_every_link_allowed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
