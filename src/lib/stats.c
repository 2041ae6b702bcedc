/* Counters and histograms (see stats.h), their Prometheus text exposition,
 * and the log callback. */
#include "stats.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

atomic_int xs_stats_on = 1;
_Thread_local xs_stats_block *xs_stats_tls;

static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER;
static xs_stats_block *blocks;  /* live threads' blocks */
static xs_stats_block departed; /* totals of threads that exited */
static pthread_key_t block_key;
static pthread_once_t block_once = PTHREAD_ONCE_INIT;
static int block_key_ok;

/* Upper bounds in nanoseconds; a last bucket (+Inf) follows each list. */
static const uint64_t hit_bounds[] = {100,  250,   500,   1000,   2500,
                                      5000, 10000, 25000, 100000, 1000000};
static const uint64_t upstream_bounds[] = {
    500000,     1000000,     2500000,       5000000,       10000000,
    25000000,   50000000,    100000000,     250000000,     500000000,
    1000000000, 2500000000u, 5000000000ull, 10000000000ull};

static const struct {
  const uint64_t *bounds;
  size_t n; /* bounds; buckets are n + 1 */
} histograms[XS_H_COUNT] = {
    [XS_H_HIT] = {hit_bounds, sizeof(hit_bounds) / sizeof(hit_bounds[0])},
    [XS_H_UPSTREAM] = {upstream_bounds,
                       sizeof(upstream_bounds) / sizeof(upstream_bounds[0])},
};

_Static_assert(sizeof(upstream_bounds) / sizeof(upstream_bounds[0]) <
                   XS_STATS_MAX_BUCKETS,
               "too many buckets");
_Static_assert(XS_STATUS_COUNT <= XS_STATS_MAX_STATUSES, "too many statuses");

static void block_add(xs_stats_block *to, const xs_stats_block *from) {
  size_t i, h;
  for (i = 0; i < XS_C_COUNT; i++)
    atomic_store_explicit(
        &to->c[i],
        atomic_load_explicit(&to->c[i], memory_order_relaxed) +
            atomic_load_explicit(&from->c[i], memory_order_relaxed),
        memory_order_relaxed);
  for (h = 0; h < XS_H_COUNT; h++) {
    for (i = 0; i < XS_STATS_MAX_BUCKETS; i++)
      atomic_store_explicit(
          &to->bucket[h][i],
          atomic_load_explicit(&to->bucket[h][i], memory_order_relaxed) +
              atomic_load_explicit(&from->bucket[h][i], memory_order_relaxed),
          memory_order_relaxed);
    atomic_store_explicit(
        &to->sum_ns[h],
        atomic_load_explicit(&to->sum_ns[h], memory_order_relaxed) +
            atomic_load_explicit(&from->sum_ns[h], memory_order_relaxed),
        memory_order_relaxed);
  }
}

/* Thread exit: the block's counts go to the departed totals. */
static void block_release(void *p) {
  xs_stats_block *b = p;
  pthread_mutex_lock(&blocks_lock);
  block_add(&departed, b);
  if (b->prev != NULL)
    b->prev->next = b->next;
  else
    blocks = b->next;
  if (b->next != NULL)
    b->next->prev = b->prev;
  pthread_mutex_unlock(&blocks_lock);
  if (xs_stats_tls == b)
    xs_stats_tls = NULL;
  free(b);
}

static void block_init(void) {
  block_key_ok = pthread_key_create(&block_key, block_release) == 0;
}

xs_stats_block *xs_stats_block_new(void) {
  xs_stats_block *b;
  pthread_once(&block_once, block_init);
  if (!block_key_ok || (b = calloc(1, sizeof(*b))) == NULL)
    return NULL;
  if (pthread_setspecific(block_key, b) != 0) {
    free(b);
    return NULL;
  }
  pthread_mutex_lock(&blocks_lock);
  b->next = blocks;
  if (blocks != NULL)
    blocks->prev = b;
  blocks = b;
  pthread_mutex_unlock(&blocks_lock);
  xs_stats_tls = b;
  return b;
}

