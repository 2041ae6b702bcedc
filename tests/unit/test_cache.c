/* The TTL cache through cache.h with a fake clock: lifetimes at the chain
 * minimum, clamps, remaining TTLs, negative caching, the stale window,
 * prefetch marks, eviction (hot and dead entries), keys, replacement,
 * clearing, counters, exact round trips of the compact entries, and
 * concurrent use. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cache.h"

#define T_A 1
#define T_AAAA 28

/* Written only while no other thread reads it. */
static uint64_t now_ms;

static uint64_t fake(void *arg) {
  (void)arg;
  return now_ms;
}

static void advance_ms(uint64_t ms) {
  now_ms += ms;
}

static void advance_s(unsigned s) {
  advance_ms((uint64_t)s * 1000u);
}

static void fake_cfg(xs_cache_cfg *cfg, size_t entries) {
  xs_cache_cfg_default(cfg);
  cfg->max_entries = entries;
  cfg->clock = fake;
  now_ms = 1000000;
}

static xs_cache *make_cfg(const xs_cache_cfg *cfg) {
  xs_cache *c = NULL;
  assert_int_equal(xs_cache_new(cfg, &c), XS_OK);
  assert_non_null(c);
  return c;
}

static xs_cache *make(size_t entries) {
  xs_cache_cfg cfg;
  fake_cfg(&cfg, entries);
  return make_cfg(&cfg);
}

/* www.example.test (-> CNAME edge.example.test, link_ttl, when link_ttl is
 * not 0) -> A 192.0.2.<last>, addr_ttl */
static xs_upstream_answer *answer(unsigned link_ttl, unsigned addr_ttl,
                                  int last) {
  static xs_upstream_answer a;
  memset(&a, 0, sizeof(a));
  a.status = XS_OK;
  if (link_ttl > 0) {
    a.nchain = 1;
    strcpy(a.chain[0].name, "www.example.test.");
    strcpy(a.chain[0].target, "edge.example.test.");
    a.chain[0].ttl = link_ttl;
  }
  a.naddrs = 1;
  a.addrs[0].addr.family = 4;
  a.addrs[0].addr.bytes[0] = 192;
  a.addrs[0].addr.bytes[2] = 2;
  a.addrs[0].addr.bytes[3] = (uint8_t)last;
  a.addrs[0].ttl = addr_ttl;
  return &a;
}

static xs_upstream_answer *negative(xs_status st, unsigned neg) {
  static xs_upstream_answer a;
  memset(&a, 0, sizeof(a));
  a.status = st;
  a.negative_ttl = neg;
  return &a;
}

static xs_upstream_answer out;

static int get_raw(xs_cache *c, const char *name, int flags) {
  memset(&out, 0xa5, sizeof(out)); /* a hit must write every part it fills */
  return xs_cache_get(c, name, T_A, flags, &out);
}

/* FRESH / STALE / MISS, without the prefetch mark (tested on its own) */
static int get(xs_cache *c, const char *name, int flags) {
  return get_raw(c, name, flags) & ~XS_CACHE_PREFETCH;
}

static void put_ok(xs_cache *c, const char *name, const xs_upstream_answer *a) {
  assert_int_equal(xs_cache_put(c, name, T_A, a), XS_OK);
}

static xs_cache_stats stats_of(xs_cache *c) {
  xs_cache_stats st;
  xs_cache_stats_get(c, &st);
  return st;
}

/* ---- creation and arguments ---------------------------------------------- */

static void test_cache_new_zero_entries_einval(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c = NULL;
  (void)st;
  fake_cfg(&cfg, 0);
  assert_int_equal(xs_cache_new(&cfg, &c), XS_EINVAL);
  assert_null(c);
}

static void test_cache_new_min_ttl_above_max_einval(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c = NULL;
  (void)st;
  fake_cfg(&cfg, 100);
  cfg.min_ttl = 61;
  cfg.max_ttl = 60;
  assert_int_equal(xs_cache_new(&cfg, &c), XS_EINVAL);
  assert_null(c);
  cfg.min_ttl = 60; /* equal bounds are a fixed TTL, not an error */
  c = make_cfg(&cfg);
  xs_cache_free(c);
}

static void test_cache_null_handle_calls_are_noops(void **st) {
  xs_cache_stats stats;
  (void)st;
  xs_cache_free(NULL);
  xs_cache_clear(NULL);
  memset(&stats, 0xff, sizeof(stats));
  xs_cache_stats_get(NULL, &stats);
  assert_int_equal(stats.entries, 0);
  assert_int_equal(stats.hits, 0);
  assert_int_equal(xs_cache_put(NULL, "a.test", T_A, answer(0, 60, 1)),
                   XS_EINVAL);
  assert_int_equal(xs_cache_get(NULL, "a.test", T_A, 0, &out), XS_CACHE_MISS);
}

