/* xs_config, xs_resolver and xs_result: the search walk over candidates,
 * in-cluster answers from the registry, external targets through upstream
 * DNS. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "answer.h"
#include "cache.h"
#include "engine.h"
#include "memo.h"
#include "names.h"
#include "policy.h"
#include "resolver.h"
#include "registry.h"
#include "stats.h"
#include "upstream.h"

#define XS_DEFAULT_NDOTS 5
#define XS_DEFAULT_TTL 5
#define XS_DEFAULT_TIMEOUT_MS 2000
#define XS_DEFAULT_ATTEMPTS 2
#define XS_MAX_TTL 3600
#define XS_MAX_NDOTS 15
#define XS_MAX_TIMEOUT_MS 60000
#define XS_MAX_ATTEMPTS 10
#define XS_SERVER_MAX 300
#define XS_DEFAULT_CACHE_ENTRIES 10000
#define XS_MAX_CACHE_ENTRIES 10000000
#define XS_DEFAULT_NEG_MAX 300
#define XS_DEFAULT_STALE_MAX 3600
#define XS_DEFAULT_STALE_TTL 30
#define XS_MAX_CACHE_TTL 604800
#define XS_MAX_NEG_TTL 86400
#define XS_DEFAULT_MEMO_SLOTS 1024

struct xs_config {
  char ns[64];
  char zone[XS_NAME_BUF];
  int ndots;
  char search[XS_MAX_SEARCH][XS_NAME_BUF];
  size_t nsearch;
  int ttl;
  xs_mode mode;
  int ip_literal;
  char servers[XS_UPSTREAM_MAX_SERVERS][XS_SERVER_MAX];
  size_t nservers;
  int timeout_ms;
  int attempts;
  size_t cache_entries;
  size_t memo_slots;
  size_t max_pending; /* asynchronous requests in flight */
  unsigned ttl_min, ttl_max, neg_max, stale_max, stale_ttl;
  int prefetch;
  xs_dispatch dispatch;
  xs_clock_ms_fn clock;
  void *clock_arg;
  xs_policy policy;
  xs_connect_cfg connect;
};

typedef struct result_link {
  size_t name, target; /* offsets into text */
  unsigned ttl;
  xs_source source;
} result_link;

typedef struct result_addr {
  int family;
  unsigned ttl;
  xs_source source;
  unsigned char raw[16];
  char text[46]; /* INET6_ADDRSTRLEN */
} result_addr;

/* One allocation of size octets: this header, then chain[], candidates[],
 * addrs[], text, all found by offsets from the header, so a result is
 * copied (from the memo) with one memcpy. */
struct xs_result {
  xs_status status;
  unsigned ttl;
  size_t query, name, target; /* offsets into text */
  size_t final_name;          /* the name the addresses belong to */
  size_t why;                 /* the policy refusal ("" if none) */
  size_t ncandidates, nchain, naddrs;
  size_t o_chain, o_cand, o_addrs, o_text; /* offsets from the header */
  size_t size;
};

#define R_AT(r, off) ((char *)(uintptr_t)(r) + (off))
#define R_CHAIN(r) ((const result_link *)(const void *)R_AT(r, (r)->o_chain))
#define R_CANDS(r) ((const size_t *)(const void *)R_AT(r, (r)->o_cand))
#define R_ADDRS(r) ((const result_addr *)(const void *)R_AT(r, (r)->o_addrs))
#define R_TEXT(r) ((const char *)R_AT(r, (r)->o_text))

/* ---- config ---------------------------------------------------------------
 */

xs_status xs_config_new(xs_config **out) {
  xs_config *c;
  if (out == NULL)
    return XS_EINVAL;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return XS_ENOMEM;
  strcpy(c->ns, "default");
  strcpy(c->zone, "cluster.local");
  c->ndots = XS_DEFAULT_NDOTS;
  c->ttl = XS_DEFAULT_TTL;
  c->mode = XS_MODE_COREDNS;
  c->timeout_ms = XS_DEFAULT_TIMEOUT_MS;
  c->attempts = XS_DEFAULT_ATTEMPTS;
  c->cache_entries = XS_DEFAULT_CACHE_ENTRIES;
  c->memo_slots = XS_DEFAULT_MEMO_SLOTS;
  c->max_pending = XS_DEFAULT_MAX_PENDING;
  c->ttl_min = 0;
  c->ttl_max = XS_MAX_TTL;
  c->neg_max = XS_DEFAULT_NEG_MAX;
  c->stale_max = XS_DEFAULT_STALE_MAX;
  c->stale_ttl = XS_DEFAULT_STALE_TTL;
  c->prefetch = 1;
  c->dispatch = XS_DISPATCH_ENGINE;
  xs_policy_init(&c->policy);
  xs_connect_cfg_default(&c->connect);
  *out = c;
  return XS_OK;
}

void xs_config_free(xs_config *cfg) {
  free(cfg);
}

xs_status xs_config_set_namespace(xs_config *cfg, const char *ns) {
  if (cfg == NULL || ns == NULL ||
      !xs_valid_dns1123_label(ns, strlen(ns), "namespace", 1, NULL, 0))
    return XS_EINVAL;
  strcpy(cfg->ns, ns);
  return XS_OK;
}

/* Lowercase copy of a DNS name without its trailing dot. */
static xs_status copy_domain(char *dst, const char *src) {
  size_t len;
  if (src == NULL)
    return XS_EINVAL;
  len = strlen(src);
  if (xs_name_check(src, len) != XS_OK)
    return XS_EINVAL;
  if (src[len - 1] == '.')
    len--;
  xs_lower_copy(dst, src, len);
  return XS_OK;
}

xs_status xs_config_set_cluster_domain(xs_config *cfg, const char *domain) {
  if (cfg == NULL)
    return XS_EINVAL;
  return copy_domain(cfg->zone, domain);
}

xs_status xs_config_set_ndots(xs_config *cfg, int ndots) {
  if (cfg == NULL || ndots < 0 || ndots > XS_MAX_NDOTS)
    return XS_EINVAL;
  cfg->ndots = ndots;
  return XS_OK;
}

xs_status xs_config_add_search(xs_config *cfg, const char *domain) {
  if (cfg == NULL || cfg->nsearch >= XS_MAX_SEARCH)
    return XS_EINVAL;
  if (copy_domain(cfg->search[cfg->nsearch], domain) != XS_OK)
    return XS_EINVAL;
  cfg->nsearch++;
  return XS_OK;
}

xs_status xs_config_set_ttl(xs_config *cfg, int ttl_seconds) {
  if (cfg == NULL || ttl_seconds < 0 || ttl_seconds > XS_MAX_TTL)
    return XS_EINVAL;
  cfg->ttl = ttl_seconds;
  return XS_OK;
}

xs_status xs_config_set_mode(xs_config *cfg, xs_mode mode) {
  if (cfg == NULL || (mode != XS_MODE_COREDNS && mode != XS_MODE_STRICT))
    return XS_EINVAL;
  cfg->mode = mode;
  return XS_OK;
}

xs_status xs_config_set_ip_literal_targets(xs_config *cfg, int on) {
  if (cfg == NULL || (on != 0 && on != 1))
    return XS_EINVAL;
  cfg->ip_literal = on;
  return XS_OK;
}

xs_status xs_config_add_server(xs_config *cfg, const char *server) {
  size_t len;
  if (cfg == NULL || server == NULL || cfg->nservers >= XS_UPSTREAM_MAX_SERVERS)
    return XS_EINVAL;
  len = strlen(server);
  if (len == 0 || len >= XS_SERVER_MAX)
    return XS_EINVAL;
  memcpy(cfg->servers[cfg->nservers++], server, len + 1);
  return XS_OK;
}

xs_status xs_config_set_timeout_ms(xs_config *cfg, int timeout_ms) {
  if (cfg == NULL || timeout_ms < 1 || timeout_ms > XS_MAX_TIMEOUT_MS)
    return XS_EINVAL;
  cfg->timeout_ms = timeout_ms;
  return XS_OK;
}

xs_status xs_config_set_attempts(xs_config *cfg, int attempts) {
  if (cfg == NULL || attempts < 1 || attempts > XS_MAX_ATTEMPTS)
    return XS_EINVAL;
  cfg->attempts = attempts;
  return XS_OK;
}

xs_status xs_config_set_cache_size(xs_config *cfg, size_t entries) {
  if (cfg == NULL || entries > XS_MAX_CACHE_ENTRIES)
    return XS_EINVAL;
  cfg->cache_entries = entries;
  return XS_OK;
}

xs_status xs_config_add_allowed_target(xs_config *cfg, const char *suffix) {
  return cfg == NULL ? XS_EINVAL : xs_policy_allow_suffix(&cfg->policy, suffix);
}

xs_status xs_config_add_denied_range(xs_config *cfg, const char *cidr) {
  return cfg == NULL ? XS_EINVAL : xs_policy_deny_range(&cfg->policy, cidr);
}

