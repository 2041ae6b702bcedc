/* The resolver with its cache and engine, against a DNS server on loopback
 * (tests/common/responder.h, in this process's own thread), side by side
 * with glibc getaddrinfo and raw c-ares in the same run:
 *
 *   hit     xs_resolve of an ExternalName alias whose target's A record is
 *           cached: ns/op with 1 and 2 threads (each thread its own 32
 *           aliases; and all threads one alias), with the result memo (the
 *           default) and without it (every call walks: registry answer,
 *           cache lookup, result build)
 *   miss    xs_resolve of names never seen (cache off), one at a time, vs
 *           raw ares_getaddrinfo of the same kind of names, same server
 *   burst   10,000 xs_resolve_async for 100 distinct names at once: upstream
 *           queries counted at the server, and the time until all completed
 *   outage  server silent, fake clock past every TTL: cached names answered
 *           (stale) / asked
 *
 * usage: bench_resolve [--op hit|miss|burst|outage] */
#include <ares.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "responder.h"
#include "xsvc.h"

#define ALIASES 64
#define MISS_N 2000

static responder srv;
static long hit_iters = 1000000; /* BENCH_ITERS overrides (profiling) */
static xs_registry *reg;
static atomic_ullong fake_ms = 1000000;

static unsigned long long fake_clock(void *arg) {
  (void)arg;
  return atomic_load(&fake_ms);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* memo: result memo slots, or MEMO_DEFAULT */
#define MEMO_DEFAULT ((size_t)-1)

static xs_resolver *make(size_t cache, xs_dispatch dispatch, int fake,
                         size_t memo) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  if (xs_config_new(&cfg) != XS_OK)
    exit(1);
  xs_config_set_namespace(cfg, "prod");
  xs_config_add_server(cfg, srv.server);
  xs_config_set_timeout_ms(cfg, 1000);
  xs_config_set_attempts(cfg, 1);
  xs_config_set_cache_size(cfg, cache);
  xs_config_set_dispatch(cfg, dispatch);
  if (memo != MEMO_DEFAULT)
    xs_config_set_result_memo(cfg, memo);
  if (fake)
    xs_config_set_clock(cfg, fake_clock, NULL);
  if (xs_resolver_new(cfg, reg, &res, &err) != XS_OK) {
    fprintf(stderr, "bench_resolve: resolver: %s\n", err.message);
    exit(1);
  }
  xs_config_free(cfg);
  return res;
}

/* ---- hit ----------------------------------------------------------------- */

typedef struct hitarg {
  xs_resolver *res;
  int base, count; /* aliases svc<base>..svc<base+count-1> */
  long iters;
  long failures;
  double ns;
  pthread_barrier_t *start;
} hitarg;

static void *hit_thread(void *p) {
  hitarg *h = p;
  char names[ALIASES][16];
  long i;
  double t0;
  for (i = 0; i < h->count; i++)
    snprintf(names[i], sizeof(names[i]), "svc%d", h->base + (int)i);
  pthread_barrier_wait(h->start);
  t0 = now_ns();
  for (i = 0; i < h->iters; i++) {
    xs_result *r = NULL;
    if (xs_resolve(h->res, names[i % h->count], XS_FAMILY_IPV4, &r) != XS_OK ||
        xs_result_address_source(r, 0) != XS_SOURCE_CACHE)
      h->failures++;
    xs_result_free(r);
  }
  h->ns = (now_ns() - t0) / (double)h->iters;
  return NULL;
}

/* Best of 5 rounds: ns/op per thread and total ops/s. */
static void hit_row(const char *label, xs_resolver *res, int threads,
                    int shared, double *ops_out) {
  double best_ops = 0, best_ns = 0;
  int round, t;
  for (round = 0; round < 5; round++) {
    pthread_t th[8];
    hitarg h[8];
    pthread_barrier_t start;
    double ops = 0, ns = 0;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (t = 0; t < threads; t++) {
      h[t].res = res;
      h[t].base = shared ? 0 : t * (ALIASES / 2);
      h[t].count = shared ? 1 : ALIASES / 2;
      h[t].iters = hit_iters;
      h[t].failures = 0;
      h[t].start = &start;
      pthread_create(&th[t], NULL, hit_thread, &h[t]);
    }
    for (t = 0; t < threads; t++) {
      pthread_join(th[t], NULL);
      if (h[t].failures)
        fprintf(stderr, "bench_resolve: %ld failures\n", h[t].failures);
      ops += 1e9 / h[t].ns;
      ns += h[t].ns / threads;
    }
    pthread_barrier_destroy(&start);
    if (ops > best_ops) {
      best_ops = ops;
      best_ns = ns;
    }
  }
  printf("%-52s %9.1f %12.0f\n", label, best_ns, best_ops);
  if (ops_out != NULL)
    *ops_out = best_ops;
}

static double gai_ns(const char *host) {
  struct addrinfo hints, *ai;
  int i, n = 2000;
  double t0 = now_ns();
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  for (i = 0; i < n; i++)
    if (getaddrinfo(host, NULL, &hints, &ai) == 0)
      freeaddrinfo(ai);
  return (now_ns() - t0) / n;
}

