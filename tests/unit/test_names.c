/* Query names and search-list candidates (K8S-DNS.md 4.2-4.5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

static void expect_candidates(const char *ns, int ndots, const char *name,
                              const char *const *want, size_t nwant) {
  xs_search s;
  xs_candidates c;
  size_t i;
  xs_search_init(&s, ns, "cluster.local", ndots);
  assert_int_equal(xs_candidates_build(&s, name, &c), XS_OK);
  assert_int_equal(c.count, nwant);
  for (i = 0; i < nwant; i++)
    assert_string_equal(c.names[i], want[i]);
}

static void test_names_short_name_walks_three_suffixes_then_as_is(void **st) {
  static const char *const want[] = {
      "my-service.prod.svc.cluster.local.", "my-service.svc.cluster.local.",
      "my-service.cluster.local.", "my-service."};
  (void)st;
  expect_candidates("prod", 5, "my-service", want, 4);
}

static void test_names_ns_qualified_from_dev_second_candidate(void **st) {
  static const char *const want[] = {"my-service.prod.dev.svc.cluster.local.",
                                     "my-service.prod.svc.cluster.local.",
                                     "my-service.prod.cluster.local.",
                                     "my-service.prod."};
  (void)st;
  expect_candidates("dev", 5, "my-service.prod", want, 4);
}

static void test_names_fqdn_without_dot_is_searched_first(void **st) {
  /* 4 dots < ndots 5: suffixes first, the name itself last (row 49) */
  static const char *const want[] = {
      "my-service.prod.svc.cluster.local.dev.svc.cluster.local.",
      "my-service.prod.svc.cluster.local.svc.cluster.local.",
      "my-service.prod.svc.cluster.local.cluster.local.",
      "my-service.prod.svc.cluster.local."};
  (void)st;
  expect_candidates("dev", 5, "my-service.prod.svc.cluster.local", want, 4);
}

static void test_names_trailing_dot_is_never_searched(void **st) {
  static const char *const want[] = {"my-service.prod.svc.cluster.local."};
  (void)st;
  expect_candidates("dev", 5, "my-service.prod.svc.cluster.local.", want, 1);
}

static void test_names_ndots_reached_tries_as_is_first(void **st) {
  static const char *const want[] = {
      "a.b.c.d.e.example.com.", "a.b.c.d.e.example.com.dev.svc.cluster.local.",
      "a.b.c.d.e.example.com.svc.cluster.local.",
      "a.b.c.d.e.example.com.cluster.local."};
  (void)st;
  expect_candidates("dev", 5, "a.b.c.d.e.example.com", want, 4);
}

static void test_names_ndots_one_tries_dotted_name_first(void **st) {
  static const char *const want[] = {
      "www.example.com.", "www.example.com.prod.svc.cluster.local.",
      "www.example.com.svc.cluster.local.", "www.example.com.cluster.local."};
  (void)st;
  expect_candidates("prod", 1, "www.example.com", want, 4);
}

static void test_names_case_is_kept_in_candidates(void **st) {
  static const char *const want[] = {"My-Service.PROD.svc.Cluster.Local."};
  (void)st;
  expect_candidates("prod", 5, "My-Service.PROD.svc.Cluster.Local.", want, 1);
}

static void test_names_host_search_domains_follow_cluster_ones(void **st) {
  xs_search s;
  xs_candidates c;
  (void)st;
  xs_search_init(&s, "prod", "cluster.local", 5);
  assert_int_equal(xs_search_add(&s, "Corp.Example."), XS_OK);
  assert_int_equal(xs_search_add(&s, "svc.cluster.local"), XS_OK); /* dup */
  assert_int_equal(xs_candidates_build(&s, "db", &c), XS_OK);
  assert_int_equal(c.count, 5);
  assert_string_equal(c.names[3], "db.corp.example.");
  assert_string_equal(c.names[4], "db.");
}

static void test_names_too_long_candidates_are_skipped(void **st) {
  char name[250];
  xs_search s;
  xs_candidates c;
  (void)st;
  memset(name, 'a', sizeof(name));
  for (size_t i = 60; i < sizeof(name) - 1; i += 61)
    name[i] = '.';
  name[sizeof(name) - 1] = '\0';
  xs_search_init(&s, "prod", "cluster.local", 5);
  assert_int_equal(xs_candidates_build(&s, name, &c), XS_OK);
  assert_int_equal(c.count, 1); /* only the name itself fits in 253 */
}

