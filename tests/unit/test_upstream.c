/* The upstream reply parser on replies captured from Knot DNS
 * (tests/fuzz/corpus/reply: first byte = 1 for AAAA) and crafted packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- crafted replies ---------------------------------------------------- */

/* A reply under construction. Names are text: labels separated by dots, a
 * final dot for the root; a label "@N" is a compression pointer to offset N
 * and ends the name. */
typedef struct pkt {
  unsigned char b[2048];
  size_t n;
} pkt;

static void put8(pkt *p, unsigned v) {
  assert_true(p->n < sizeof(p->b));
  p->b[p->n++] = (unsigned char)v;
}

static void put16(pkt *p, unsigned v) {
  put8(p, v >> 8);
  put8(p, v & 0xff);
}

static void put32(pkt *p, uint32_t v) {
  put16(p, v >> 16);
  put16(p, v & 0xffff);
}

static void put_name(pkt *p, const char *text) {
  while (*text != '\0') {
    const char *dot = strchr(text, '.');
    size_t len = dot != NULL ? (size_t)(dot - text) : strlen(text);
    if (text[0] == '@') {
      put16(p, 0xc000u | (unsigned)atoi(text + 1));
      return;
    }
    assert_true(len > 0 && len < 64);
    put8(p, (unsigned)len);
    memcpy(p->b + p->n, text, len);
    p->n += len;
    text += len + (dot != NULL);
  }
  put8(p, 0);
}

/* flags: the third and fourth header octets, e.g. 0x8180 (QR, RD, RA). */
static void header(pkt *p, unsigned flags, unsigned an, unsigned ns) {
  p->n = 0;
  put16(p, 0x1234);
  put16(p, flags);
  put16(p, 1);
  put16(p, an);
  put16(p, ns);
  put16(p, 0);
}

static void question(pkt *p, const char *name, unsigned type) {
  put_name(p, name);
  put16(p, type);
  put16(p, 1);
}

/* Start a record; returns where its RDLENGTH goes (rr_end fills it). */
static size_t rr(pkt *p, const char *owner, unsigned type, unsigned rclass,
                 uint32_t ttl) {
  size_t at;
  put_name(p, owner);
  put16(p, type);
  put16(p, rclass);
  put32(p, ttl);
  at = p->n;
  put16(p, 0);
  return at;
}

static void rr_end(pkt *p, size_t at) {
  size_t len = p->n - at - 2;
  p->b[at] = (unsigned char)(len >> 8);
  p->b[at + 1] = (unsigned char)len;
}

static void rr_cname(pkt *p, const char *owner, uint32_t ttl,
                     const char *target) {
  size_t at = rr(p, owner, 5, 1, ttl);
  put_name(p, target);
  rr_end(p, at);
}

static void rr_a(pkt *p, const char *owner, uint32_t ttl, unsigned last) {
  size_t at = rr(p, owner, 1, 1, ttl);
  put32(p, 0xc0000200u | last); /* 192.0.2.last */
  rr_end(p, at);
}

static void rr_soa(pkt *p, const char *owner, uint32_t ttl, uint32_t minimum) {
  size_t at = rr(p, owner, 6, 1, ttl);
  put_name(p, "ns.example.com.");
  put_name(p, "hostmaster.example.com.");
  put32(p, 1);
  put32(p, 7200);
  put32(p, 1800);
  put32(p, 86400);
  put32(p, minimum);
  rr_end(p, at);
}

static void parse(const pkt *p, const char *qname, uint16_t qtype) {
  xs_dns_parse_reply(p->b, p->n, qname, qtype, &ans);
}

static const char *addr_text(size_t i) {
  static char text[64];
  return xs_addr_format(&ans.addrs[i].addr, text, sizeof(text));
}

