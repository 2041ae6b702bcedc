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
  assert_int_equal(p.ndenied, 2);
  assert_string_equal(p.denied[0].text, "169.254.0.0/16");
  assert_string_equal(p.denied[1].text, "fe80::/10");
  assert_int_equal(xs_policy_deny_range(&p, "10.1.2.3/8"), XS_OK);
  assert_string_equal(p.denied[2].text, "10.0.0.0/8"); /* host bits dropped */
  assert_int_equal(xs_policy_deny_range(&p, "192.0.2.7"), XS_OK);
  assert_string_equal(p.denied[3].text, "192.0.2.7/32");
  assert_int_equal(xs_policy_deny_range(&p, "2001:db8::1/127"), XS_OK);
  assert_string_equal(p.denied[4].text, "2001:db8::/127");
  static const char *const bad[] = {"10.0.0.0/33", "::/129", "1.2.3.4/",   "/8",
                                    "1.2.3.4/8x",  "abc",    "1.2.3.4/-1", "",
                                    "1.2.3.4/0008"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(xs_policy_deny_range(&p, bad[i]), XS_EINVAL);
  assert_int_equal(p.ndenied, 5);

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
  while (p.ndenied < XS_POLICY_MAX_RANGES)
    assert_int_equal(xs_policy_deny_range(&p, "10.0.0.0/8"), XS_OK);
  assert_int_equal(xs_policy_deny_range(&p, "10.0.0.0/8"), XS_ELIMIT);
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
  assert_string_equal(xs_result_policy(r), "address 169.254.169.254 is in "
                                           "denied range 169.254.0.0/16");
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_ranges_parse_and_match),
      cmocka_unit_test(test_policy_suffixes),
      cmocka_unit_test(test_resolve_link_local_denied_by_default),
      cmocka_unit_test(test_resolve_denied_ranges_filter_addresses),
      cmocka_unit_test(test_resolve_alias_outside_allowed_suffixes),
      cmocka_unit_test(test_resolve_ranges_cleared),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
