/* xs_resolve and xs_resolve_async through the cache and the engine, against
 * a scripted DNS server on 127.0.0.1 that counts the queries it gets. Time
 * is a fake clock the tests move by hand. Waits end on what they wait for
 * (or tests/common/wait.h's hang deadline); an upstream timeout is short
 * only where the server stays silent, so a loaded machine cannot make an
 * expected reply late enough to fail a test. */
#include <poll.h>
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

#include "resolver.h"
#include "responder.h"
#include "wait.h"
#include "xsvc.h"

/* The per-attempt timeout where the server answers: never meant to fire. */
#define ANSWER_MS 60000
/* Where one test needs both an answer and then a timeout from the same
 * resolver: the answer has a second to come, the timeout costs one. */
#define MIXED_MS 1000

static responder srv;
static xs_registry *reg;
static atomic_ullong fake_ms;

static unsigned long long fake_clock(void *arg) {
  (void)arg;
  return atomic_load(&fake_ms);
}

static void advance_s(unsigned s) {
  atomic_fetch_add(&fake_ms, (unsigned long long)s * 1000ull);
}

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static int setup(void **state) {
  xs_error err;
  (void)state;
  if (responder_start(&srv) != 0)
    return -1;
  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "prod", "db", "db.example.test", &err));
  must(xs_registry_add_external(reg, "prod", "gone", "nxgone.example.test",
                                &err));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  xs_registry_free(reg);
  responder_stop(&srv);
  return 0;
}

#define MEMO_DEFAULT ((size_t)-1)

/* Fresh server state and a fresh resolver per test. */
static xs_resolver *make_memo(xs_dispatch dispatch, int timeout_ms, size_t memo,
                              int prefetch) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  atomic_store(&srv.queries, 0);
  atomic_store(&srv.queries_a, 0);
  atomic_store(&srv.queries_aaaa, 0);
  atomic_store(&srv.addr4, 10);
  atomic_store(&srv.ttl, 300);
  atomic_store(&srv.neg_ttl, 60);
  atomic_store(&srv.rcode, 0);
  atomic_store(&srv.silent, 0);
  atomic_store(&srv.delay_ms, 0);
  atomic_store(&srv.no_aaaa, 0);
  atomic_store(&srv.truncate, 0);
  atomic_store(&srv.queries_tcp, 0);
  atomic_store(&fake_ms, 1000000);
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, srv.server));
  must(xs_config_set_timeout_ms(cfg, timeout_ms));
  must(xs_config_set_attempts(cfg, 1));
  must(xs_config_set_clock(cfg, fake_clock, NULL));
  must(xs_config_set_dispatch(cfg, dispatch));
  if (memo != MEMO_DEFAULT)
    must(xs_config_set_result_memo(cfg, memo));
  must(xs_config_set_prefetch(cfg, prefetch));
  must(xs_resolver_new(cfg, reg, &res, &err));
  xs_config_free(cfg);
  return res;
}

static xs_resolver *make(xs_dispatch dispatch, int timeout_ms) {
  return make_memo(dispatch, timeout_ms, MEMO_DEFAULT, 1);
}

static xs_result *resolve4(xs_resolver *res, const char *name, xs_status want) {
  xs_result *r = NULL;
  assert_int_equal(xs_resolve(res, name, XS_FAMILY_IPV4, &r), want);
  assert_non_null(r);
  return r;
}

static void expect_addr(const xs_result *r, const char *text, xs_source src,
                        unsigned ttl) {
  assert_int_equal(xs_result_address_count(r), 1);
  assert_string_equal(xs_result_address_text(r, 0), text);
  assert_int_equal(xs_result_address_source(r, 0), src);
  assert_int_equal(xs_result_address_ttl(r, 0), ttl);
}

static void test_cache_second_resolve_is_a_hit_without_traffic(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_result *r;
  (void)st;
  r = resolve4(res, "db", XS_OK);
  expect_addr(r, "192.0.2.10", XS_SOURCE_UPSTREAM, 300);
  assert_string_equal(xs_result_target(r), "db.example.test.");
  xs_result_free(r);
  assert_int_equal(atomic_load(&srv.queries), 1);
  advance_s(100);
  r = resolve4(res, "db", XS_OK);
  expect_addr(r, "192.0.2.10", XS_SOURCE_CACHE, 200); /* remaining TTL */
  assert_int_equal(xs_result_chain_count(r), 1);      /* registry link kept */
  assert_int_equal(xs_result_chain_source(r, 0), XS_SOURCE_REGISTRY);
  xs_result_free(r);
  assert_int_equal(atomic_load(&srv.queries), 1);
  xs_resolver_free(res);
}

