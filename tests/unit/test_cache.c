/* The TTL cache with a fake clock: lifetimes at the chain minimum, clamps,
 * negative caching, the stale window, prefetch marks, eviction that keeps
 * hot entries, keys, and concurrent use. */
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

static uint64_t now_ms;

static uint64_t fake(void *arg) {
  (void)arg;
  return now_ms;
}

static void advance_s(unsigned s) {
  now_ms += (uint64_t)s * 1000u;
}

static xs_cache *make(size_t entries) {
  xs_cache_cfg cfg;
  xs_cache *c = NULL;
  xs_cache_cfg_default(&cfg);
  cfg.max_entries = entries;
  cfg.clock = fake;
  now_ms = 1000000;
  assert_int_equal(xs_cache_new(&cfg, &c), XS_OK);
  return c;
}

/* host -> (CNAME ttl link_ttl ->) address 192.0.2.<last> with addr_ttl */
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
  return xs_cache_get(c, name, 1, flags, &out);
}

/* FRESH / STALE / MISS, without the prefetch mark (tested on its own) */
static int get(xs_cache *c, const char *name, int flags) {
  return get_raw(c, name, flags) & ~XS_CACHE_PREFETCH;
}

static void test_cache_positive_lives_for_chain_minimum(void **st) {
  xs_cache *c = make(100);
  (void)st;
  assert_int_equal(xs_cache_put(c, "www.example.test", 1, answer(30, 300, 7)),
                   XS_OK);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_OK);
  assert_int_equal(out.nchain, 1);
  assert_string_equal(out.chain[0].target, "edge.example.test.");
  assert_int_equal(out.chain[0].ttl, 30);
  assert_int_equal(out.addrs[0].ttl, 30); /* capped at the entry's life */
  assert_int_equal(out.addrs[0].addr.bytes[3], 7);
  advance_s(12);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.chain[0].ttl, 18);
  assert_int_equal(out.addrs[0].ttl, 18);
  advance_s(18);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_ttl_clamps(void **st) {
  xs_cache_cfg cfg;
  xs_cache *c = NULL;
  (void)st;
  xs_cache_cfg_default(&cfg);
  cfg.clock = fake;
  cfg.min_ttl = 10;
  cfg.max_ttl = 60;
  now_ms = 0;
  assert_int_equal(xs_cache_new(&cfg, &c), XS_OK);
  xs_cache_put(c, "short.test", 1, answer(0, 2, 1));
  xs_cache_put(c, "long.test", 1, answer(0, 86400, 2));
  advance_s(9);
  assert_int_equal(get(c, "short.test", 0), XS_CACHE_FRESH); /* raised */
  advance_s(2);
  assert_int_equal(get(c, "short.test", 0), XS_CACHE_MISS);
  assert_int_equal(get(c, "long.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.addrs[0].ttl, 49);
  advance_s(50); /* 61 s: past the 60 s cap */
  assert_int_equal(get(c, "long.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
  cfg.min_ttl = 61;
  assert_int_equal(xs_cache_new(&cfg, &c), XS_EINVAL);
  cfg.min_ttl = 0;
  cfg.max_entries = 0;
  assert_int_equal(xs_cache_new(&cfg, &c), XS_EINVAL);
}

static void test_cache_negative_entries_capped_and_need_soa(void **st) {
  xs_cache *c = make(100);
  (void)st;
  assert_int_equal(
      xs_cache_put(c, "nx.example.test", 1, negative(XS_ENOTFOUND, 900)),
      XS_OK);
  assert_int_equal(
      xs_cache_put(c, "nodata.example.test", 1, negative(XS_ENODATA, 60)),
      XS_OK);
  assert_int_equal(
      xs_cache_put(c, "nosoa.example.test", 1, negative(XS_ENOTFOUND, 0)),
      XS_EINVAL);
  assert_int_equal(get(c, "nx.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_ENOTFOUND);
  assert_int_equal(out.naddrs, 0);
  assert_int_equal(get(c, "nodata.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(out.status, XS_ENODATA);
  assert_int_equal(out.negative_ttl, 60);
  assert_int_equal(get(c, "nosoa.example.test", 0), XS_CACHE_MISS);
  advance_s(299);
  assert_int_equal(get(c, "nx.example.test", 0), XS_CACHE_FRESH);
  advance_s(1); /* the 300 s cap, not the SOA's 900 */
  assert_int_equal(get(c, "nx.example.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_failure_keeps_entry_for_stale_serving(void **st) {
  xs_cache *c = make(100);
  (void)st;
  xs_cache_put(c, "www.example.test", 1, answer(0, 20, 9));
  assert_int_equal(
      xs_cache_put(c, "www.example.test", 1, negative(XS_ETIMEOUT, 0)),
      XS_EINVAL);
  advance_s(25);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_MISS);
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_STALE);
  assert_int_equal(out.addrs[0].addr.bytes[3], 9);
  assert_int_equal(out.addrs[0].ttl, 30); /* the stale TTL */
  advance_s(3600 - 5 - 1);                /* 1 s before the window closes */
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_STALE);
  advance_s(1);
  assert_int_equal(get(c, "www.example.test", XS_CACHE_ALLOW_STALE),
                   XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_prefetch_once_in_last_tenth(void **st) {
  xs_cache *c = make(100);
  (void)st;
  xs_cache_put(c, "www.example.test", 1, answer(0, 100, 1));
  advance_s(89);
  assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
  advance_s(1); /* 10% left */
  assert_int_equal(get_raw(c, "www.example.test", 0),
                   XS_CACHE_FRESH | XS_CACHE_PREFETCH);
  assert_int_equal(get_raw(c, "www.example.test", 0), XS_CACHE_FRESH);
  xs_cache_put(c, "www.example.test", 1, answer(0, 100, 2)); /* refreshed */
  advance_s(90);
  assert_int_equal(get_raw(c, "www.example.test", 0),
                   XS_CACHE_FRESH | XS_CACHE_PREFETCH);
  assert_int_equal(out.addrs[0].addr.bytes[3], 2);
  xs_cache_free(c);
}

static void test_cache_keys_fold_case_dot_and_type(void **st) {
  xs_cache *c = make(100);
  (void)st;
  xs_cache_put(c, "WWW.Example.TEST.", 1, answer(0, 60, 4));
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_FRESH);
  assert_int_equal(get(c, "www.EXAMPLE.test.", 0), XS_CACHE_FRESH);
  assert_int_equal(xs_cache_get(c, "www.example.test", 28, 0, &out),
                   XS_CACHE_MISS);
  assert_int_equal(get(c, "ww.example.test", 0), XS_CACHE_MISS);
  assert_int_equal(xs_cache_put(c, "", 1, answer(0, 60, 4)), XS_EINVAL);
  xs_cache_clear(c);
  assert_int_equal(get(c, "www.example.test", 0), XS_CACHE_MISS);
  xs_cache_free(c);
}

static void test_cache_eviction_keeps_hot_entries(void **st) {
  xs_cache *c = make(64); /* 2 per shard */
  xs_cache_stats stats;
  char name[64];
  int i, cold_left = 0;
  (void)st;
  xs_cache_put(c, "hot.example.test", 1, answer(0, 600, 1));
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "cold%d.example.test", i);
    xs_cache_put(c, name, 1, answer(0, 600, 2));
    assert_int_equal(get(c, "hot.example.test", 0), XS_CACHE_FRESH);
  }
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "cold%d.example.test", i);
    cold_left += get(c, name, 0) != XS_CACHE_MISS;
  }
  xs_cache_stats_get(c, &stats);
  assert_true(stats.entries <= 64);
  assert_true(cold_left < 64);
  assert_true(stats.evictions >= 1000 - 64);
  assert_int_equal(stats.inserts, 1001);
  xs_cache_free(c);
}

/* ---- threads ---------------------------------------------------------------
 */

static xs_cache *shared;
static atomic_int stop, torn;

static void *worker(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  xs_upstream_answer a, o;
  char name[64];
  while (!atomic_load(&stop)) {
    int k = (int)(rand_r(&seed) % 200), r;
    snprintf(name, sizeof(name), "n%d.example.test", k);
    memset(&a, 0, sizeof(a));
    a.status = XS_OK;
    a.naddrs = 1 + (size_t)(k % 3);
    for (r = 0; r < (int)a.naddrs; r++) {
      a.addrs[r].addr.family = 4;
      a.addrs[r].addr.bytes[3] = (uint8_t)k;
      a.addrs[r].ttl = 300;
    }
    switch (rand_r(&seed) % 8) {
    case 0:
      xs_cache_put(shared, name, 1, &a);
      break;
    case 1:
      if (rand_r(&seed) % 64 == 0)
        xs_cache_clear(shared);
      break;
    default:
      if (xs_cache_get(shared, name, 1, 0, &o) != XS_CACHE_MISS &&
          (o.naddrs != (size_t)(1 + k % 3) || o.addrs[0].addr.bytes[3] != k))
        atomic_fetch_add(&torn, 1);
    }
  }
  return NULL;
}

static void test_cache_concurrent_put_get_clear_whole_entries(void **st) {
  pthread_t th[4];
  struct timespec ts = {0, 300000000};
  int i;
  (void)st;
  shared = make(100);
  for (i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, worker, (void *)(size_t)(i + 1));
  nanosleep(&ts, NULL);
  atomic_store(&stop, 1);
  for (i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&torn), 0);
  xs_cache_free(shared);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_positive_lives_for_chain_minimum),
      cmocka_unit_test(test_cache_ttl_clamps),
      cmocka_unit_test(test_cache_negative_entries_capped_and_need_soa),
      cmocka_unit_test(test_cache_failure_keeps_entry_for_stale_serving),
      cmocka_unit_test(test_cache_prefetch_once_in_last_tenth),
      cmocka_unit_test(test_cache_keys_fold_case_dot_and_type),
      cmocka_unit_test(test_cache_eviction_keeps_hot_entries),
      cmocka_unit_test(test_cache_concurrent_put_get_clear_whole_entries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
