/* Answer cost on a 10,000-Service registry: a direct FQDN hit through
 * xs_answer_query, a 4-candidate search walk (xs_cand_start/xs_cand_next plus
 * xs_answer_query per candidate), the same walk through the public
 * xs_resolve, and glibc getaddrinfo() of an /etc/hosts name for scale.
 *
 * usage: bench_answer [--services N] [--host NAME] [--op
 * hit|same|walk|resolve|gai]
 * (--op runs one row only, e.g. under valgrind --tool=callgrind)
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "answer.h"
#include "gen.h"
#include "names.h"
#include "registry.h"
#include "xsvc.h"

#define NAMES 1024
#define SLOT 64
#define ZONE "cluster.local"
#define CLIENT_NS "team-00"

typedef struct ctx {
  xs_snapshot *snap;
  xs_answer_cfg acfg;
  xs_search search;
  xs_resolver *res;
  /* Query names packed one per cache line (they are < 64 octets), as a
   * server's packet buffers would be: the rows measure registry lookups,
   * not misses on the benchmark's own name table. */
  char fqdn[NAMES][SLOT];    /* ExternalName services, absolute */
  char walk[NAMES][SLOT];    /* ExternalName, 4th candidate */
  char walk_ip[NAMES][SLOT]; /* ClusterIP, 4th candidate */
  size_t fqdn_len[NAMES];    /* known, as a wire decoder knows it */
  const char *host;
  long failures;
} ctx;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void op_hit(ctx *c, size_t i) {
  xs_answer ans;
  const char *q = c->fqdn[i % NAMES];
  if (xs_answer_query(c->snap, &c->acfg, q, c->fqdn_len[i % NAMES], XS_T_A,
                      &ans) != XS_OK) {
    c->failures++;
    return;
  }
  if (ans.status != XS_OK || ans.external_target == NULL)
    c->failures++;
  xs_answer_free(&ans);
}

static void op_hit_same(ctx *c, size_t i) {
  (void)i;
  op_hit(c, 0);
}

/* What xs_resolve does for the registry part of a walk. */
static void walk(ctx *c, const char *name) {
  xs_cand_iter it;
  char q[XS_NAME_BUF];
  size_t k = 0, len;
  if (xs_cand_start(&it, &c->search, name) != XS_OK) {
    c->failures++;
    return;
  }
  while ((len = xs_cand_next(&it, q)) != 0) {
    xs_answer ans;
    xs_status st;
    if (xs_answer_query(c->snap, &c->acfg, q, len, XS_T_A, &ans) != XS_OK) {
      c->failures++;
      return;
    }
    st = ans.status;
    xs_answer_free(&ans);
    if (st != XS_ENOTFOUND && st != XS_ENODATA) {
      if (k != 3 || st != XS_OK)
        c->failures++;
      return;
    }
    k++;
  }
  c->failures++;
}

static void op_walk(ctx *c, size_t i) {
  walk(c, c->walk[i % NAMES]);
}

static void op_resolve(ctx *c, size_t i) {
  xs_result *r = NULL;
  if (xs_resolve(c->res, c->walk_ip[i % NAMES], XS_FAMILY_IPV4, &r) != XS_OK ||
      xs_result_candidate_count(r) != 4)
    c->failures++;
  xs_result_free(r);
}

static void op_getaddrinfo(ctx *c, size_t i) {
  struct addrinfo hints, *ai = NULL;
  (void)i;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(c->host, NULL, &hints, &ai) != 0)
    c->failures++;
  else
    freeaddrinfo(ai);
}

/* Best-of-5 ns/op, each round ~100 ms. */
static double measure(ctx *c, void (*op)(ctx *, size_t)) {
  size_t iters = 64, i;
  double best = 1e30;
  int round;
  for (;;) { /* calibrate */
    double t0 = now_ns();
    for (i = 0; i < iters; i++)
      op(c, i);
    if (now_ns() - t0 > 20e6 || iters > ((size_t)1 << 30))
      break;
    iters *= 2;
  }
  iters *= 5;
  for (round = 0; round < 5; round++) {
    double t0 = now_ns(), t;
    for (i = 0; i < iters; i++)
      op(c, i);
    t = (now_ns() - t0) / (double)iters;
    if (t < best)
      best = t;
  }
  return best;
}