static void test_reply_two_cnames_keep_each_ttl_and_spelling(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8180, 4, 0);
  question(&p, "www.example.com.", 1);
  rr_cname(&p, "WWW.Example.com.", 120, "Edge.CDN.example.net.");
  rr_cname(&p, "edge.cdn.example.net.", 30, "pop7.cdn.example.net.");
  rr_a(&p, "POP7.cdn.example.net.", 300, 7);
  rr_a(&p, "pop7.cdn.example.net.", 250, 8);
  parse(&p, "www.example.com", 1);
  assert_int_equal(ans.status, XS_OK);
  assert_int_equal(ans.nchain, 2);
  /* names as spelled in the reply, absolute */
  assert_string_equal(ans.chain[0].name, "WWW.Example.com.");
  assert_string_equal(ans.chain[0].target, "Edge.CDN.example.net.");
  assert_int_equal(ans.chain[0].ttl, 120);
  assert_string_equal(ans.chain[1].name, "edge.cdn.example.net.");
  assert_string_equal(ans.chain[1].target, "pop7.cdn.example.net.");
  assert_int_equal(ans.chain[1].ttl, 30);
  assert_int_equal(ans.naddrs, 2);
  assert_string_equal(addr_text(0), "192.0.2.7");
  assert_int_equal(ans.addrs[0].ttl, 300);
  assert_string_equal(addr_text(1), "192.0.2.8");
  assert_int_equal(ans.addrs[1].ttl, 250);
}

static void test_reply_cnames_out_of_order_still_followed(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8180, 3, 0);
  question(&p, "a.example.", 1);
  rr_a(&p, "c.example.", 10, 3);
  rr_cname(&p, "b.example.", 20, "c.example.");
  rr_cname(&p, "a.example.", 30, "b.example.");
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_OK);
  assert_int_equal(ans.nchain, 2);
  assert_string_equal(ans.chain[1].target, "c.example.");
  assert_int_equal(ans.naddrs, 1);
}

static void
test_reply_nxdomain_negative_ttl_is_soa_minimum_when_lower(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8183, 0, 1);
  question(&p, "nx.example.com.", 1);
  rr_soa(&p, "example.com.", 900, 60);
  parse(&p, "nx.example.com.", 1);
  assert_int_equal(ans.status, XS_ENOTFOUND);
  assert_int_equal(ans.negative_ttl, 60);
  assert_int_equal(ans.naddrs, 0);
}

static void test_reply_nxdomain_negative_ttl_is_soa_ttl_when_lower(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8183, 0, 1);
  question(&p, "nx.example.com.", 1);
  rr_soa(&p, "example.com.", 30, 600);
  parse(&p, "nx.example.com.", 1);
  assert_int_equal(ans.status, XS_ENOTFOUND);
  assert_int_equal(ans.negative_ttl, 30);
}

static void test_reply_nxdomain_after_cname_keeps_chain(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8183, 1, 1);
  question(&p, "alias.example.com.", 28);
  rr_cname(&p, "@12", 120, "gone.example.org.");
  rr_soa(&p, "example.org.", 3600, 300);
  parse(&p, "alias.example.com.", 28);
  assert_int_equal(ans.status, XS_ENOTFOUND);
  assert_int_equal(ans.nchain, 1);
  assert_string_equal(ans.chain[0].target, "gone.example.org.");
  assert_int_equal(ans.negative_ttl, 300);
}

static void test_reply_nodata_after_cname_keeps_chain(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8180, 2, 1);
  question(&p, "alias.example.com.", 28);
  rr_cname(&p, "@12", 120, "v4.example.com.");
  rr_a(&p, "v4.example.com.", 60, 20); /* not the asked type */
  rr_soa(&p, "example.com.", 3600, 45);
  parse(&p, "alias.example.com.", 28);
  assert_int_equal(ans.status, XS_ENODATA);
  assert_int_equal(ans.nchain, 1);
  assert_int_equal(ans.naddrs, 0);
  assert_int_equal(ans.negative_ttl, 45);
}

static void test_reply_nodata_without_soa_has_no_negative_ttl(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8180, 0, 0);
  question(&p, "v4only.example.com.", 28);
  parse(&p, "v4only.example.com.", 28);
  assert_int_equal(ans.status, XS_ENODATA);
  assert_int_equal(ans.negative_ttl, 0);
}

