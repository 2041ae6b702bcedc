/* Stress for ThreadSanitizer and the sanitizers: threads resolving (blocking
 * and async, with cancels) while cache entries expire under a moving clock
 * and another thread keeps repointing aliases in the registry. Every result
 * must be whole: an alias answers with one of its two targets and that
 * target's address, never a mix. */
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

#include "responder.h"
#include "xsvc.h"

#define NALIASES 8
#define RUN_MS 1500

static responder srv;
static xs_registry *reg;
static xs_resolver *res;
static atomic_ullong fake_ms;
static atomic_int stop;
static atomic_long resolved, async_done, async_started, bad;

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
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!atomic_load(&stop)) {
    char name[32];
    int alias = (int)(rand_r(&seed) % NALIASES);
    xs_result *r = NULL;
    xs_status st;
    snprintf(name, sizeof(name), "svc%d", alias);
    st = xs_resolve(res, name, XS_FAMILY_IPV4, &r);
    if (st != XS_OK || !result_is_whole(r, alias))
      atomic_fetch_add(&bad, 1);
    xs_result_free(r);
    atomic_fetch_add(&resolved, 1);
    clock_gettime(CLOCK_MONOTONIC, &t);
    (void)t0;
  }
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

static void *async_thread(void *arg) {
  enum { MAXREQ = 20000 };
  unsigned seed = (unsigned)(size_t)arg;
  req *reqs = calloc(MAXREQ, sizeof(*reqs));
  int n = 0, i;
  if (reqs == NULL)
    return NULL;
  while (!atomic_load(&stop) && n < MAXREQ) {
    char name[32];
    unsigned long long id;
    req *q = &reqs[n++];
    q->alias = (int)(rand_r(&seed) % NALIASES);
    snprintf(name, sizeof(name), "svc%d", q->alias);
    if (xs_resolve_async(res, name, XS_FAMILY_IPV4, async_cb, q, &id) !=
        XS_OK) {
      atomic_fetch_add(&bad, 1);
      continue;
    }
    atomic_fetch_add(&async_started, 1);
    if (rand_r(&seed) % 4 == 0)
      xs_resolve_cancel(res, id);
  }
  /* every callback must have run once before the array goes */
  for (i = 0;
       i < 2000 && atomic_load(&async_done) < atomic_load(&async_started); i++)
    rsp_sleep_ms(5);
  for (i = 0; i < n; i++)
    if (atomic_load(&reqs[i].calls) != 1)
      atomic_fetch_add(&bad, 1);
  free(reqs);
  return NULL;
}

static void *registry_thread(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  while (!atomic_load(&stop)) {
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
  while (!atomic_load(&stop)) {
    atomic_fetch_add(&fake_ms, 700); /* entries (TTL 2 s) keep expiring */
    rsp_sleep_ms(2);
  }
  return NULL;
}

static void test_concurrent_resolve_swap_expire_cancel(void **st) {
  xs_config *cfg;
  xs_error err;
  pthread_t th[6];
  int i;
  (void)st;
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
  assert_int_equal(xs_config_set_clock(cfg, fake_clock, NULL), XS_OK);
  assert_int_equal(xs_config_set_cache_size(cfg, 16), XS_OK); /* evictions */
  /* the async threads fire up to 2 x MAXREQ without waiting */
  assert_int_equal(xs_config_set_max_pending(cfg, 2 * 20000), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, reg, &res, &err), XS_OK);
  xs_config_free(cfg);

  pthread_create(&th[0], NULL, resolver_thread, (void *)1);
  pthread_create(&th[1], NULL, resolver_thread, (void *)2);
  pthread_create(&th[2], NULL, async_thread, (void *)3);
  pthread_create(&th[3], NULL, async_thread, (void *)4);
  pthread_create(&th[4], NULL, registry_thread, (void *)5);
  pthread_create(&th[5], NULL, clock_thread, NULL);
  rsp_sleep_ms(RUN_MS);
  atomic_store(&stop, 1);
  for (i = 0; i < 6; i++)
    pthread_join(th[i], NULL);
  xs_resolver_free(res);
  xs_registry_free(reg);
  responder_stop(&srv);
  fprintf(stderr, "resolved %ld, async %ld/%ld, bad %ld\n",
          atomic_load(&resolved), atomic_load(&async_done),
          atomic_load(&async_started), atomic_load(&bad));
  assert_int_equal(atomic_load(&bad), 0);
  /* Progress, not speed: under valgrind (one thread at a time) the async
   * threads can take most of the run; tens of blocking calls are seen. */
  assert_true(atomic_load(&resolved) >= 20);
  assert_int_equal(atomic_load(&async_done), atomic_load(&async_started));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_resolve_swap_expire_cancel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
