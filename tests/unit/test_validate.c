/* Name rules and IP parsing: the API server's exact messages (K8S-DNS.md
 * section 3.2), xsvc's stricter externalName label rule, and the IP forms
 * the loader and the answer function rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

#include "api_messages.h"

static char msg[2048];

static int v1035(const char *s) {
  msg[0] = '\0';
  return xs_valid_dns1035_label(s, strlen(s), "metadata.name", msg,
                                sizeof(msg));
}

static int vext(const char *s, size_t *norm) {
  msg[0] = '\0';
  return xs_valid_external_name(s, strlen(s), norm, msg, sizeof(msg));
}

static void repeat(char *buf, char c, size_t n) {
  memset(buf, c, n);
  buf[n] = '\0';
}

/* ---- DNS-1035 label (Service names) ---------------------------------------
 */

static void test_dns1035_valid_names_accepted(void **s) {
  char max[64];
  (void)s;
  repeat(max, 'a', 63);
  assert_true(v1035("my-service"));
  assert_true(v1035("a"));
  assert_true(v1035("abc-123"));
  assert_true(v1035(max));
}

/* row 63 */
static void test_dns1035_uppercase_rejected_exact_message(void **s) {
  (void)s;
  assert_false(v1035("My-Service"));
  assert_string_equal(msg,
                      "metadata.name: Invalid value: \"My-Service\": " DNS1035);
}

/* row 64 */
static void test_dns1035_leading_digit_rejected(void **s) {
  (void)s;
  assert_false(v1035("1db"));
  assert_string_equal(msg, "metadata.name: Invalid value: \"1db\": " DNS1035);
}

static void test_dns1035_edge_characters_rejected(void **s) {
  (void)s;
  assert_false(v1035("db-"));
  assert_false(v1035("-db"));
  assert_false(v1035("d_b"));
  assert_false(v1035("d.b"));
  assert_false(v1035(""));
}

/* row 65 */
static void test_dns1035_64_chars_rejected_length_message(void **s) {
  char name[65];
  char want[256];
  (void)s;
  repeat(name, 'a', 64);
  assert_false(v1035(name));
  snprintf(want, sizeof(want),
           "metadata.name: Invalid value: \"%s\": must be no more than 63 "
           "characters",
           name);
  assert_string_equal(msg, want);
}

static void test_dns1035_long_and_invalid_reports_both_in_api_order(void **s) {
  char name[70];
  (void)s;
  repeat(name, 'A', 64);
  assert_false(v1035(name));
  assert_non_null(
      strstr(msg, "\": must be no more than 63 characters, " DNS1035));
}

static void test_dns1035_null_message_buffer_only_returns(void **s) {
  (void)s;
  assert_false(xs_valid_dns1035_label("X", 1, "metadata.name", NULL, 0));
  assert_true(xs_valid_dns1035_label("x", 1, "metadata.name", NULL, 0));
}

static void test_dns1035_value_quoted_like_go(void **s) {
  (void)s;
  assert_false(v1035("a\"b\\c\n"));
  assert_string_equal(
      msg, "metadata.name: Invalid value: \"a\\\"b\\\\c\\n\": " DNS1035);
}

/* ---- DNS-1123 label (namespaces, port names) ----------------------------- */

/* row 66 */
static void test_dns1123_label_uppercase_namespace_exact_message(void **s) {
  (void)s;
  assert_false(xs_valid_dns1123_label("Prod", 4, "metadata.namespace", 1, msg,
                                      sizeof(msg)));
  assert_string_equal(
      msg, "metadata.namespace: Invalid value: \"Prod\": " DNS1123_LABEL);
}

static void
test_dns1123_label_dotted_namespace_must_not_contain_dots(void **s) {
  (void)s;
  assert_false(xs_valid_dns1123_label("a.b", 3, "metadata.namespace", 1, msg,
                                      sizeof(msg)));
  assert_string_equal(
      msg, "metadata.namespace: Invalid value: \"a.b\": must not contain dots");
}

static void test_dns1123_label_dotted_port_name_regex_message(void **s) {
  (void)s;
  assert_false(xs_valid_dns1123_label("a.b", 3, "spec.ports[0].name", 0, msg,
                                      sizeof(msg)));
  assert_string_equal(
      msg, "spec.ports[0].name: Invalid value: \"a.b\": " DNS1123_LABEL);
}

static void test_dns1123_label_leading_digit_accepted(void **s) {
  (void)s;
  assert_true(xs_valid_dns1123_label("123-abc", 7, "x", 0, msg, sizeof(msg)));
  assert_true(xs_valid_dns1123_label("0", 1, "x", 0, msg, sizeof(msg)));
  assert_false(xs_valid_dns1123_label("", 0, "x", 0, msg, sizeof(msg)));
}

/* ---- DNS-1123 subdomain ---------------------------------------------------
 */