uint64_t xs_stats_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) | 1u;
}

void xs_stats_observe(xs_stats_block *b, int histogram, uint64_t ns) {
  size_t i = 0, n = histograms[histogram].n;
  while (i < n && ns > histograms[histogram].bounds[i])
    i++;
  atomic_store_explicit(
      &b->bucket[histogram][i],
      atomic_load_explicit(&b->bucket[histogram][i], memory_order_relaxed) + 1,
      memory_order_relaxed);
  atomic_store_explicit(
      &b->sum_ns[histogram],
      atomic_load_explicit(&b->sum_ns[histogram], memory_order_relaxed) + ns,
      memory_order_relaxed);
}

void xs_stats_set_enabled(int on) {
  atomic_store_explicit(&xs_stats_on, on != 0, memory_order_relaxed);
}

static void fill_histogram(xs_histogram *out, const xs_stats_block *sum,
                           int h) {
  unsigned long long acc = 0;
  size_t i, n = histograms[h].n;
  memset(out, 0, sizeof(*out));
  out->nbuckets = n + 1;
  for (i = 0; i <= n; i++) {
    acc += atomic_load_explicit(&sum->bucket[h][i], memory_order_relaxed);
    out->le[i] = i < n ? (double)histograms[h].bounds[i] / 1e9 : INFINITY;
    out->cumulative[i] = acc;
  }
  out->count = acc;
  out->sum =
      (double)atomic_load_explicit(&sum->sum_ns[h], memory_order_relaxed) / 1e9;
}

xs_status xs_stats_get(xs_stats *out, size_t size) {
  static xs_stats_block sum; /* large: not on the caller's stack */
  static pthread_mutex_t sum_lock = PTHREAD_MUTEX_INITIALIZER;
  xs_stats full;
  const xs_stats_block *b;
  size_t i;
  if (out == NULL || size == 0)
    return XS_EINVAL;
  memset(&full, 0, sizeof(full));
  pthread_mutex_lock(&sum_lock);
  memset(&sum, 0, sizeof(sum));
  pthread_mutex_lock(&blocks_lock);
  block_add(&sum, &departed);
  for (b = blocks; b != NULL; b = b->next)
    block_add(&sum, b);
  pthread_mutex_unlock(&blocks_lock);
#define C(i) atomic_load_explicit(&sum.c[i], memory_order_relaxed)
  for (i = 0; i < XS_STATUS_COUNT; i++) {
    full.lookups[i] = C(XS_C_LOOKUPS + i) + C(XS_C_MEMO_LOOKUPS + i);
    full.memo_hits += C(XS_C_MEMO_LOOKUPS + i);
  }
  full.policy_refusals = full.lookups[XS_EPOLICY];
  full.cache_hits = C(XS_C_CACHE_HITS);
  full.cache_misses = C(XS_C_CACHE_MISSES);
  full.cache_stale = C(XS_C_CACHE_STALE);
  full.cache_prefetches = C(XS_C_CACHE_PREFETCHES);
  full.upstream_queries = C(XS_C_UPSTREAM_QUERIES);
  full.upstream_timeouts = C(XS_C_UPSTREAM_TIMEOUTS);
  full.upstream_servfail = C(XS_C_UPSTREAM_SERVFAIL);
  full.upstream_failures = C(XS_C_UPSTREAM_FAILURES);
  full.reloads_ok = C(XS_C_RELOADS_OK);
  full.reloads_failed = C(XS_C_RELOADS_FAILED);
  for (i = 0; i < 16; i++)
    full.server_responses[i] = C(XS_C_SERVER_RCODES + i);
#undef C
  fill_histogram(&full.hit_latency, &sum, XS_H_HIT);
  fill_histogram(&full.upstream_latency, &sum, XS_H_UPSTREAM);
  pthread_mutex_unlock(&sum_lock);
  memcpy(out, &full, size < sizeof(full) ? size : sizeof(full));
  return XS_OK;
}