static void test_cache_expiry_picks_up_a_changed_record(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_result *r;
  (void)st;
  atomic_store(&srv.ttl, 30);
  xs_result_free(resolve4(res, "db", XS_OK));
  atomic_store(&srv.addr4, 77); /* the zone changes */
  advance_s(20); /* outside the last 10%: no prefetch races the test */
  r = resolve4(res, "db", XS_OK);
  expect_addr(r, "192.0.2.10", XS_SOURCE_CACHE, 10);
  xs_result_free(r);
  advance_s(11);
  r = resolve4(res, "db", XS_OK);
  expect_addr(r, "192.0.2.77", XS_SOURCE_UPSTREAM, 30);
  xs_result_free(r);
  assert_int_equal(atomic_load(&srv.queries), 2);
  xs_resolver_free(res);
}

static void test_cache_nxdomain_is_cached_then_expires(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_result *r;
  (void)st;
  atomic_store(&srv.neg_ttl, 20);
  r = resolve4(res, "gone.prod.svc.cluster.local.", XS_ENOTFOUND);
  assert_int_equal(xs_result_ttl(r), 5); /* min(registry link 5, neg 20) */
  xs_result_free(r);
  advance_s(10);
  xs_result_free(resolve4(res, "gone.prod.svc.cluster.local.", XS_ENOTFOUND));
  assert_int_equal(atomic_load(&srv.queries), 1);
  advance_s(11);
  xs_result_free(resolve4(res, "gone.prod.svc.cluster.local.", XS_ENOTFOUND));
  assert_int_equal(atomic_load(&srv.queries), 2);
  xs_resolver_free(res);
}

static void test_cache_stale_served_when_upstream_fails(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, MIXED_MS);
  xs_result *r;
  (void)st;
  atomic_store(&srv.ttl, 10);
  xs_result_free(resolve4(res, "db", XS_OK));
  advance_s(60); /* expired, well inside the 3600 s stale window */
  atomic_store(&srv.rcode, 2); /* SERVFAIL */
  r = resolve4(res, "db", XS_OK);
  expect_addr(r, "192.0.2.10", XS_SOURCE_STALE, 30);
  xs_result_free(r);
  atomic_store(&srv.rcode, 0);
  atomic_store(&srv.silent, 1); /* timeout */
  r = resolve4(res, "db", XS_OK);
  expect_addr(r, "192.0.2.10", XS_SOURCE_STALE, 30);
  xs_result_free(r);
  advance_s(3600); /* past the stale window */
  atomic_store(&srv.silent, 0);
  atomic_store(&srv.rcode, 2); /* a failure without another timeout */
  r = resolve4(res, "db", XS_ESERVFAIL);
  assert_int_equal(xs_result_address_count(r), 0);
  xs_result_free(r);
  xs_resolver_free(res);
}

/* A silent server: XS_ETIMEOUT once the one attempt's timeout has passed
 * (not before), after exactly one query. */
static void test_cache_uncached_name_times_out_in_time(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, 200);
  uint64_t t0;
  (void)st;
  atomic_store(&srv.silent, 1);
  t0 = xs_test_now_ms();
  xs_result_free(resolve4(res, "db", XS_ETIMEOUT));
  assert_true(xs_test_now_ms() - t0 >= 199); /* ms rounding */
  assert_int_equal(atomic_load(&srv.queries), 1);
  xs_resolver_free(res);
}

static void test_cache_prefetch_refreshes_in_last_tenth(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_result *r;
  int i;
  (void)st;
  atomic_store(&srv.ttl, 100);
  xs_result_free(resolve4(res, "db", XS_OK));
  advance_s(85); /* 15% left: no prefetch */
  xs_result_free(resolve4(res, "db", XS_OK));
  assert_int_equal(atomic_load(&srv.queries), 1);
  atomic_store(&srv.addr4, 42);
  advance_s(6); /* 9% left: this hit answers from cache and refreshes */
  r = resolve4(res, "db", XS_OK);
  expect_addr(r, "192.0.2.10", XS_SOURCE_CACHE, 9);
  xs_result_free(r);
  XS_WAIT_UNTIL(atomic_load(&srv.queries) >= 2);
  assert_int_equal(atomic_load(&srv.queries), 2);
  for (i = 0;; i++) { /* the refresh lands in the cache */
    r = resolve4(res, "db", XS_OK);
    if (strcmp(xs_result_address_text(r, 0), "192.0.2.42") == 0)
      break;
    xs_result_free(r);
    assert_true(i < XS_TEST_HANG_MS / 5);
    rsp_sleep_ms(5);
  }
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_CACHE);
  xs_result_free(r);
  assert_int_equal(atomic_load(&srv.queries), 2);
  xs_resolver_free(res);
}