xs_status xs_config_allow_range(xs_config *cfg, const char *cidr) {
  return cfg == NULL ? XS_EINVAL : xs_policy_allow_range(&cfg->policy, cidr);
}

xs_status xs_config_clear_denied_ranges(xs_config *cfg) {
  if (cfg == NULL)
    return XS_EINVAL;
  xs_policy_clear_ranges(&cfg->policy);
  return XS_OK;
}

xs_status xs_config_set_connect_attempt_delay(xs_config *cfg, int ms) {
  if (cfg == NULL || ms < XS_MIN_ATTEMPT_DELAY_MS ||
      ms > XS_MAX_ATTEMPT_DELAY_MS)
    return XS_EINVAL;
  cfg->connect.attempt_delay_ms = ms;
  return XS_OK;
}

xs_status xs_config_set_connect_prefer(xs_config *cfg, int family) {
  if (cfg == NULL || (family != XS_FAMILY_IPV4 && family != XS_FAMILY_IPV6))
    return XS_EINVAL;
  cfg->connect.prefer = (int)family;
  return XS_OK;
}

xs_status xs_config_set_connect_nonblock(xs_config *cfg, int on) {
  if (cfg == NULL || (on != 0 && on != 1))
    return XS_EINVAL;
  cfg->connect.nonblock = on;
  return XS_OK;
}

xs_status xs_config_set_failover_memory(xs_config *cfg, unsigned seconds) {
  if (cfg == NULL || seconds > XS_MAX_FAILOVER_S)
    return XS_EINVAL;
  cfg->connect.failover_s = seconds;
  return XS_OK;
}

xs_status xs_config_set_max_pending(xs_config *cfg, size_t requests) {
  if (cfg == NULL || requests < 1 || requests > XS_MAX_PENDING)
    return XS_EINVAL;
  cfg->max_pending = requests;
  return XS_OK;
}

xs_status xs_config_set_result_memo(xs_config *cfg, size_t slots) {
  if (cfg == NULL || slots > XS_MEMO_MAX_SLOTS)
    return XS_EINVAL;
  cfg->memo_slots = slots;
  return XS_OK;
}

xs_status xs_config_set_cache_ttl(xs_config *cfg, unsigned min_s,
                                  unsigned max_s) {
  if (cfg == NULL || min_s > max_s || max_s > XS_MAX_CACHE_TTL)
    return XS_EINVAL;
  cfg->ttl_min = min_s;
  cfg->ttl_max = max_s;
  return XS_OK;
}

xs_status xs_config_set_negative_ttl_max(xs_config *cfg, unsigned max_s) {
  if (cfg == NULL || max_s > XS_MAX_NEG_TTL)
    return XS_EINVAL;
  cfg->neg_max = max_s;
  return XS_OK;
}

xs_status xs_config_set_stale(xs_config *cfg, unsigned max_s, unsigned ttl_s) {
  if (cfg == NULL || max_s > XS_MAX_CACHE_TTL || ttl_s < 1 ||
      ttl_s > XS_MAX_TTL)
    return XS_EINVAL;
  cfg->stale_max = max_s;
  cfg->stale_ttl = ttl_s;
  return XS_OK;
}

xs_status xs_config_set_prefetch(xs_config *cfg, int on) {
  if (cfg == NULL || (on != 0 && on != 1))
    return XS_EINVAL;
  cfg->prefetch = on;
  return XS_OK;
}

xs_status xs_config_set_clock(xs_config *cfg, xs_clock_ms_fn fn, void *arg) {
  if (cfg == NULL)
    return XS_EINVAL;
  cfg->clock = fn;
  cfg->clock_arg = arg;
  return XS_OK;
}

xs_status xs_config_set_dispatch(xs_config *cfg, xs_dispatch mode) {
  if (cfg == NULL || (mode != XS_DISPATCH_ENGINE && mode != XS_DISPATCH_QUEUE))
    return XS_EINVAL;
  cfg->dispatch = mode;
  return XS_OK;
}

/* ---- resolver -------------------------------------------------------------
 */

typedef struct walk walk;

/* One family's upstream question of the current candidate. */
typedef struct slot {
  walk *w;
  int family; /* 4 or 6 */
} slot;

/* One resolution: the search walk as a small state machine. It runs on the
 * caller's thread until it needs upstream DNS, then continues on the engine
 * thread from the engine's callbacks. A blocking xs_resolve keeps it on its
 * stack; xs_resolve_async allocates it. */
struct walk {
  xs_resolver *res;
  xs_snapshot *snap; /* borrowed, or owned once the walk leaves its thread */
  uint64_t version;  /* the registry's, as of snap */
  int snap_owned;
  int want4, want6;
  char query[XS_NAME_BUF + 1];
  size_t query_len;
  int bad_name;
  xs_cand_iter it;
  char cand[XS_NAME_BUF];
  size_t cand_len, ncand;
  /* the current candidate */
  xs_answer a4, a6;
  int have4, have6;
  xs_upstream_answer u4, u6;
  int asked4, asked6;
  xs_source src4, src6;
  char upname[XS_NAME_BUF];
  int refused;             /* the current candidate's target is refused */
  char why[XS_POLICY_WHY]; /* the last policy refusal, for the result */
  /* what the walk read from the cache, while it may still be memoised */
  xs_cache_stamp stamps[XS_MEMO_STAMPS];
  size_t nstamps;
  int memo_ok;
  atomic_int waiting; /* upstream answers still to come, +1 while submitting */
  slot slot4, slot6;
  uint64_t eid[2]; /* engine requests (under res->lock) */
  /* the most telling outcome so far, built as a result (its candidates as
   * of then; the final result re-lists them) */
  xs_result *best;
  int best_weight;
  xs_status status;
  xs_result *result;
  /* delivery */
  atomic_int cancelled;
  uint64_t id; /* 0: blocking */
  xs_resolve_cb cb;
  void *arg;
  walk *prev, *next;   /* res->pending, then res->done queue */
  pthread_mutex_t *mu; /* blocking: the waiting thread's */
  pthread_cond_t *cv;
  int sync_ready; /* mu and cv initialised */
  int done;
  int direct; /* callback where the walk ends, whatever the dispatch mode */
  /* a thread waits for the walk (xs_resolve, xs_connect): its questions go
   * ahead of asynchronous ones in the engine (engine.h, Fairness) */
  int blocking;
};

struct xs_resolver {
  xs_config cfg;
  xs_answer_cfg acfg;
  xs_search search;
  /* The resolver's own view of the registry it reads (see
   * xs_registry_follow): never NULL and never changed, so lookups read it
   * without synchronisation; source is the registry it follows (NULL:
   * none), changed under source_lock by xs_resolver_set_registry. */
  xs_registry *reg;
  xs_registry *source;
  pthread_mutex_t source_lock;
  xs_cache *cache;
  xs_memo *memo;       /* NULL: no memo (or no cache) */
  xs_failmem *failmem; /* xs_connect's failover memory */
  xs_engine *engine;
  pthread_mutex_t lock; /* pending, done, next_id, closing */
  walk *pending;        /* async walks in flight */
  size_t npending;      /* how many */
  walk *done_head, *done_tail;
  uint64_t next_id;
  int closing;
  int fd; /* XS_DISPATCH_QUEUE: eventfd readable while done is non-empty */
};

static uint64_t config_clock(void *arg) {
  const xs_config *cfg = arg;
  return (uint64_t)cfg->clock(cfg->clock_arg);
}

