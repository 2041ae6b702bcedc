/* The result memo through memo.h, with stamps from a real cache on a fake
 * clock: hits, every reason a stored result stops being served (registry
 * version, TTL tick, prefetch point, cache entry replaced / evicted /
 * cleared), exact keys, the four ways of a set, size limits, and threads
 * reading while others store (every copy checked against its key). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "memo.h"

#define T_A 1

static _Atomic uint64_t now_ms;

static uint64_t fake(void *arg) {
  (void)arg;
  return atomic_load(&now_ms);
}

static xs_cache *cache_make(size_t entries) {
  xs_cache_cfg cfg;
  xs_cache *c = NULL;
  xs_cache_cfg_default(&cfg);
  cfg.max_entries = entries;
  cfg.clock = fake;
  atomic_store(&now_ms, 1000000);
  assert_int_equal(xs_cache_new(&cfg, &c), XS_OK);
  return c;
}

static xs_memo *memo_make(size_t slots) {
  xs_memo *m = NULL;
  assert_int_equal(xs_memo_new(slots, &m), XS_OK);
  assert_non_null(m);
  return m;
}

/* A of name -> 192.0.2.last, ttl seconds. */
static void cache_put(xs_cache *c, const char *name, int last, unsigned ttl) {
  xs_upstream_answer a;
  memset(&a, 0, sizeof(a));
  a.status = XS_OK;
  a.naddrs = 1;
  a.addrs[0].addr.family = 4;
  a.addrs[0].addr.bytes[0] = 192;
  a.addrs[0].addr.bytes[2] = 2;
  a.addrs[0].addr.bytes[3] = (uint8_t)last;
  a.addrs[0].ttl = ttl;
  assert_int_equal(xs_cache_put(c, name, T_A, &a), XS_OK);
}

/* A fresh hit's stamp. */
static xs_cache_stamp stamp_of(xs_cache *c, const char *name) {
  xs_upstream_answer a;
  xs_cache_stamp s;
  assert_int_equal(xs_cache_get_stamped(c, name, T_A, 0, &a, &s) &
                       XS_CACHE_FRESH,
                   XS_CACHE_FRESH);
  assert_true(s.until_ms > atomic_load(&now_ms));
  return s;
}

static xs_memo_key key_of(const char *name, int family) {
  xs_memo_key k;
  xs_memo_key_init(&k, name, strlen(name), family);
  return k;
}

static void put_text(xs_memo *m, const char *name, int family, uint64_t version,
                     const xs_cache_stamp *stamps, size_t nstamps,
                     const char *blob) {
  xs_memo_key k = key_of(name, family);
  xs_memo_put(m, &k, version, stamps, nstamps, blob, strlen(blob) + 1);
}

/* The stored text, or NULL. */
static char *get_text(xs_memo *m, const char *name, int family,
                      uint64_t version, const xs_cache *c) {
  xs_memo_key k = key_of(name, family);
  return xs_memo_get(m, &k, version, c, atomic_load(&now_ms));
}