static void test_cache_registry_change_is_seen_at_once(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_error err;
  xs_result *r;
  (void)st;
  xs_result_free(resolve4(res, "db", XS_OK));
  must(xs_registry_set_external(reg, "prod", "db", "other.example.test", &err));
  r = resolve4(res, "db", XS_OK);
  assert_string_equal(xs_result_target(r), "other.example.test.");
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_UPSTREAM);
  xs_result_free(r);
  must(xs_registry_set_external(reg, "prod", "db", "db.example.test", &err));
  xs_resolver_free(res);
}

static void test_cache_disabled_asks_every_time(void **st) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  (void)st;
  atomic_store(&srv.queries, 0);
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, srv.server));
  must(xs_config_set_cache_size(cfg, 0));
  must(xs_resolver_new(cfg, reg, &res, &err));
  xs_config_free(cfg);
  xs_result_free(resolve4(res, "db", XS_OK));
  xs_result_free(resolve4(res, "db", XS_OK));
  assert_int_equal(atomic_load(&srv.queries), 2);
  xs_resolver_free(res);
}

/* ---- concurrency: single-flight ----------------------------------------- */

typedef struct racer {
  xs_resolver *res;
  pthread_barrier_t *start;
  xs_status st;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  xs_result *out = NULL;
  pthread_barrier_wait(r->start);
  r->st = xs_resolve(r->res, "db", XS_FAMILY_IPV4, &out);
  if (out != NULL && xs_result_address_count(out) != 1)
    r->st = XS_EUPSTREAM;
  xs_result_free(out);
  return NULL;
}

static void test_cache_concurrent_misses_share_one_query(void **st) {
  enum { N = 100 };
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  pthread_t th[N];
  racer rc[N];
  pthread_barrier_t start;
  int i;
  (void)st;
  atomic_store(&srv.delay_ms, 300); /* all misses arrive while in flight */
  pthread_barrier_init(&start, NULL, N);
  for (i = 0; i < N; i++) {
    rc[i].res = res;
    rc[i].start = &start;
    assert_int_equal(pthread_create(&th[i], NULL, race, &rc[i]), 0);
  }
  for (i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(rc[i].st, XS_OK);
  }
  pthread_barrier_destroy(&start);
  assert_int_equal(atomic_load(&srv.queries), 1);
  xs_resolver_free(res);
}

/* ---- async ----------------------------------------------------------------
 */

typedef struct tally {
  atomic_int calls, ok, cancelled, other;
} tally;

static void count_cb(xs_status status, xs_result *result, void *arg) {
  tally *t = arg;
  atomic_fetch_add(&t->calls, 1);
  if (status == XS_OK && result != NULL && xs_result_address_count(result) > 0)
    atomic_fetch_add(&t->ok, 1);
  else if (status == XS_ECANCELLED && result == NULL)
    atomic_fetch_add(&t->cancelled, 1);
  else
    atomic_fetch_add(&t->other, 1);
  xs_result_free(result);
}

static void wait_calls(tally *t, int n) {
  XS_WAIT_UNTIL(atomic_load(&t->calls) >= n);
}

static void test_async_engine_callbacks_once_each(void **st) {
  enum { N = 3000, NAMES = 50 };
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_config *cfg;
  xs_error err;
  tally t;
  int i;
  char name[64];
  (void)st;
  (void)cfg;
  (void)err;
  memset(&t, 0, sizeof(t));
  for (i = 0; i < N; i++) {
    snprintf(name, sizeof(name), "h%d.example.test.", i % NAMES);
    must(xs_resolve_async(res, name, XS_FAMILY_ANY, count_cb, &t, NULL));
  }
  wait_calls(&t, N);
  rsp_sleep_ms(50); /* no late second calls */
  assert_int_equal(atomic_load(&t.calls), N);
  assert_int_equal(atomic_load(&t.ok), N);
  /* one query per name and family at most: the rest joined or hit */
  assert_true(atomic_load(&srv.queries) <= 2 * NAMES);
  assert_int_equal(xs_resolver_fd(res), -1);
  xs_resolver_free(res);
}