/* ---- Prometheus text exposition (format version 0.0.4) ------------------ */

typedef struct out {
  char *buf;
  size_t size, len; /* len: the whole text's, written or not */
} out;

static void put(out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(out *o, const char *fmt, ...) {
  va_list ap;
  int n;
  size_t room = o->len < o->size ? o->size - o->len : 0;
  va_start(ap, fmt);
  n = vsnprintf(room > 0 ? o->buf + o->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0)
    o->len += (size_t)n;
}

static void family(out *o, const char *name, const char *type,
                   const char *help) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(out *o, const char *name, const char *help,
                    unsigned long long v) {
  family(o, name, "counter", help);
  put(o, "%s %llu\n", name, v);
}

static void histogram(out *o, const char *name, const char *help,
                      const xs_histogram *h) {
  size_t i;
  family(o, name, "histogram", help);
  for (i = 0; i < h->nbuckets; i++) {
    if (isinf(h->le[i]))
      put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, h->cumulative[i]);
    else
      put(o, "%s_bucket{le=\"%.9g\"} %llu\n", name, h->le[i], h->cumulative[i]);
  }
  put(o, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name, h->count);
}

/* Outcome labels: xs_status_name folds several statuses into "error";
 * here each keeps its own. */
static const char *const outcomes[XS_STATUS_COUNT] = {
    [XS_OK] = "ok",
    [XS_EINVAL] = "invalid",
    [XS_ENOMEM] = "nomem",
    [XS_EIO] = "io",
    [XS_EMANIFEST] = "manifest",
    [XS_ELIMIT] = "limit",
    [XS_EEXIST] = "exists",
    [XS_ENOTFOUND] = "nxdomain",
    [XS_ENODATA] = "nodata",
    [XS_ELOOP] = "loop",
    [XS_ETIMEOUT] = "timeout",
    [XS_ESERVFAIL] = "servfail",
    [XS_EREFUSED] = "refused",
    [XS_EUPSTREAM] = "upstream",
    [XS_ECANCELLED] = "cancelled",
    [XS_EPOLICY] = "policy",
    [XS_EBADNAME] = "badname",
    [XS_ECONNECT] = "connect",
};

/* The outcomes a lookup can have (the others are argument or load
 * errors): always present, so the series exist from the start. */
static int lookup_outcome(int st) {
  return st == XS_OK || st == XS_ENOTFOUND || st == XS_ENODATA ||
         st == XS_ELOOP || st == XS_ETIMEOUT || st == XS_ESERVFAIL ||
         st == XS_EREFUSED || st == XS_EUPSTREAM || st == XS_ECANCELLED ||
         st == XS_EPOLICY || st == XS_EBADNAME;
}

static const char *const rcodes[16] = {
    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "RCODE11",
    "RCODE12",  "RCODE13", "RCODE14",  "RCODE15"};