static void test_reply_compression_pointers_expand(void **s) {
  pkt p;
  size_t at;
  (void)s;
  header(&p, 0x8180, 2, 0);
  question(&p, "www.example.com.", 28); /* name at 12, "example" at 16 */
  rr_cname(&p, "@12", 60, "cdn.@16");   /* cdn.example.com. */
  at = rr(&p, "cdn.@16", 28, 1, 90);
  put32(&p, 0x20010db8);
  put32(&p, 0);
  put32(&p, 0);
  put32(&p, 0x10);
  rr_end(&p, at);
  parse(&p, "www.example.com.", 28);
  assert_int_equal(ans.status, XS_OK);
  assert_string_equal(ans.chain[0].name, "www.example.com.");
  assert_string_equal(ans.chain[0].target, "cdn.example.com.");
  assert_int_equal(ans.naddrs, 1);
  assert_string_equal(addr_text(0), "2001:db8::10");
  assert_int_equal(ans.addrs[0].ttl, 90);
}

static void test_reply_pointer_loops_are_upstream_errors(void **s) {
  pkt p;
  size_t owner;
  (void)s;
  /* answer owner points at itself */
  header(&p, 0x8180, 1, 0);
  question(&p, "a.example.", 1);
  owner = p.n;
  rr_a(&p, "@0", 60, 1);
  p.b[owner] = (unsigned char)(0xc0 | (owner >> 8));
  p.b[owner + 1] = (unsigned char)owner;
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  /* two names pointing at each other through a label */
  header(&p, 0x8180, 1, 0);
  question(&p, "a.example.", 1);
  owner = p.n;
  rr_cname(&p, "x.@0", 60, "y.@0");
  p.b[owner + 3] = (unsigned char)(owner + 14); /* x.-> the target */
  p.b[p.n - 1] = (unsigned char)owner;          /* y. -> the owner */
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  /* a pointer past the end */
  header(&p, 0x8180, 1, 0);
  question(&p, "a.example.", 1);
  rr_a(&p, "@1000", 60, 1);
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_EUPSTREAM);
}

static void test_reply_every_truncation_is_an_upstream_error(void **s) {
  pkt p;
  size_t cut, full;
  (void)s;
  header(&p, 0x8180, 2, 1);
  question(&p, "alias.example.com.", 1);
  rr_cname(&p, "@12", 120, "my.database.@18");
  rr_a(&p, "my.database.@18", 300, 10);
  rr_soa(&p, "example.com.", 3600, 60);
  full = p.n;
  parse(&p, "alias.example.com.", 1);
  assert_int_equal(ans.status, XS_OK);
  for (cut = 0; cut < full; cut++) {
    p.n = cut;
    parse(&p, "alias.example.com.", 1);
    assert_int_equal(ans.status, XS_EUPSTREAM);
  }
}

static void
test_reply_records_of_wrong_name_type_class_or_size_ignored(void **s) {
  pkt p;
  size_t at;
  (void)s;
  header(&p, 0x8180, 6, 0);
  question(&p, "a.example.", 1);
  rr_a(&p, "b.example.", 60, 1);     /* another name */
  rr_a(&p, "a.example.com.", 60, 2); /* a longer name */
  at = rr(&p, "a.example.", 1, 3, 60);
  put32(&p, 0xc0000203); /* class CH */
  rr_end(&p, at);
  at = rr(&p, "a.example.", 1, 1, 60);
  put32(&p, 0xc0000204);
  put8(&p, 0); /* five octets of A */
  rr_end(&p, at);
  at = rr(&p, "a.example.", 28, 1, 60); /* AAAA for an A question */
  put32(&p, 0x20010db8);
  put32(&p, 0);
  put32(&p, 0);
  put32(&p, 5);
  rr_end(&p, at);
  rr_a(&p, "A.EXAMPLE.", 60, 6); /* the one that counts */
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_OK);
  assert_int_equal(ans.naddrs, 1);
  assert_string_equal(addr_text(0), "192.0.2.6");
}

static void test_reply_cname_loop_is_eloop(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8180, 2, 0);
  question(&p, "a.example.", 1);
  rr_cname(&p, "a.example.", 60, "b.example.");
  rr_cname(&p, "b.example.", 60, "A.Example.");
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_ELOOP);
  assert_int_equal(ans.nchain, 2);
  header(&p, 0x8180, 1, 0);
  question(&p, "a.example.", 1);
  rr_cname(&p, "a.example.", 60, "a.example.");
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_ELOOP);
}