int main(int argc, char **argv) {
  size_t nservices = 10000, i, nf = 0, nw = 0, nwip = 0;
  ctx *c = calloc(1, sizeof(*c));
  xs_registry *reg = NULL;
  xs_config *cfg = NULL;
  xs_error err;
  char *yaml;
  size_t len;
  int a;
  const char *only = NULL;
  struct {
    const char *key;
    const char *label;
    void (*op)(ctx *, size_t);
    double target;
  } rows[] = {
      {"hit", "answer: FQDN hit, ExternalName, 1024 names", op_hit, 100},
      {"same", "answer: FQDN hit, same name", op_hit_same, 100},
      {"walk", "walk: 4 candidates, hit on 4th (ExternalName)", op_walk, 400},
      {"resolve", "xs_resolve: 4 candidates, ClusterIP, IPv4", op_resolve, 0},
      {"gai", "getaddrinfo (/etc/hosts)", op_getaddrinfo, 0},
  };

  if (c == NULL)
    return 1;
  c->host = "localhost";
  for (a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--services") == 0 && a + 1 < argc)
      nservices = (size_t)atol(argv[++a]);
    else if (strcmp(argv[a], "--host") == 0 && a + 1 < argc)
      c->host = argv[++a];
    else if (strcmp(argv[a], "--op") == 0 && a + 1 < argc)
      only = argv[++a];
    else {
      fprintf(stderr, "usage: bench_answer [--services N] [--host NAME] "
                      "[--op hit|same|walk|resolve|gai]\n");
      return 2;
    }
  }
  yaml = gen_buffer(nservices, GEN_MIX_REALISTIC, &len);
  if (yaml == NULL ||
      xs_registry_load_buffer(yaml, len, "bench", NULL, &reg, &err) != XS_OK) {
    fprintf(stderr, "bench_answer: load failed: %s\n",
            yaml == NULL ? "out of memory" : err.message);
    return 1;
  }
  free(yaml);

  /* Spread the names over the registry (a stride coprime with 10). */
  for (i = 0; nf < NAMES || nwip < NAMES; i = (i + 7919) % nservices) {
    char ns[64], name[64], q[XS_NAME_BUF];
    gen_kind kind = gen_service(GEN_MIX_REALISTIC, i, ns, name);
    int n = snprintf(q, sizeof(q), "%s.%s.svc." ZONE ".", name, ns);
    if (n < 0 || n >= SLOT) {
      fprintf(stderr, "bench_answer: name too long: %s\n", q);
      return 1;
    }
    if (kind == GEN_EXTERNAL && nf < NAMES) {
      c->fqdn_len[nf] = (size_t)n;
      memcpy(c->fqdn[nf++], q, (size_t)n + 1);
      memcpy(c->walk[nw++], q, (size_t)n - 1); /* relative: no dot */
    } else if (kind == GEN_CLUSTER_IP && nwip < NAMES) {
      memcpy(c->walk_ip[nwip++], q, (size_t)n - 1);
    }
  }

  c->snap = xs_registry_snapshot(reg);
  c->acfg.zone = ZONE;
  c->acfg.zone_len = strlen(ZONE);
  c->acfg.ttl = 5;
  c->acfg.mode = XS_MODE_COREDNS;
  c->acfg.ip_literal = 0;
  xs_search_init(&c->search, CLIENT_NS, ZONE, 5);
  /* Upstream is never asked (every name is in the zone); the server is a
   * placeholder so /etc/resolv.conf is not needed. */
  if (xs_config_new(&cfg) != XS_OK ||
      xs_config_set_namespace(cfg, CLIENT_NS) != XS_OK ||
      xs_config_add_server(cfg, "127.0.0.1:9") != XS_OK ||
      xs_resolver_new(cfg, reg, &c->res, &err) != XS_OK) {
    fprintf(stderr, "bench_answer: resolver: %s\n", err.message);
    return 1;
  }

  printf("registry: %zu services (70%% ExternalName, 20%% ClusterIP, 10%% "
         "headless), client namespace %s\n",
         xs_registry_service_count(reg), CLIENT_NS);
  printf("%-48s %10s %10s\n", "operation", "ns/op", "target");
  for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    double ns;
    if (only != NULL && strcmp(only, rows[i].key) != 0)
      continue;
    c->failures = 0;
    ns = measure(c, rows[i].op);
    if (c->failures != 0) {
      fprintf(stderr, "bench_answer: %s: %ld wrong answers\n", rows[i].label,
              c->failures);
      return 1;
    }
    if (rows[i].target > 0)
      printf("%-48s %10.1f %8s%.0f\n", rows[i].label, ns,
             "<= ", rows[i].target);
    else
      printf("%-48s %10.1f %10s\n", rows[i].label, ns, "-");
  }
  xs_resolver_free(c->res);
  xs_config_free(cfg);
  xs_snapshot_unref(c->snap);
  xs_registry_free(reg);
  free(c);
  return 0;
}