static void test_names_invalid_names_are_rejected(void **st) {
  xs_search s;
  xs_candidates c;
  char label64[80];
  (void)st;
  xs_search_init(&s, "prod", "cluster.local", 5);
  assert_int_equal(xs_candidates_build(&s, "", &c), XS_EBADNAME);
  assert_int_equal(xs_candidates_build(&s, ".", &c), XS_EBADNAME);
  assert_int_equal(xs_candidates_build(&s, "a..b", &c), XS_EBADNAME);
  assert_int_equal(xs_candidates_build(&s, "a b", &c), XS_EBADNAME);
  assert_int_equal(xs_candidates_build(&s, "a.b..", &c), XS_EBADNAME);
  assert_int_equal(xs_candidates_build(&s, "tab\there", &c), XS_EBADNAME);
  memset(label64, 'x', 64);
  label64[64] = '\0';
  assert_int_equal(xs_candidates_build(&s, label64, &c), XS_EBADNAME);
  label64[63] = '\0';
  assert_int_equal(xs_candidates_build(&s, label64, &c), XS_OK);
}

static void test_names_in_zone_matches_labels_not_suffixes(void **st) {
  (void)st;
  assert_true(xs_name_in_zone("a.cluster.local.", 16, "cluster.local", 13));
  assert_true(xs_name_in_zone("Cluster.LOCAL", 13, "cluster.local", 13));
  assert_false(xs_name_in_zone("acluster.local", 14, "cluster.local", 13));
  assert_false(xs_name_in_zone("local", 5, "cluster.local", 13));
}

/* The reference: octet by octet, as RFC 1035 and glibc's checks read. */
static int ref_valid(const char *n, size_t len) {
  size_t i, label = 0;
  if (len > 0 && n[len - 1] == '.')
    len--;
  if (len == 0 || len > 253)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)n[i];
    if (c <= 0x20 || c >= 0x7f)
      return 0;
    if (c == '.') {
      if (label == 0 || label > 63)
        return 0;
      label = 0;
    } else {
      label++;
    }
  }
  return label > 0 && label <= 63;
}

/* The word-at-a-time check agrees with the reference on random names built
 * from letters, dots, and now and then a bad octet, at every length (every
 * tail size and dot position in a word). */
static void test_names_check_matches_reference_on_random_names(void **st) {
  static const char alphabet[] = "abcXYZ019-_..";
  static const unsigned char odd[] = {0x00, 0x09, 0x20, 0x21, 0x2d, 0x2e,
                                      0x7e, 0x7f, 0x80, 0xc3, 0xff};
  unsigned seed = 12345;
  char name[300];
  int round;
  (void)st;
  for (round = 0; round < 200000; round++) {
    size_t len = (size_t)(rand_r(&seed) % 270), i;
    for (i = 0; i < len; i++) {
      unsigned r = (unsigned)rand_r(&seed);
      name[i] = r % 97 == 0 ? (char)odd[r % sizeof(odd)]
                            : alphabet[r % (sizeof(alphabet) - 1)];
    }
    if (len > 0 && rand_r(&seed) % 4 == 0) /* long labels too */
      for (i = 0; i < len; i++)
        if (name[i] == '.' && rand_r(&seed) % 2)
          name[i] = 'q';
    name[len] = '\0';
    assert_int_equal(xs_name_check(name, len) == XS_OK, ref_valid(name, len));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names_short_name_walks_three_suffixes_then_as_is),
      cmocka_unit_test(test_names_ns_qualified_from_dev_second_candidate),
      cmocka_unit_test(test_names_fqdn_without_dot_is_searched_first),
      cmocka_unit_test(test_names_trailing_dot_is_never_searched),
      cmocka_unit_test(test_names_ndots_reached_tries_as_is_first),
      cmocka_unit_test(test_names_ndots_one_tries_dotted_name_first),
      cmocka_unit_test(test_names_case_is_kept_in_candidates),
      cmocka_unit_test(test_names_host_search_domains_follow_cluster_ones),
      cmocka_unit_test(test_names_too_long_candidates_are_skipped),
      cmocka_unit_test(test_names_invalid_names_are_rejected),
      cmocka_unit_test(test_names_check_matches_reference_on_random_names),
      cmocka_unit_test(test_names_in_zone_matches_labels_not_suffixes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
