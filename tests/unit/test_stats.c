/* Statistics: each counter moves with the event it counts (through a fake
 * upstream DNS on loopback), counts of exited threads are kept, counting
 * can be turned off, the Prometheus text parses back (names, HELP/TYPE,
 * counter suffixes, histogram buckets) and agrees with xs_stats_get, and
 * the log callback sees reloads. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "responder.h"
#include "tmpfiles.h"
#include "xsvc.h"

static responder srv;

/* timeout_ms: short only where the responder is silenced */
static xs_resolver *resolver_ms(xs_registry *reg, int deny_test_net,
                                int timeout_ms) {
  xs_config *cfg;
  xs_resolver *res = NULL;
  xs_error err;
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, srv.server), XS_OK);
  assert_int_equal(xs_config_set_timeout_ms(cfg, timeout_ms), XS_OK);
  assert_int_equal(xs_config_set_attempts(cfg, 1), XS_OK);
  assert_int_equal(xs_config_set_stale(cfg, 0, 1), XS_OK);
  if (deny_test_net)
    assert_int_equal(xs_config_add_denied_range(cfg, "192.0.2.0/24"), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, reg, &res, &err), XS_OK);
  xs_config_free(cfg);
  return res;
}

static xs_resolver *resolver(xs_registry *reg, int deny_test_net) {
  return resolver_ms(reg, deny_test_net, 60000);
}

static xs_status resolve(xs_resolver *res, const char *name) {
  xs_result *r = NULL;
  xs_status st = xs_resolve(res, name, XS_FAMILY_IPV4, &r);
  xs_result_free(r);
  return st;
}

static xs_stats now(void) {
  xs_stats s;
  assert_int_equal(xs_stats_get(&s, sizeof(s)), XS_OK);
  return s;
}