static void test_cache_put_empty_or_overlong_name_einval(void **st) {
  xs_cache *c = make(100);
  char name[300];
  (void)st;
  assert_int_equal(xs_cache_put(c, "", T_A, answer(0, 60, 1)), XS_EINVAL);
  assert_int_equal(xs_cache_put(c, ".", T_A, answer(0, 60, 1)), XS_EINVAL);
  memset(name, 'a', 254);
  name[254] = '\0'; /* 254 octets */
  assert_int_equal(xs_cache_put(c, name, T_A, answer(0, 60, 1)), XS_EINVAL);
  assert_int_equal(get(c, name, 0), XS_CACHE_MISS);
  name[253] = '.'; /* 253 and the dot */
  put_ok(c, name, answer(0, 60, 3));
  name[253] = '\0';
  assert_int_equal(get(c, name, 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].addr.bytes[3], 3);
  assert_int_equal(stats_of(c).entries, 1);
  xs_cache_free(c);
}

static void test_cache_put_uncacheable_status_einval_nothing_stored(void **st) {
  xs_cache *c = make(100);
  const xs_status bad[] = {XS_ETIMEOUT,  XS_ESERVFAIL, XS_EREFUSED,
                           XS_EUPSTREAM, XS_ELOOP,     XS_ECANCELLED};
  xs_upstream_answer *a;
  size_t i;
  (void)st;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(xs_cache_put(c, "a.test", T_A, negative(bad[i], 60)),
                     XS_EINVAL);
    assert_int_equal(get(c, "a.test", XS_CACHE_ALLOW_STALE), XS_CACHE_MISS);
  }
  a = answer(0, 60, 1);
  a->naddrs = 0; /* XS_OK without an address is not an answer */
  assert_int_equal(xs_cache_put(c, "a.test", T_A, a), XS_EINVAL);
  assert_int_equal(stats_of(c).entries, 0);
  assert_int_equal(stats_of(c).inserts, 0);
  xs_cache_free(c);
}

/* ---- lifetimes ----------------------------------------------------------- */

static void
test_cache_positive_link_ttl_below_address_expires_at_link(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(30, 300, 7));
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_OK);
  assert_int_equal(out.nchain, 1);
  assert_string_equal(out.chain[0].name, "www.example.test.");
  assert_string_equal(out.chain[0].target, "edge.example.test.");
  assert_int_equal(out.chain[0].ttl, 30);
  assert_int_equal(out.naddrs, 1);
  assert_int_equal(out.addrs[0].ttl, 30); /* capped at the entry's life */
  assert_int_equal(out.addrs[0].addr.bytes[3], 7);
  assert_int_equal(out.negative_ttl, 0);
  advance_ms(29999);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  advance_ms(1);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void
test_cache_positive_address_ttl_below_link_expires_at_address(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(300, 20, 7));
  advance_s(19);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.chain[0].ttl, 1); /* 20 - 19, the link capped too */
  assert_int_equal(out.addrs[0].ttl, 1);
  advance_s(1);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_remaining_ttl_drops_by_whole_elapsed_seconds(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(0, 10, 1));
  advance_ms(999);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].ttl, 10);
  advance_ms(1000); /* 1.999 s */
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].ttl, 9);
  advance_ms(1);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].ttl, 8);
  advance_s(7);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].ttl, 1);
  xs_cache_free(c);
}

