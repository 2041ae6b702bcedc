/* Stress for ThreadSanitizer and the sanitizers: threads resolving (blocking
 * and async, with cancels) while cache entries expire under a moving clock
 * and another thread keeps repointing aliases in the registry. Every result
 * must be whole: an alias answers with one of its two targets and that
 * target's address, never a mix.
 *
 * The threads do a fixed amount of work, not as much as fits in a time
 * window, and what is checked holds on any machine, loaded or not: every
 * blocking call answers, whole, within its documented bound; every
 * asynchronous callback runs exactly once; nothing is lost; and no blocking
 * call's question waited behind more than XS_ASYNC_BATCH asynchronous ones
 * (counted by the engine, not timed). */
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
#include "skip.h"
#include "wait.h"
#include "xsvc.h"

#define NALIASES 8
#define ASYNC_THREADS 2
#define BLOCKING_THREADS 2
/* Per-attempt upstream timeout, one attempt, one server: the documented
 * bound of each blocking call. The responder answers every query, so a
 * call that reached it would have had its reply lost or starved. */
#define TIMEOUT_MS 10000

static responder srv;
static xs_registry *reg;
static xs_resolver *res;
static atomic_ullong fake_ms;
static atomic_int workers_left; /* blocking and async threads still working */
static atomic_long resolved, async_done, async_started, bad;
static atomic_llong worst_ms;
static int resolves_each, requests_each;

static unsigned long long fake_clock(void *arg) {
  (void)arg;
  return atomic_load(&fake_ms);
}

/* The responder answers every name with the same address; what must stay
 * consistent is the chain: alias -> its target (a or b) -> that name. */
static int result_is_whole(const xs_result *r, int alias) {
  char a[64], b[64];
  const char *target;
  if (xs_result_status(r) != XS_OK || xs_result_address_count(r) == 0)
    return 0;
  snprintf(a, sizeof(a), "a%d.example.test.", alias);
  snprintf(b, sizeof(b), "b%d.example.test.", alias);
  target = xs_result_target(r);
  if (strcmp(target, a) != 0 && strcmp(target, b) != 0)
    return 0;
  return xs_result_chain_count(r) >= 1 &&
         strcmp(xs_result_chain_target(r, 0), target) == 0;
}

static void *resolver_thread(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  int i;
  for (i = 0; i < resolves_each; i++) {
    char name[32];
    int alias = (int)(rand_r(&seed) % NALIASES);
    xs_result *r = NULL;
    xs_status st;
    uint64_t t0 = xs_test_now_ms();
    long long ms, worst;
    snprintf(name, sizeof(name), "svc%d", alias);
    st = xs_resolve(res, name, XS_FAMILY_IPV4, &r);
    ms = (long long)(xs_test_now_ms() - t0);
    worst = atomic_load(&worst_ms);
    while (ms > worst && !atomic_compare_exchange_weak(&worst_ms, &worst, ms))
      ;
    if (st != XS_OK || !result_is_whole(r, alias))
      atomic_fetch_add(&bad, 1);
    xs_result_free(r);
    atomic_fetch_add(&resolved, 1);
  }
  atomic_fetch_sub(&workers_left, 1);
  return NULL;
}

typedef struct req {
  int alias;
  atomic_int calls;
} req;

static void async_cb(xs_status status, xs_result *result, void *arg) {
  req *q = arg;
  if (atomic_fetch_add(&q->calls, 1) != 0)
    atomic_fetch_add(&bad, 1); /* a second call */
  if (status == XS_OK ? !result_is_whole(result, q->alias)
                      : (status != XS_ECANCELLED || result != NULL))
    atomic_fetch_add(&bad, 1);
  xs_result_free(result);
  atomic_fetch_add(&async_done, 1);
}

static int all_called(req *reqs, int n) {
  int i;
  for (i = 0; i < n; i++)
    if (atomic_load(&reqs[i].calls) == 0)
      return 0;
  return 1;
}

static void *async_thread(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  req *reqs = calloc((size_t)requests_each, sizeof(*reqs));
  int i;
  if (reqs == NULL) {
    atomic_fetch_add(&bad, 1);
    atomic_fetch_sub(&workers_left, 1);
    return NULL;
  }
  for (i = 0; i < requests_each; i++) {
    char name[32];
    unsigned long long id;
    req *q = &reqs[i];
    q->alias = (int)(rand_r(&seed) % NALIASES);
    snprintf(name, sizeof(name), "svc%d", q->alias);
    if (xs_resolve_async(res, name, XS_FAMILY_IPV4, async_cb, q, &id) !=
        XS_OK) {
      atomic_fetch_add(&bad, 1); /* max_pending covers every request */
      atomic_fetch_add(&q->calls, 1);
      continue;
    }
    atomic_fetch_add(&async_started, 1);
    if (rand_r(&seed) % 4 == 0)
      xs_resolve_cancel(res, id);
  }
  /* every callback must have run before the array goes: wait for them
   * (the registry and clock threads keep going meanwhile) */
  XS_WAIT_UNTIL(all_called(reqs, requests_each));
  for (i = 0; i < requests_each; i++)
    if (atomic_load(&reqs[i].calls) != 1)
      atomic_fetch_add(&bad, 1);
  atomic_fetch_sub(&workers_left, 1);
  free(reqs);
  return NULL;
}