static void test_async_queue_driven_by_poll(void **st) {
  xs_resolver *res = make(XS_DISPATCH_QUEUE, ANSWER_MS);
  tally t;
  int fd, i, n = 0;
  (void)st;
  memset(&t, 0, sizeof(t));
  fd = xs_resolver_fd(res);
  assert_true(fd >= 0);
  must(xs_resolve_async(res, "db", XS_FAMILY_IPV4, count_cb, &t, NULL));
  must(xs_resolve_async(res, "db.prod.svc.cluster.local.", XS_FAMILY_IPV4,
                        count_cb, &t, NULL));
  assert_int_equal(atomic_load(&t.calls), 0); /* never on another thread */
  for (i = 0; i < XS_TEST_HANG_MS / 50 && n < 2; i++) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 50) == 1) {
      assert_true(p.revents & POLLIN);
      n += (int)xs_resolver_dispatch(res);
    }
  }
  assert_int_equal(n, 2);
  assert_int_equal(atomic_load(&t.ok), 2);
  {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    assert_int_equal(poll(&p, 1, 0), 0); /* drained: not readable */
  }
  assert_int_equal(xs_resolver_dispatch(res), 0);
  xs_resolver_free(res);
}

static void test_async_cancel_runs_callback_once(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  tally t;
  unsigned long long id;
  (void)st;
  memset(&t, 0, sizeof(t));
  atomic_store(&srv.delay_ms, 200);
  must(xs_resolve_async(res, "db", XS_FAMILY_IPV4, count_cb, &t, &id));
  must(xs_resolve_cancel(res, id));
  assert_int_equal(xs_resolve_cancel(res, id), XS_ENOTFOUND);
  wait_calls(&t, 1);
  rsp_sleep_ms(400); /* the reply arrives: no second call */
  assert_int_equal(atomic_load(&t.calls), 1);
  assert_int_equal(atomic_load(&t.cancelled), 1);
  assert_int_equal(xs_resolve_cancel(res, id), XS_ENOTFOUND);
  assert_int_equal(xs_resolve_cancel(res, 999999), XS_ENOTFOUND);
  xs_resolver_free(res);
}

static void test_async_free_with_pending_cancels_all(void **st) {
  xs_dispatch modes[2] = {XS_DISPATCH_ENGINE, XS_DISPATCH_QUEUE};
  int m, i;
  (void)st;
  for (m = 0; m < 2; m++) {
    xs_resolver *res = make(modes[m], 5000);
    tally t;
    char name[64];
    memset(&t, 0, sizeof(t));
    atomic_store(&srv.silent, 1);
    for (i = 0; i < 100; i++) {
      snprintf(name, sizeof(name), "p%d.example.test.", i);
      must(xs_resolve_async(res, name, XS_FAMILY_ANY, count_cb, &t, NULL));
    }
    xs_resolver_free(res);
    /* cancelled, not timed out: free did not wait for the upstream (the
     * timeout is a minute) */
    assert_int_equal(atomic_load(&t.calls), 100);
    assert_int_equal(atomic_load(&t.cancelled), 100);
  }
}

/* xs_resolve's questions go to the engine's queue for blocked callers,
 * xs_resolve_async's to the other (engine.h, Fairness). */
static void test_async_and_blocking_questions_take_their_queues(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_engine_stats es;
  tally t;
  (void)st;
  memset(&t, 0, sizeof(t));
  must(xs_resolve_async(res, "async.example.test.", XS_FAMILY_IPV4, count_cb,
                        &t, NULL));
  wait_calls(&t, 1);
  assert_int_equal(atomic_load(&t.ok), 1);
  xs_resolver_engine_stats(res, &es);
  assert_int_equal(es.submitted, 1);
  assert_int_equal(es.blocking, 0);
  xs_result_free(resolve4(res, "blocking.example.test.", XS_OK));
  xs_resolver_engine_stats(res, &es);
  assert_int_equal(es.submitted, 2);
  assert_int_equal(es.blocking, 1);
  xs_resolver_free(res);
}