xs_status xs_resolver_new(const xs_config *cfg, xs_registry *reg,
                          xs_resolver **out, xs_error *err) {
  xs_resolver *r;
  xs_upstream_cfg ucfg;
  xs_cache_cfg ccfg;
  xs_status st;
  size_t i;
  if (out == NULL) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "out must not be NULL");
    return XS_EINVAL;
  }
  r = calloc(1, sizeof(*r));
  if (r == NULL) {
    xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "out of memory");
    return XS_ENOMEM;
  }
  r->fd = -1;
  if (cfg != NULL) {
    r->cfg = *cfg;
  } else {
    xs_config *def;
    if (xs_config_new(&def) != XS_OK) {
      free(r);
      xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "out of memory");
      return XS_ENOMEM;
    }
    r->cfg = *def;
    xs_config_free(def);
  }
  if ((r->failmem = xs_failmem_new()) == NULL) {
    free(r);
    xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "out of memory");
    return XS_ENOMEM;
  }
  r->acfg.zone = r->cfg.zone;
  r->acfg.zone_len = strlen(r->cfg.zone);
  r->acfg.ttl = (uint32_t)r->cfg.ttl;
  r->acfg.mode = r->cfg.mode;
  r->acfg.ip_literal = r->cfg.ip_literal;
  xs_search_init(&r->search, r->cfg.ns, r->cfg.zone, r->cfg.ndots);
  for (i = 0; i < r->cfg.nsearch; i++)
    xs_search_add(&r->search, r->cfg.search[i]);
  pthread_mutex_init(&r->lock, NULL);
  r->next_id = 1;

  if (r->cfg.cache_entries > 0) {
    xs_cache_cfg_default(&ccfg);
    ccfg.max_entries = r->cfg.cache_entries;
    ccfg.min_ttl = r->cfg.ttl_min;
    ccfg.max_ttl = r->cfg.ttl_max;
    ccfg.neg_max_ttl = r->cfg.neg_max;
    ccfg.stale_max = r->cfg.stale_max;
    ccfg.stale_ttl = r->cfg.stale_ttl;
    ccfg.prefetch = r->cfg.prefetch;
    if (r->cfg.clock != NULL) {
      ccfg.clock = config_clock;
      ccfg.clock_arg = &r->cfg;
    }
    if ((st = xs_cache_new(&ccfg, &r->cache)) != XS_OK) {
      xs_error_set(err, st, NULL, 0, 0, "cannot create the cache");
      goto fail;
    }
    /* The memo vouches for cached data through the cache's stamps: it
     * exists only with the cache. */
    if (r->cfg.memo_slots > 0 &&
        (st = xs_memo_new(r->cfg.memo_slots, &r->memo)) != XS_OK) {
      xs_error_set(err, st, NULL, 0, 0, "cannot create the result memo");
      goto fail;
    }
  }
  memset(&ucfg, 0, sizeof(ucfg));
  for (i = 0; i < r->cfg.nservers; i++)
    ucfg.servers[i] = r->cfg.servers[i];
  ucfg.nservers = r->cfg.nservers;
  ucfg.timeout_ms = r->cfg.timeout_ms;
  ucfg.attempts = r->cfg.attempts;
  if ((st = xs_engine_new(&ucfg, r->cache, &r->engine, err)) != XS_OK)
    goto fail;
  if (r->cfg.dispatch == XS_DISPATCH_QUEUE) {
    r->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->fd < 0) {
      st = XS_ENOMEM;
      xs_error_set(err, st, NULL, 0, 0, "eventfd: cannot create");
      goto fail;
    }
  }
  if ((st = xs_registry_new(&r->reg)) != XS_OK ||
      (reg != NULL && (st = xs_registry_follow(r->reg, reg)) != XS_OK)) {
    xs_error_set(err, st, NULL, 0, 0, "out of memory");
    goto fail;
  }
  if (reg != NULL) {
    xs_registry_ref(reg);
    r->source = reg;
  }
  pthread_mutex_init(&r->source_lock, NULL);
  *out = r;
  return XS_OK;
fail:
  xs_registry_free(r->reg);
  if (r->fd >= 0)
    close(r->fd);
  xs_engine_free(r->engine);
  xs_failmem_free(r->failmem);
  xs_memo_free(r->memo);
  xs_cache_free(r->cache);
  pthread_mutex_destroy(&r->lock);
  free(r);
  return st;
}

/* ---- results --------------------------------------------------------------
 */

/* A result is one allocation: the struct, then its arrays, then its text.
 * The emit functions write through a sink into buffers of given capacities
 * and count everything, fitting or not: the first pass writes into stack
 * buffers, and when everything fitted the result is those copied once;
 * otherwise a second pass writes into the exactly sized allocation. */
#define SINK_MEMO 4

typedef struct sink {
  xs_result *r; /* header fields */
  char *tbuf;   /* where text, chain, candidates and addresses go */
  result_link *lbuf;
  size_t *cbuf;
  result_addr *abuf;
  size_t text_cap, chain_cap, cand_cap, addr_cap;
  size_t nchain, naddrs, ncand, text; /* counts */
  /* Strings already written, by address: the candidate is also the name
   * and the first link's owner, a link's target is also the result's
   * target; they are stored once. */
  const char *memo[SINK_MEMO];
  size_t memo_off[SINK_MEMO], nmemo;
  const xs_policy *policy; /* addresses it denies are left out */
  int refused;             /* the policy refused a target: no address */
} sink;

static int sink_seen(const sink *s, const char *str, size_t *off) {
  size_t i;
  for (i = 0; i < s->nmemo; i++)
    if (s->memo[i] == str) {
      *off = s->memo_off[i];
      return 1;
    }
  return 0;
}

static void sink_remember(sink *s, const char *str, size_t off) {
  if (s->nmemo < SINK_MEMO) {
    s->memo[s->nmemo] = str;
    s->memo_off[s->nmemo++] = off;
  }
}

static size_t sink_text(sink *s, const char *str, size_t len) {
  size_t off = s->text;
  if (off + len + 1 <= s->text_cap) {
    memcpy(s->tbuf + off, str, len);
    s->tbuf[off + len] = '\0';
  }
  s->text += len + 1;
  return off;
}

/* A string that may recur (same address, same contents): stored once. */
static size_t sink_shared(sink *s, const char *str, size_t len) {
  size_t off;
  if (sink_seen(s, str, &off))
    return off;
  off = sink_text(s, str, len);
  sink_remember(s, str, off);
  return off;
}

/* A name with exactly one trailing dot (upstream names may lack it). */
static size_t sink_name(sink *s, const char *name) {
  size_t len, off;
  if (sink_seen(s, name, &off))
    return off;
  len = strlen(name);
  if (len > 0 && name[len - 1] == '.') {
    off = sink_text(s, name, len);
    sink_remember(s, name, off);
    return off;
  }
  off = s->text;
  if (off + len + 2 <= s->text_cap) {
    memcpy(s->tbuf + off, name, len);
    s->tbuf[off + len] = '.';
    s->tbuf[off + len + 1] = '\0';
  }
  s->text += len + 2;
  return off;
}

static void sink_link(sink *s, const char *name, const char *target,
                      unsigned ttl, xs_source source) {
  size_t n = sink_name(s, name), t = sink_name(s, target);
  if (s->nchain < s->chain_cap) {
    result_link *l = &s->lbuf[s->nchain];
    l->name = n;
    l->target = t;
    l->ttl = ttl;
    l->source = source;
  }
  s->nchain++;
}

/* shared: name is the walk's own (stable) candidate buffer, which the
 * result's name repeats; replayed candidates share one scratch buffer. */
static void sink_candidate(sink *s, const char *name, size_t len, int shared) {
  size_t off = shared ? sink_shared(s, name, len) : sink_text(s, name, len);
  if (s->ncand < s->cand_cap)
    s->cbuf[s->ncand] = off;
  s->ncand++;
}

/* Dotted quad without division: results are built on the fast path, and
 * inet_ntop is general and slow. (r * 205) >> 11 is r / 10 for r < 100. */
static void format_v4(const uint8_t *b, char *out) {
  int i;
  for (i = 0; i < 4; i++) {
    unsigned v = b[i], h = v >= 200 ? 2u : v >= 100 ? 1u : 0u;
    unsigned r = v - 100u * h, t = (r * 205u) >> 11;
    if (h != 0)
      *out++ = (char)('0' + h);
    if (h != 0 || t != 0)
      *out++ = (char)('0' + t);
    *out++ = (char)('0' + (r - 10u * t));
    *out++ = i < 3 ? '.' : '\0';
  }
}

/* An address, unless the policy denies it; *min_ttl (may be NULL) takes
 * the TTL of an address that is kept. */
static void sink_addr(sink *s, const xs_addr *a, unsigned ttl, xs_source source,
                      unsigned *min_ttl) {
  if (s->refused || (xs_policy_has_ranges(s->policy) &&
                     xs_policy_denies(s->policy, a) != NULL))
    return;
  if (min_ttl != NULL && ttl < *min_ttl)
    *min_ttl = ttl;
  if (s->naddrs < s->addr_cap) {
    result_addr *ra = &s->abuf[s->naddrs];
    /* Every octet defined (the text's tail, the padding): the memo
     * compares whole results word by word. */
    memset(ra, 0, sizeof(*ra));
    ra->family = a->family;
    memcpy(ra->raw, a->bytes, 16);
    if (a->family == 4)
      format_v4(a->bytes, ra->text);
    else
      xs_addr_format(a, ra->text, sizeof(ra->text));
    ra->ttl = ttl;
    ra->source = source;
  }
  s->naddrs++;
}

static unsigned min_u(unsigned a, unsigned b) {
  return a < b ? a : b;
}

/* The answer part of a result from the walk's current candidate.
 *
 * Two names come out of the chain. The target, for TLS and HTTP Host, is
 * the candidate followed through the registry's links only: an
 * ExternalName's target as the registry holds it (the first name outside
 * the cluster domain), an in-cluster Service's name, or the candidate
 * itself outside the cluster. Upstream CNAMEs never move it: without
 * DNSSEC they are no reference identity (RFC 6125, RFC 7525 6.1), and the
 * servers behind them hold certificates for the name asked. The final
 * name, which the addresses belong to, follows the whole chain. */