static void expect_text(xs_memo *m, const char *name, int family,
                        uint64_t version, const xs_cache *c, const char *want) {
  char *got = get_text(m, name, family, version, c);
  if (want == NULL) {
    assert_null(got);
    return;
  }
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_memo_new_validates(void **st) {
  xs_memo *m = NULL;
  (void)st;
  assert_int_equal(xs_memo_new(0, &m), XS_EINVAL);
  assert_int_equal(xs_memo_new(4, NULL), XS_EINVAL);
  m = memo_make(XS_MEMO_MAX_SLOTS * 4); /* capped, still works */
  put_text(m, "a", 4, 1, NULL, 0, "one");
  expect_text(m, "a", 4, 1, NULL, "one");
  xs_memo_free(m);
  xs_memo_free(NULL);
}

static void
test_memo_registry_only_result_lives_until_version_changes(void **st) {
  xs_memo *m = memo_make(64);
  (void)st;
  atomic_store(&now_ms, 5000);
  expect_text(m, "svc", 4, 7, NULL, NULL); /* nothing stored yet */
  put_text(m, "svc", 4, 7, NULL, 0, "registry answer");
  expect_text(m, "svc", 4, 7, NULL, "registry answer");
  atomic_store(&now_ms, 5000 + 86400000ull); /* a day: no TTL involved */
  expect_text(m, "svc", 4, 7, NULL, "registry answer");
  expect_text(m, "svc", 4, 8, NULL, NULL); /* the registry moved on */
  xs_memo_free(m);
}

static void test_memo_keys_are_exact(void **st) {
  xs_memo *m = memo_make(64);
  (void)st;
  put_text(m, "svc", 4, 1, NULL, 0, "v4");
  put_text(m, "svc", 0, 1, NULL, 0, "any");
  expect_text(m, "svc", 4, 1, NULL, "v4");
  expect_text(m, "svc", 0, 1, NULL, "any");
  expect_text(m, "svc", 6, 1, NULL, NULL);
  expect_text(m, "SVC", 4, 1, NULL, NULL); /* results echo the spelling */
  expect_text(m, "svc.", 4, 1, NULL, NULL);
  expect_text(m, "sv", 4, 1, NULL, NULL);
  put_text(m, "svc", 4, 1, NULL, 0, "v4 again"); /* replaces its own slot */
  expect_text(m, "svc", 4, 1, NULL, "v4 again");
  expect_text(m, "svc", 0, 1, NULL, "any");
  xs_memo_free(m);
}

static void test_memo_stamp_ticks_each_second_of_age(void **st) {
  xs_cache *c = cache_make(100);
  xs_memo *m = memo_make(64);
  xs_cache_stamp s;
  (void)st;
  atomic_store(&now_ms, 1000000);
  cache_put(c, "db.example.test", 10, 300);
  atomic_fetch_add(&now_ms, 1400); /* 1.4 s old: TTL 299 until 2.0 s */
  s = stamp_of(c, "db.example.test");
  assert_int_equal(s.until_ms, 1002000);
  put_text(m, "db", 4, 1, &s, 1, "ttl 299");
  atomic_fetch_add(&now_ms, 599); /* 1.999 s */
  expect_text(m, "db", 4, 1, c, "ttl 299");
  atomic_fetch_add(&now_ms, 1); /* 2.0 s: TTL 298 now */
  expect_text(m, "db", 4, 1, c, NULL);
  xs_memo_free(m);
  xs_cache_free(c);
}

static void test_memo_stamp_stops_at_prefetch_point(void **st) {
  xs_cache *c = cache_make(100);
  xs_memo *m = memo_make(64);
  xs_cache_stamp s;
  xs_upstream_answer a;
  (void)st;
  cache_put(c, "db.example.test", 10, 100);
  /* 89.5 s old; the prefetch point is 90 s (last 10% of 100 s) */
  atomic_fetch_add(&now_ms, 89500);
  s = stamp_of(c, "db.example.test");
  assert_int_equal(s.until_ms, 1000000 + 90000);
  put_text(m, "db", 4, 1, &s, 1, "before prefetch");
  atomic_fetch_add(&now_ms, 499);
  expect_text(m, "db", 4, 1, c, "before prefetch");
  atomic_fetch_add(&now_ms, 1);
  expect_text(m, "db", 4, 1, c, NULL);
  /* The hit past the point reports PREFETCH; after that the stamp runs to
   * the next whole second again. */
  assert_int_equal(xs_cache_get_stamped(c, "db.example.test", T_A, 0, &a, &s),
                   XS_CACHE_FRESH | XS_CACHE_PREFETCH);
  assert_int_equal(s.until_ms, 1000000 + 91000);
  xs_memo_free(m);
  xs_cache_free(c);
}

static void test_memo_stamp_broken_by_replace_evict_clear(void **st) {
  xs_cache *c = cache_make(8); /* one shard of 8 entries */
  xs_memo *m = memo_make(64);
  xs_cache_stamp s;
  xs_upstream_answer a;
  char name[32];
  int i;
  (void)st;
  cache_put(c, "db.example.test", 10, 300);
  s = stamp_of(c, "db.example.test");
  put_text(m, "db", 4, 1, &s, 1, "old");
  expect_text(m, "db", 4, 1, c, "old");
  cache_put(c, "db.example.test", 11, 300); /* replaced */
  expect_text(m, "db", 4, 1, c, NULL);

  s = stamp_of(c, "db.example.test");
  put_text(m, "db", 4, 1, &s, 1, "new");
  cache_put(c, "other.example.test", 12, 300); /* room left: no eviction */
  expect_text(m, "db", 4, 1, c, "new");
  for (i = 0; i < 8; i++) { /* fill the shard: evictions */
    snprintf(name, sizeof(name), "n%d.example.test", i);
    cache_put(c, name, 13, 300);
  }
  expect_text(m, "db", 4, 1, c, NULL);

  cache_put(c, "db.example.test", 14, 300);
  s = stamp_of(c, "db.example.test");
  put_text(m, "db", 4, 1, &s, 1, "before clear");
  expect_text(m, "db", 4, 1, c, "before clear");
  xs_cache_clear(c);
  expect_text(m, "db", 4, 1, c, NULL);
  /* a stale or missing read vouches for nothing */
  assert_int_equal(xs_cache_get_stamped(c, "db.example.test", T_A, 0, &a, &s),
                   XS_CACHE_MISS);
  assert_int_equal(s.until_ms, 0);
  xs_memo_free(m);
  xs_cache_free(c);
}

static void test_memo_all_stamps_must_hold(void **st) {
  xs_cache *c = cache_make(1000);
  xs_memo *m = memo_make(64);
  xs_cache_stamp s[2];
  (void)st;
  cache_put(c, "a.example.test", 1, 300);
  cache_put(c, "b.example.test", 2, 300);
  s[0] = stamp_of(c, "a.example.test");
  s[1] = stamp_of(c, "b.example.test");
  put_text(m, "both", 0, 1, s, 2, "a and b");
  expect_text(m, "both", 0, 1, c, "a and b");
  expect_text(m, "both", 0, 1, NULL, NULL); /* stamps need their cache */
  cache_put(c, "b.example.test", 3, 300);
  expect_text(m, "both", 0, 1, c, NULL);
  xs_memo_free(m);
  xs_cache_free(c);
}

static void test_memo_four_ways_per_set(void **st) {
  xs_memo *m = memo_make(4); /* one set */
  char name[16], want[16];
  int i, kept = 0;
  (void)st;
  for (i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "n%d", i);
    put_text(m, name, 4, 1, NULL, 0, name);
  }
  for (i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "n%d", i);
    expect_text(m, name, 4, 1, NULL, name);
  }
  put_text(m, "n4", 4, 1, NULL, 0, "n4"); /* replaces exactly one */
  expect_text(m, "n4", 4, 1, NULL, "n4");
  for (i = 0; i < 4; i++) {
    char *got;
    snprintf(name, sizeof(name), "n%d", i);
    snprintf(want, sizeof(want), "n%d", i);
    if ((got = get_text(m, name, 4, 1, NULL)) != NULL) {
      assert_string_equal(got, want);
      free(got);
      kept++;
    }
  }
  assert_int_equal(kept, 3);
  xs_memo_free(m);
}