static void test_async_invalid_arguments_never_call_back(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  tally t;
  (void)st;
  memset(&t, 0, sizeof(t));
  assert_int_equal(
      xs_resolve_async(NULL, "db", XS_FAMILY_ANY, count_cb, &t, NULL),
      XS_EINVAL);
  assert_int_equal(
      xs_resolve_async(res, NULL, XS_FAMILY_ANY, count_cb, &t, NULL),
      XS_EINVAL);
  assert_int_equal(xs_resolve_async(res, "db", XS_FAMILY_ANY, NULL, &t, NULL),
                   XS_EINVAL);
  assert_int_equal(
      xs_resolve_async(res, "db", (xs_family)5, count_cb, &t, NULL), XS_EINVAL);
  /* a bad name is accepted and completes with XS_EBADNAME */
  must(xs_resolve_async(res, "a..b", XS_FAMILY_ANY, count_cb, &t, NULL));
  wait_calls(&t, 1);
  assert_int_equal(atomic_load(&t.calls), 1);
  assert_int_equal(atomic_load(&t.other), 1);
  xs_resolver_free(res);
}

/* Every part of two results, equal. */
static void assert_same_result(const xs_result *a, const xs_result *b) {
  size_t i;
  assert_int_equal(xs_result_status(a), xs_result_status(b));
  assert_string_equal(xs_result_query(a), xs_result_query(b));
  assert_string_equal(xs_result_name(a), xs_result_name(b));
  assert_string_equal(xs_result_target(a), xs_result_target(b));
  assert_int_equal(xs_result_ttl(a), xs_result_ttl(b));
  assert_int_equal(xs_result_candidate_count(a), xs_result_candidate_count(b));
  for (i = 0; i < xs_result_candidate_count(a); i++)
    assert_string_equal(xs_result_candidate(a, i), xs_result_candidate(b, i));
  assert_int_equal(xs_result_chain_count(a), xs_result_chain_count(b));
  for (i = 0; i < xs_result_chain_count(a); i++) {
    assert_string_equal(xs_result_chain_name(a, i), xs_result_chain_name(b, i));
    assert_string_equal(xs_result_chain_target(a, i),
                        xs_result_chain_target(b, i));
    assert_int_equal(xs_result_chain_ttl(a, i), xs_result_chain_ttl(b, i));
    assert_int_equal(xs_result_chain_source(a, i),
                     xs_result_chain_source(b, i));
  }
  assert_int_equal(xs_result_address_count(a), xs_result_address_count(b));
  for (i = 0; i < xs_result_address_count(a); i++) {
    assert_int_equal(xs_result_address_family(a, i),
                     xs_result_address_family(b, i));
    assert_memory_equal(xs_result_address_raw(a, i),
                        xs_result_address_raw(b, i), 16);
    assert_string_equal(xs_result_address_text(a, i),
                        xs_result_address_text(b, i));
    assert_int_equal(xs_result_address_ttl(a, i), xs_result_address_ttl(b, i));
    assert_int_equal(xs_result_address_source(a, i),
                     xs_result_address_source(b, i));
  }
}

/* Resolve name on both resolvers; the results must be the same. Returns
 * the status. */
/* xs_resolve_async, waited for: what the callback got, and where. */
typedef struct async_got {
  atomic_int done;
  xs_status st;
  xs_result *r;
  pthread_t thread;
} async_got;

static void got_cb(xs_status status, xs_result *result, void *arg) {
  async_got *g = arg;
  g->st = status;
  g->r = result;
  g->thread = pthread_self();
  atomic_store(&g->done, 1);
}

static xs_status resolve_async_wait(xs_resolver *res, const char *name,
                                    xs_family family, xs_result **out,
                                    int *here) {
  async_got g;
  unsigned long long id = 0;
  memset(&g, 0, sizeof(g));
  must(xs_resolve_async(res, name, family, got_cb, &g, &id));
  assert_true(id != 0);
  *here = atomic_load(&g.done) && pthread_equal(g.thread, pthread_self());
  XS_WAIT_UNTIL(atomic_load(&g.done));
  assert_true(atomic_load(&g.done));
  if (*here) /* completed before the call returned: nothing to cancel */
    assert_int_equal(xs_resolve_cancel(res, id), XS_ENOTFOUND);
  *out = g.r;
  return g.st;
}

static int async_a;    /* same_on_both asks a with xs_resolve_async */
static int async_here; /* ... and counts answers given before it returned */

static xs_status same_on_both(xs_resolver *a, xs_resolver *b, const char *name,
                              xs_family family) {
  xs_result *ra = NULL, *rb = NULL;
  int here = 0;
  xs_status sa = async_a ? resolve_async_wait(a, name, family, &ra, &here)
                         : xs_resolve(a, name, family, &ra);
  xs_status sb = xs_resolve(b, name, family, &rb);
  assert_int_equal(sa, sb);
  assert_non_null(ra);
  assert_non_null(rb);
  assert_same_result(ra, rb);
  xs_result_free(ra);
  xs_result_free(rb);
  async_here += here;
  return sa;
}