static void test_stats_counters_follow_events(void **st) {
  xs_registry *reg;
  xs_resolver *res, *strict;
  xs_stats a, b;
  xs_error err;
  (void)st;
  assert_int_equal(xs_registry_new(&reg), XS_OK);
  assert_int_equal(
      xs_registry_add_external(reg, "default", "db", "db.example.test", &err),
      XS_OK);
  res = resolver(reg, 0);
  strict = resolver(reg, 1);

  a = now();
  assert_int_equal(resolve(res, "db.default.svc.cluster.local."), XS_OK);
  b = now(); /* a miss, asked upstream */
  assert_int_equal(b.lookups[XS_OK], a.lookups[XS_OK] + 1);
  assert_int_equal(b.cache_misses, a.cache_misses + 1);
  assert_int_equal(b.upstream_queries, a.upstream_queries + 1);
  assert_int_equal(b.upstream_latency.count, a.upstream_latency.count + 1);
  assert_true(b.upstream_latency.sum > a.upstream_latency.sum);

  a = b;
  assert_int_equal(resolve(res, "db.default.svc.cluster.local."), XS_OK);
  b = now(); /* a cache hit */
  assert_int_equal(b.cache_hits, a.cache_hits + 1);
  assert_int_equal(b.upstream_queries, a.upstream_queries);
  a = b;
  assert_int_equal(resolve(res, "db.default.svc.cluster.local."), XS_OK);
  b = now(); /* the memo */
  assert_int_equal(b.memo_hits, a.memo_hits + 1);
  assert_int_equal(b.cache_hits, a.cache_hits);
  assert_int_equal(b.lookups[XS_OK], a.lookups[XS_OK] + 1);

  a = b;
  assert_int_equal(resolve(res, "nope.default.svc.cluster.local."),
                   XS_ENOTFOUND);
  b = now(); /* the registry's NXDOMAIN: no cache involved */
  assert_int_equal(b.lookups[XS_ENOTFOUND], a.lookups[XS_ENOTFOUND] + 1);
  assert_int_equal(b.cache_misses, a.cache_misses);

  a = b;
  assert_int_equal(resolve(strict, "db.default.svc.cluster.local."),
                   XS_EPOLICY);
  b = now();
  assert_int_equal(b.policy_refusals, a.policy_refusals + 1);
  assert_int_equal(b.lookups[XS_EPOLICY], a.lookups[XS_EPOLICY] + 1);

  a = b;
  atomic_store(&srv.rcode, 2);
  assert_int_equal(resolve(res, "fail.example.test."), XS_ESERVFAIL);
  atomic_store(&srv.rcode, 0);
  b = now();
  assert_int_equal(b.upstream_servfail, a.upstream_servfail + 1);
  assert_int_equal(b.lookups[XS_ESERVFAIL], a.lookups[XS_ESERVFAIL] + 1);

  a = b;
  atomic_store(&srv.silent, 1);
  {
    xs_resolver *quick = resolver_ms(reg, 0, 100);
    assert_int_equal(resolve(quick, "slow.example.test."), XS_ETIMEOUT);
    xs_resolver_free(quick);
  }
  atomic_store(&srv.silent, 0);
  b = now();
  assert_int_equal(b.upstream_timeouts, a.upstream_timeouts + 1);
  assert_int_equal(b.lookups[XS_ETIMEOUT], a.lookups[XS_ETIMEOUT] + 1);

  xs_resolver_free(strict);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* Lookups answered on the calling thread are timed one in 64. */
static void test_stats_hit_latency_is_sampled(void **st) {
  xs_registry *reg;
  xs_resolver *res;
  xs_stats a, b;
  const char *ip[] = {"10.0.0.1"};
  xs_error err;
  int i;
  (void)st;
  assert_int_equal(xs_registry_new(&reg), XS_OK);
  assert_int_equal(
      xs_registry_add_cluster_ip(reg, "default", "api", ip, 1, &err), XS_OK);
  res = resolver(reg, 0);
  a = now();
  for (i = 0; i < 640; i++)
    assert_int_equal(resolve(res, "api.default.svc.cluster.local."), XS_OK);
  b = now();
  assert_int_equal(b.lookups[XS_OK], a.lookups[XS_OK] + 640);
  assert_int_equal(b.hit_latency.count, a.hit_latency.count + 10);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

static void *thread_lookups(void *arg) {
  xs_resolver *res = arg;
  int i;
  for (i = 0; i < 100; i++)
    resolve(res, "nope.default.svc.cluster.local.");
  return NULL;
}

static void test_stats_kept_after_threads_exit_and_can_be_off(void **st) {
  xs_registry *reg;
  xs_resolver *res;
  xs_stats a, b;
  pthread_t th[3];
  int i;
  (void)st;
  assert_int_equal(xs_registry_new(&reg), XS_OK);
  res = resolver(reg, 0);
  a = now();
  for (i = 0; i < 3; i++)
    pthread_create(&th[i], NULL, thread_lookups, res);
  for (i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
  b = now();
  assert_int_equal(b.lookups[XS_ENOTFOUND], a.lookups[XS_ENOTFOUND] + 300);

  xs_stats_set_enabled(0);
  thread_lookups(res);
  a = now();
  assert_int_equal(a.lookups[XS_ENOTFOUND], b.lookups[XS_ENOTFOUND]);
  xs_stats_set_enabled(1);
  thread_lookups(res);
  a = now();
  assert_int_equal(a.lookups[XS_ENOTFOUND], b.lookups[XS_ENOTFOUND] + 100);

  assert_int_equal(xs_stats_get(NULL, sizeof(a)), XS_EINVAL);
  assert_int_equal(xs_stats_get(&a, 0), XS_EINVAL);
  /* a smaller (older) struct gets its prefix */
  memset(&a, 0xff, sizeof(a));
  assert_int_equal(xs_stats_get(&a, offsetof(xs_stats, memo_hits)), XS_OK);
  assert_int_equal(a.memo_hits, ~0ull);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* ---- Prometheus text, parsed back --------------------------------------- */

typedef struct sample {
  char name[96];
  char labels[96];
  double value;
} sample;

typedef struct fam {
  char name[96];
  char type[16];
  int help;
} fam;

typedef struct parsed {
  sample samples[256];
  size_t nsamples;
  fam fams[64];
  size_t nfams;
} parsed;

static fam *fam_of(parsed *p, const char *sample_name) {
  size_t i;
  for (i = 0; i < p->nfams; i++) {
    size_t n = strlen(p->fams[i].name);
    const char *rest = sample_name + n;
    if (strncmp(sample_name, p->fams[i].name, n) != 0)
      continue;
    if (*rest == '\0' ||
        (strcmp(p->fams[i].type, "histogram") == 0 &&
         (strcmp(rest, "_bucket") == 0 || strcmp(rest, "_sum") == 0 ||
          strcmp(rest, "_count") == 0)))
      return &p->fams[i];
  }
  return NULL;
}

/* Parse the text format strictly enough to catch what a scraper rejects:
 * every line a comment of known form or `name{labels} value`, metadata
 * before samples, one TYPE per family. */
static void parse(char *text, parsed *p) {
  char *line, *save = NULL;
  memset(p, 0, sizeof(*p));
  assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
  for (line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    char name[96], rest[400];
    if (strncmp(line, "# HELP ", 7) == 0) {
      fam *f;
      assert_int_equal(sscanf(line + 7, "%95s %399[^\n]", name, rest), 2);
      assert_true(p->nfams < 64);
      f = &p->fams[p->nfams++];
      snprintf(f->name, sizeof(f->name), "%s", name);
      f->help = 1;
    } else if (strncmp(line, "# TYPE ", 7) == 0) {
      char type[16];
      assert_int_equal(sscanf(line + 7, "%95s %15s", name, type), 2);
      assert_true(p->nfams > 0);
      assert_string_equal(p->fams[p->nfams - 1].name, name);
      assert_string_equal(p->fams[p->nfams - 1].type, "");
      snprintf(p->fams[p->nfams - 1].type, 16, "%s", type);
      assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                  strcmp(type, "histogram") == 0);
    } else {
      sample *s;
      char *brace, *sp = strrchr(line, ' '), *end;
      assert_true(line[0] != '#');
      assert_non_null(sp);
      assert_true(p->nsamples < 256);
      s = &p->samples[p->nsamples++];
      *sp = '\0';
      s->value = strtod(sp + 1, &end);
      assert_true(*end == '\0' && end != sp + 1);
      brace = strchr(line, '{');
      if (brace != NULL) {
        assert_int_equal(line[strlen(line) - 1], '}');
        line[strlen(line) - 1] = '\0';
        snprintf(s->labels, sizeof(s->labels), "%s", brace + 1);
        *brace = '\0';
      }
      snprintf(s->name, sizeof(s->name), "%s", line);
      assert_non_null(fam_of(p, s->name)); /* declared before */
    }
  }
}

static double value_of(const parsed *p, const char *name, const char *labels) {
  size_t i;
  for (i = 0; i < p->nsamples; i++)
    if (strcmp(p->samples[i].name, name) == 0 &&
        strcmp(p->samples[i].labels, labels) == 0)
      return p->samples[i].value;
  fail_msg("no sample %s{%s}", name, labels);
  return -1;
}

static void check_histogram(const parsed *p, const char *name,
                            const xs_histogram *h) {
  char bucket[120], sum[120], count[120];
  double prev = -1, prev_le = -INFINITY, last = -1;
  size_t i, n = 0;
  snprintf(bucket, sizeof(bucket), "%s_bucket", name);
  snprintf(sum, sizeof(sum), "%s_sum", name);
  snprintf(count, sizeof(count), "%s_count", name);
  for (i = 0; i < p->nsamples; i++) {
    const sample *s = &p->samples[i];
    double le;
    if (strcmp(s->name, bucket) != 0)
      continue;
    assert_int_equal(strncmp(s->labels, "le=\"", 4), 0);
    le = strcmp(s->labels, "le=\"+Inf\"") == 0 ? INFINITY
                                               : strtod(s->labels + 4, NULL);
    assert_true(le > prev_le);     /* bounds ascending */
    assert_true(s->value >= prev); /* cumulative: never decreasing */
    assert_true(n < h->nbuckets);
    assert_true(s->value == (double)h->cumulative[n]);
    prev_le = le;
    prev = last = s->value;
    n++;
  }
  assert_int_equal(n, h->nbuckets);
  assert_true(isinf(prev_le)); /* the last bucket is +Inf */
  assert_true(value_of(p, count, "") == last);
  assert_true(value_of(p, sum, "") >= 0);
}

static void test_stats_prometheus_parses_back(void **st) {
  xs_registry *reg;
  xs_resolver *res;
  xs_stats s;
  parsed *p = calloc(1, sizeof(*p));
  char *text;
  size_t need, i;
  int k;
  (void)st;
  assert_non_null(p);
  assert_int_equal(xs_registry_new(&reg), XS_OK);
  res = resolver(reg, 0);
  for (k = 0; k < 200; k++) /* some hit latency samples */
    resolve(res, "nope.default.svc.cluster.local.");
  resolve(res, "up.example.test.");

  need = xs_stats_prometheus(NULL, 0);
  assert_true(need > 1000);
  text = malloc(need + 1);
  assert_non_null(text);
  /* too small: cut, NUL-terminated, the full length still returned */
  assert_int_equal(xs_stats_prometheus(text, 10), need);
  assert_int_equal(strlen(text), 9);
  /* nothing counts between these two calls on this thread */
  assert_int_equal(xs_stats_get(&s, sizeof(s)), XS_OK);
  assert_int_equal(xs_stats_prometheus(text, need + 1), need);
  assert_int_equal(strlen(text), need);
  parse(text, p);

  for (i = 0; i < p->nfams; i++) {
    assert_int_equal(strncmp(p->fams[i].name, "xsvc_", 5), 0);
    assert_true(p->fams[i].help);
    assert_true(p->fams[i].type[0] != '\0');
    if (strcmp(p->fams[i].type, "counter") == 0) {
      size_t n = strlen(p->fams[i].name);
      assert_string_equal(p->fams[i].name + n - 6, "_total");
    }
  }
  for (i = 0; i < p->nsamples; i++)
    assert_true(p->samples[i].value >= 0);
  /* the values are xs_stats_get's */
  assert_true(value_of(p, "xsvc_lookups_total", "outcome=\"nxdomain\"") ==
              (double)s.lookups[XS_ENOTFOUND]);
  assert_true(value_of(p, "xsvc_lookups_total", "outcome=\"ok\"") ==
              (double)s.lookups[XS_OK]);
  assert_true(value_of(p, "xsvc_upstream_queries_total", "") ==
              (double)s.upstream_queries);
  assert_true(value_of(p, "xsvc_reloads_total", "result=\"failed\"") ==
              (double)s.reloads_failed);
  assert_true(value_of(p, "xsvc_server_responses_total",
                       "rcode=\"NXDOMAIN\"") == (double)s.server_responses[3]);
  assert_true(value_of(p, "xsvc_info", "version=\"" XSVC_VERSION_STRING "\"") ==
              1);
  check_histogram(p, "xsvc_lookup_hit_duration_seconds", &s.hit_latency);
  check_histogram(p, "xsvc_upstream_duration_seconds", &s.upstream_latency);
  assert_true(s.hit_latency.count >= 3);
  assert_true(s.upstream_latency.count >= 1);

  free(text);
  free(p);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* ---- log ------------------------------------------------------------------
 */

typedef struct logged {
  int n[4];
  char last[4][1024];
} logged;

static void on_log(xs_log_level level, const char *msg, void *arg) {
  logged *l = arg;
  l->n[level]++;
  snprintf(l->last[level], sizeof(l->last[level]), "%s", msg);
}

static void test_stats_log_reports_reloads(void **st) {
  char dir[] = "/tmp/xsvc-log-XXXXXX", path[80], text[512];
  const char *paths[1];
  xs_registry *reg;
  xs_error err;
  logged l;
  (void)st;
  memset(&l, 0, sizeof(l));
  assert_int_equal(tmp_dir(dir), 0);
  snprintf(path, sizeof(path), "%s/a.yaml", dir);
  paths[0] = path;
  tmp_external(text, sizeof(text), "default", "db", "one.example.test");
  assert_int_equal(tmp_write(path, text), 0);
  assert_int_equal(xs_registry_load(path, &reg, &err), XS_OK);
  xs_set_log(on_log, &l, XS_LOG_INFO);
  assert_int_equal(xs_registry_reload(reg, paths, 1, NULL, NULL), XS_OK);
  assert_int_equal(l.n[XS_LOG_DEBUG], 0); /* unchanged: below INFO */
  assert_int_equal(l.n[XS_LOG_INFO], 0);
  tmp_external(text, sizeof(text), "default", "db", "two.example.test");
  assert_int_equal(tmp_write(path, text), 0);
  assert_int_equal(xs_registry_reload(reg, paths, 1, NULL, NULL), XS_OK);
  assert_int_equal(l.n[XS_LOG_INFO], 1);
  assert_non_null(strstr(l.last[XS_LOG_INFO],
                         "changed default/db (one.example.test -> "
                         "two.example.test)"));
  assert_int_equal(tmp_write(path, "kind: [\n"), 0);
  assert_int_not_equal(xs_registry_reload(reg, paths, 1, NULL, NULL), XS_OK);
  assert_int_equal(l.n[XS_LOG_WARNING], 1);
  assert_non_null(strstr(l.last[XS_LOG_WARNING], "keeping the previous"));
  assert_non_null(strstr(l.last[XS_LOG_WARNING], path));
  xs_set_log(NULL, NULL, XS_LOG_DEBUG);
  assert_int_not_equal(xs_registry_reload(reg, paths, 1, NULL, NULL), XS_OK);
  assert_int_equal(l.n[XS_LOG_WARNING], 1);
  assert_string_equal(xs_log_level_name(XS_LOG_WARNING), "warning");
  xs_registry_free(reg);
  tmp_remove(dir);
}

static int setup(void **st) {
  (void)st;
  return responder_start(&srv);
}

static int teardown(void **st) {
  (void)st;
  responder_stop(&srv);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stats_counters_follow_events),
      cmocka_unit_test(test_stats_hit_latency_is_sampled),
      cmocka_unit_test(test_stats_kept_after_threads_exit_and_can_be_off),
      cmocka_unit_test(test_stats_prometheus_parses_back),
      cmocka_unit_test(test_stats_log_reports_reloads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
