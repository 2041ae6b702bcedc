/* The upstream reply parser on replies captured from Knot DNS
 * (tests/fuzz/corpus/reply: first byte = 1 for AAAA) and crafted packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "upstream.h"

static size_t read_reply(const char *name, unsigned char *buf, size_t size) {
  char path[512];
  FILE *f;
  size_t n;
  snprintf(path, sizeof(path), "%s/reply/%s", XSVC_TEST_CORPUS, name);
  f = fopen(path, "rb");
  assert_non_null(f);
  n = fread(buf, 1, size, f);
  fclose(f);
  return n;
}

static xs_upstream_answer ans;

static void parse_file(const char *file, const char *qname, uint16_t qtype) {
  unsigned char buf[4096];
  size_t n = read_reply(file, buf, sizeof(buf));
  assert_true(n > 13);
  xs_dns_parse_reply(buf + 1, n - 1, qname, qtype, &ans);
}

static void test_reply_a_with_ttl(void **s) {
  char text[64];
  (void)s;
  parse_file("00-my-1", "my.database.example.com.", 1);
  assert_int_equal(ans.status, XS_OK);
  assert_int_equal(ans.nchain, 0);
  assert_int_equal(ans.naddrs, 1);
  assert_int_equal(ans.addrs[0].ttl, 300);
  assert_string_equal(xs_addr_format(&ans.addrs[0].addr, text, sizeof(text)),
                      "192.0.2.10");
}

static void test_reply_cname_chain_keeps_ttls(void **s) {
  (void)s;
  parse_file("05-alias-28", "alias.example.com", 28);
  assert_int_equal(ans.status, XS_OK);
  assert_int_equal(ans.nchain, 1);
  assert_string_equal(ans.chain[0].name, "alias.example.com.");
  assert_string_equal(ans.chain[0].target, "my.database.example.com.");
  assert_int_equal(ans.chain[0].ttl, 120);
  assert_int_equal(ans.naddrs, 1);
  assert_int_equal(ans.addrs[0].addr.family, 6);
}

static void test_reply_nodata_and_nxdomain_negative_ttl(void **s) {
  (void)s;
  parse_file("03-v4only-28", "v4only.example.com.", 28);
  assert_int_equal(ans.status, XS_ENODATA);
  assert_int_equal(ans.negative_ttl, 60);
  parse_file("04-nx-1", "nx.example.com.", 1);
  assert_int_equal(ans.status, XS_ENOTFOUND);
  assert_int_equal(ans.negative_ttl, 60);
}

static void test_reply_records_of_other_names_ignored(void **s) {
  (void)s;
  parse_file("00-my-1", "other.example.com.", 1);
  assert_int_equal(ans.status, XS_ENODATA);
  assert_int_equal(ans.naddrs, 0);
}

static void test_reply_malformed_packets_are_upstream_errors(void **s) {
  /* header + question whose name is a pointer to itself */
  static const unsigned char loop[] = {0x12, 0x34, 0x81, 0x80, 0,  1, 0, 0, 0,
                                       0,    0,    0,    0xc0, 12, 0, 1, 0, 1};
  unsigned char buf[4096];
  size_t n = read_reply("02-alias-1", buf, sizeof(buf)), cut;
  (void)s;
  xs_dns_parse_reply(loop, sizeof(loop), "a.", 1, &ans);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  xs_dns_parse_reply(loop, 5, "a.", 1, &ans);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  for (cut = 13; cut < n - 1; cut++) { /* every truncation */
    xs_dns_parse_reply(buf + 1, cut, "alias.example.com.", 1, &ans);
    assert_int_equal(ans.status, XS_EUPSTREAM);
  }
}

static void test_reply_rcodes_map_to_statuses(void **s) {
  unsigned char h[12] = {0x12, 0x34, 0x81, 0x82, 0, 0, 0, 0, 0, 0, 0, 0};
  (void)s;
  xs_dns_parse_reply(h, sizeof(h), "a.", 1, &ans);
  assert_int_equal(ans.status, XS_ESERVFAIL);
  h[3] = 0x85;
  xs_dns_parse_reply(h, sizeof(h), "a.", 1, &ans);
  assert_int_equal(ans.status, XS_EREFUSED);
  h[3] = 0x84;
  xs_dns_parse_reply(h, sizeof(h), "a.", 1, &ans);
  assert_int_equal(ans.status, XS_EUPSTREAM);
}

static void test_upstream_server_strings_validated(void **s) {
  xs_upstream_cfg cfg;
  xs_upstream *u = NULL;
  xs_error err;
  const char *good[] = {"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53"};
  const char *bad[] = {"localhost", "127.0.0.1:0", "127.0.0.1:x", "[::1",
                       "1.2.3.4:70000"};
  (void)s;
  memset(&cfg, 0, sizeof(cfg));
  cfg.nservers = 1;
  cfg.timeout_ms = 100;
  cfg.attempts = 1;
  for (size_t i = 0; i < 4; i++) {
    cfg.servers[0] = good[i];
    assert_int_equal(xs_upstream_new(&cfg, &u, &err), XS_OK);
    xs_upstream_free(u);
  }
  for (size_t i = 0; i < 5; i++) {
    cfg.servers[0] = bad[i];
    assert_int_equal(xs_upstream_new(&cfg, &u, &err), XS_EINVAL);
    assert_non_null(strstr(err.message, bad[i]));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reply_a_with_ttl),
      cmocka_unit_test(test_reply_cname_chain_keeps_ttls),
      cmocka_unit_test(test_reply_nodata_and_nxdomain_negative_ttl),
      cmocka_unit_test(test_reply_records_of_other_names_ignored),
      cmocka_unit_test(test_reply_malformed_packets_are_upstream_errors),
      cmocka_unit_test(test_reply_rcodes_map_to_statuses),
      cmocka_unit_test(test_upstream_server_strings_validated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