static void test_dns1123_subdomain_rules(void **s) {
  char name[260];
  (void)s;
  assert_true(xs_valid_dns1123_subdomain("a.b-c.d", 7, "f", msg, sizeof(msg)));
  assert_false(xs_valid_dns1123_subdomain("a..b", 4, "f", msg, sizeof(msg)));
  assert_string_equal(msg, "f: Invalid value: \"a..b\": " SUBDOMAIN);
  assert_false(xs_valid_dns1123_subdomain(".a", 2, "f", msg, sizeof(msg)));
  assert_false(xs_valid_dns1123_subdomain("a-.b", 4, "f", msg, sizeof(msg)));
  repeat(name, 'a', 254);
  assert_false(xs_valid_dns1123_subdomain(name, 254, "f", msg, sizeof(msg)));
  assert_non_null(strstr(msg, ": must be no more than 253 characters"));
}

/* ---- spec.externalName -----------------------------------------------------
 */

/* row 67 */
static void test_external_name_underscore_rejected_exact_message(void **s) {
  (void)s;
  assert_false(vext("db_eu.example.com", NULL));
  assert_string_equal(msg, "spec.externalName: Invalid value: "
                           "\"db_eu.example.com\": " SUBDOMAIN);
}

/* row 68 */
static void test_external_name_uppercase_rejected(void **s) {
  (void)s;
  assert_false(vext("My.Example.com", NULL));
  assert_string_equal(msg, "spec.externalName: Invalid value: "
                           "\"My.Example.com\": " SUBDOMAIN);
}

/* row 69 */
static void test_external_name_one_trailing_dot_stripped(void **s) {
  size_t norm = 0;
  (void)s;
  assert_true(vext("example.com.", &norm));
  assert_int_equal(norm, strlen("example.com"));
}

/* row 70 */
static void test_external_name_two_trailing_dots_rejected(void **s) {
  size_t norm = 0;
  (void)s;
  assert_false(vext("example.com..", &norm));
  assert_string_equal(msg, "spec.externalName: Invalid value: "
                           "\"example.com.\": " SUBDOMAIN);
}

/* row 71 */
static void test_external_name_ipv4_accepted(void **s) {
  size_t norm = 0;
  (void)s;
  assert_true(vext("10.1.2.3", &norm));
  assert_int_equal(norm, 8);
}

/* row 72 */
static void test_external_name_ipv6_rejected(void **s) {
  (void)s;
  assert_false(vext("2001:db8::1", NULL));
  assert_string_equal(msg, "spec.externalName: Invalid value: "
                           "\"2001:db8::1\": " SUBDOMAIN);
}

/* row 73 */
static void test_external_name_254_chars_rejected_length_first(void **s) {
  char name[300], want[400];
  size_t i;
  (void)s;
  /* 254 octets of valid labels: "aaa...a.aaa...a..." */
  for (i = 0; i < 254; i++)
    name[i] = (i % 50 == 49) ? '.' : 'a';
  name[254] = '\0';
  assert_false(vext(name, NULL));
  snprintf(want, sizeof(want),
           "spec.externalName: Invalid value: \"%s\": must be no more than "
           "253 characters",
           name);
  assert_string_equal(msg, want);
}

static void test_external_name_253_chars_accepted(void **s) {
  char name[300];
  size_t i;
  (void)s;
  for (i = 0; i < 253; i++)
    name[i] = (i % 50 == 49) ? '.' : 'a';
  name[253] = '\0';
  assert_true(vext(name, NULL));
}

/* row 74: the API accepts it; xsvc cannot put it on the wire */
static void test_external_name_64_octet_label_rejected_by_xsvc(void **s) {
  char label[65], name[100], want[400];
  (void)s;
  repeat(label, 'a', 64);
  snprintf(name, sizeof(name), "%s.example.com", label);
  assert_false(vext(name, NULL));
  snprintf(want, sizeof(want),
           "spec.externalName: Invalid value: \"%s\": label \"%s\" is 64 "
           "octets long; DNS labels are at most 63 octets, so no DNS message "
           "can carry this name",
           name, label);
  assert_string_equal(msg, want);
  label[63] = '\0';
  snprintf(name, sizeof(name), "%s.example.com", label);
  assert_true(vext(name, NULL));
}

/* row 75 */
static void test_external_name_empty_required(void **s) {
  (void)s;
  assert_false(vext("", NULL));
  assert_string_equal(msg, "spec.externalName: Required value");
  assert_false(vext(".", NULL));
  assert_string_equal(msg, "spec.externalName: Required value");
}

/* row 79 */
static void test_external_name_single_label_localhost_accepted(void **s) {
  (void)s;
  assert_true(vext("localhost", NULL));
  assert_true(vext("db", NULL));
}

/* ---- IP addresses ---------------------------------------------------------
 */

static void test_addr_parse_ipv4_and_format(void **s) {
  xs_addr a;
  char buf[64];
  (void)s;
  assert_true(xs_addr_parse("10.96.0.20", 10, &a));
  assert_int_equal(a.family, 4);
  assert_int_equal(a.bytes[0], 10);
  assert_int_equal(a.bytes[3], 20);
  assert_string_equal(xs_addr_format(&a, buf, sizeof(buf)), "10.96.0.20");
}