static void emit_outcome(sink *s, const walk *w, xs_status status) {
  const xs_answer *reg = w->have4 ? &w->a4 : w->have6 ? &w->a6 : NULL;
  const xs_upstream_answer *up = NULL;
  xs_source usrc = XS_SOURCE_UPSTREAM;
  const char *target = w->cand, *tls_name;
  unsigned ttl = (unsigned)-1;
  size_t i;

  s->r->status = status;
  s->r->name = sink_shared(s, w->cand, w->cand_len);
  if (reg != NULL)
    for (i = 0; i < reg->nchain; i++) {
      const xs_rr *l = &reg->chain[i];
      sink_link(s, l->owner, l->target, l->ttl, XS_SOURCE_REGISTRY);
      ttl = min_u(ttl, l->ttl);
      target = l->target;
    }
  tls_name = target;
  if (w->asked4 && (w->u4.nchain > 0 || !w->asked6 || w->u6.nchain == 0)) {
    up = &w->u4;
    usrc = w->src4;
  } else if (w->asked6) {
    up = &w->u6;
    usrc = w->src6;
  }
  if (up != NULL)
    for (i = 0; i < up->nchain; i++) {
      sink_link(s, up->chain[i].name, up->chain[i].target, up->chain[i].ttl,
                usrc);
      ttl = min_u(ttl, up->chain[i].ttl);
      target = up->chain[i].target;
    }
  /* Registry addresses (in-zone final records, at names the registry
   * vouches for), then upstream ones. */
  for (i = 0; w->have4 && i < w->a4.nanswer; i++)
    if (w->a4.answer[i].type == XS_T_A) {
      sink_addr(s, &w->a4.answer[i].addr, w->a4.answer[i].ttl,
                XS_SOURCE_REGISTRY, &ttl);
      target = tls_name = w->a4.answer[i].owner;
    }
  for (i = 0; w->asked4 && i < w->u4.naddrs; i++) {
    sink_addr(s, &w->u4.addrs[i].addr, w->u4.addrs[i].ttl, w->src4, &ttl);
  }
  for (i = 0; w->have6 && i < w->a6.nanswer; i++)
    if (w->a6.answer[i].type == XS_T_AAAA) {
      sink_addr(s, &w->a6.answer[i].addr, w->a6.answer[i].ttl,
                XS_SOURCE_REGISTRY, &ttl);
      target = tls_name = w->a6.answer[i].owner;
    }
  for (i = 0; w->asked6 && i < w->u6.naddrs; i++) {
    sink_addr(s, &w->u6.addrs[i].addr, w->u6.addrs[i].ttl, w->src6, &ttl);
  }
  if (s->naddrs == 0) {
    /* Negative: the negative-cache time, if anyone said it. */
    unsigned neg = (unsigned)-1;
    if (w->asked4 && w->u4.negative_ttl)
      neg = min_u(neg, w->u4.negative_ttl);
    if (w->asked6 && w->u6.negative_ttl)
      neg = min_u(neg, w->u6.negative_ttl);
    if (up == NULL && reg != NULL)
      neg = min_u(neg, reg->soa_ttl);
    ttl = min_u(ttl, neg);
  }
  s->r->target = sink_name(s, tls_name);
  s->r->final_name = sink_name(s, target);
  s->r->ttl = ttl == (unsigned)-1 ? 0 : ttl;
  s->r->why = sink_text(s, status == XS_EPOLICY ? w->why : "",
                        status == XS_EPOLICY ? strlen(w->why) : 0);
}

/* The answer part of an earlier (provisional) result. */
static void emit_copy(sink *s, const xs_result *src) {
  const char *text = R_TEXT(src);
  const result_link *chain = R_CHAIN(src);
  const result_addr *addrs = R_ADDRS(src);
  size_t i;
  s->r->status = src->status;
  s->r->ttl = src->ttl;
  s->r->name = sink_text(s, text + src->name, strlen(text + src->name));
  for (i = 0; i < src->nchain; i++)
    sink_link(s, text + chain[i].name, text + chain[i].target, chain[i].ttl,
              chain[i].source);
  for (i = 0; i < src->naddrs; i++) {
    xs_addr a;
    a.family = (uint8_t)addrs[i].family;
    memcpy(a.bytes, addrs[i].raw, 16);
    sink_addr(s, &a, addrs[i].ttl, addrs[i].source, NULL);
  }
  s->r->target = sink_text(s, text + src->target, strlen(text + src->target));
  s->r->final_name = src->final_name == src->target
                         ? s->r->target
                         : sink_text(s, text + src->final_name,
                                     strlen(text + src->final_name));
  s->r->why = sink_text(s, text + src->why, strlen(text + src->why));
}

enum { PART_NONE, PART_OUTCOME, PART_COPY };

/* The query and the candidates tried so far (the iterator is replayed). */
static void emit_head(sink *s, const walk *w) {
  size_t k;
  s->r->query = sink_text(s, w->query, w->query_len);
  if (!w->bad_name && w->ncand > 0) {
    /* Earlier candidates are rebuilt (the walk keeps only the current
     * one); the common single-candidate case replays nothing. */
    xs_cand_iter it;
    char buf[XS_NAME_BUF];
    size_t len;
    if (w->ncand > 1) {
      xs_cand_start(&it, &w->res->search, w->query);
      for (k = 0; k + 1 < w->ncand && (len = xs_cand_next(&it, buf)) != 0; k++)
        sink_candidate(s, buf, len, 0);
    }
    sink_candidate(s, w->cand, w->cand_len, 1);
  }
}

static void emit(sink *s, const walk *w, int part, xs_status status) {
  emit_head(s, w);
  if (part == PART_OUTCOME) {
    emit_outcome(s, w, status);
  } else if (part == PART_COPY) {
    emit_copy(s, w->best);
  } else {
    size_t e = sink_text(s, "", 0);
    s->r->status = status;
    s->r->name = s->r->target = s->r->final_name = s->r->why = e;
    s->r->ttl = 0;
  }
}

static size_t align8(size_t n) {
  return (n + 7) & ~(size_t)7;
}

#define STACK_TEXT 1024
#define STACK_LINKS 8
#define STACK_CANDS 8
#define STACK_ADDRS 16

static xs_result *build(const walk *w, int part, xs_status status) {
  xs_result hdr, *r;
  char text[STACK_TEXT];
  result_link chain[STACK_LINKS];
  size_t cands[STACK_CANDS];
  result_addr addrs[STACK_ADDRS];
  sink s;
  s.nchain = s.naddrs = s.ncand = s.text = s.nmemo = 0;
  s.policy = &w->res->cfg.policy;
  s.refused = w->refused;
  s.r = &hdr;
  s.tbuf = text;
  s.lbuf = chain;
  s.cbuf = cands;
  s.abuf = addrs;
  s.text_cap = STACK_TEXT;
  s.chain_cap = STACK_LINKS;
  s.cand_cap = STACK_CANDS;
  s.addr_cap = STACK_ADDRS;
  emit(&s, w, part, status);
  hdr.nchain = s.nchain;
  hdr.ncandidates = s.ncand;
  hdr.naddrs = s.naddrs;
  hdr.o_chain = align8(sizeof(xs_result));
  hdr.o_cand = hdr.o_chain + s.nchain * sizeof(result_link);
  hdr.o_addrs = align8(hdr.o_cand + s.ncand * sizeof(size_t));
  hdr.o_text = hdr.o_addrs + s.naddrs * sizeof(result_addr);
  hdr.size = hdr.o_text + s.text;
  if ((r = malloc(hdr.size)) == NULL)
    return NULL;
  *r = hdr;
  if (s.text <= STACK_TEXT && s.nchain <= STACK_LINKS &&
      s.ncand <= STACK_CANDS && s.naddrs <= STACK_ADDRS) {
    memcpy(R_AT(r, r->o_chain), chain, s.nchain * sizeof(result_link));
    memcpy(R_AT(r, r->o_cand), cands, s.ncand * sizeof(size_t));
    memcpy(R_AT(r, r->o_addrs), addrs, s.naddrs * sizeof(result_addr));
    memcpy(R_AT(r, r->o_text), text, s.text);
    return r;
  }
  s.r = r;
  s.tbuf = R_AT(r, r->o_text);
  s.lbuf = (result_link *)(void *)R_AT(r, r->o_chain);
  s.cbuf = (size_t *)(void *)R_AT(r, r->o_cand);
  s.abuf = (result_addr *)(void *)R_AT(r, r->o_addrs);
  s.text_cap = s.text;
  s.chain_cap = s.nchain;
  s.cand_cap = s.ncand;
  s.addr_cap = s.naddrs;
  s.text = s.nchain = s.ncand = s.naddrs = s.nmemo = 0;
  emit(&s, w, part, status);
  return r;
}

/* ---- the walk -------------------------------------------------------------
 */

static int upstream_error(xs_status s) {
  return s == XS_ETIMEOUT || s == XS_ESERVFAIL || s == XS_EREFUSED ||
         s == XS_EUPSTREAM;
}

/* Merge the per-family statuses as getaddrinfo(AF_UNSPEC) does: any
 * address wins; then an upstream failure; then NODATA, loop, NXDOMAIN. */