static void test_memo_sizes(void **st) {
  xs_memo *m = memo_make(64);
  char *big = malloc(XS_MEMO_MAX_RESULT + 2);
  char name[XS_NAME_BUF + 1];
  xs_cache_stamp many[XS_MEMO_STAMPS + 1];
  xs_memo_key k;
  (void)st;
  memset(big, 'x', XS_MEMO_MAX_RESULT + 1);
  big[XS_MEMO_MAX_RESULT + 1] = '\0';
  put_text(m, "big", 4, 1, NULL, 0, big); /* one octet too many */
  expect_text(m, "big", 4, 1, NULL, NULL);
  big[XS_MEMO_MAX_RESULT - 1] = '\0'; /* exactly the limit */
  put_text(m, "big", 4, 1, NULL, 0, big);
  expect_text(m, "big", 4, 1, NULL, big);
  /* a slot grows: a small result, then a larger one in the same slot */
  put_text(m, "grow", 4, 1, NULL, 0, "s");
  expect_text(m, "grow", 4, 1, NULL, "s");
  put_text(m, "grow", 4, 1, NULL, 0, big);
  expect_text(m, "grow", 4, 1, NULL, big);
  put_text(m, "grow", 4, 1, NULL, 0, "small again");
  expect_text(m, "grow", 4, 1, NULL, "small again");
  /* the longest name */
  memset(name, 'a', XS_NAME_BUF);
  name[XS_NAME_BUF] = '\0';
  put_text(m, name, 4, 1, NULL, 0, "long");
  expect_text(m, name, 4, 1, NULL, "long");
  /* too many stamps: not stored */
  memset(many, 0, sizeof(many));
  k = key_of("stamps", 4);
  xs_memo_put(m, &k, 1, many, XS_MEMO_STAMPS + 1, "x", 2);
  expect_text(m, "stamps", 4, 1, NULL, NULL);
  free(big);
  xs_memo_free(m);
}