/* The memo changes the cost, never the answer: a resolver with it and one
 * without, on the same registry, server and clock, give the same results
 * for repeated questions while TTLs tick, records change and expire,
 * negative answers expire, and the registry changes. */
static void test_memo_answers_as_a_fresh_walk(void **st) {
  static const char *const names[] = {"db",
                                      "db.prod",
                                      "db.prod.svc.cluster.local.",
                                      "DB.Prod",
                                      "gone",
                                      "nxnothing.example.test",
                                      "plain.example.test",
                                      "nosuch"};
  static const xs_family fams[] = {XS_FAMILY_IPV4, XS_FAMILY_ANY,
                                   XS_FAMILY_IPV6};
  /* no prefetch: its refreshes land whenever the engine gets to them,
   * which would make the two caches differ (the memo's prefetch point is
   * tested above and in test_memo) */
  xs_resolver *with = make_memo(XS_DISPATCH_ENGINE, ANSWER_MS, MEMO_DEFAULT, 0);
  xs_resolver *without = make_memo(XS_DISPATCH_ENGINE, ANSWER_MS, 0, 0);
  xs_error err;
  size_t n, f;
  int round;
  (void)st;
  atomic_store(&srv.ttl, 20);
  for (round = 0; round < 30; round++) {
    for (n = 0; n < sizeof(names) / sizeof(names[0]); n++)
      for (f = 0; f < 3; f++) {
        /* twice: the second answer of `with` comes from its memo */
        same_on_both(with, without, names[n], fams[f]);
        same_on_both(with, without, names[n], fams[f]);
      }
    if (round == 5)
      atomic_store(&srv.addr4, 99); /* seen once the entries expire */
    if (round == 12)
      must(xs_registry_set_external(reg, "prod", "db", "other.example.test",
                                    &err));
    if (round == 20)
      must(
          xs_registry_set_external(reg, "prod", "db", "db.example.test", &err));
    /* 0.7 s steps: TTLs tick at different calls, the 20 s TTL and the 60 s
     * negative TTL run out, prefetch points pass */
    atomic_fetch_add(&fake_ms, 700);
    if (round % 10 == 9)
      advance_s(19);
  }
  assert_int_equal(same_on_both(with, without, "db", XS_FAMILY_IPV4), XS_OK);
  xs_resolver_free(with);
  xs_resolver_free(without);
}

/* The same through xs_resolve_async: its answers from the memo (given
 * before the call returns, on the calling thread) are a fresh walk's. */
static void test_memo_async_answers_as_a_fresh_walk(void **st) {
  async_a = 1;
  async_here = 0;
  test_memo_answers_as_a_fresh_walk(st);
  async_a = 0;
  /* most repeats are answered in the call: from the memo, or a walk of the
   * registry and fresh cache entries */
  assert_true(async_here > 30 * 8 * 3 / 2);
}

/* A repeated question after a registry change answers from the new
 * registry at once, even when the old answer was being repeated. */
static void test_memo_registry_change_seen_by_repeated_name(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_error err;
  xs_result *r;
  int i;
  (void)st;
  for (i = 0; i < 3; i++) /* upstream, cache, memo */
    xs_result_free(resolve4(res, "db", XS_OK));
  must(xs_registry_set_external(reg, "prod", "db", "other.example.test", &err));
  r = resolve4(res, "db", XS_OK);
  assert_string_equal(xs_result_target(r), "other.example.test.");
  xs_result_free(r);
  must(xs_registry_set_external(reg, "prod", "db", "db.example.test", &err));
  r = resolve4(res, "db", XS_OK);
  assert_string_equal(xs_result_target(r), "db.example.test.");
  expect_addr(r, "192.0.2.10", XS_SOURCE_CACHE, 300);
  xs_result_free(r);
  xs_resolver_free(res);
}

/* Repeated answers count their TTL down and are independent copies. */
static void test_memo_repeats_tick_and_are_copies(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_result *first, *r;
  unsigned ttl = 300;
  int i;
  (void)st;
  xs_result_free(resolve4(res, "db", XS_OK));
  first = resolve4(res, "db", XS_OK);
  for (i = 0; i < 40; i++) {
    r = resolve4(res, "db", XS_OK);
    expect_addr(r, "192.0.2.10", XS_SOURCE_CACHE, ttl);
    assert_int_equal(xs_result_ttl(r), 5); /* the registry link's */
    assert_true(r != first);
    xs_result_free(r);
    atomic_fetch_add(&fake_ms, 250);
    if (i % 4 == 3)
      ttl--;
  }
  expect_addr(first, "192.0.2.10", XS_SOURCE_CACHE, 300);
  xs_result_free(first);
  assert_int_equal(atomic_load(&srv.queries), 1);
  xs_resolver_free(res);
}