static void *registry_thread(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  while (atomic_load(&workers_left) > 0) {
    char name[32], target[64];
    xs_error err;
    int alias = (int)(rand_r(&seed) % NALIASES);
    snprintf(name, sizeof(name), "svc%d", alias);
    snprintf(target, sizeof(target), "%c%d.example.test",
             rand_r(&seed) % 2 ? 'a' : 'b', alias);
    if (xs_registry_set_external(reg, "prod", name, target, &err) != XS_OK)
      atomic_fetch_add(&bad, 1);
    rsp_sleep_ms(1);
  }
  return NULL;
}

static void *clock_thread(void *arg) {
  (void)arg;
  while (atomic_load(&workers_left) > 0) {
    atomic_fetch_add(&fake_ms, 700); /* entries (TTL 2 s) keep expiring */
    rsp_sleep_ms(2);
  }
  return NULL;
}

static void test_concurrent_resolve_swap_expire_cancel(void **st) {
  enum { NTHREADS = ASYNC_THREADS + BLOCKING_THREADS + 2 };
  xs_config *cfg;
  xs_error err;
  xs_engine_stats es;
  pthread_t th[NTHREADS];
  int i, n = 0;
  (void)st;
  resolves_each = xs_test_under_valgrind() ? 50 : 400;
  requests_each = xs_test_under_valgrind() ? 2000 : 20000;
  assert_int_equal(responder_start(&srv), 0);
  atomic_store(&srv.ttl, 2);
  atomic_store(&fake_ms, 1000000);
  assert_int_equal(xs_registry_new(&reg), XS_OK);
  for (i = 0; i < NALIASES; i++) {
    char name[32], target[64];
    snprintf(name, sizeof(name), "svc%d", i);
    snprintf(target, sizeof(target), "a%d.example.test", i);
    assert_int_equal(xs_registry_add_external(reg, "prod", name, target, &err),
                     XS_OK);
  }
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_set_namespace(cfg, "prod"), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, srv.server), XS_OK);
  assert_int_equal(xs_config_set_timeout_ms(cfg, TIMEOUT_MS), XS_OK);
  assert_int_equal(xs_config_set_attempts(cfg, 1), XS_OK);
  assert_int_equal(xs_config_set_clock(cfg, fake_clock, NULL), XS_OK);
  assert_int_equal(xs_config_set_cache_size(cfg, 16), XS_OK); /* evictions */
  /* the async threads fire all their requests without waiting */
  assert_int_equal(
      xs_config_set_max_pending(cfg, (size_t)(ASYNC_THREADS * requests_each)),
      XS_OK);
  assert_int_equal(xs_resolver_new(cfg, reg, &res, &err), XS_OK);
  xs_config_free(cfg);

  atomic_store(&workers_left, ASYNC_THREADS + BLOCKING_THREADS);
  for (i = 0; i < ASYNC_THREADS; i++)
    pthread_create(&th[n++], NULL, async_thread, (void *)(size_t)(3 + i));
  for (i = 0; i < BLOCKING_THREADS; i++)
    pthread_create(&th[n++], NULL, resolver_thread, (void *)(size_t)(1 + i));
  pthread_create(&th[n++], NULL, registry_thread, (void *)5);
  pthread_create(&th[n++], NULL, clock_thread, NULL);
  for (i = 0; i < n; i++)
    pthread_join(th[i], NULL);
  xs_resolver_engine_stats(res, &es);
  xs_resolver_free(res);
  xs_registry_free(reg);
  responder_stop(&srv);
  fprintf(stderr,
          "resolved %ld (slowest %lld ms), async %ld/%ld, bad %ld; engine: "
          "%llu blocking questions, at most %llu others started ahead\n",
          atomic_load(&resolved), atomic_load(&worst_ms),
          atomic_load(&async_done), atomic_load(&async_started),
          atomic_load(&bad), (unsigned long long)es.blocking,
          (unsigned long long)es.most_ahead_of_blocking);
  assert_int_equal(atomic_load(&bad), 0);
  assert_int_equal(atomic_load(&resolved), BLOCKING_THREADS * resolves_each);
  assert_int_equal(atomic_load(&async_started), ASYNC_THREADS * requests_each);
  assert_int_equal(atomic_load(&async_done), atomic_load(&async_started));
  /* Fairness, counted: however many asynchronous requests were queued. */
  assert_true(es.most_ahead_of_blocking <= XS_ASYNC_BATCH);
  /* Each call's documented bound: timeout x servers x (2^attempts - 1),
   * one upstream question per call here. */
  assert_true(atomic_load(&worst_ms) <= TIMEOUT_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_resolve_swap_expire_cancel),
  };
  return XS_RUN_GROUP(tests, NULL, NULL);
}