/* Threads: readers ask names while writers keep storing them with new
 * versions of their contents; a copy must always be a whole blob of the
 * asked name (never torn, never another name's). */
#define STRESS_NAMES 24
#define STRESS_BLOB 600
#define STRESS_READS 200000 /* per reader; writers run until they are done */

typedef struct stress {
  xs_memo *m;
  int writer;
  atomic_int *stop;
  long hits, bad;
} stress;

static void blob_for(char *out, int name, unsigned gen) {
  int i;
  for (i = 0; i < STRESS_BLOB; i++)
    out[i] = (char)(name * 31 + gen + (unsigned)i);
  memcpy(out, &gen, sizeof(gen));
  out[sizeof(gen)] = (char)name;
}

static void *stress_run(void *p) {
  stress *s = p;
  char name[16], blob[STRESS_BLOB];
  unsigned gen = 0, i = 0;
  /* A count, not a time: under valgrind (one thread at a time) a sleeping
   * main thread could wait long for its turn to say stop. */
  while (s->writer ? !atomic_load(s->stop) : i < STRESS_READS) {
    int n = (int)(i++ % STRESS_NAMES);
    xs_memo_key k;
    snprintf(name, sizeof(name), "name-%d", n);
    xs_memo_key_init(&k, name, strlen(name), 4);
    if (s->writer) {
      blob_for(blob, n, ++gen);
      /* sizes vary so slots grow while being read */
      xs_memo_put(s->m, &k, 1, NULL, 0, blob,
                  STRESS_BLOB / 2 + (gen % 2) * (STRESS_BLOB / 2));
    } else {
      char *got = xs_memo_get(s->m, &k, 1, NULL, 0);
      if (got != NULL) {
        unsigned g;
        char want[STRESS_BLOB];
        memcpy(&g, got, sizeof(g));
        blob_for(want, n, g);
        if (memcmp(got, want, STRESS_BLOB / 2) != 0)
          s->bad++; /* checked by the main thread */
        free(got);
        s->hits++;
      }
    }
  }
  return NULL;
}

static void test_memo_concurrent_readers_and_writers(void **st) {
  xs_memo *m = memo_make(8); /* two sets: names share ways */
  pthread_t th[4];
  stress s[4];
  atomic_int stop;
  int i;
  (void)st;
  atomic_init(&stop, 0);
  for (i = 0; i < 4; i++) {
    s[i].m = m;
    s[i].writer = i < 2;
    s[i].stop = &stop;
    s[i].hits = s[i].bad = 0;
    assert_int_equal(pthread_create(&th[i], NULL, stress_run, &s[i]), 0);
  }
  for (i = 2; i < 4; i++) /* the readers */
    pthread_join(th[i], NULL);
  atomic_store(&stop, 1);
  for (i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  assert_true(s[2].hits + s[3].hits > 0);
  assert_int_equal(s[2].bad + s[3].bad, 0);
  xs_memo_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_memo_new_validates),
      cmocka_unit_test(
          test_memo_registry_only_result_lives_until_version_changes),
      cmocka_unit_test(test_memo_keys_are_exact),
      cmocka_unit_test(test_memo_stamp_ticks_each_second_of_age),
      cmocka_unit_test(test_memo_stamp_stops_at_prefetch_point),
      cmocka_unit_test(test_memo_stamp_broken_by_replace_evict_clear),
      cmocka_unit_test(test_memo_all_stamps_must_hold),
      cmocka_unit_test(test_memo_four_ways_per_set),
      cmocka_unit_test(test_memo_sizes),
      cmocka_unit_test(test_memo_concurrent_readers_and_writers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
