/* xs_resolver_check_address through the public API: the resolver's address
 * policy asked about addresses learned elsewhere (the preload shim asks it
 * about what libc returned), with the same verdict and reason xs_resolve
 * gives. No DNS traffic: only registry answers are resolved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "xsvc.h"

static const unsigned char meta4[4] = {169, 254, 169, 254};
static const unsigned char doc4[4] = {198, 51, 100, 7};
static const unsigned char other4[4] = {203, 0, 113, 9};
static const unsigned char mapped_doc[16] = {0, 0, 0,    0,    0,   0,  0,   0,
                                             0, 0, 0xff, 0xff, 198, 51, 100, 7};
static const unsigned char doc6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                       0,    0,    0,    0,    0, 0, 0, 0x42};

/* A resolver whose upstream is never asked (only its policy is used). */
static xs_resolver *resolver(const char *const *deny, size_t ndeny, int clear,
                             xs_registry *reg) {
  xs_config *cfg;
  xs_resolver *res = NULL;
  xs_error err;
  size_t i;
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, "127.0.0.1:9"), XS_OK);
  if (clear)
    assert_int_equal(xs_config_clear_denied_ranges(cfg), XS_OK);
  for (i = 0; i < ndeny; i++)
    assert_int_equal(xs_config_add_denied_range(cfg, deny[i]), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, reg, &res, &err), XS_OK);
  xs_config_free(cfg);
  return res;
}

static void test_check_address_link_local_denied_by_default(void **s) {
  xs_resolver *res = resolver(NULL, 0, 0, NULL);
  char why[320];
  (void)s;
  assert_int_equal(xs_resolver_check_address(res, 4, meta4, why, sizeof(why)),
                   XS_EPOLICY);
  assert_string_equal(why, "address 169.254.169.254 is in denied range "
                           "169.254.0.0/16 (link-local, cloud metadata "
                           "169.254.169.254)");
  xs_resolver_free(res);
}

static void test_check_address_added_range_denies_with_reason(void **s) {
  const char *deny[] = {"198.51.100.0/24", "2001:db8::42"};
  xs_resolver *res = resolver(deny, 2, 1, NULL);
  char why[320];
  (void)s;
  assert_int_equal(xs_resolver_check_address(res, 4, doc4, why, sizeof(why)),
                   XS_EPOLICY);
  assert_string_equal(
      why, "address 198.51.100.7 is in denied range 198.51.100.0/24");
  assert_int_equal(xs_resolver_check_address(res, 6, doc6, why, sizeof(why)),
                   XS_EPOLICY);
  assert_string_equal(
      why, "address 2001:db8::42 is in denied range 2001:db8::42/128");
  xs_resolver_free(res);
}

static void test_check_address_allowed_is_ok_with_empty_reason(void **s) {
  const char *deny[] = {"198.51.100.0/24"};
  xs_resolver *res = resolver(deny, 1, 1, NULL);
  char why[320] = "stale";
  (void)s;
  assert_int_equal(xs_resolver_check_address(res, 4, other4, why, sizeof(why)),
                   XS_OK);
  assert_string_equal(why, "");
  /* cleared defaults: link-local is allowed again */
  assert_int_equal(xs_resolver_check_address(res, 4, meta4, NULL, 0), XS_OK);
  xs_resolver_free(res);
}

static void test_check_address_ipv4_mapped_checked_as_ipv4(void **s) {
  const char *deny[] = {"198.51.100.0/24"};
  xs_resolver *res = resolver(deny, 1, 1, NULL);
  (void)s;
  assert_int_equal(xs_resolver_check_address(res, 6, mapped_doc, NULL, 0),
                   XS_EPOLICY);
  xs_resolver_free(res);
}

static void test_check_address_short_reason_truncated(void **s) {
  xs_resolver *res = resolver(NULL, 0, 0, NULL);
  char why[12];
  (void)s;
  memset(why, 'x', sizeof(why));
  assert_int_equal(xs_resolver_check_address(res, 4, meta4, why, sizeof(why)),
                   XS_EPOLICY);
  assert_string_equal(why, "address 169");
  /* why_len 0: nothing written */
  why[0] = 'x';
  assert_int_equal(xs_resolver_check_address(res, 4, meta4, why, 0),
                   XS_EPOLICY);
  assert_int_equal(why[0], 'x');
  xs_resolver_free(res);
}

static void test_check_address_bad_arguments_einval(void **s) {
  xs_resolver *res = resolver(NULL, 0, 0, NULL);
  char why[64] = "stale";
  (void)s;
  assert_int_equal(xs_resolver_check_address(NULL, 4, meta4, why, sizeof(why)),
                   XS_EINVAL);
  assert_string_equal(why, "");
  assert_int_equal(xs_resolver_check_address(res, 4, NULL, why, sizeof(why)),
                   XS_EINVAL);
  assert_int_equal(xs_resolver_check_address(res, 0, meta4, why, sizeof(why)),
                   XS_EINVAL);
  assert_int_equal(xs_resolver_check_address(res, 5, meta4, why, sizeof(why)),
                   XS_EINVAL);
  assert_int_equal(xs_resolver_check_address(res, 46, meta4, NULL, 0),
                   XS_EINVAL);
  xs_resolver_free(res);
}