static xs_status merge(xs_status s4, xs_status s6) {
  if (s4 == XS_OK || s6 == XS_OK)
    return XS_OK;
  if (s4 == XS_EPOLICY || s6 == XS_EPOLICY)
    return XS_EPOLICY;
  if (upstream_error(s4))
    return s4;
  if (upstream_error(s6))
    return s6;
  if (s4 == XS_ELOOP || s6 == XS_ELOOP)
    return XS_ELOOP;
  if (s4 == XS_ENODATA || s6 == XS_ENODATA)
    return XS_ENODATA;
  return XS_ENOTFOUND;
}

static int has_addr_records(const xs_answer *a, uint16_t type) {
  size_t i;
  for (i = 0; i < a->nanswer; i++)
    if (a->answer[i].type == type)
      return 1;
  return 0;
}

static void candidate_free(walk *w) {
  if (w->have4)
    xs_answer_free(&w->a4);
  if (w->have6)
    xs_answer_free(&w->a6);
  w->have4 = w->have6 = 0;
}

/* Copy the parts of an upstream answer that are set. */
static void upstream_copy(xs_upstream_answer *dst,
                          const xs_upstream_answer *src) {
  dst->status = src->status;
  dst->nchain = src->nchain;
  if (src->nchain > 0)
    memcpy(dst->chain, src->chain, src->nchain * sizeof(src->chain[0]));
  dst->naddrs = src->naddrs;
  if (src->naddrs > 0)
    memcpy(dst->addrs, src->addrs, src->naddrs * sizeof(src->addrs[0]));
  dst->negative_ttl = src->negative_ttl;
}

static void on_upstream(void *arg, const xs_upstream_answer *ans);
static int walk_run(walk *w);
static void deliver(walk *w);

/* Hand the walk to the engine thread: it must own its snapshot. */
static void walk_detach(walk *w) {
  if (!w->snap_owned && w->snap != NULL) {
    xs_snapshot_ref(w->snap);
    w->snap_owned = 1;
  }
}

/* Ask the cache, then upstream, for the families that need it. Returns 1
 * when every answer is in (the walk goes on here), 0 when the engine will
 * continue the walk. */
static int candidate_ask(walk *w, int q4, int q6) {
  xs_resolver *res = w->res;
  int need[2] = {0, 0}, f, pending = 0;
  for (f = 0; f < 2; f++) {
    xs_upstream_answer *u = f == 0 ? &w->u4 : &w->u6;
    xs_source *src = f == 0 ? &w->src4 : &w->src6;
    uint16_t qtype = f == 0 ? XS_T_A : XS_T_AAAA;
    int hit;
    if (!(f == 0 ? q4 : q6))
      continue;
    *src = XS_SOURCE_UPSTREAM;
    if (res->cache != NULL) {
      xs_cache_stamp stamp;
      hit = xs_cache_get_stamped(res->cache, w->upname, qtype, 0, u, &stamp);
      if (hit & XS_CACHE_FRESH) {
        xs_count(XS_C_CACHE_HITS);
        *src = XS_SOURCE_CACHE;
        if (w->nstamps < XS_MEMO_STAMPS)
          w->stamps[w->nstamps++] = stamp;
        else
          w->memo_ok = 0;
        if (hit & XS_CACHE_PREFETCH) {
          xs_count(XS_C_CACHE_PREFETCHES);
          xs_engine_submit(res->engine, w->upname, qtype, NULL, NULL, NULL);
        }
        continue;
      }
      xs_count(XS_C_CACHE_MISSES);
    }
    need[f] = 1;
    pending++;
  }
  if (pending == 0)
    return 1;
  w->memo_ok = 0; /* upstream answers: the memo keeps only what it can vouch
                   * for through cache stamps */
  walk_detach(w);
  if (w->id == 0 && !w->sync_ready) { /* a blocking caller will wait */
    pthread_mutex_init(w->mu, NULL);
    pthread_cond_init(w->cv, NULL);
    w->sync_ready = 1;
  }
  /* One extra count while submitting: a fast reply cannot finish the walk
   * under our feet. */
  atomic_store(&w->waiting, pending + 1);
  for (f = 0; f < 2; f++) {
    uint64_t id = 0;
    xs_status st;
    if (!need[f])
      continue;
    st = (w->blocking ? xs_engine_submit_blocking : xs_engine_submit)(
        res->engine, w->upname, f == 0 ? XS_T_A : XS_T_AAAA, on_upstream,
        f == 0 ? &w->slot4 : &w->slot6, &id);
    if (st != XS_OK) {
      xs_upstream_answer_status(f == 0 ? &w->u4 : &w->u6, st);
      atomic_fetch_sub(&w->waiting, 1);
      continue;
    }
    if (w->id != 0) {
      int cancelled;
      pthread_mutex_lock(&res->lock);
      w->eid[f] = id;
      cancelled = atomic_load(&w->cancelled);
      pthread_mutex_unlock(&res->lock);
      if (cancelled)
        xs_engine_cancel(res->engine, id);
    }
  }
  return atomic_fetch_sub(&w->waiting, 1) == 1;
}

/* With allowed target suffixes set, every target an alias chain names
 * must be below one: each ExternalName's target in the registry (inside the
 * cluster domain too) and an IP-literal target. Else 0 with w->why. */
static int registry_targets_ok(walk *w) {
  const xs_policy *p = &w->res->cfg.policy;
  int f;
  if (p->nallowed == 0)
    return 1;
  for (f = 0; f < 2; f++) {
    const xs_answer *a = f == 0 ? &w->a4 : &w->a6;
    size_t i;
    if (!(f == 0 ? w->have4 : w->have6))
      continue;
    for (i = 0; i < a->nchain; i++)
      if (!xs_policy_target_ok(p, a->chain[i].target,
                               strlen(a->chain[i].target), w->why))
        return 0;
    if (a->literal_target != NULL &&
        !xs_policy_target_ok(p, a->literal_target, strlen(a->literal_target),
                             w->why))
      return 0;
  }
  return 1;
}

/* The same for the CNAMEs upstream added after an alias: every name the
 * chain passes through outside the cluster domain is checked. */
static int upstream_targets_ok(walk *w) {
  const xs_policy *p = &w->res->cfg.policy;
  int f;
  if (p->nallowed == 0 || !(w->have4 || w->have6))
    return 1;
  for (f = 0; f < 2; f++) {
    const xs_upstream_answer *u = f == 0 ? &w->u4 : &w->u6;
    size_t i;
    if (!(f == 0 ? w->asked4 : w->asked6))
      continue;
    for (i = 0; i < u->nchain; i++)
      if (!xs_policy_target_ok(p, u->chain[i].target,
                               strlen(u->chain[i].target), w->why))
        return 0;
  }
  return 1;
}

/* Registry answers for the current candidate, then the upstream questions
 * they leave. Returns as candidate_ask. */
static int candidate_start(walk *w) {
  xs_resolver *res = w->res;
  const char *up = NULL;
  int q4, q6;
  w->asked4 = w->asked6 = 0;
  w->refused = 0;
  w->status = XS_ENOTFOUND;
  if (xs_name_in_zone(w->cand, w->cand_len, res->acfg.zone,
                      res->acfg.zone_len)) {
    if (w->want4) {
      if (xs_answer_query(w->snap, &res->acfg, w->cand, w->cand_len, XS_T_A,
                          &w->a4) != XS_OK) {
        w->status = XS_ENOMEM;
        return 1;
      }
      w->have4 = 1;
      up = w->a4.external_target;
    }
    if (w->want6) {
      if (xs_answer_query(w->snap, &res->acfg, w->cand, w->cand_len, XS_T_AAAA,
                          &w->a6) != XS_OK) {
        w->status = XS_ENOMEM;
        return 1;
      }
      w->have6 = 1;
      if (up == NULL)
        up = w->a6.external_target;
    }
    /* An alias may only point where the policy allows: refused targets
     * are never asked upstream. */
    if (!registry_targets_ok(w)) {
      w->refused = 1;
      return 1;
    }
  } else {
    up = w->cand;
  }
  if (up == NULL)
    return 1;
  {
    size_t n = strlen(up);
    if (n >= sizeof(w->upname))
      n = sizeof(w->upname) - 1; /* cannot happen: names are checked */
    memcpy(w->upname, up, n);
    w->upname[n] = '\0';
  }
  q4 = w->want4 && (!w->have4 || w->a4.external_target != NULL);
  q6 = w->want6 && (!w->have6 || w->a6.external_target != NULL);
  w->asked4 = q4;
  w->asked6 = q6;
  return candidate_ask(w, q4, q6);
}

/* After an upstream failure: the cached entry (refreshed meanwhile by
 * another request, or expired within the stale window). */
static void try_stale(walk *w, int f) {
  xs_upstream_answer *u = f == 0 ? &w->u4 : &w->u6;
  xs_source *src = f == 0 ? &w->src4 : &w->src6;
  int hit;
  if (w->res->cache == NULL || !upstream_error(u->status))
    return;
  hit = xs_cache_get(w->res->cache, w->upname, f == 0 ? XS_T_A : XS_T_AAAA,
                     XS_CACHE_ALLOW_STALE, u);
  if (hit & XS_CACHE_STALE) {
    xs_count(XS_C_CACHE_STALE);
    *src = XS_SOURCE_STALE;
  } else if (hit & XS_CACHE_FRESH)
    *src = XS_SOURCE_CACHE;
}

