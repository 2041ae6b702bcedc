/* Soak: threads resolving at full speed through one resolver against a
 * flapping upstream on loopback (the scripted responder: answering for
 * UP ms, silent for DOWN ms, again and again), with one-second TTLs so the
 * cache keeps going back upstream and serve-stale keeps answering while it
 * is down. Samples the process's RSS every few seconds and prints a line
 * per sample; at the end the totals, and the exit status says whether the
 * run held: no failure among names once answered, no call longer than its
 * bound, RSS after warm-up within 10% (and 4 MiB) of its first sample.
 *
 *   soak SECONDS [THREADS] [NAMES]        (bench/soak.sh runs it) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "responder.h"
#include "xsvc.h"

#define TIMEOUT_MS 200
#define UP_MS 3000
#define DOWN_MS 2000

static responder srv;
static xs_resolver *res;
static atomic_int stop;
static atomic_ullong calls, ok, stale, failed, slow;
static int nnames;

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f == NULL)
    return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
    resident = -1;
  fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *worker(void *arg) {
  unsigned i = (unsigned)(size_t)arg * 7919u;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    char name[64];
    xs_result *r = NULL;
    long long t0 = mono_ms();
    xs_status st;
    snprintf(name, sizeof(name), "n%u.example.test.", i++ % (unsigned)nnames);
    st = xs_resolve(res, name, XS_FAMILY_IPV4, &r);
    if (mono_ms() - t0 > TIMEOUT_MS + 1000)
      atomic_fetch_add(&slow, 1);
    if (st == XS_OK) {
      atomic_fetch_add(&ok, 1);
      if (xs_result_address_source(r, 0) == XS_SOURCE_STALE)
        atomic_fetch_add(&stale, 1);
    } else {
      atomic_fetch_add(&failed, 1); /* only names never answered may fail */
    }
    atomic_fetch_add(&calls, 1);
    xs_result_free(r);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 60;
  int nthreads = argc > 2 ? atoi(argv[2]) : 2, i, held;
  long long start, next_sample, next_flip, end;
  long rss0 = -1, rss = 0, rss_max = 0;
  unsigned long long warm_failed = 0;
  pthread_t *t;
  xs_config *cfg;
  xs_error err;
  nnames = argc > 3 ? atoi(argv[3]) : 200;
  if (seconds <= 0 || nthreads <= 0 || nnames <= 0 ||
      responder_start(&srv) != 0)
    return 2;
  atomic_store(&srv.ttl, 1);
  atomic_store(&srv.no_aaaa, 1);
  xs_config_new(&cfg);
  xs_config_add_server(cfg, srv.server);
  xs_config_set_timeout_ms(cfg, TIMEOUT_MS);
  xs_config_set_attempts(cfg, 1);
  if (xs_resolver_new(cfg, NULL, &res, &err) != XS_OK) {
    fprintf(stderr, "soak: %s\n", err.message);
    return 2;
  }
  xs_config_free(cfg);
  for (i = 0; i < nnames; i++) { /* every name answered once */
    char name[64];
    xs_result *r;
    snprintf(name, sizeof(name), "n%d.example.test.", i);
    if (xs_resolve(res, name, XS_FAMILY_IPV4, &r) != XS_OK)
      warm_failed++;
    xs_result_free(r);
  }
  t = calloc((size_t)nthreads, sizeof(*t));
  for (i = 0; i < nthreads; i++)
    pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
  start = mono_ms();
  end = start + (long long)seconds * 1000;
  next_sample = start + 10000;
  next_flip = start + UP_MS;
  printf("%8s %12s %10s %10s %8s %8s %10s %6s\n", "time_s", "calls", "calls/s",
         "stale", "failed", "slow", "rss_kib", "up");
  while (mono_ms() < end) {
    long long now = mono_ms();
    if (now >= next_flip) {
      int silent = !atomic_load(&srv.silent);
      atomic_store(&srv.silent, silent);
      next_flip = now + (silent ? DOWN_MS : UP_MS);
    }
    if (now >= next_sample) {
      static unsigned long long last_calls;
      static long long last_ms;
      unsigned long long c = atomic_load(&calls);
      long long since = now - (last_ms ? last_ms : start);
      rss = rss_kib();
      if (rss0 < 0 && now - start >= 30000)
        rss0 = rss; /* after warm-up */
      if (rss > rss_max)
        rss_max = rss;
      printf("%8lld %12llu %10.0f %10llu %8llu %8llu %10ld %6s\n",
             (now - start) / 1000, c,
             (double)(c - last_calls) * 1000.0 / (double)(since ? since : 1),
             atomic_load(&stale), atomic_load(&failed), atomic_load(&slow), rss,
             atomic_load(&srv.silent) ? "no" : "yes");
      fflush(stdout);
      last_calls = c;
      last_ms = now;
      next_sample = now + 10000;
    }
    usleep(20000);
  }
  atomic_store(&stop, 1);
  for (i = 0; i < nthreads; i++)
    pthread_join(t[i], NULL);
  free(t);
  rss = rss_kib();
  xs_resolver_free(res);
  responder_stop(&srv);
  if (rss0 < 0)
    rss0 = rss;
  held = warm_failed == 0 && atomic_load(&failed) == 0 &&
         atomic_load(&slow) == 0 &&
         (rss <= rss0 + rss0 / 10 || rss <= rss0 + 4096);
  printf("soak: %d s, %d threads, %d names: %llu calls (%.0f/s), %llu stale, "
         "%llu failed, %llu slow, upstream queries %d; RSS %ld KiB after "
         "warm-up, %ld KiB at the end, %ld KiB peak: %s\n",
         seconds, nthreads, nnames, atomic_load(&calls),
         (double)atomic_load(&calls) / seconds, atomic_load(&stale),
         atomic_load(&failed), atomic_load(&slow), atomic_load(&srv.queries),
         rss0, rss, rss_max, held ? "held" : "FAILED");
  return held ? 0 : 1;
}