static void test_cache_ttl_below_min_lives_for_min(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c;
  (void)st;
  fake_cfg(&cfg, 100);
  cfg.min_ttl = 10;
  cfg.max_ttl = 60;
  c = make_cfg(&cfg);
  put_ok(c, "short.test", answer(0, 2, 1));
  advance_s(1);
  assert_int_equal(get(c, "short.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].ttl, 1); /* the record's own TTL, minus 1 */
  advance_s(8);
  assert_int_equal(get(c, "short.test", 0), XS_CACHE_FRESH); /* raised */
  assert_int_equal(out.addrs[0].ttl, 0);                     /* never < 0 */
  advance_s(1);
  assert_int_equal(get(c, "short.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_ttl_above_max_lives_for_max(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c;
  (void)st;
  fake_cfg(&cfg, 100);
  cfg.min_ttl = 10;
  cfg.max_ttl = 60;
  c = make_cfg(&cfg);
  put_ok(c, "long.test", answer(0, 86400, 2));
  assert_int_equal(get(c, "long.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].ttl, 60);
  advance_s(11);
  assert_int_equal(get(c, "long.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].ttl, 49);
  advance_s(49);
  assert_int_equal(get(c, "long.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_default_clock_serves_fresh_entries(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c;
  uint64_t t0, t1;
  (void)st;
  xs_cache_cfg_default(&cfg); /* clock NULL: CLOCK_MONOTONIC */
  c = make_cfg(&cfg);
  t0 = xs_cache_now(c);
  put_ok(c, "www.example.test", answer(0, 60, 1));
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_in_range(out.addrs[0].ttl, 59, 60);
  t1 = xs_cache_now(c);
  assert_true(t1 >= t0);
  assert_true(t1 - t0 < 60000);
  xs_cache_free(c);
}

/* ---- negative caching ---------------------------------------------------- */

static void test_cache_nxdomain_above_cap_lives_for_cap(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "nx.example.test", negative(XS_ENOTFOUND, 900));
  assert_int_equal(get(c, "nx.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_ENOTFOUND);
  assert_int_equal(out.naddrs, 0);
  assert_int_equal(out.nchain, 0);
  assert_int_equal(out.negative_ttl, 300);
  advance_s(299);
  assert_int_equal(get(c, "nx.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.negative_ttl, 1);
  advance_s(1); /* the 300 s cap, not the SOA's 900 */
  assert_int_equal(get(c, "nx.example.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_nodata_below_cap_lives_for_soa_ttl(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "nodata.example.test", negative(XS_ENODATA, 60));
  assert_int_equal(get(c, "nodata.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_ENODATA);
  assert_int_equal(out.naddrs, 0);
  assert_int_equal(out.negative_ttl, 60);
  advance_s(20);
  assert_int_equal(get(c, "nodata.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.negative_ttl, 40);
  advance_s(40);
  assert_int_equal(get(c, "nodata.example.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_negative_without_soa_not_cached(void **st) {
  xs_cache *c = make(100);
  (void)st;
  assert_int_equal(
      xs_cache_put(c, "nosoa.test", T_A, negative(XS_ENOTFOUND, 0)), XS_EINVAL);
  assert_int_equal(xs_cache_put(c, "nosoa.test", T_A, negative(XS_ENODATA, 0)),
                   XS_EINVAL);
  assert_int_equal(get(c, "nosoa.test", XS_CACHE_ALLOW_STALE), XS_CACHE_MISS);
  assert_int_equal(stats_of(c).entries, 0);
  xs_cache_free(c);
}

static void test_cache_negative_with_zero_cap_not_cached(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c;
  (void)st;
  fake_cfg(&cfg, 100);
  cfg.neg_max_ttl = 0;
  c = make_cfg(&cfg);
  assert_int_equal(xs_cache_put(c, "nx.test", T_A, negative(XS_ENOTFOUND, 60)),
                   XS_EINVAL);
  assert_int_equal(get(c, "nx.test", 0), XS_CACHE_MISS);
  put_ok(c, "www.example.test", answer(0, 60, 1)); /* positives still are */
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  xs_cache_free(c);
}

/* A negative answer at the end of a CNAME chain is no older than its links:
 * the link's TTL bounds the entry like the SOA's does. */
static void test_cache_negative_through_cname_expires_at_link(void **st) {
  xs_cache *c = make(100);
  xs_upstream_answer *a = negative(XS_ENODATA, 60);
  (void)st;
  a->nchain = 1;
  strcpy(a->chain[0].name, "alias.test.");
  strcpy(a->chain[0].target, "gone.example.test.");
  a->chain[0].ttl = 20;
  put_ok(c, "alias.test", a);
  advance_s(19);
  assert_int_equal(get(c, "alias.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_ENODATA);
  assert_int_equal(out.nchain, 1);
  assert_string_equal(out.chain[0].name, "alias.test.");
  assert_string_equal(out.chain[0].target, "gone.example.test.");
  assert_int_equal(out.chain[0].ttl, 1);
  assert_int_equal(out.negative_ttl, 1);
  advance_s(1);
  assert_int_equal(get(c, "alias.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

/* ---- serve-stale --------------------------------------------------------- */

static void test_cache_failure_status_keeps_entry_served_stale(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(0, 20, 9));
  advance_s(25);
  assert_int_equal(
      xs_cache_put(c, "www.example.test", T_A, negative(XS_ETIMEOUT, 0)),
      XS_EINVAL);
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_STALE);
  assert_int_equal(out.status, XS_OK);
  assert_int_equal(out.addrs[0].addr.bytes[3], 9);
  xs_cache_free(c);
}

static void test_cache_expired_without_allow_stale_misses(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(0, 20, 9));
  advance_s(20);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_MISS);
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_STALE);
  xs_cache_free(c);
}

static void test_cache_stale_inside_window_every_ttl_is_stale_ttl(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c;
  (void)st;
  fake_cfg(&cfg, 100);
  cfg.stale_ttl = 7;
  c = make_cfg(&cfg);
  put_ok(c, "www.example.test", answer(20, 300, 9));
  put_ok(c, "nx.example.test", negative(XS_ENOTFOUND, 20));
  advance_s(20);
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_STALE);
  assert_int_equal(out.chain[0].ttl, 7);
  assert_string_equal(out.chain[0].target, "edge.example.test.");
  assert_int_equal(out.addrs[0].ttl, 7);
  assert_int_equal(out.addrs[0].addr.bytes[3], 9);
  assert_int_equal(get(c, "nx.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_STALE);
  assert_int_equal(out.status, XS_ENOTFOUND);
  assert_int_equal(out.negative_ttl, 7);
  xs_cache_free(c);
}

static void test_cache_stale_after_window_misses(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(0, 20, 9));
  advance_s(20 + 3600);
  now_ms -= 1; /* 1 ms before the window closes */
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_STALE);
  advance_ms(1);
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_stale_max_zero_never_serves_stale(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c;
  (void)st;
  fake_cfg(&cfg, 100);
  cfg.stale_max = 0;
  c = make_cfg(&cfg);
  put_ok(c, "www.example.test", answer(0, 20, 9));
  advance_s(19);
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_FRESH);
  advance_s(1);
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_MISS);
  xs_cache_free(c);
}

/* ---- prefetch ------------------------------------------------------------ */

static void test_cache_prefetch_before_last_tenth_not_reported(void **st) {
  xs_cache *c = make(100);
  int i;
  (void)st;
  put_ok(c, "www.example.test", answer(0, 100, 1));
  for (i = 0; i < 90; i++) {
    assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
    advance_s(1);
  }
  now_ms -= 1; /* 89.999 s of 100 */
  assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
  xs_cache_free(c);
}

static void test_cache_prefetch_at_ninety_percent_reported_once(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(0, 100, 1));
  advance_s(90);
  assert_int_equal(get_raw(c, "www.example.test", 0),
                   XS_CACHE_FRESH | XS_CACHE_PREFETCH);
  assert_int_equal(out.addrs[0].addr.bytes[3], 1);
  assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
  advance_s(9);
  assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
  advance_s(1);
  assert_int_equal(get_raw(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_STALE); /* never with a stale hit */
  xs_cache_free(c);
}

static void
test_cache_prefetch_short_lifetime_reported_in_last_tenth(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(0, 5, 1));
  advance_ms(4499);
  assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
  advance_ms(1);
  assert_int_equal(get_raw(c, "www.example.test", 0),
                   XS_CACHE_FRESH | XS_CACHE_PREFETCH);
  xs_cache_free(c);
}

static void test_cache_prefetch_after_replace_reported_again(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "www.example.test", answer(0, 100, 1));
  advance_s(95);
  assert_int_equal(get_raw(c, "www.example.test", 0),
                   XS_CACHE_FRESH | XS_CACHE_PREFETCH);
  put_ok(c, "www.example.test", answer(0, 100, 2)); /* the refresh */
  assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].addr.bytes[3], 2);
  assert_int_equal(out.addrs[0].ttl, 100);
  advance_s(90);
  assert_int_equal(get_raw(c, "www.example.test", 0),
                   XS_CACHE_FRESH | XS_CACHE_PREFETCH);
  xs_cache_free(c);
}

static void test_cache_prefetch_negative_entry_reported_once(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "nx.example.test", negative(XS_ENOTFOUND, 100));
  advance_s(90);
  assert_int_equal(get_raw(c, "nx.example.test", 0),
                   XS_CACHE_FRESH | XS_CACHE_PREFETCH);
  assert_int_equal(get_raw(c, "nx.example.test", 0), XS_CACHE_FRESH);
  xs_cache_free(c);
}

static void test_cache_prefetch_disabled_never_reported(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c;
  (void)st;
  fake_cfg(&cfg, 100);
  cfg.prefetch = 0;
  c = make_cfg(&cfg);
  put_ok(c, "www.example.test", answer(0, 100, 1));
  advance_s(99);
  assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
  xs_cache_free(c);
}

/* ---- keys, replacement, clearing, counters --------------------------------
 */

static void test_cache_keys_ignore_case_and_trailing_dot(void **st) {
  xs_cache *c = make(100);
  (void)st;
  put_ok(c, "WWW.Example.TEST.", answer(0, 60, 4));
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].addr.bytes[3], 4);
  assert_int_equal(get(c, "www.EXAMPLE.test.", 0), XS_CACHE_FRESH);
  assert_int_equal(get(c, "ww.example.test", 0), XS_CACHE_MISS);
  assert_int_equal(get(c, "www.example.test..", 0), XS_CACHE_MISS);
  put_ok(c, "www.example.test", answer(0, 60, 5)); /* the same key */
  assert_int_equal(get(c, "WWW.EXAMPLE.TEST.", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].addr.bytes[3], 5);
  assert_int_equal(stats_of(c).entries, 1);
  xs_cache_free(c);
}

static void test_cache_a_and_aaaa_separate_entries(void **st) {
  xs_cache *c = make(100);
  xs_upstream_answer six;
  (void)st;
  put_ok(c, "dual.test", answer(0, 60, 4));
  assert_int_equal(xs_cache_get(c, "dual.test", T_AAAA, 0, &out),
                   XS_CACHE_MISS);
  memset(&six, 0, sizeof(six));
  six.status = XS_OK;
  six.naddrs = 1;
  six.addrs[0].addr.family = 6;
  six.addrs[0].addr.bytes[0] = 0x20;
  six.addrs[0].addr.bytes[15] = 0x66;
  six.addrs[0].ttl = 60;
  assert_int_equal(xs_cache_put(c, "dual.test", T_AAAA, &six), XS_OK);
  memset(&out, 0xa5, sizeof(out));
  assert_int_equal(xs_cache_get(c, "dual.test", T_AAAA, 0, &out),
                   XS_CACHE_FRESH);
  assert_int_equal(out.naddrs, 1);
  assert_memory_equal(&out.addrs[0].addr, &six.addrs[0].addr, sizeof(xs_addr));
  assert_int_equal(xs_cache_get(c, "dual.test", T_A, 0, &out), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].addr.family, 4);
  assert_int_equal(out.addrs[0].addr.bytes[3], 4);
  assert_int_equal(stats_of(c).entries, 2);
  xs_cache_free(c);
}

static void test_cache_put_existing_key_replaces_entry(void **st) {
  xs_cache *c = make(100);
  xs_cache_stats stats;
  (void)st;
  put_ok(c, "www.example.test", answer(30, 60, 1));
  put_ok(c, "www.example.test", negative(XS_ENOTFOUND, 40));
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_ENOTFOUND);
  assert_int_equal(out.nchain, 0);
  assert_int_equal(out.naddrs, 0);
  assert_int_equal(out.negative_ttl, 40);
  advance_s(39);
  put_ok(c, "www.example.test", answer(0, 60, 2)); /* lifetime restarts */
  advance_s(59);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_OK);
  assert_int_equal(out.addrs[0].addr.bytes[3], 2);
  assert_int_equal(out.addrs[0].ttl, 1);
  stats = stats_of(c);
  assert_int_equal(stats.entries, 1);
  assert_int_equal(stats.inserts, 3);
  assert_int_equal(stats.evictions, 0);
  xs_cache_free(c);
}

static void test_cache_clear_drops_every_entry(void **st) {
  xs_cache *c = make(100);
  char name[64];
  int i;
  (void)st;
  for (i = 0; i < 50; i++) {
    snprintf(name, sizeof(name), "n%d.test", i);
    put_ok(c, name, answer(0, 60, i));
  }
  assert_int_equal(stats_of(c).entries, 50);
  xs_cache_clear(c);
  assert_int_equal(stats_of(c).entries, 0);
  for (i = 0; i < 50; i++) {
    snprintf(name, sizeof(name), "n%d.test", i);
    assert_int_equal(get(c, name, XS_CACHE_ALLOW_STALE), XS_CACHE_MISS);
  }
  put_ok(c, "n7.test", answer(0, 60, 77)); /* usable again */
  assert_int_equal(get(c, "n7.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].addr.bytes[3], 77);
  assert_int_equal(stats_of(c).entries, 1);
  xs_cache_free(c);
}

static void test_cache_stats_count_hits_stale_hits_misses_inserts(void **st) {
  xs_cache *c = make(100);
  xs_cache_stats stats;
  (void)st;
  put_ok(c, "a.test", answer(0, 10, 1));
  put_ok(c, "b.test", answer(0, 100, 2));
  assert_int_equal(get(c, "a.test", 0), XS_CACHE_FRESH);
  assert_int_equal(get(c, "b.test", 0), XS_CACHE_FRESH);
  assert_int_equal(get(c, "c.test", 0), XS_CACHE_MISS);
  advance_s(10);
  assert_int_equal(get(c, "a.test", 0), XS_CACHE_MISS);
  assert_int_equal(get(c, "a.test", XS_CACHE_ALLOW_STALE), XS_CACHE_STALE);
  assert_int_equal(get(c, "b.test", XS_CACHE_ALLOW_STALE), XS_CACHE_FRESH);
  stats = stats_of(c);
  assert_int_equal(stats.entries, 2);
  assert_int_equal(stats.hits, 3);
  assert_int_equal(stats.stale_hits, 1);
  assert_int_equal(stats.misses, 2);
  assert_int_equal(stats.inserts, 2);
  assert_int_equal(stats.evictions, 0);
  xs_cache_free(c);
}

/* ---- capacity and eviction ----------------------------------------------- */

static void test_cache_capacity_never_exceeded(void **st) {
  const size_t sizes[] = {1, 7, 8, 9, 100, 1000, 5000};
  char name[64];
  size_t i, k;
  (void)st;
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    xs_cache *c = make(sizes[i]);
    xs_cache_stats stats;
    for (k = 0; k < 3 * sizes[i] + 10; k++) {
      snprintf(name, sizeof(name), "k%zu.test", k);
      put_ok(c, name, answer(0, 600, 1));
      assert_true(stats_of(c).entries <= sizes[i]);
    }
    stats = stats_of(c);
    assert_true(stats.entries >= 1);
    assert_int_equal(stats.inserts, 3 * sizes[i] + 10);
    assert_int_equal(stats.evictions, stats.inserts - stats.entries);
    xs_cache_free(c);
  }
}

static void test_cache_eviction_hit_entry_survives_cold_ones_go(void **st) {
  xs_cache *c = make(64); /* 8 shards of 8 */
  xs_cache_stats stats;
  char name[64];
  int i, cold_left = 0;
  (void)st;
  put_ok(c, "hot.example.test", answer(0, 600, 1));
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "cold%d.example.test", i);
    put_ok(c, name, answer(0, 600, 2));
    assert_int_equal(get(c, "hot.example.test", 0), XS_CACHE_FRESH);
    assert_int_equal(out.addrs[0].addr.bytes[3], 1);
  }
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "cold%d.example.test", i);
    cold_left += get(c, name, 0) != XS_CACHE_MISS;
  }
  stats = stats_of(c);
  assert_true(stats.entries <= 64);
  assert_true(cold_left < 64);
  assert_true(stats.evictions >= 1000 - 64);
  assert_int_equal(stats.inserts, 1001);
  xs_cache_free(c);
}

/* One shard of 8, dead and live entries alternating: room for new entries
 * comes from the dead ones, and no live one is dropped. */
static void test_cache_eviction_full_shard_drops_dead_before_live(void **st) {
  xs_cache *c = make(8);
  char name[64];
  int i;
  (void)st;
  for (i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "live%d.test", i);
    put_ok(c, name, answer(0, 3600, 1)); /* stale-servable later */
    snprintf(name, sizeof(name), "dead%d.test", i);
    put_ok(c, name, answer(0, 1, 2)); /* past the stale window later */
  }
  advance_s(1 + 3600);
  for (i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "new%d.test", i);
    put_ok(c, name, answer(0, 60, 3));
  }
  assert_int_equal(stats_of(c).entries, 8);
  assert_int_equal(stats_of(c).evictions, 0);
  for (i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "live%d.test", i);
    assert_int_equal(get(c, name, XS_CACHE_ALLOW_STALE), XS_CACHE_STALE);
    snprintf(name, sizeof(name), "new%d.test", i);
    assert_int_equal(get(c, name, 0), XS_CACHE_FRESH);
    snprintf(name, sizeof(name), "dead%d.test", i);
    assert_int_equal(get(c, name, XS_CACHE_ALLOW_STALE), XS_CACHE_MISS);
  }
  xs_cache_free(c);
}

static void test_cache_eviction_of_live_entry_counted(void **st) {
  xs_cache *c = make(8);
  char name[64];
  int i;
  (void)st;
  for (i = 0; i < 9; i++) {
    snprintf(name, sizeof(name), "n%d.test", i);
    put_ok(c, name, answer(0, 60, i));
  }
  assert_int_equal(stats_of(c).entries, 8);
  assert_int_equal(stats_of(c).evictions, 1);
  assert_int_equal(get(c, "n8.test", 0), XS_CACHE_FRESH); /* the newest */
  assert_int_equal(out.addrs[0].addr.bytes[3], 8);
  xs_cache_free(c);
}

/* ---- exact round trips ----------------------------------------------------
 */

/* A name of len octets plus the root dot into buf[0..size). */
static void fill_name(char *buf, size_t size, char ch, size_t len) {
  size_t i;
  assert_true(len + 2 <= size);
  for (i = 0; i < len; i++)
    buf[i] = (i % 64 == 63) ? '.' : ch; /* labels of 63 */
  buf[len] = '.';
  buf[len + 1] = '\0';
}

/* Ten links (owners shared with the key or the previous target, and not),
 * names of 253 octets, 64 addresses of both families: every part comes
 * back as stored, TTLs capped at the entry's lifetime. */
static void
test_cache_long_chain_mixed_addresses_round_trip_exactly(void **st) {
  static xs_upstream_answer in;
  xs_cache *c = make(100);
  char key[300];
  size_t i;
  (void)st;
  memset(&in, 0, sizeof(in));
  fill_name(key, sizeof(key), 'k', 253);
  in.status = XS_OK;
  in.nchain = XS_MAX_CHAIN;
  /* The bound is the constant, not in.nchain: the names written below
   * could alias it as far as the compiler knows. */
  for (i = 0; i < XS_MAX_CHAIN; i++) {
    if (i == 0)
      strcpy(in.chain[i].name, key);
    else if (i % 3 == 2)
      fill_name(in.chain[i].name, sizeof(in.chain[i].name), (char)('A' + i),
                100 + i); /* not shared */
    else
      strcpy(in.chain[i].name, in.chain[i - 1].target);
    fill_name(in.chain[i].target, sizeof(in.chain[i].target), (char)('a' + i),
              i == 5 ? 253 : 20 + i);
    in.chain[i].ttl = 200 + (uint32_t)i;
  }
  in.naddrs = XS_UPSTREAM_MAX_ADDRS;
  for (i = 0; i < in.naddrs; i++) {
    in.addrs[i].addr.family = i % 2 ? 6 : 4;
    memset(in.addrs[i].addr.bytes, (int)i, i % 2 ? 16 : 4);
    in.addrs[i].ttl = 100 + (uint32_t)i;
  }
  put_ok(c, key, &in);
  advance_s(2);
  assert_int_equal(get(c, key, 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_OK);
  assert_int_equal(out.nchain, in.nchain);
  for (i = 0; i < in.nchain; i++) {
    assert_string_equal(out.chain[i].name, in.chain[i].name);
    assert_string_equal(out.chain[i].target, in.chain[i].target);
    assert_int_equal(out.chain[i].ttl, 100 - 2); /* life: the minimum, 100 */
  }
  assert_int_equal(out.naddrs, in.naddrs);
  for (i = 0; i < in.naddrs; i++) {
    assert_memory_equal(&out.addrs[i].addr, &in.addrs[i].addr, sizeof(xs_addr));
    assert_int_equal(out.addrs[i].ttl, 100 - 2);
  }
  assert_int_equal(out.negative_ttl, 0);
  xs_cache_free(c);
}

/* Owners that differ from the key only in case, or lack its dot, are not
 * the key: they come back as given. */
static void test_cache_owner_unlike_key_returned_verbatim(void **st) {
  const char *owners[] = {"WWW.example.test.", "www.example.test",
                          "www.example.test.x.", "www.example.tes."};
  xs_cache *c = make(100);
  size_t i;
  (void)st;
  for (i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
    xs_upstream_answer *a = answer(60, 60, (int)i);
    strcpy(a->chain[0].name, owners[i]);
    put_ok(c, "www.example.test", a);
    assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
    assert_string_equal(out.chain[0].name, owners[i]);
    assert_string_equal(out.chain[0].target, "edge.example.test.");
    assert_int_equal(out.addrs[0].addr.bytes[3], i);
  }
  xs_cache_free(c);
}

static void test_cache_ipv4_entry_returns_whole_zeroed_addresses(void **st) {
  xs_cache *c = make(100);
  xs_upstream_answer *a = answer(0, 60, 1);
  size_t i;
  (void)st;
  a->naddrs = 2;
  a->addrs[1] = a->addrs[0];
  a->addrs[1].addr.bytes[3] = 2;
  put_ok(c, "www.example.test", a);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.naddrs, 2);
  for (i = 0; i < 2; i++) /* out was filled with garbage first */
    assert_memory_equal(&out.addrs[i].addr, &a->addrs[i].addr, sizeof(xs_addr));
  xs_cache_free(c);
}

/* ---- threads --------------------------------------------------------------
 */

#define KEYS 200

static xs_cache *shared;
static atomic_int torn, hits;
static int worker_ops; /* operations per worker thread */

/* Key k: A -> CNAME t<k>.example.test -> 1 + k % 3 addresses 10.k.k.r;
 * AAAA -> NODATA with negative TTL 100 + k. */
static void key_answer(int k, uint16_t qtype, xs_upstream_answer *a) {
  size_t r;
  xs_upstream_answer_status(a, qtype == T_A ? XS_OK : XS_ENODATA);
  a->nchain = 1;
  snprintf(a->chain[0].name, sizeof(a->chain[0].name), "n%d.example.test.", k);
  snprintf(a->chain[0].target, sizeof(a->chain[0].target), "t%d.example.test.",
           k);
  a->chain[0].ttl = 300;
  if (qtype != T_A) {
    a->negative_ttl = 100 + (uint32_t)k;
    return;
  }
  a->naddrs = 1 + (size_t)(k % 3);
  for (r = 0; r < a->naddrs; r++) {
    memset(&a->addrs[r].addr, 0, sizeof(xs_addr));
    a->addrs[r].addr.family = 4;
    a->addrs[r].addr.bytes[0] = 10;
    a->addrs[r].addr.bytes[1] = (uint8_t)(k >> 8);
    a->addrs[r].addr.bytes[2] = (uint8_t)k;
    a->addrs[r].addr.bytes[3] = (uint8_t)r;
    a->addrs[r].ttl = 200;
  }
}

/* o, a hit for key k, is key k's answer; want is scratch space. */
static int consistent(int k, uint16_t qtype, const xs_upstream_answer *o,
                      xs_upstream_answer *want) {
  size_t r;
  int ok;
  key_answer(k, qtype, want);
  ok = o->status == want->status && o->nchain == 1 &&
       strcmp(o->chain[0].name, want->chain[0].name) == 0 &&
       strcmp(o->chain[0].target, want->chain[0].target) == 0 &&
       o->naddrs == want->naddrs &&
       (qtype == T_A ? o->negative_ttl == 0
                     : o->negative_ttl <= want->negative_ttl);
  for (r = 0; ok && r < o->naddrs; r++)
    ok =
        memcmp(&o->addrs[r].addr, &want->addrs[r].addr, sizeof(xs_addr)) == 0 &&
        o->addrs[r].ttl <= 200;
  return ok;
}

static void *worker(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  xs_upstream_answer *a = malloc(sizeof(*a)), *o = malloc(sizeof(*o));
  char name[64];
  if (a == NULL || o == NULL) {
    atomic_fetch_add(&torn, 1);
    goto done;
  }
  int op;
  for (op = 0; op < worker_ops; op++) {
    int k = (int)(rand_r(&seed) % KEYS), res;
    uint16_t qtype = rand_r(&seed) % 4 ? T_A : T_AAAA;
    snprintf(name, sizeof(name), "%s%d.Example.test%s", k % 2 ? "N" : "n", k,
             k % 4 < 2 ? "." : "");
    switch (rand_r(&seed) % 16) {
    case 0:
    case 1:
    case 2:
      key_answer(k, qtype, a);
      if (xs_cache_put(shared, name, qtype, a) != XS_OK)
        atomic_fetch_add(&torn, 1);
      break;
    case 3:
      if (rand_r(&seed) % 64 == 0)
        xs_cache_clear(shared);
      break;
    default:
      res = xs_cache_get(shared, name, qtype, XS_CACHE_ALLOW_STALE, o);
      if (res != XS_CACHE_MISS) {
        atomic_fetch_add(&hits, 1);
        if (!consistent(k, qtype, o, a))
          atomic_fetch_add(&torn, 1);
      }
    }
  }
done:
  free(a);
  free(o);
  return NULL;
}

static void test_cache_threads_put_get_clear_hits_self_consistent(void **st) {
  xs_cache_cfg cfg;
  xs_cache_stats stats;
  pthread_t th[4];
  int i;
  (void)st;
  xs_cache_cfg_default(&cfg); /* the real clock */
  cfg.max_entries = 100;      /* fewer than the keys: evictions too */
  shared = make_cfg(&cfg);
  /* a number of operations each, not a time: the same work on any machine */
  worker_ops = getenv("XSVC_TEST_VALGRIND") != NULL ? 20000 : 200000;
  for (i = 0; i < 4; i++)
    assert_int_equal(
        pthread_create(&th[i], NULL, worker, (void *)(size_t)(i + 1)), 0);
  for (i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&torn), 0);
  assert_true(atomic_load(&hits) > 0);
  xs_cache_stats_get(shared, &stats);
  assert_true(stats.entries <= 100);
  assert_int_equal(stats.hits + stats.stale_hits, (uint64_t)atomic_load(&hits));
  xs_cache_free(shared);
}

static pthread_barrier_t start_line;
static atomic_int prefetches;

static void *prefetch_worker(void *arg) {
  xs_upstream_answer *o = malloc(sizeof(*o));
  int i;
  (void)arg;
  pthread_barrier_wait(&start_line);
  for (i = 0; o != NULL && i < 20000; i++)
    if (xs_cache_get(shared, "www.example.test", T_A, 0, o) & XS_CACHE_PREFETCH)
      atomic_fetch_add(&prefetches, 1);
  free(o);
  return NULL;
}

static void test_cache_threads_prefetch_reported_to_one_caller(void **st) {
  pthread_t th[4];
  int i;
  (void)st;
  shared = make(100);
  put_ok(shared, "www.example.test", answer(0, 100, 1));
  advance_s(95); /* in the window before the threads start reading */
  atomic_store(&prefetches, 0);
  assert_int_equal(pthread_barrier_init(&start_line, NULL, 4), 0);
  for (i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, prefetch_worker, NULL), 0);
  for (i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&start_line);
  assert_int_equal(atomic_load(&prefetches), 1);
  assert_int_equal(stats_of(shared).hits, 4 * 20000);
  xs_cache_free(shared);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_new_zero_entries_einval),
      cmocka_unit_test(test_cache_new_min_ttl_above_max_einval),
      cmocka_unit_test(test_cache_null_handle_calls_are_noops),
      cmocka_unit_test(test_cache_put_empty_or_overlong_name_einval),
      cmocka_unit_test(test_cache_put_uncacheable_status_einval_nothing_stored),
      cmocka_unit_test(
          test_cache_positive_link_ttl_below_address_expires_at_link),
      cmocka_unit_test(
          test_cache_positive_address_ttl_below_link_expires_at_address),
      cmocka_unit_test(test_cache_remaining_ttl_drops_by_whole_elapsed_seconds),
      cmocka_unit_test(test_cache_ttl_below_min_lives_for_min),
      cmocka_unit_test(test_cache_ttl_above_max_lives_for_max),
      cmocka_unit_test(test_cache_default_clock_serves_fresh_entries),
      cmocka_unit_test(test_cache_nxdomain_above_cap_lives_for_cap),
      cmocka_unit_test(test_cache_nodata_below_cap_lives_for_soa_ttl),
      cmocka_unit_test(test_cache_negative_without_soa_not_cached),
      cmocka_unit_test(test_cache_negative_with_zero_cap_not_cached),
      cmocka_unit_test(test_cache_negative_through_cname_expires_at_link),
      cmocka_unit_test(test_cache_failure_status_keeps_entry_served_stale),
      cmocka_unit_test(test_cache_expired_without_allow_stale_misses),
      cmocka_unit_test(test_cache_stale_inside_window_every_ttl_is_stale_ttl),
      cmocka_unit_test(test_cache_stale_after_window_misses),
      cmocka_unit_test(test_cache_stale_max_zero_never_serves_stale),
      cmocka_unit_test(test_cache_prefetch_before_last_tenth_not_reported),
      cmocka_unit_test(test_cache_prefetch_at_ninety_percent_reported_once),
      cmocka_unit_test(
          test_cache_prefetch_short_lifetime_reported_in_last_tenth),
      cmocka_unit_test(test_cache_prefetch_after_replace_reported_again),
      cmocka_unit_test(test_cache_prefetch_negative_entry_reported_once),
      cmocka_unit_test(test_cache_prefetch_disabled_never_reported),
      cmocka_unit_test(test_cache_keys_ignore_case_and_trailing_dot),
      cmocka_unit_test(test_cache_a_and_aaaa_separate_entries),
      cmocka_unit_test(test_cache_put_existing_key_replaces_entry),
      cmocka_unit_test(test_cache_clear_drops_every_entry),
      cmocka_unit_test(test_cache_stats_count_hits_stale_hits_misses_inserts),
      cmocka_unit_test(test_cache_capacity_never_exceeded),
      cmocka_unit_test(test_cache_eviction_hit_entry_survives_cold_ones_go),
      cmocka_unit_test(test_cache_eviction_full_shard_drops_dead_before_live),
      cmocka_unit_test(test_cache_eviction_of_live_entry_counted),
      cmocka_unit_test(
          test_cache_long_chain_mixed_addresses_round_trip_exactly),
      cmocka_unit_test(test_cache_owner_unlike_key_returned_verbatim),
      cmocka_unit_test(test_cache_ipv4_entry_returns_whole_zeroed_addresses),
      cmocka_unit_test(test_cache_threads_put_get_clear_hits_self_consistent),
      cmocka_unit_test(test_cache_threads_prefetch_reported_to_one_caller),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