static void chain_of(pkt *p, int links) {
  char owner[32], target[32];
  int i;
  header(p, 0x8180, (unsigned)links + 1, 0);
  question(p, "n0.example.", 1);
  for (i = 0; i < links; i++) {
    snprintf(owner, sizeof(owner), "n%d.example.", i);
    snprintf(target, sizeof(target), "n%d.example.", i + 1);
    rr_cname(p, owner, 60, target);
  }
  rr_a(p, target, 60, 1);
}

static void test_reply_chain_longer_than_max_is_eloop(void **s) {
  pkt p;
  (void)s;
  chain_of(&p, XS_MAX_CHAIN);
  parse(&p, "n0.example.", 1);
  assert_int_equal(ans.status, XS_OK);
  assert_int_equal(ans.nchain, XS_MAX_CHAIN);
  chain_of(&p, XS_MAX_CHAIN + 1);
  parse(&p, "n0.example.", 1);
  assert_int_equal(ans.status, XS_ELOOP);
  assert_int_equal(ans.nchain, XS_MAX_CHAIN);
}

static void test_reply_names_with_unprintable_octets_never_match(void **s) {
  pkt p;
  size_t at;
  (void)s;
  /* owner "a.example." spelled as the single label "a.example" */
  header(&p, 0x8180, 1, 0);
  question(&p, "a.example.", 1);
  at = rr(&p, "a_example.", 1, 1, 60);
  put32(&p, 0xc0000201);
  rr_end(&p, at);
  p.b[29] = '.'; /* the '_' */
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_ENODATA);
  assert_int_equal(ans.naddrs, 0);
  /* a CNAME to a name with a NUL octet cannot be followed */
  header(&p, 0x8180, 1, 0);
  question(&p, "a.example.", 1);
  rr_cname(&p, "@12", 60, "b_c.example.");
  p.b[p.n - 11] = 0;
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_EUPSTREAM);
}

static void
test_reply_cname_rdata_longer_than_target_is_upstream_error(void **s) {
  pkt p;
  size_t at;
  (void)s;
  header(&p, 0x8180, 2, 0);
  question(&p, "a.example.", 1);
  at = rr(&p, "@12", 5, 1, 60);
  put_name(&p, "b.example.");
  put8(&p, 0); /* an octet after the target, inside RDLENGTH */
  rr_end(&p, at);
  rr_a(&p, "b.example.", 60, 1);
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  assert_int_equal(ans.nchain, 0);
}

static void test_reply_ttl_with_top_bit_is_zero(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x8180, 1, 0);
  question(&p, "a.example.", 1);
  rr_a(&p, "@12", 0x80000000u, 1);
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_OK);
  assert_int_equal(ans.addrs[0].ttl, 0);
}

static void test_reply_query_or_bad_arguments_are_upstream_errors(void **s) {
  pkt p;
  (void)s;
  header(&p, 0x0100, 0, 0); /* QR clear: a query */
  question(&p, "a.example.", 1);
  parse(&p, "a.example.", 1);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  header(&p, 0x8180, 0, 0);
  question(&p, "a.example.", 1);
  xs_dns_parse_reply(NULL, 10, "a.", 1, &ans);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  xs_dns_parse_reply(p.b, p.n, NULL, 1, &ans);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  xs_dns_parse_reply(p.b, p.n, "", 1, &ans);
  assert_int_equal(ans.status, XS_EUPSTREAM);
  xs_dns_parse_reply(p.b, p.n, "a.", 1, NULL); /* no crash */
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
  const char *good[] = {"127.0.0.1",   "127.0.0.1:5353", "::1",
                        "[::1]:53",    "[2001:db8::1]",  "0.0.0.0:65535",
                        "10.0.0.1:053"};
  const char *bad[] = {"localhost",   "127.0.0.1:0",    "127.0.0.1:x",
                       "[::1",        "1.2.3.4:70000",  "",
                       "127.0.0.1:",  "[127.0.0.1]:53", "127.0.0.1:+53",
                       "[::1]53",     "::1:53:",        "1.2.3.4 :53",
                       "fe80::1%eth0"};
  size_t i;
  (void)s;
  memset(&cfg, 0, sizeof(cfg));
  cfg.nservers = 1;
  cfg.timeout_ms = 100;
  cfg.attempts = 1;
  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    cfg.servers[0] = good[i];
    assert_int_equal(xs_upstream_new(&cfg, &u, &err), XS_OK);
    xs_upstream_free(u);
  }
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char want[128];
    cfg.servers[0] = bad[i];
    assert_int_equal(xs_upstream_new(&cfg, &u, &err), XS_EINVAL);
    assert_int_equal(err.status, XS_EINVAL);
    snprintf(want, sizeof(want), "invalid DNS server \"%s\": ", bad[i]);
    assert_non_null(strstr(err.message, want));
  }
  cfg.servers[0] = NULL;
  assert_int_equal(xs_upstream_new(&cfg, &u, &err), XS_EINVAL);
}