/* A family's status once its addresses pass the policy: XS_EPOLICY when
 * it has addresses and the policy denies every one (w->why says which
 * range denied the first). */
static xs_status addr_policy(walk *w, int f, xs_status st) {
  const xs_policy *p = &w->res->cfg.policy;
  const xs_answer *a = f == 0 ? &w->a4 : &w->a6;
  const xs_upstream_answer *u = f == 0 ? &w->u4 : &w->u6;
  uint16_t type = f == 0 ? XS_T_A : XS_T_AAAA;
  const xs_addr *first = NULL;
  const xs_range *rule = NULL;
  size_t i;
  if (st != XS_OK)
    return st;
  for (i = 0; (f == 0 ? w->have4 : w->have6) && i < a->nanswer; i++)
    if (a->answer[i].type == type) {
      const xs_range *r = xs_policy_denies(p, &a->answer[i].addr);
      if (r == NULL)
        return st;
      if (first == NULL) {
        first = &a->answer[i].addr;
        rule = r;
      }
    }
  for (i = 0; (f == 0 ? w->asked4 : w->asked6) && i < u->naddrs; i++) {
    const xs_range *r = xs_policy_denies(p, &u->addrs[i].addr);
    if (r == NULL)
      return st;
    if (first == NULL) {
      first = &u->addrs[i].addr;
      rule = r;
    }
  }
  if (first != NULL) {
    xs_policy_explain(rule, first, w->why, sizeof(w->why));
    return XS_EPOLICY;
  }
  return st;
}

/* How much a failed candidate tells: a loop or a matched alias says more
 * than NODATA, which says more than NXDOMAIN (glibc keeps NODATA too). */
static int weight_of(const walk *w, xs_status st) {
  size_t chain = (w->have4 ? w->a4.nchain : 0) + (w->have6 ? w->a6.nchain : 0);
  if (st == XS_OK)
    return 100;
  if (st == XS_EPOLICY)
    return 99;
  if (upstream_error(st))
    return 3;
  if (st == XS_ELOOP)
    return 4;
  if (chain > 0)
    return 3;
  if (st == XS_ENODATA)
    return 2;
  return 1;
}

/* The current candidate's answers are all in: judge it. Returns 1 when the
 * walk is over (w->result and w->status set), 0 to go on. */
static int candidate_end(walk *w) {
  xs_status s4 = XS_ENOTFOUND, s6 = XS_ENOTFOUND, st;
  int weight;
  if (w->status == XS_ENOMEM)
    goto nomem;
  if (atomic_load(&w->cancelled)) {
    candidate_free(w);
    return 1;
  }
  if (w->asked4) {
    try_stale(w, 0);
    if (w->u4.status == XS_ENOMEM)
      goto nomem;
  }
  if (w->asked6) {
    try_stale(w, 1);
    if (w->u6.status == XS_ENOMEM)
      goto nomem;
  }
  if (w->have4) {
    s4 = w->a4.status;
    if (s4 == XS_OK && w->a4.external_target == NULL &&
        !has_addr_records(&w->a4, XS_T_A))
      s4 = XS_ENODATA;
  }
  if (w->have6) {
    s6 = w->a6.status;
    if (s6 == XS_OK && w->a6.external_target == NULL &&
        !has_addr_records(&w->a6, XS_T_AAAA))
      s6 = XS_ENODATA;
  }
  if (w->asked4)
    s4 = w->u4.status;
  if (w->asked6)
    s6 = w->u6.status;
  if (!w->refused && !upstream_targets_ok(w))
    w->refused = 1;
  if (w->refused) {
    s4 = s6 = XS_EPOLICY;
  } else if (xs_policy_has_ranges(&w->res->cfg.policy)) {
    s4 = addr_policy(w, 0, s4);
    s6 = addr_policy(w, 1, s6);
  }
  if (!w->want4)
    s4 = s6;
  if (!w->want6)
    s6 = s4;
  st = merge(s4, s6);
  weight = weight_of(w, st);
  if (weight == 100 || weight > w->best_weight) {
    xs_result *r = build(w, PART_OUTCOME, st);
    if (r == NULL)
      goto nomem;
    xs_result_free(w->best);
    w->best = r;
    w->best_weight = weight;
  }
  candidate_free(w);
  /* The walk goes on past NXDOMAIN, NODATA and loops (glibc, Go) and stops
   * at an answer or an upstream failure (as glibc stops on REFUSED). */
  return st == XS_OK || st == XS_EPOLICY || upstream_error(st);
nomem:
  candidate_free(w);
  w->status = XS_ENOMEM;
  return 1;
}

/* Build the final result. */
static void walk_finish(walk *w) {
  if (w->status == XS_ENOMEM || atomic_load(&w->cancelled)) {
    w->status = w->status == XS_ENOMEM ? XS_ENOMEM : XS_ECANCELLED;
    w->result = NULL;
  } else if (w->best != NULL && w->best_weight == 100 &&
             w->best->ncandidates == w->ncand) {
    w->result = w->best; /* built at the answering candidate: all there */
    w->best = NULL;
  } else {
    w->result =
        w->best != NULL
            ? build(w, PART_COPY, XS_OK)
            : build(w, PART_NONE, w->bad_name ? XS_EBADNAME : XS_ENOTFOUND);
    if (w->result == NULL)
      w->status = XS_ENOMEM;
  }
  if (w->result != NULL)
    w->status = w->result->status;
  xs_result_free(w->best);
  w->best = NULL;
  if (w->snap_owned)
    xs_snapshot_unref(w->snap);
  w->snap = NULL;
  w->snap_owned = 0;
}

/* Run the walk until it is over (returns 1, walk finished) or waits for
 * the engine (returns 0; the engine's callback goes on). */
static int walk_run(walk *w) {
  for (;;) {
    if (atomic_load(&w->cancelled) || w->status == XS_ENOMEM)
      break;
    size_t len = w->bad_name ? 0 : xs_cand_next(&w->it, w->cand);
    if (len == 0)
      break; /* w->cand keeps the last candidate tried */
    w->cand_len = len;
    w->ncand++;
    if (!candidate_start(w))
      return 0;
    if (candidate_end(w))
      break;
  }
  candidate_free(w);
  walk_finish(w);
  return 1;
}

static void on_upstream(void *arg, const xs_upstream_answer *ans) {
  slot *sl = arg;
  walk *w = sl->w;
  upstream_copy(sl->family == 4 ? &w->u4 : &w->u6, ans);
  if (ans->status == XS_ECANCELLED)
    atomic_store(&w->cancelled, 1);
  if (atomic_fetch_sub(&w->waiting, 1) != 1)
    return;
  /* The last answer of the candidate: go on, on this (engine) thread. */
  if (candidate_end(w)) {
    walk_finish(w);
    deliver(w);
  } else if (walk_run(w)) {
    deliver(w);
  }
}

static void walk_init(walk *w, xs_resolver *res, const char *name,
                      xs_family family) {
  size_t len = strlen(name);
  /* Field by field: the walk is large and mostly written before read. */
  w->res = res;
  w->snap = NULL;
  w->version = 0;
  w->snap_owned = 0;
  w->nstamps = 0;
  w->memo_ok = 1;
  w->bad_name = 0;
  w->cand_len = 0;
  w->ncand = 0;
  w->want4 = family != XS_FAMILY_IPV6;
  w->want6 = family != XS_FAMILY_IPV4;
  w->have4 = w->have6 = 0;
  w->best = NULL;
  w->best_weight = 0;
  w->status = XS_OK;
  w->result = NULL;
  atomic_init(&w->cancelled, 0);
  atomic_init(&w->waiting, 0);
  w->id = 0;
  w->slot4.w = w->slot6.w = w;
  w->slot4.family = 4;
  w->slot6.family = 6;
  w->eid[0] = w->eid[1] = 0;
  w->mu = NULL;
  w->cv = NULL;
  w->done = 0;
  w->sync_ready = 0;
  w->prev = w->next = NULL;
  w->cb = NULL;
  w->arg = NULL;
  w->direct = 0;
  w->blocking = 0;
  w->snap_owned = 0;
  /* A name too long for the buffer cannot be valid: keep a cut copy for
   * the result. The iterator reads our copy (the caller's may go away). */
  if (len >= sizeof(w->query)) {
    len = sizeof(w->query) - 1;
    w->bad_name = 1;
  }
  memcpy(w->query, name, len);
  w->query[len] = '\0';
  w->query_len = len;
  if (!w->bad_name)
    w->bad_name = xs_cand_start(&w->it, &res->search, w->query) != XS_OK;
  if (w->bad_name)
    return;
  w->snap = res->reg != NULL
                ? xs_registry_snapshot_borrow(res->reg, &w->version)
                : NULL;
  if (res->reg != NULL && w->snap == NULL)
    w->status = XS_ENOMEM;
}