/* Replies truncated over UDP are asked again over TCP, and the TCP reply's
 * rcode is reported as precisely as a UDP one's (c-ares 1.18 turns both
 * SERVFAIL and REFUSED into one "connection refused"). */
static void test_tcp_fallback_keeps_precise_statuses(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_result *r;
  (void)st;
  atomic_store(&srv.truncate, 1);
  r = resolve4(res, "tcp-ok.example.test.", XS_OK);
  expect_addr(r, "192.0.2.10", XS_SOURCE_UPSTREAM, 300);
  xs_result_free(r);
  assert_true(atomic_load(&srv.queries_tcp) >= 1);
  atomic_store(&srv.rcode, 2);
  xs_result_free(resolve4(res, "tcp-servfail.example.test.", XS_ESERVFAIL));
  atomic_store(&srv.rcode, 5);
  xs_result_free(resolve4(res, "tcp-refused.example.test.", XS_EREFUSED));
  atomic_store(&srv.rcode, 0);
  r = resolve4(res, "nxtcp.example.test.", XS_ENOTFOUND);
  xs_result_free(r);
  atomic_store(&srv.truncate, 0);
  atomic_store(&srv.rcode, 2); /* and over UDP, for comparison */
  xs_result_free(resolve4(res, "udp-servfail.example.test.", XS_ESERVFAIL));
  atomic_store(&srv.rcode, 5);
  xs_result_free(resolve4(res, "udp-refused.example.test.", XS_EREFUSED));
  xs_resolver_free(res);
}

static void test_config_cache_setters_validate(void **st) {
  xs_config *cfg;
  (void)st;
  must(xs_config_new(&cfg));
  assert_int_equal(xs_config_set_cache_size(cfg, 10000001), XS_EINVAL);
  assert_int_equal(xs_config_set_cache_ttl(cfg, 10, 5), XS_EINVAL);
  assert_int_equal(xs_config_set_cache_ttl(cfg, 0, 604801), XS_EINVAL);
  assert_int_equal(xs_config_set_negative_ttl_max(cfg, 86401), XS_EINVAL);
  assert_int_equal(xs_config_set_stale(cfg, 60, 0), XS_EINVAL);
  assert_int_equal(xs_config_set_prefetch(cfg, 2), XS_EINVAL);
  assert_int_equal(xs_config_set_dispatch(cfg, (xs_dispatch)7), XS_EINVAL);
  assert_int_equal(xs_config_set_result_memo(cfg, 1048577), XS_EINVAL);
  assert_int_equal(xs_config_set_result_memo(NULL, 16), XS_EINVAL);
  must(xs_config_set_result_memo(cfg, 1048576));
  must(xs_config_set_result_memo(cfg, 0));
  must(xs_config_set_cache_ttl(cfg, 30, 60));
  must(xs_config_set_stale(cfg, 0, 1));
  xs_config_free(cfg);
}

static void test_cache_ttl_clamp_applies(void **st) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  xs_result *r;
  (void)st;
  res = make(XS_DISPATCH_ENGINE, ANSWER_MS); /* resets the server's knobs */
  xs_resolver_free(res);
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, srv.server));
  must(xs_config_set_clock(cfg, fake_clock, NULL));
  must(xs_config_set_cache_ttl(cfg, 0, 20));
  must(xs_resolver_new(cfg, reg, &res, &err));
  xs_config_free(cfg);
  xs_result_free(resolve4(res, "db", XS_OK)); /* TTL 300, kept 20 s */
  advance_s(15); /* outside the last 10%: no prefetch */
  r = resolve4(res, "db", XS_OK);
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_CACHE);
  assert_int_equal(xs_result_address_ttl(r, 0), 5);
  xs_result_free(r);
  advance_s(6);
  r = resolve4(res, "db", XS_OK);
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_UPSTREAM);
  xs_result_free(r);
  xs_resolver_free(res);
}

/* A result larger than the builder's stack buffers (40 addresses, long
 * names) comes out whole from the second pass. */
