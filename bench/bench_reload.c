/* Reload and statistics (issue 7):
 *
 *   stats    the cost of counting on the hit path: xs_resolve of an alias
 *            answered from the result memo (its target's A record cached),
 *            with counting on and off (xs_stats_set_enabled) in alternating
 *            rounds of the same run; 1 and 2 threads. Target: <= 5%.
 *   reload   the time from a manifest write (a new file renamed over the
 *            old, as editors and ConfigMap updates do) to the first
 *            xs_resolve answering with the new target, through a watcher
 *            with its default 50 ms debounce (and 0 ms for the floor);
 *            a thread resolves without pause meanwhile. Target: <= 100 ms.
 *            Also xs_registry_reload of 10,000 Services (load + compare +
 *            publish).
 *
 * The upstream is the scripted DNS server of tests/common on 127.0.0.1.
 * usage: bench_reload [--op stats|reload]
 *        bench_reload --op hits on|off   one thread's memo hits only, with
 *            counting on or off, for instruction counts (valgrind
 *            --tool=callgrind; BENCH_ITERS, default 2,000,000) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "responder.h"
#include "tmpfiles.h"
#include "xsvc.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static responder srv;

static xs_resolver *resolver_for(xs_registry *reg) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  xs_config_new(&cfg);
  xs_config_add_server(cfg, srv.server);
  if (xs_resolver_new(cfg, reg, &res, &err) != XS_OK) {
    fprintf(stderr, "bench_reload: resolver: %s\n", err.message);
    exit(1);
  }
  xs_config_free(cfg);
  return res;
}

/* ---- stats --------------------------------------------------------------- */

static long hit_iters = 2000000L;
#define ROUNDS 7

typedef struct hitarg {
  xs_resolver *res;
  const char *name;
  double ns;
  long failures;
  pthread_barrier_t *start;
} hitarg;

static void *hit_thread(void *p) {
  hitarg *h = p;
  double t0;
  long i;
  pthread_barrier_wait(h->start);
  t0 = now_ns();
  for (i = 0; i < hit_iters; i++) {
    xs_result *r = NULL;
    if (xs_resolve(h->res, h->name, XS_FAMILY_IPV4, &r) != XS_OK)
      h->failures++;
    xs_result_free(r);
  }
  h->ns = (now_ns() - t0) / (double)hit_iters;
  return NULL;
}

/* ns per call, averaged over the threads. */
static double hit_round(xs_resolver *res, int threads) {
  static const char *names[] = {"svc0", "svc1"};
  pthread_t th[2];
  hitarg h[2];
  pthread_barrier_t start;
  double ns = 0;
  int t;
  pthread_barrier_init(&start, NULL, (unsigned)threads);
  for (t = 0; t < threads; t++) {
    h[t].res = res;
    h[t].name = names[t];
    h[t].failures = 0;
    h[t].start = &start;
    pthread_create(&th[t], NULL, hit_thread, &h[t]);
  }
  for (t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    if (h[t].failures != 0)
      fprintf(stderr, "bench_reload: %ld failures\n", h[t].failures);
    ns += h[t].ns / threads;
  }
  pthread_barrier_destroy(&start);
  return ns;
}

/* Memo hits on one thread only (after a warm-up of 100). */
static void op_hits(int on) {
  xs_registry *reg;
  xs_resolver *res;
  xs_error err;
  long n = hit_iters;
  xs_registry_new(&reg);
  xs_registry_add_external(reg, "default", "svc0", "t0.example.test", &err);
  xs_registry_add_external(reg, "default", "svc1", "t1.example.test", &err);
  res = resolver_for(reg);
  hit_iters = 100;
  hit_round(res, 1);
  xs_stats_set_enabled(on);
  hit_iters = n;
  printf("%ld memo hits, stats %s: %.1f ns each\n", n, on ? "on" : "off",
         hit_round(res, 1));
  xs_resolver_free(res);
  xs_registry_free(reg);
}

static void op_stats(void) {
  xs_registry *reg;
  xs_resolver *res;
  xs_error err;
  xs_stats before, after;
  int threads;
  xs_registry_new(&reg);
  xs_registry_add_external(reg, "default", "svc0", "t0.example.test", &err);
  xs_registry_add_external(reg, "default", "svc1", "t1.example.test", &err);
  res = resolver_for(reg);
  for (threads = 1; threads <= 2; threads++) {
    double on[ROUNDS], off[ROUNDS];
    int r;
    hit_round(res, threads); /* warm: upstream, cache, memo */
    for (r = 0; r < ROUNDS; r++) {
      xs_stats_set_enabled(1);
      on[r] = hit_round(res, threads);
      xs_stats_set_enabled(0);
      off[r] = hit_round(res, threads);
    }
    xs_stats_set_enabled(1);
    qsort(on, ROUNDS, sizeof(double), cmp_double);
    qsort(off, ROUNDS, sizeof(double), cmp_double);
    printf("memo hit, %d thread%s: stats on %.1f ns (median %.1f), off "
           "%.1f ns (median %.1f): %+.1f%% (best), %+.1f%% (median) "
           "[target <= 5%%]\n",
           threads, threads == 1 ? " " : "s", on[0], on[ROUNDS / 2], off[0],
           off[ROUNDS / 2], (on[0] / off[0] - 1) * 100,
           (on[ROUNDS / 2] / off[ROUNDS / 2] - 1) * 100);
  }
  /* that counting happened: one more round, counted */
  xs_stats_get(&before, sizeof(before));
  hit_round(res, 1);
  xs_stats_get(&after, sizeof(after));
  printf("counted in one round: %llu memo hits, %llu timed (1 in 64)\n",
         after.memo_hits - before.memo_hits,
         after.hit_latency.count - before.hit_latency.count);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* ---- reload -------------------------------------------------------------- */

#define SWAPS 20

static xs_resolver *shared_res;
static atomic_int stop_load;

static void *busy_resolver(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_load)) {
    xs_result *r = NULL;
    xs_resolve(shared_res, "db.default.svc.cluster.local.", XS_FAMILY_IPV4, &r);
    xs_result_free(r);
  }
  return NULL;
}