/* ---- delivery -------------------------------------------------------------
 */

static void signal_fd(int fd) {
  uint64_t one = 1;
  ssize_t n;
  do
    n = write(fd, &one, sizeof(one));
  while (n < 0 && errno == EINTR);
}

static void clear_fd(int fd) {
  uint64_t v;
  ssize_t n;
  do
    n = read(fd, &v, sizeof(v));
  while (n < 0 && errno == EINTR);
}

static void unlink_pending(xs_resolver *res, walk *w) {
  res->npending--;
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    res->pending = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

/* The walk is over: hand its result over. */
static void deliver(walk *w) {
  xs_resolver *res = w->res;
  if (w->id == 0) { /* a blocking caller waits for it */
    pthread_mutex_lock(w->mu);
    w->done = 1;
    pthread_cond_signal(w->cv);
    pthread_mutex_unlock(w->mu);
    return;
  }
  xs_stats_lookup_end(xs_stats_self(), w->status, 0, 0);
  pthread_mutex_lock(&res->lock);
  unlink_pending(res, w);
  if (res->fd >= 0 && !w->direct) {
    int was_empty = res->done_head == NULL;
    if (res->done_tail != NULL)
      res->done_tail->next = w;
    else
      res->done_head = w;
    res->done_tail = w;
    pthread_mutex_unlock(&res->lock);
    if (was_empty)
      signal_fd(res->fd);
    return;
  }
  pthread_mutex_unlock(&res->lock);
  w->cb(w->status, w->result, w->arg);
  free(w);
}

/* The registry version a walk starting now would read. */
static uint64_t registry_version(const xs_resolver *res) {
  return res->reg != NULL
             ? atomic_load_explicit(&res->reg->version, memory_order_acquire)
             : 0;
}

xs_status xs_resolve(xs_resolver *res, const char *name, xs_family family,
                     xs_result **out) {
  walk *w;
  xs_status st;
  xs_memo_key key;
  xs_stats_block *sb;
  uint64_t t0;
  if (res == NULL || name == NULL || out == NULL ||
      (family != XS_FAMILY_ANY && family != XS_FAMILY_IPV4 &&
       family != XS_FAMILY_IPV6))
    return XS_EINVAL;
  sb = xs_stats_self();
  t0 = xs_stats_lookup_begin(sb);
  if (res->memo != NULL) {
    size_t len = strnlen(name, XS_NAME_BUF + 1);
    xs_result *r;
    xs_memo_key_init(&key, name, len, (int)family);
    r = xs_memo_get(res->memo, &key, registry_version(res), res->cache,
                    xs_cache_now(res->cache));
    if (r != NULL) {
      xs_stats_lookup_end(sb, r->status, 1, t0);
      *out = r;
      return r->status;
    }
  }
  /* The walk's state is large (two registry answers, two upstream answers)
   * and lives on this stack: no allocation but the result. */
  {
    walk wk;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    w = &wk;
    walk_init(w, res, name, family);
    w->blocking = 1;
    w->mu = &mu; /* initialised only if the walk needs the engine */
    w->cv = &cv;
    if (!walk_run(w)) {
      /* The engine may finish the walk at any moment from here: deliver
       * sets done under mu. */
      pthread_mutex_lock(&mu);
      while (!w->done)
        pthread_cond_wait(&cv, &mu);
      pthread_mutex_unlock(&mu);
    }
    if (w->sync_ready) {
      pthread_cond_destroy(&cv);
      pthread_mutex_destroy(&mu);
    } else if (res->memo != NULL && w->memo_ok && !w->bad_name &&
               w->result != NULL) {
      /* Finished here from the registry and fresh cache entries only. */
      xs_memo_put(res->memo, &key, w->version, w->stamps, w->nstamps, w->result,
                  w->result->size);
    }
    st = w->status;
    /* Timed only when answered here, without waiting for the engine. */
    xs_stats_lookup_end(sb, st, 0, w->sync_ready ? 0 : t0);
    if (w->result == NULL)
      return st;
    *out = w->result;
    return st;
  }
}

xs_status xs_resolve_start(xs_resolver *res, const char *name, xs_family family,
                           xs_resolve_cb cb, void *arg,
                           unsigned long long *request, unsigned flags) {
  int direct = (flags & XS_START_DIRECT) != 0;
  walk *w;
  xs_memo_key key;
  int synced;
  if (res == NULL || name == NULL || cb == NULL ||
      (family != XS_FAMILY_ANY && family != XS_FAMILY_IPV4 &&
       family != XS_FAMILY_IPV6))
    return XS_EINVAL;
  if (res->memo != NULL) {
    xs_memo_key_init(&key, name, strnlen(name, XS_NAME_BUF + 1), (int)family);
    if (res->fd < 0 || direct) {
      /* A result the memo vouches for completes here, as a walk answered
       * without upstream would: no walk, no allocation but the copy. */
      xs_result *r = xs_memo_get(res->memo, &key, registry_version(res),
                                 res->cache, xs_cache_now(res->cache));
      if (r != NULL) {
        unsigned long long id;
        pthread_mutex_lock(&res->lock);
        if (res->closing) {
          pthread_mutex_unlock(&res->lock);
          xs_result_free(r);
          return XS_EINVAL;
        }
        id = res->next_id++;
        pthread_mutex_unlock(&res->lock);
        if (request != NULL)
          *request = id;
        xs_stats_lookup_end(xs_stats_self(), r->status, 1, 0);
        cb(r->status, r, arg);
        return XS_OK;
      }
    }
  }
  if ((w = malloc(sizeof(*w))) == NULL)
    return XS_ENOMEM;
  walk_init(w, res, name, family);
  w->cb = cb;
  w->arg = arg;
  w->direct = direct;
  w->blocking = (flags & XS_START_BLOCKING) != 0;
  pthread_mutex_lock(&res->lock);
  if (res->closing || res->npending >= res->cfg.max_pending) {
    int full = !res->closing;
    pthread_mutex_unlock(&res->lock);
    free(w);
    return full ? XS_ELIMIT : XS_EINVAL;
  }
  res->npending++;
  w->id = res->next_id++;
  w->next = res->pending;
  if (res->pending != NULL)
    res->pending->prev = w;
  res->pending = w;
  pthread_mutex_unlock(&res->lock);
  if (request != NULL)
    *request = w->id;
  if (walk_run(w)) {
    /* Finished here from the registry and fresh cache entries only: the
     * next asker may take it from the memo. */
    synced = res->memo != NULL && w->memo_ok && !w->bad_name &&
             w->result != NULL && !atomic_load(&w->cancelled);
    if (synced)
      xs_memo_put(res->memo, &key, w->version, w->stamps, w->nstamps, w->result,
                  w->result->size);
    deliver(w);
  }
  return XS_OK;
}

xs_status xs_resolve_async(xs_resolver *res, const char *name, xs_family family,
                           xs_resolve_cb cb, void *arg,
                           unsigned long long *request) {
  return xs_resolve_start(res, name, family, cb, arg, request, 0);
}

xs_status xs_resolve_cancel(xs_resolver *res, unsigned long long request) {
  walk *w;
  uint64_t eid[2] = {0, 0};
  if (res == NULL)
    return XS_EINVAL;
  pthread_mutex_lock(&res->lock);
  for (w = res->pending; w != NULL; w = w->next)
    if (w->id == request)
      break;
  if (w == NULL || atomic_load(&w->cancelled)) {
    pthread_mutex_unlock(&res->lock);
    return XS_ENOTFOUND;
  }
  atomic_store(&w->cancelled, 1);
  eid[0] = w->eid[0];
  eid[1] = w->eid[1];
  pthread_mutex_unlock(&res->lock);
  /* The engine completes the cancelled questions, which ends the walk. A
   * walk between questions sees the flag at its next step. */
  if (eid[0] != 0)
    xs_engine_cancel(res->engine, eid[0]);
  if (eid[1] != 0)
    xs_engine_cancel(res->engine, eid[1]);
  return XS_OK;
}

int xs_resolver_fd(const xs_resolver *res) {
  return res != NULL ? res->fd : -1;
}

size_t xs_resolver_dispatch(xs_resolver *res) {
  walk *list, *w;
  size_t n = 0;
  if (res == NULL || res->fd < 0)
    return 0;
  pthread_mutex_lock(&res->lock);
  list = res->done_head;
  res->done_head = res->done_tail = NULL;
  clear_fd(res->fd);
  pthread_mutex_unlock(&res->lock);
  while ((w = list) != NULL) {
    list = w->next;
    w->cb(w->status, w->result, w->arg);
    free(w);
    n++;
  }
  return n;
}

void xs_resolver_free(xs_resolver *res) {
  walk *w;
  if (res == NULL)
    return;
  pthread_mutex_lock(&res->lock);
  res->closing = 1;
  for (w = res->pending; w != NULL; w = w->next)
    atomic_store(&w->cancelled, 1);
  pthread_mutex_unlock(&res->lock);
  /* Every engine question completes (cancelled) before this returns, which
   * ends every walk waiting on one. */
  xs_engine_free(res->engine);
  res->engine = NULL;
  if (res->fd >= 0) {
    xs_resolver_dispatch(res);
    close(res->fd);
  }
  xs_memo_free(res->memo);
  xs_failmem_free(res->failmem);
  xs_cache_free(res->cache);
  xs_registry_unfollow(res->reg, res->source);
  xs_registry_free(res->source);
  xs_registry_free(res->reg);
  pthread_mutex_destroy(&res->source_lock);
  pthread_mutex_destroy(&res->lock);
  free(res);
}

xs_status xs_resolver_set_registry(xs_resolver *res, xs_registry *reg) {
  xs_registry *old;
  xs_status st;
  if (res == NULL)
    return XS_EINVAL;
  pthread_mutex_lock(&res->source_lock);
  old = res->source;
  if (old == reg) {
    pthread_mutex_unlock(&res->source_lock);
    return XS_OK;
  }
  /* Leave the old registry first: it must not publish into the view once
   * the new one has. Until the new one is followed the view keeps the old
   * contents, which lookups may still read. */
  xs_registry_unfollow(res->reg, old);
  st = xs_registry_follow(res->reg, reg);
  if (st != XS_OK) {
    /* Only an empty registry could not be made; follow the old again. */
    xs_registry_follow(res->reg, old);
    pthread_mutex_unlock(&res->source_lock);
    return st;
  }
  if (reg != NULL)
    xs_registry_ref(reg);
  res->source = reg;
  pthread_mutex_unlock(&res->source_lock);
  xs_registry_free(old);
  return XS_OK;
}

const xs_answer_cfg *xs_resolver_answer_cfg(const xs_resolver *res) {
  return &res->acfg;
}

xs_snapshot *xs_resolver_snapshot(xs_resolver *res) {
  return res->reg != NULL ? xs_registry_snapshot(res->reg) : NULL;
}

xs_snapshot *xs_resolver_snapshot_borrow(xs_resolver *res, uint64_t *version) {
  if (res->reg == NULL) {
    if (version != NULL)
      *version = 0;
    return NULL;
  }
  return xs_registry_snapshot_borrow(res->reg, version);
}

xs_status xs_resolver_forward(xs_resolver *res, const char *name,
                              uint16_t qtype, xs_engine_raw_cb cb, void *arg,
                              unsigned long long *id) {
  uint64_t eid = 0;
  xs_status st = xs_engine_submit_raw(res->engine, name, qtype, cb, arg, &eid);
  if (id != NULL)
    *id = eid;
  return st;
}

int xs_resolver_forward_cancel(xs_resolver *res, unsigned long long id) {
  return xs_engine_cancel(res->engine, id);
}

int xs_resolver_has_upstream(const xs_resolver *res) {
  return res->cfg.nservers > 0;
}

const xs_connect_cfg *xs_resolver_connect_cfg(const xs_resolver *res) {
  return &res->cfg.connect;
}

void xs_resolver_set_resolution_delay(xs_resolver *res, int ms) {
  res->cfg.connect.resolution_delay_ms = ms;
}

void xs_resolver_engine_stats(xs_resolver *res, xs_engine_stats *out) {
  xs_engine_stats_get(res->engine, out);
}

const xs_policy *xs_resolver_policy(const xs_resolver *res) {
  return &res->cfg.policy;
}

xs_failmem *xs_resolver_failmem(xs_resolver *res) {
  return res->failmem;
}

xs_status xs_resolver_named_port(xs_resolver *res, const xs_result *r,
                                 const char *port_name, unsigned *port,
                                 char *why, size_t whylen) {
  const char *name = xs_result_name(r);
  size_t len = strlen(name), zl = res->acfg.zone_len, i, svc_len, ns_len;
  const char *svc, *ns, *dot;
  xs_snapshot *snap;
  const xs_service *found;
  xs_status st = XS_ENOTFOUND;
  if (len > 0 && name[len - 1] == '.')
    len--;
  /* <service>.<namespace>.svc.<zone> */
  if (!xs_name_in_zone(name, len, res->acfg.zone, zl) || len < zl + 6 ||
      !xs_ci_eq(name + len - zl - 5, ".svc.", 5)) {
    snprintf(why, whylen, "port \"%s\": %.*s is not a Service", port_name,
             (int)len, name);
    return XS_ENOTFOUND;
  }
  svc = name;
  dot = memchr(name, '.', len);
  svc_len = (size_t)(dot - name);
  ns = dot + 1;
  ns_len = (size_t)(name + len - zl - 5 - ns);
  if (memchr(ns, '.', ns_len) != NULL || res->reg == NULL) {
    snprintf(why, whylen, "port \"%s\": %.*s is not a Service", port_name,
             (int)len, name);
    return XS_ENOTFOUND;
  }
  if ((snap = xs_registry_snapshot(res->reg)) == NULL)
    return XS_ENOMEM;
  found = xs_snapshot_find(snap, ns, ns_len, svc, svc_len);
  for (i = 0; found != NULL && i < found->nports; i++)
    if (found->ports[i].name != NULL &&
        strcmp(found->ports[i].name, port_name) == 0 &&
        found->ports[i].proto == XS_PROTO_TCP) {
      *port = found->ports[i].port;
      st = XS_OK;
      break;
    }
  if (st != XS_OK)
    snprintf(why, whylen, "port \"%s\" not found in Service %.*s/%.*s",
             port_name, (int)ns_len, ns, (int)svc_len, svc);
  xs_snapshot_unref(snap);
  return st;
}

void xs_result_free(xs_result *result) {
  free(result);
}

xs_status xs_result_status(const xs_result *r) {
  return r != NULL ? r->status : XS_EINVAL;
}

#define TEXT(r, off) (R_TEXT(r) + (off))

const char *xs_result_query(const xs_result *r) {
  return r != NULL ? TEXT(r, r->query) : "";
}
const char *xs_result_name(const xs_result *r) {
  return r != NULL ? TEXT(r, r->name) : "";
}
const char *xs_result_policy(const xs_result *r) {
  return r != NULL ? TEXT(r, r->why) : "";
}
const char *xs_result_target(const xs_result *r) {
  return r != NULL ? TEXT(r, r->target) : "";
}
const char *xs_result_final_name(const xs_result *r) {
  return r != NULL ? TEXT(r, r->final_name) : "";
}
size_t xs_result_candidate_count(const xs_result *r) {
  return r != NULL ? r->ncandidates : 0;
}
const char *xs_result_candidate(const xs_result *r, size_t i) {
  return r != NULL && i < r->ncandidates ? TEXT(r, R_CANDS(r)[i]) : NULL;
}
size_t xs_result_chain_count(const xs_result *r) {
  return r != NULL ? r->nchain : 0;
}
const char *xs_result_chain_name(const xs_result *r, size_t i) {
  return r != NULL && i < r->nchain ? TEXT(r, R_CHAIN(r)[i].name) : NULL;
}
const char *xs_result_chain_target(const xs_result *r, size_t i) {
  return r != NULL && i < r->nchain ? TEXT(r, R_CHAIN(r)[i].target) : NULL;
}
unsigned xs_result_chain_ttl(const xs_result *r, size_t i) {
  return r != NULL && i < r->nchain ? R_CHAIN(r)[i].ttl : 0;
}
xs_source xs_result_chain_source(const xs_result *r, size_t i) {
  return r != NULL && i < r->nchain ? R_CHAIN(r)[i].source : XS_SOURCE_REGISTRY;
}
size_t xs_result_address_count(const xs_result *r) {
  return r != NULL ? r->naddrs : 0;
}
int xs_result_address_family(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? R_ADDRS(r)[i].family : 0;
}
const unsigned char *xs_result_address_raw(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? R_ADDRS(r)[i].raw : NULL;
}
const char *xs_result_address_text(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? R_ADDRS(r)[i].text : NULL;
}
unsigned xs_result_address_ttl(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? R_ADDRS(r)[i].ttl : 0;
}
xs_source xs_result_address_source(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? R_ADDRS(r)[i].source : XS_SOURCE_REGISTRY;
}
unsigned xs_result_ttl(const xs_result *r) {
  return r != NULL ? r->ttl : 0;
}

xs_status xs_resolver_check_address(const xs_resolver *res, int family,
                                    const unsigned char *raw, char *why,
                                    size_t why_len) {
  xs_addr a;
  const xs_range *rule;
  if (why != NULL && why_len > 0)
    why[0] = '\0';
  if (res == NULL || raw == NULL || (family != 4 && family != 6))
    return XS_EINVAL;
  memset(&a, 0, sizeof(a));
  a.family = (uint8_t)family;
  memcpy(a.bytes, raw, family == 4 ? 4 : 16);
  if ((rule = xs_policy_denies(&res->cfg.policy, &a)) == NULL)
    return XS_OK;
  if (why != NULL && why_len > 0)
    xs_policy_explain(rule, &a, why, why_len);
  return XS_EPOLICY;
}