/* ---- raw c-ares ------------------------------------------------------------
 */

typedef struct ares_done {
  int done, status;
} ares_done;

static void on_ai(void *arg, int status, int timeouts,
                  struct ares_addrinfo *res) {
  ares_done *d = arg;
  (void)timeouts;
  d->done = 1;
  d->status = status;
  if (res != NULL)
    ares_freeaddrinfo(res);
}

static ares_channel ares_to_server(void) {
  ares_channel ch;
  struct ares_options opts;
  memset(&opts, 0, sizeof(opts));
  opts.timeout = 1000;
  opts.tries = 1;
  opts.flags = ARES_FLAG_NOSEARCH;
  if (ares_init_options(&ch, &opts,
                        ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS) !=
          ARES_SUCCESS ||
      ares_set_servers_ports_csv(ch, srv.server) != ARES_SUCCESS)
    exit(1);
  return ch;
}

/* One ares_getaddrinfo of name, driven to completion. */
static int ares_one(ares_channel ch, const char *name, int family) {
  struct ares_addrinfo_hints hints;
  ares_done d = {0, 0};
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = family;
  ares_getaddrinfo(ch, name, NULL, &hints, on_ai, &d);
  while (!d.done) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    struct timeval tv, *tvp;
    int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), i, n = 0;
    for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
      if (!ARES_GETSOCK_READABLE(bits, i) && !ARES_GETSOCK_WRITABLE(bits, i))
        continue;
      pfd[n].fd = socks[i];
      pfd[n].events = (short)((ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
                              (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0));
      pfd[n++].revents = 0;
    }
    tvp = ares_timeout(ch, NULL, &tv);
    poll(pfd, (nfds_t)n,
         tvp ? (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) : 100);
    for (i = 0; i < n; i++)
      ares_process_fd(ch,
                      pfd[i].revents & (POLLIN | POLLERR | POLLHUP)
                          ? pfd[i].fd
                          : ARES_SOCKET_BAD,
                      pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
    if (n == 0)
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }
  return d.status;
}

static double ares_hit_ns(ares_channel ch) {
  int i, n = 2000;
  double t0 = now_ns();
  for (i = 0; i < n; i++)
    ares_one(ch, "t0.example.test", AF_INET);
  return (now_ns() - t0) / n;
}

/* ---- rows ------------------------------------------------------------------
 */

static void warm(xs_resolver *res) {
  int i;
  for (i = 0; i < ALIASES; i++) {
    char name[16];
    xs_result *r = NULL;
    snprintf(name, sizeof(name), "svc%d", i);
    xs_resolve(res, name, XS_FAMILY_IPV4, &r);
    xs_result_free(r);
  }
}

static void op_hit(void) {
  xs_resolver *res = make(10000, XS_DISPATCH_ENGINE, 0, MEMO_DEFAULT);
  xs_resolver *walk = make(10000, XS_DISPATCH_ENGINE, 0, 0);
  ares_channel ch = ares_to_server();
  double one = 0, two = 0, wone = 0, wtwo = 0, gai, ares_ns;
  warm(res);
  warm(walk);
  printf("%-52s %9s %12s\n", "operation", "ns/op", "ops/s");
  hit_row("xs_resolve cache hit, alias -> A, 1 thread", res, 1, 0, &one);
  hit_row("xs_resolve cache hit, alias -> A, 2 threads", res, 2, 0, &two);
  hit_row("xs_resolve cache hit, one alias, 2 threads", res, 2, 1, NULL);
  hit_row("  memo off (every call walks), 1 thread", walk, 1, 0, &wone);
  hit_row("  memo off (every call walks), 2 threads", walk, 2, 0, &wtwo);
  hit_row("  memo off, one alias, 2 threads", walk, 2, 1, NULL);
  gai = gai_ns("localhost");
  printf("%-52s %9.1f\n", "getaddrinfo (/etc/hosts)", gai);
  ares_ns = ares_hit_ns(ch);
  printf("%-52s %9.1f\n", "ares_getaddrinfo from the loopback server", ares_ns);
  printf("2 threads / 1 thread throughput: %.2fx (target >= 1.7x); "
         "memo off: %.2fx\n",
         two / one, wtwo / wone);
  printf("getaddrinfo / hit: %.0fx, ares_getaddrinfo / hit: %.0fx "
         "(target >= 50x); memo off: %.0fx, %.0fx\n",
         gai / (1e9 / one), ares_ns / (1e9 / one), gai / (1e9 / wone),
         ares_ns / (1e9 / wone));
  ares_destroy(ch);
  xs_resolver_free(walk);
  xs_resolver_free(res);
}

