/* xs_resolve through the public API: search walks from several namespaces,
 * chains, loops, case and trailing dots, answered from the registry. The
 * upstream is a loopback UDP socket this program holds and never answers
 * (a closed port could be taken meanwhile by another program on a shared
 * machine), so any walk that reaches upstream ends in XS_ETIMEOUT without
 * sending traffic anywhere else. Real upstream behaviour is in
 * tests/integration. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "silent.h"
#include "xsvc.h"

static xs_registry *reg;
static char server[64];
static int silent_fd = -1;

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static int setup(void **state) {
  xs_error err;
  const char *ip[] = {"10.96.0.20"};
  const char *dual[] = {"10.96.0.30", "fd00::30"};
  (void)state;
  if ((silent_fd = silent_upstream(server, sizeof(server))) < 0)
    return -1;
  must(xs_registry_new(&reg));
  must(xs_registry_add_namespace(reg, "dev", &err));
  must(xs_registry_add_external(reg, "prod", "my-service",
                                "my.database.example.com", &err));
  must(xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err));
  must(xs_registry_add_port(reg, "prod", "backend", "http", 80, NULL, &err));
  must(xs_registry_add_cluster_ip(reg, "prod", "dual", dual, 2, &err));
  must(xs_registry_add_external(reg, "prod", "to-internal",
                                "backend.prod.svc.cluster.local", &err));
  must(xs_registry_add_external(reg, "prod", "chain",
                                "to-internal.prod.svc.cluster.local.", &err));
  must(xs_registry_add_external(reg, "prod", "loop-a",
                                "loop-b.prod.svc.cluster.local", &err));
  must(xs_registry_add_external(reg, "prod", "loop-b",
                                "loop-a.prod.svc.cluster.local", &err));
  must(xs_registry_add_external(reg, "prod", "to-missing",
                                "nothere.prod.svc.cluster.local", &err));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  xs_registry_free(reg);
  close(silent_fd);
  return 0;
}

static xs_resolver *resolver_for(const char *ns) {
  xs_config *cfg;
  xs_resolver *r;
  xs_error err;
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, ns));
  must(xs_config_add_server(cfg, server));
  must(xs_config_set_timeout_ms(cfg, 300));
  must(xs_config_set_attempts(cfg, 1));
  must(xs_resolver_new(cfg, reg, &r, &err));
  xs_config_free(cfg);
  return r;
}

static xs_result *resolve(const char *ns, const char *name, xs_family fam,
                          xs_status want) {
  xs_resolver *r = resolver_for(ns);
  xs_result *res = NULL;
  xs_status got = xs_resolve(r, name, fam, &res);
  assert_non_null(res);
  assert_int_equal(xs_result_status(res), got);
  if (want == XS_ETIMEOUT && got == XS_EREFUSED)
    got = XS_ETIMEOUT; /* c-ares may or may not report the ICMP refusal */
  assert_int_equal(got, want);
  xs_resolver_free(r);
  return res;
}