static void test_result_larger_than_stack_buffers(void **st) {
  xs_resolver *res = make(XS_DISPATCH_ENGINE, ANSWER_MS);
  xs_registry *big;
  xs_config *cfg;
  xs_error err;
  xs_result *r = NULL;
  char ip[32];
  int i;
  (void)st;
  xs_resolver_free(res);
  must(xs_registry_new(&big));
  must(xs_registry_add_headless(big, "prod", "many", &err));
  for (i = 0; i < 40; i++) {
    snprintf(ip, sizeof(ip), "10.9.0.%d", i + 1);
    must(xs_registry_add_endpoint(big, "prod", "many", ip, NULL, 1, &err));
  }
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, srv.server));
  must(xs_resolver_new(cfg, big, &res, &err));
  xs_config_free(cfg);
  assert_int_equal(xs_resolve(res, "many", XS_FAMILY_IPV4, &r), XS_OK);
  assert_int_equal(xs_result_address_count(r), 40);
  for (i = 0; i < 40; i++) {
    snprintf(ip, sizeof(ip), "10.9.0.%d", i + 1);
    assert_string_equal(xs_result_address_text(r, (size_t)i), ip);
    assert_int_equal(xs_result_address_source(r, (size_t)i),
                     XS_SOURCE_REGISTRY);
  }
  assert_string_equal(xs_result_name(r), "many.prod.svc.cluster.local.");
  assert_string_equal(xs_result_query(r), "many");
  assert_int_equal(xs_result_candidate_count(r), 1);
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(big);
}

/* Every octet value formats as inet_ntop would (the result formats IPv4
 * itself). */
static void test_result_ipv4_text_every_octet(void **st) {
  xs_registry *r256;
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  xs_result *r = NULL;
  char ip[32];
  int v;
  (void)st;
  must(xs_registry_new(&r256));
  must(xs_registry_add_headless(r256, "prod", "all", &err));
  for (v = 0; v < 256; v++) {
    snprintf(ip, sizeof(ip), "%d.%d.%d.%d", v == 0 ? 1 : v, 255 - v, v / 2,
             (v * 7) % 256);
    must(xs_registry_add_endpoint(r256, "prod", "all", ip, NULL, 1, &err));
  }
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, srv.server));
  /* every octet value, loopback and multicast included: no policy */
  must(xs_config_clear_denied_ranges(cfg));
  must(xs_resolver_new(cfg, r256, &res, &err));
  xs_config_free(cfg);
  assert_int_equal(xs_resolve(res, "all", XS_FAMILY_IPV4, &r), XS_OK);
  assert_int_equal(xs_result_address_count(r), 256);
  for (v = 0; v < 256; v++) {
    snprintf(ip, sizeof(ip), "%d.%d.%d.%d", v == 0 ? 1 : v, 255 - v, v / 2,
             (v * 7) % 256);
    assert_string_equal(xs_result_address_text(r, (size_t)v), ip);
  }
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(r256);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_second_resolve_is_a_hit_without_traffic),
      cmocka_unit_test(test_cache_expiry_picks_up_a_changed_record),
      cmocka_unit_test(test_cache_nxdomain_is_cached_then_expires),
      cmocka_unit_test(test_cache_stale_served_when_upstream_fails),
      cmocka_unit_test(test_cache_uncached_name_times_out_in_time),
      cmocka_unit_test(test_cache_prefetch_refreshes_in_last_tenth),
      cmocka_unit_test(test_cache_registry_change_is_seen_at_once),
      cmocka_unit_test(test_cache_disabled_asks_every_time),
      cmocka_unit_test(test_cache_ttl_clamp_applies),
      cmocka_unit_test(test_cache_concurrent_misses_share_one_query),
      cmocka_unit_test(test_async_engine_callbacks_once_each),
      cmocka_unit_test(test_async_queue_driven_by_poll),
      cmocka_unit_test(test_async_cancel_runs_callback_once),
      cmocka_unit_test(test_async_free_with_pending_cancels_all),
      cmocka_unit_test(test_async_and_blocking_questions_take_their_queues),
      cmocka_unit_test(test_async_invalid_arguments_never_call_back),
      cmocka_unit_test(test_config_cache_setters_validate),
      cmocka_unit_test(test_tcp_fallback_keeps_precise_statuses),
      cmocka_unit_test(test_memo_answers_as_a_fresh_walk),
      cmocka_unit_test(test_memo_async_answers_as_a_fresh_walk),
      cmocka_unit_test(test_memo_registry_change_seen_by_repeated_name),
      cmocka_unit_test(test_memo_repeats_tick_and_are_copies),
      cmocka_unit_test(test_result_larger_than_stack_buffers),
      cmocka_unit_test(test_result_ipv4_text_every_octet),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