static void op_miss(void) {
  xs_resolver *res = make(0, XS_DISPATCH_ENGINE, 0, MEMO_DEFAULT);
  ares_channel ch = ares_to_server();
  double t0, xs_us, ares_us;
  int i, fails = 0;
  char name[64];
  /* interleaved in blocks so both see the same machine state */
  double xs_total = 0, ares_total = 0;
  for (i = 0; i < MISS_N; i++) {
    xs_result *r = NULL;
    snprintf(name, sizeof(name), "m%d.example.test.", i);
    t0 = now_ns();
    if (xs_resolve(res, name, XS_FAMILY_IPV4, &r) != XS_OK)
      fails++;
    xs_total += now_ns() - t0;
    xs_result_free(r);
    snprintf(name, sizeof(name), "n%d.example.test", i);
    t0 = now_ns();
    if (ares_one(ch, name, AF_INET) != ARES_SUCCESS)
      fails++;
    ares_total += now_ns() - t0;
  }
  xs_us = xs_total / MISS_N / 1e3;
  ares_us = ares_total / MISS_N / 1e3;
  printf("%-52s %9.1f us\n", "xs_resolve miss (uncached name, A)", xs_us);
  printf("%-52s %9.1f us\n", "ares_getaddrinfo of the same kind of name",
         ares_us);
  printf("miss / raw c-ares: %.2fx (target <= 1.1x)%s\n", xs_us / ares_us,
         fails ? " FAILURES" : "");
  ares_destroy(ch);
  xs_resolver_free(res);
}

static atomic_int burst_done;

static void burst_cb(xs_status st, xs_result *r, void *arg) {
  (void)arg;
  if (st != XS_OK)
    fprintf(stderr, "bench_resolve: burst: %s\n", xs_strerror(st));
  xs_result_free(r);
  atomic_fetch_add(&burst_done, 1);
}

static void op_burst(void) {
  xs_resolver *res = make(10000, XS_DISPATCH_ENGINE, 0, MEMO_DEFAULT);
  int i, q0 = atomic_load(&srv.queries_a), q6 = atomic_load(&srv.queries_aaaa);
  double t0 = now_ns(), ms;
  char name[64];
  atomic_store(&burst_done, 0);
  for (i = 0; i < 10000; i++) {
    snprintf(name, sizeof(name), "b%d.example.test.", i % 100);
    xs_resolve_async(res, name, XS_FAMILY_ANY, burst_cb, NULL, NULL);
  }
  while (atomic_load(&burst_done) < 10000)
    rsp_sleep_ms(1);
  ms = (now_ns() - t0) / 1e6;
  printf("burst: 10,000 requests, 100 names: %d A + %d AAAA queries upstream "
         "(target 100 + 100), %.1f ms\n",
         atomic_load(&srv.queries_a) - q0, atomic_load(&srv.queries_aaaa) - q6,
         ms);
  xs_resolver_free(res);
}

static void op_outage(void) {
  xs_resolver *res = make(10000, XS_DISPATCH_ENGINE, 1, MEMO_DEFAULT);
  int i, ok = 0, stale = 0;
  for (i = 0; i < ALIASES; i++) {
    char name[16];
    xs_result *r = NULL;
    snprintf(name, sizeof(name), "svc%d", i);
    xs_resolve(res, name, XS_FAMILY_IPV4, &r);
    xs_result_free(r);
  }
  atomic_store(&srv.silent, 1);
  atomic_fetch_add(&fake_ms, 600000); /* 10 min: every TTL (300 s) gone */
  for (i = 0; i < ALIASES; i++) {
    char name[16];
    xs_result *r = NULL;
    snprintf(name, sizeof(name), "svc%d", i);
    if (xs_resolve(res, name, XS_FAMILY_IPV4, &r) == XS_OK) {
      ok++;
      stale += xs_result_address_source(r, 0) == XS_SOURCE_STALE;
    }
    xs_result_free(r);
  }
  atomic_store(&srv.silent, 0);
  printf("outage: %d/%d cached names answered (%d stale) with upstream "
         "silent (target 100%%)\n",
         ok, ALIASES, stale);
  xs_resolver_free(res);
}

int main(int argc, char **argv) {
  const char *only = argc == 3 && strcmp(argv[1], "--op") == 0 ? argv[2] : NULL;
  xs_error err;
  int i;
  if (argc != 1 && only == NULL) {
    fprintf(stderr, "usage: bench_resolve [--op hit|miss|burst|outage]\n");
    return 2;
  }
  if (getenv("BENCH_ITERS") != NULL)
    hit_iters = atol(getenv("BENCH_ITERS"));
  ares_library_init(ARES_LIB_INIT_ALL);
  if (responder_start(&srv) != 0 || xs_registry_new(&reg) != XS_OK)
    return 1;
  for (i = 0; i < ALIASES; i++) {
    char name[16], target[64];
    snprintf(name, sizeof(name), "svc%d", i);
    snprintf(target, sizeof(target), "t%d.example.test", i);
    xs_registry_add_external(reg, "prod", name, target, &err);
  }
  if (only == NULL || strcmp(only, "hit") == 0)
    op_hit();
  if (only == NULL || strcmp(only, "miss") == 0)
    op_miss();
  if (only == NULL || strcmp(only, "burst") == 0)
    op_burst();
  if (only == NULL || strcmp(only, "outage") == 0)
    op_outage();
  xs_registry_free(reg);
  responder_stop(&srv);
  ares_library_cleanup();
  return 0;
}