static void expect_candidates(const xs_result *res, const char *const *want,
                              size_t n) {
  assert_int_equal(xs_result_candidate_count(res), n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(xs_result_candidate(res, i), want[i]);
}

static void test_resolve_cluster_ip_same_namespace_first_candidate(void **s) {
  static const char *const want[] = {"backend.prod.svc.cluster.local."};
  xs_result *res = resolve("prod", "backend", XS_FAMILY_ANY, XS_OK);
  (void)s;
  expect_candidates(res, want, 1);
  assert_string_equal(xs_result_name(res), "backend.prod.svc.cluster.local.");
  assert_int_equal(xs_result_address_count(res), 1);
  assert_string_equal(xs_result_address_text(res, 0), "10.96.0.20");
  assert_int_equal(xs_result_address_family(res, 0), 4);
  assert_int_equal(xs_result_address_ttl(res, 0), 5);
  assert_int_equal(xs_result_address_source(res, 0), XS_SOURCE_REGISTRY);
  assert_int_equal(xs_result_chain_count(res), 0);
  assert_int_equal(xs_result_ttl(res), 5);
  assert_string_equal(xs_result_target(res), "backend.prod.svc.cluster.local.");
  xs_result_free(res);
}

static void test_resolve_ns_qualified_from_dev_walks_to_second(void **s) {
  /* row 47 */
  static const char *const want[] = {"backend.prod.dev.svc.cluster.local.",
                                     "backend.prod.svc.cluster.local."};
  xs_result *res = resolve("dev", "backend.prod", XS_FAMILY_IPV4, XS_OK);
  (void)s;
  expect_candidates(res, want, 2);
  assert_string_equal(xs_result_name(res), want[1]);
  xs_result_free(res);
}

static void test_resolve_svc_suffix_from_dev_third_candidate(void **s) {
  /* row 48 */
  xs_result *res = resolve("dev", "backend.prod.svc", XS_FAMILY_ANY, XS_OK);
  (void)s;
  assert_int_equal(xs_result_candidate_count(res), 3);
  assert_string_equal(xs_result_name(res), "backend.prod.svc.cluster.local.");
  xs_result_free(res);
}

static void test_resolve_fqdn_without_dot_fourth_candidate(void **s) {
  /* row 49 */
  xs_result *res =
      resolve("dev", "backend.prod.svc.cluster.local", XS_FAMILY_ANY, XS_OK);
  (void)s;
  assert_int_equal(xs_result_candidate_count(res), 4);
  assert_string_equal(xs_result_candidate(res, 3),
                      "backend.prod.svc.cluster.local.");
  xs_result_free(res);
}

static void test_resolve_trailing_dot_one_candidate(void **s) { /* row 50 */
  static const char *const want[] = {"backend.prod.svc.cluster.local."};
  xs_result *res =
      resolve("dev", "backend.prod.svc.cluster.local.", XS_FAMILY_ANY, XS_OK);
  (void)s;
  expect_candidates(res, want, 1);
  xs_result_free(res);
}

static void test_resolve_wrong_namespace_walks_to_upstream(void **s) {
  /* row 46: three local NXDOMAINs, then the bare name goes upstream (here a
   * closed port: timeout) */
  static const char *const want[] = {"backend.dev.svc.cluster.local.",
                                     "backend.svc.cluster.local.",
                                     "backend.cluster.local.", "backend."};
  xs_result *res = resolve("dev", "backend", XS_FAMILY_ANY, XS_ETIMEOUT);
  (void)s;
  expect_candidates(res, want, 4);
  assert_string_equal(xs_result_name(res), "backend.");
  assert_int_equal(xs_result_address_count(res), 0);
  xs_result_free(res);
}

static void test_resolve_namespace_name_nodata_keeps_walking(void **s) {
  /* row 53: a namespace name is NODATA; the walk goes on past it. Here every
   * candidate is in the zone, so the walk ends locally and NODATA (glibc's
   * precedence over NXDOMAIN) is what is reported, for the NODATA name. */
  xs_result *res =
      resolve("dev", "prod.svc.cluster.local", XS_FAMILY_ANY, XS_ENODATA);
  (void)s;
  assert_int_equal(xs_result_candidate_count(res), 4);
  assert_string_equal(xs_result_name(res), "prod.svc.cluster.local.");
  xs_result_free(res);
  res = resolve("dev", "prod.svc", XS_FAMILY_ANY, XS_ETIMEOUT);
  assert_int_equal(xs_result_candidate_count(res), 4);
  assert_string_equal(xs_result_candidate(res, 2), "prod.svc.cluster.local.");
  assert_string_equal(xs_result_name(res), "prod.svc.");
  xs_result_free(res);
}

static void test_resolve_dual_stack_any_gives_both_families(void **s) {
  xs_result *res = resolve("prod", "dual", XS_FAMILY_ANY, XS_OK);
  (void)s;
  assert_int_equal(xs_result_address_count(res), 2);
  assert_string_equal(xs_result_address_text(res, 0), "10.96.0.30");
  assert_string_equal(xs_result_address_text(res, 1), "fd00::30");
  assert_int_equal(xs_result_address_family(res, 1), 6);
  xs_result_free(res);
  res = resolve("prod", "dual", XS_FAMILY_IPV6, XS_OK);
  assert_int_equal(xs_result_address_count(res), 1);
  assert_string_equal(xs_result_address_text(res, 0), "fd00::30");
  xs_result_free(res);
}

static void test_resolve_chain_to_internal_service(void **s) {
  xs_result *res = resolve("prod", "chain", XS_FAMILY_IPV4, XS_OK);
  (void)s;
  assert_int_equal(xs_result_chain_count(res), 2);
  assert_string_equal(xs_result_chain_name(res, 0),
                      "chain.prod.svc.cluster.local.");
  assert_string_equal(xs_result_chain_target(res, 0),
                      "to-internal.prod.svc.cluster.local.");
  assert_string_equal(xs_result_chain_target(res, 1),
                      "backend.prod.svc.cluster.local.");
  assert_int_equal(xs_result_chain_source(res, 1), XS_SOURCE_REGISTRY);
  assert_int_equal(xs_result_chain_ttl(res, 1), 5);
  assert_string_equal(xs_result_address_text(res, 0), "10.96.0.20");
  assert_string_equal(xs_result_target(res), "backend.prod.svc.cluster.local.");
  xs_result_free(res);
}

static void test_resolve_internal_target_wrong_family_is_nodata(void **s) {
  xs_result *res = resolve("prod", "to-internal.prod.svc.cluster.local.",
                           XS_FAMILY_IPV6, XS_ENODATA);
  (void)s;
  assert_int_equal(xs_result_chain_count(res), 1); /* never hidden */
  xs_result_free(res);
}

static void test_resolve_loop_reports_loop_with_chain(void **s) {
  xs_result *res = resolve("prod", "loop-a.prod.svc.cluster.local.",
                           XS_FAMILY_ANY, XS_ELOOP);
  (void)s;
  assert_int_equal(xs_result_chain_count(res), 2);
  assert_string_equal(xs_result_chain_target(res, 1),
                      "loop-a.prod.svc.cluster.local.");
  xs_result_free(res);
}

static void test_resolve_missing_internal_target_is_nxdomain(void **s) {
  xs_result *res = resolve("prod", "to-missing.prod.svc.cluster.local.",
                           XS_FAMILY_IPV4, XS_ENOTFOUND);
  (void)s;
  assert_int_equal(xs_result_chain_count(res), 1);
  assert_string_equal(xs_result_chain_target(res, 0),
                      "nothere.prod.svc.cluster.local.");
  xs_result_free(res);
}

static void test_resolve_external_alias_upstream_failure_keeps_chain(void **s) {
  xs_result *res = resolve("prod", "my-service", XS_FAMILY_ANY, XS_ETIMEOUT);
  (void)s;
  assert_int_equal(xs_result_candidate_count(res), 1);
  assert_int_equal(xs_result_chain_count(res), 1);
  assert_string_equal(xs_result_chain_name(res, 0),
                      "my-service.prod.svc.cluster.local.");
  assert_string_equal(xs_result_chain_target(res, 0),
                      "my.database.example.com.");
  assert_string_equal(xs_result_target(res), "my.database.example.com.");
  xs_result_free(res);
}

static void test_resolve_case_insensitive_owner_as_asked(void **s) {
  xs_result *res =
      resolve("prod", "BACKEND.Prod.SVC.cluster.LOCAL.", XS_FAMILY_IPV4, XS_OK);
  (void)s;
  assert_string_equal(xs_result_name(res), "BACKEND.Prod.SVC.cluster.LOCAL.");
  assert_string_equal(xs_result_query(res), "BACKEND.Prod.SVC.cluster.LOCAL.");
  xs_result_free(res);
}

static void test_resolve_bad_names_and_arguments(void **s) {
  xs_resolver *r = resolver_for("prod");
  xs_result *res = NULL;
  (void)s;
  assert_int_equal(xs_resolve(r, "a..b", XS_FAMILY_ANY, &res), XS_EBADNAME);
  assert_int_equal(xs_result_candidate_count(res), 0);
  xs_result_free(res);
  assert_int_equal(xs_resolve(r, NULL, XS_FAMILY_ANY, &res), XS_EINVAL);
  assert_int_equal(xs_resolve(r, "x", (xs_family)5, &res), XS_EINVAL);
  xs_resolver_free(r);
}

static void test_resolve_registry_change_seen_by_next_call(void **s) {
  xs_resolver *r = resolver_for("prod");
  xs_result *res;
  xs_error err;
  const char *ip[] = {"10.96.0.99"};
  (void)s;
  must(xs_registry_add_cluster_ip(reg, "prod", "late", ip, 1, &err));
  assert_int_equal(xs_resolve(r, "late", XS_FAMILY_IPV4, &res), XS_OK);
  assert_string_equal(xs_result_address_text(res, 0), "10.96.0.99");
  xs_result_free(res);
  must(xs_registry_remove(reg, "prod", "late"));
  assert_int_equal(
      xs_resolve(r, "late.prod.svc.cluster.local.", XS_FAMILY_IPV4, &res),
      XS_ENOTFOUND);
  xs_result_free(res);
  xs_resolver_free(r);
}

static void test_config_rejects_out_of_range_values(void **s) {
  xs_config *cfg;
  (void)s;
  must(xs_config_new(&cfg));
  assert_int_equal(xs_config_set_ttl(cfg, 3601), XS_EINVAL); /* row 60 */
  assert_int_equal(xs_config_set_ttl(cfg, -1), XS_EINVAL);
  must(xs_config_set_ttl(cfg, 3600));
  assert_int_equal(xs_config_set_ndots(cfg, 16), XS_EINVAL);
  assert_int_equal(xs_config_set_namespace(cfg, "Prod"), XS_EINVAL);
  assert_int_equal(xs_config_set_cluster_domain(cfg, "a..b"), XS_EINVAL);
  assert_int_equal(xs_config_set_timeout_ms(cfg, 0), XS_EINVAL);
  assert_int_equal(xs_config_set_attempts(cfg, 11), XS_EINVAL);
  assert_int_equal(xs_config_set_mode(cfg, (xs_mode)7), XS_EINVAL);
  xs_config_free(cfg);
}

static void test_resolver_rejects_bad_server(void **s) {
  xs_config *cfg;
  xs_resolver *r = NULL;
  xs_error err;
  (void)s;
  must(xs_config_new(&cfg));
  must(xs_config_add_server(cfg, "not a server"));
  assert_int_not_equal(xs_resolver_new(cfg, reg, &r, &err), XS_OK);
  assert_null(r);
  assert_true(strlen(err.message) > 0);
  xs_config_free(cfg);
}

static void test_cluster_domain_is_configurable(void **s) {
  xs_config *cfg;
  xs_resolver *r;
  xs_result *res;
  (void)s;
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_set_cluster_domain(cfg, "Corp.Internal."));
  must(xs_config_add_server(cfg, server));
  must(xs_resolver_new(cfg, reg, &r, NULL));
  assert_int_equal(xs_resolve(r, "backend", XS_FAMILY_IPV4, &res), XS_OK);
  assert_string_equal(xs_result_name(res), "backend.prod.svc.corp.internal.");
  xs_result_free(res);
  xs_resolver_free(r);
  xs_config_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resolve_cluster_ip_same_namespace_first_candidate),
      cmocka_unit_test(test_resolve_ns_qualified_from_dev_walks_to_second),
      cmocka_unit_test(test_resolve_svc_suffix_from_dev_third_candidate),
      cmocka_unit_test(test_resolve_fqdn_without_dot_fourth_candidate),
      cmocka_unit_test(test_resolve_trailing_dot_one_candidate),
      cmocka_unit_test(test_resolve_wrong_namespace_walks_to_upstream),
      cmocka_unit_test(test_resolve_namespace_name_nodata_keeps_walking),
      cmocka_unit_test(test_resolve_dual_stack_any_gives_both_families),
      cmocka_unit_test(test_resolve_chain_to_internal_service),
      cmocka_unit_test(test_resolve_internal_target_wrong_family_is_nodata),
      cmocka_unit_test(test_resolve_loop_reports_loop_with_chain),
      cmocka_unit_test(test_resolve_missing_internal_target_is_nxdomain),
      cmocka_unit_test(
          test_resolve_external_alias_upstream_failure_keeps_chain),
      cmocka_unit_test(test_resolve_case_insensitive_owner_as_asked),
      cmocka_unit_test(test_resolve_bad_names_and_arguments),
      cmocka_unit_test(test_resolve_registry_change_seen_by_next_call),
      cmocka_unit_test(test_config_rejects_out_of_range_values),
      cmocka_unit_test(test_resolver_rejects_bad_server),
      cmocka_unit_test(test_cluster_domain_is_configurable),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