static void reload_latency(unsigned debounce_ms) {
  char dir[] = "/tmp/xsvc-bench-reload-XXXXXX", path[128], text[512];
  char target[64], want[80];
  const char *paths[1];
  xs_registry *reg;
  xs_watch *w;
  xs_watch_options wo;
  xs_error err;
  pthread_t busy;
  double ms[SWAPS];
  int i;
  if (tmp_dir(dir) != 0)
    exit(1);
  snprintf(path, sizeof(path), "%s/services.yaml", dir);
  paths[0] = path;
  tmp_external(text, sizeof(text), "default", "db", "v0.example.test");
  tmp_write(path, text);
  if (xs_registry_load(path, &reg, &err) != XS_OK)
    exit(1);
  shared_res = resolver_for(reg);
  xs_watch_options_init(&wo);
  wo.debounce_ms = debounce_ms;
  if (xs_watch_start(reg, paths, 1, &wo, &w, &err) != XS_OK) {
    fprintf(stderr, "bench_reload: watch: %s\n", err.message);
    exit(1);
  }
  atomic_store(&stop_load, 0);
  pthread_create(&busy, NULL, busy_resolver, NULL);
  for (i = 0; i < SWAPS; i++) {
    double t0;
    snprintf(target, sizeof(target), "v%d.example.test", i + 1);
    snprintf(want, sizeof(want), "%s.", target);
    tmp_external(text, sizeof(text), "default", "db", target);
    t0 = now_ns();
    tmp_write_rename(path, text);
    for (;;) {
      xs_result *r = NULL;
      int done;
      xs_resolve(shared_res, "db.default.svc.cluster.local.", XS_FAMILY_IPV4,
                 &r);
      done = xs_result_chain_count(r) > 0 &&
             strcmp(xs_result_chain_target(r, 0), want) == 0 &&
             xs_result_status(r) == XS_OK;
      xs_result_free(r);
      if (done)
        break;
      if (now_ns() - t0 > 5e9) {
        fprintf(stderr, "bench_reload: no reload within 5 s\n");
        exit(1);
      }
    }
    ms[i] = (now_ns() - t0) / 1e6;
  }
  atomic_store(&stop_load, 1);
  pthread_join(busy, NULL);
  xs_watch_stop(w);
  qsort(ms, SWAPS, sizeof(double), cmp_double);
  printf("write -> new target answered, debounce %3u ms: median %.1f ms, "
         "max %.1f ms over %d edits%s\n",
         debounce_ms, ms[SWAPS / 2], ms[SWAPS - 1], SWAPS,
         debounce_ms == XS_WATCH_DEBOUNCE_DEFAULT_MS ? " [target <= 100 ms]"
                                                     : "");
  xs_resolver_free(shared_res);
  xs_registry_free(reg);
  tmp_remove(dir);
}

static void reload_big(void) {
  char dir[] = "/tmp/xsvc-bench-big-XXXXXX", path[128];
  const char *paths[1];
  xs_registry *reg;
  xs_reload_report rep;
  xs_error err;
  FILE *f;
  double t0, same, changed;
  if (tmp_dir(dir) != 0)
    exit(1);
  snprintf(path, sizeof(path), "%s/cluster.yaml", dir);
  paths[0] = path;
  if ((f = fopen(path, "w")) == NULL || gen_write(f, 10000, GEN_MIX_REALISTIC))
    exit(1);
  fclose(f);
  if (xs_registry_load(path, &reg, &err) != XS_OK)
    exit(1);
  t0 = now_ns();
  xs_registry_reload(reg, paths, 1, NULL, &rep);
  same = (now_ns() - t0) / 1e6;
  /* one more Service: a change */
  f = fopen(path, "a");
  fputs("---\napiVersion: v1\nkind: Service\nmetadata: {name: extra, "
        "namespace: default}\nspec: {type: ExternalName, externalName: "
        "x.example.test}\n",
        f);
  fclose(f);
  t0 = now_ns();
  xs_registry_reload(reg, paths, 1, NULL, &rep);
  changed = (now_ns() - t0) / 1e6;
  printf("xs_registry_reload, 10,000 Services: unchanged %.1f ms, one added "
         "%.1f ms (%s)\n",
         same, changed, rep.summary);
  xs_registry_free(reg);
  tmp_remove(dir);
}

static void op_reload(void) {
  reload_latency(XS_WATCH_DEBOUNCE_DEFAULT_MS);
  reload_latency(0);
  reload_big();
}

int main(int argc, char **argv) {
  const char *op = argc > 2 && strcmp(argv[1], "--op") == 0 ? argv[2] : NULL;
  if (getenv("BENCH_ITERS") != NULL)
    hit_iters = atol(getenv("BENCH_ITERS"));
  if (responder_start(&srv) != 0) {
    fprintf(stderr, "bench_reload: cannot start the DNS responder\n");
    return 1;
  }
  if (op != NULL && strcmp(op, "hits") == 0)
    op_hits(argc > 3 && strcmp(argv[3], "on") == 0);
  if (op == NULL || strcmp(op, "stats") == 0)
    op_stats();
  if (op == NULL || strcmp(op, "reload") == 0)
    op_reload();
  responder_stop(&srv);
  return 0;
}