size_t xs_stats_prometheus(char *buf, size_t size) {
  xs_stats s;
  out o;
  int i;
  o.buf = buf;
  o.size = buf != NULL ? size : 0;
  o.len = 0;
  xs_stats_get(&s, sizeof(s));
  family(&o, "xsvc_info", "gauge", "The xsvc library's version.");
  put(&o, "xsvc_info{version=\"%s\"} 1\n", xs_version());
  family(&o, "xsvc_lookups_total", "counter",
         "Resolutions (xs_resolve, xs_resolve_async, the server's) by "
         "outcome.");
  for (i = 0; i < XS_STATUS_COUNT; i++)
    if (lookup_outcome(i) || s.lookups[i] != 0)
      put(&o, "xsvc_lookups_total{outcome=\"%s\"} %llu\n", outcomes[i],
          s.lookups[i]);
  counter(&o, "xsvc_memo_hits_total",
          "Resolutions answered from the result memo.", s.memo_hits);
  counter(&o, "xsvc_cache_hits_total",
          "Cache reads that found a fresh entry (per family).", s.cache_hits);
  counter(&o, "xsvc_cache_misses_total",
          "Cache reads that found no fresh entry (per family).",
          s.cache_misses);
  counter(&o, "xsvc_cache_stale_total",
          "Expired entries served after an upstream failure (RFC 8767).",
          s.cache_stale);
  counter(&o, "xsvc_cache_prefetches_total",
          "Background refreshes started by a hit near the end of a TTL.",
          s.cache_prefetches);
  counter(&o, "xsvc_upstream_queries_total",
          "Questions sent to the upstream DNS servers.", s.upstream_queries);
  counter(&o, "xsvc_upstream_timeouts_total",
          "Upstream questions that timed out.", s.upstream_timeouts);
  counter(&o, "xsvc_upstream_servfail_total",
          "Upstream questions answered SERVFAIL.", s.upstream_servfail);
  counter(&o, "xsvc_upstream_failures_total",
          "Upstream questions that failed otherwise (REFUSED, bad reply, "
          "no server).",
          s.upstream_failures);
  counter(&o, "xsvc_policy_refusals_total",
          "Resolutions refused by a resolver's policy.", s.policy_refusals);
  family(&o, "xsvc_reloads_total", "counter",
         "Registry reloads (xs_registry_reload, watchers) by result; a "
         "failed one kept the previous registry.");
  put(&o, "xsvc_reloads_total{result=\"ok\"} %llu\n", s.reloads_ok);
  put(&o, "xsvc_reloads_total{result=\"failed\"} %llu\n", s.reloads_failed);
  family(&o, "xsvc_server_responses_total", "counter",
         "DNS server replies by rcode.");
  for (i = 0; i < 16; i++)
    if (i <= 5 || s.server_responses[i] != 0)
      put(&o, "xsvc_server_responses_total{rcode=\"%s\"} %llu\n", rcodes[i],
          s.server_responses[i]);
  histogram(&o, "xsvc_lookup_hit_duration_seconds",
            "Resolutions answered on the calling thread (result memo, "
            "cache, registry), timed for 1 in 64 per thread.",
            &s.hit_latency);
  histogram(&o, "xsvc_upstream_duration_seconds",
            "Upstream questions, from sending to the answer or failure.",
            &s.upstream_latency);
  if (o.size > 0)
    buf[o.len < o.size ? o.len : o.size - 1] = '\0';
  return o.len;
}

/* ---- log ----------------------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static xs_log_fn log_fn;
static void *log_arg;
static atomic_int log_min = XS_LOG_ERROR + 1; /* nothing */

void xs_set_log(xs_log_fn fn, void *arg, xs_log_level min_level) {
  pthread_mutex_lock(&log_lock);
  log_fn = fn;
  log_arg = arg;
  atomic_store(&log_min, fn != NULL ? (int)min_level : XS_LOG_ERROR + 1);
  pthread_mutex_unlock(&log_lock);
}

const char *xs_log_level_name(xs_log_level level) {
  switch (level) {
  case XS_LOG_DEBUG:
    return "debug";
  case XS_LOG_INFO:
    return "info";
  case XS_LOG_WARNING:
    return "warning";
  case XS_LOG_ERROR:
    return "error";
  }
  return "unknown";
}

int xs_log_enabled(xs_log_level level) {
  return (int)level >= atomic_load_explicit(&log_min, memory_order_relaxed);
}

void xs_log(xs_log_level level, const char *fmt, ...) {
  char msg[1024];
  xs_log_fn fn;
  void *arg;
  va_list ap;
  if (!xs_log_enabled(level))
    return;
  pthread_mutex_lock(&log_lock);
  fn = log_fn;
  arg = log_arg;
  pthread_mutex_unlock(&log_lock);
  if (fn == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fn(level, msg, arg);
}