static void test_upstream_server_count_bounded(void **s) {
  xs_upstream_cfg cfg;
  xs_upstream *u = NULL;
  xs_error err;
  size_t i;
  (void)s;
  memset(&cfg, 0, sizeof(cfg));
  for (i = 0; i < XS_UPSTREAM_MAX_SERVERS; i++)
    cfg.servers[i] = "[::1]:5353";
  cfg.nservers = XS_UPSTREAM_MAX_SERVERS;
  assert_int_equal(xs_upstream_new(&cfg, &u, &err), XS_OK);
  xs_upstream_free(u);
  cfg.nservers = XS_UPSTREAM_MAX_SERVERS + 1;
  assert_int_equal(xs_upstream_new(&cfg, &u, &err), XS_EINVAL);
  assert_non_null(strstr(err.message, "too many DNS servers"));
  assert_int_equal(xs_upstream_new(NULL, &u, &err), XS_EINVAL);
  cfg.nservers = 1;
  assert_int_equal(xs_upstream_new(&cfg, NULL, &err), XS_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reply_a_with_ttl),
      cmocka_unit_test(test_reply_cname_chain_keeps_ttls),
      cmocka_unit_test(test_reply_nodata_and_nxdomain_negative_ttl),
      cmocka_unit_test(test_reply_records_of_other_names_ignored),
      cmocka_unit_test(test_reply_malformed_packets_are_upstream_errors),
      cmocka_unit_test(test_reply_rcodes_map_to_statuses),
      cmocka_unit_test(test_reply_two_cnames_keep_each_ttl_and_spelling),
      cmocka_unit_test(test_reply_cnames_out_of_order_still_followed),
      cmocka_unit_test(
          test_reply_nxdomain_negative_ttl_is_soa_minimum_when_lower),
      cmocka_unit_test(test_reply_nxdomain_negative_ttl_is_soa_ttl_when_lower),
      cmocka_unit_test(test_reply_nxdomain_after_cname_keeps_chain),
      cmocka_unit_test(test_reply_nodata_after_cname_keeps_chain),
      cmocka_unit_test(test_reply_nodata_without_soa_has_no_negative_ttl),
      cmocka_unit_test(test_reply_compression_pointers_expand),
      cmocka_unit_test(test_reply_pointer_loops_are_upstream_errors),
      cmocka_unit_test(test_reply_every_truncation_is_an_upstream_error),
      cmocka_unit_test(
          test_reply_records_of_wrong_name_type_class_or_size_ignored),
      cmocka_unit_test(test_reply_cname_loop_is_eloop),
      cmocka_unit_test(test_reply_chain_longer_than_max_is_eloop),
      cmocka_unit_test(test_reply_names_with_unprintable_octets_never_match),
      cmocka_unit_test(
          test_reply_cname_rdata_longer_than_target_is_upstream_error),
      cmocka_unit_test(test_reply_ttl_with_top_bit_is_zero),
      cmocka_unit_test(test_reply_query_or_bad_arguments_are_upstream_errors),
      cmocka_unit_test(test_upstream_server_strings_validated),
      cmocka_unit_test(test_upstream_server_count_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