static void test_addr_parse_ipv6_and_format_canonical(void **s) {
  xs_addr a;
  char buf[64];
  (void)s;
  assert_true(xs_addr_parse("2001:DB8:0:0::10", 16, &a));
  assert_int_equal(a.family, 6);
  assert_string_equal(xs_addr_format(&a, buf, sizeof(buf)), "2001:db8::10");
}

static void test_addr_parse_rejects_garbage(void **s) {
  xs_addr a;
  (void)s;
  assert_false(xs_addr_parse("", 0, &a));
  assert_false(xs_addr_parse("10.0.0.300", 10, &a));
  assert_false(xs_addr_parse("10.0.0", 6, &a));
  assert_false(xs_addr_parse("[::1]", 5, &a));
  assert_false(xs_addr_parse("fe80::1%eth0", 12, &a));
  assert_false(xs_addr_parse("None", 4, &a));
  /* the length is honoured: "10.0.0.1" followed by junk */
  assert_true(xs_addr_parse("10.0.0.1junk", 8, &a));
}

static void test_addr_format_no_family_gives_empty(void **s) {
  xs_addr a;
  char buf[64] = "x";
  (void)s;
  memset(&a, 0, sizeof(a));
  assert_string_equal(xs_addr_format(&a, buf, sizeof(buf)), "");
}

static void test_looks_like_ipv4_as_go_parse_ip(void **s) {
  (void)s;
  assert_true(xs_looks_like_ipv4("10.1.2.3", 8));
  assert_true(xs_looks_like_ipv4("0.0.0.0", 7));
  assert_false(xs_looks_like_ipv4("10.1.2.3.", 9));
  assert_false(xs_looks_like_ipv4("10.1.2", 6));
  assert_false(xs_looks_like_ipv4("256.1.2.3", 9));
  assert_false(xs_looks_like_ipv4("10.1.2.3.4", 10));
  assert_false(xs_looks_like_ipv4("db.example.com", 14));
}

static void test_quote_escapes_and_truncates(void **s) {
  char buf[16];
  (void)s;
  xs_quote(buf, sizeof(buf), "a\tb\x01\xff", 5);
  assert_string_equal(buf, "\"a\\tb\\x01\\xff\"");
  xs_quote(buf, 8, "abcdefghij", 10);
  assert_string_equal(buf, "\"abcde\"");
  xs_quote(buf, sizeof(buf), "\xc3\xa9", 2); /* valid UTF-8 stays */
  assert_string_equal(buf, "\"\xc3\xa9\"");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dns1035_valid_names_accepted),
      cmocka_unit_test(test_dns1035_uppercase_rejected_exact_message),
      cmocka_unit_test(test_dns1035_leading_digit_rejected),
      cmocka_unit_test(test_dns1035_edge_characters_rejected),
      cmocka_unit_test(test_dns1035_64_chars_rejected_length_message),
      cmocka_unit_test(test_dns1035_long_and_invalid_reports_both_in_api_order),
      cmocka_unit_test(test_dns1035_null_message_buffer_only_returns),
      cmocka_unit_test(test_dns1035_value_quoted_like_go),
      cmocka_unit_test(test_dns1123_label_uppercase_namespace_exact_message),
      cmocka_unit_test(
          test_dns1123_label_dotted_namespace_must_not_contain_dots),
      cmocka_unit_test(test_dns1123_label_dotted_port_name_regex_message),
      cmocka_unit_test(test_dns1123_label_leading_digit_accepted),
      cmocka_unit_test(test_dns1123_subdomain_rules),
      cmocka_unit_test(test_external_name_underscore_rejected_exact_message),
      cmocka_unit_test(test_external_name_uppercase_rejected),
      cmocka_unit_test(test_external_name_one_trailing_dot_stripped),
      cmocka_unit_test(test_external_name_two_trailing_dots_rejected),
      cmocka_unit_test(test_external_name_ipv4_accepted),
      cmocka_unit_test(test_external_name_ipv6_rejected),
      cmocka_unit_test(test_external_name_254_chars_rejected_length_first),
      cmocka_unit_test(test_external_name_253_chars_accepted),
      cmocka_unit_test(test_external_name_64_octet_label_rejected_by_xsvc),
      cmocka_unit_test(test_external_name_empty_required),
      cmocka_unit_test(test_external_name_single_label_localhost_accepted),
      cmocka_unit_test(test_addr_parse_ipv4_and_format),
      cmocka_unit_test(test_addr_parse_ipv6_and_format_canonical),
      cmocka_unit_test(test_addr_parse_rejects_garbage),
      cmocka_unit_test(test_addr_format_no_family_gives_empty),
      cmocka_unit_test(test_looks_like_ipv4_as_go_parse_ip),
      cmocka_unit_test(test_quote_escapes_and_truncates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