/* xs_config_allow_range lifts a denial; the most specific range decides,
 * so a lifted range can be denied again in part. */
static void test_check_address_allowed_range_lifts_default(void **s) {
  static const unsigned char lo1[4] = {127, 0, 0, 1}, lo5[4] = {127, 0, 0, 5};
  static const unsigned char v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 1};
  xs_config *cfg;
  xs_resolver *res = NULL;
  xs_error err;
  char why[320];
  (void)s;
  res = resolver(NULL, 0, 0, NULL);
  assert_int_equal(xs_resolver_check_address(res, 4, lo1, why, sizeof(why)),
                   XS_EPOLICY);
  assert_string_equal(why, "address 127.0.0.1 is in denied range 127.0.0.0/8 "
                           "(loopback)");
  assert_int_equal(xs_resolver_check_address(res, 6, v6lo, NULL, 0),
                   XS_EPOLICY);
  xs_resolver_free(res);
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, "127.0.0.1:9"), XS_OK);
  assert_int_equal(xs_config_allow_range(cfg, "127.0.0.0/8"), XS_OK);
  assert_int_equal(xs_config_add_denied_range(cfg, "127.0.0.5/32"), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, NULL, &res, &err), XS_OK);
  xs_config_free(cfg);
  assert_int_equal(xs_resolver_check_address(res, 4, lo1, why, sizeof(why)),
                   XS_OK);
  assert_int_equal(xs_resolver_check_address(res, 4, lo5, why, sizeof(why)),
                   XS_EPOLICY);
  assert_string_equal(why, "address 127.0.0.5 is in denied range 127.0.0.5/32");
  assert_int_equal(xs_resolver_check_address(res, 6, v6lo, NULL, 0),
                   XS_EPOLICY); /* ::1 was not lifted */
  xs_resolver_free(res);
}

/* The verdict and the sentence are the ones xs_resolve gives for the same
 * address (a ClusterIP here, so nothing is asked upstream). */
static void test_check_address_agrees_with_resolve(void **s) {
  const char *deny[] = {"198.51.100.0/24"};
  const char *ips[] = {"198.51.100.7"};
  xs_registry *reg;
  xs_resolver *res;
  xs_result *r = NULL;
  xs_error err;
  char why[320];
  (void)s;
  assert_int_equal(xs_registry_new(&reg), XS_OK);
  assert_int_equal(
      xs_registry_add_cluster_ip(reg, "default", "db", ips, 1, &err), XS_OK);
  res = resolver(deny, 1, 1, reg);
  assert_int_equal(xs_resolve(res, "db", XS_FAMILY_IPV4, &r), XS_EPOLICY);
  assert_int_equal(xs_resolver_check_address(res, 4, doc4, why, sizeof(why)),
                   XS_EPOLICY);
  assert_string_equal(why, xs_result_policy(r));
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* The same with a default range, whose sentence carries its reason, and an
 * IPv6 address judged by the IPv4 address it carries (NAT64). */
static void test_check_address_agrees_with_resolve_on_defaults(void **s) {
  static const unsigned char nat64[16] = {
      0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 169, 254, 169, 254};
  const char *ips[] = {"64:ff9b::a9fe:a9fe"};
  xs_registry *reg;
  xs_resolver *res;
  xs_result *r = NULL;
  xs_error err;
  char why[320];
  (void)s;
  assert_int_equal(xs_registry_new(&reg), XS_OK);
  assert_int_equal(
      xs_registry_add_cluster_ip(reg, "default", "meta", ips, 1, &err), XS_OK);
  res = resolver(NULL, 0, 0, reg);
  assert_int_equal(xs_resolve(res, "meta", XS_FAMILY_IPV6, &r), XS_EPOLICY);
  assert_int_equal(xs_resolver_check_address(res, 6, nat64, why, sizeof(why)),
                   XS_EPOLICY);
  assert_string_equal(why, xs_result_policy(r));
  assert_non_null(strstr(why, "(IPv4 169.254.169.254)"));
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_address_link_local_denied_by_default),
      cmocka_unit_test(test_check_address_added_range_denies_with_reason),
      cmocka_unit_test(test_check_address_allowed_is_ok_with_empty_reason),
      cmocka_unit_test(test_check_address_ipv4_mapped_checked_as_ipv4),
      cmocka_unit_test(test_check_address_allowed_range_lifts_default),
      cmocka_unit_test(test_check_address_short_reason_truncated),
      cmocka_unit_test(test_check_address_bad_arguments_einval),
      cmocka_unit_test(test_check_address_agrees_with_resolve),
      cmocka_unit_test(test_check_address_agrees_with_resolve_on_defaults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
