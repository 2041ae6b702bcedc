/* The TTL cache of upstream answers (see cache.h). Sharded by key hash;
 * each shard is a chained hash table plus a CLOCK ring of its entries under
 * one read-write lock. An entry is one immutable allocation, replaced as a
 * whole; a reader copies it out under the read lock. */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "names.h"

/* Power of two; enough that threads working on different names rarely
 * share a shard's lock. */
#define CACHE_SHARDS 256

typedef struct entry {
  struct entry *next; /* bucket chain */
  uint32_t hash;
  uint16_t qtype;
  uint8_t key_len;
  uint8_t nchain;
  uint8_t naddrs;
  atomic_uchar referenced; /* CLOCK bit: set by hits, cleared by the hand */
  atomic_uchar prefetched; /* PREFETCH already handed out */
  xs_status status;
  uint32_t ring; /* position in the shard's ring */
  uint32_t lifetime_s;
  uint32_t negative_ttl;
  uint64_t stored_ms, expires_ms;
  /* then: uint32_t link_ttl[nchain]; xs_upstream_addr addrs[naddrs];
   * char key[key_len + 1]; then per link "name\0target\0" */
} entry;

/* Each shard on its own cache lines: a hit writes its shard's lock word
 * and counters, which must not be shared with a neighbour's. */
typedef struct shard {
  _Alignas(128) pthread_rwlock_t lock;
  entry **buckets; /* nbuckets, power of two */
  size_t nbuckets;
  entry **ring; /* cap slots, CLOCK order */
  size_t cap, count, hand;
  atomic_ullong hits, stale_hits, misses, inserts, evictions;
} shard;

struct xs_cache {
  xs_cache_cfg cfg;
  size_t mask; /* shards in use - 1 (fewer for small caches) */
  shard shards[CACHE_SHARDS];
};

void xs_cache_cfg_default(xs_cache_cfg *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->max_entries = 10000;
  cfg->min_ttl = 0;
  cfg->max_ttl = 3600;
  cfg->neg_max_ttl = 300;
  cfg->stale_max = 3600;
  cfg->stale_ttl = 30;
  cfg->prefetch = 1;
}

/* The coarse clock (a few ms of resolution, plenty for TTLs in seconds)
 * costs a fifth of the precise one, and every hit reads it. */
static uint64_t monotonic_ms(void *arg) {
  struct timespec ts;
  (void)arg;
#ifdef CLOCK_MONOTONIC_COARSE
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
  clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t xs_cache_now(const xs_cache *c) {
  return c->cfg.clock(c->cfg.clock_arg);
}

xs_status xs_cache_new(const xs_cache_cfg *cfg, xs_cache **out) {
  xs_cache *c;
  size_t i, per;
  if (cfg == NULL || out == NULL || cfg->max_entries == 0 ||
      cfg->min_ttl > cfg->max_ttl)
    return XS_EINVAL;
  if ((c = aligned_alloc(128, sizeof(*c))) == NULL)
    return XS_ENOMEM;
  memset(c, 0, sizeof(*c));
  c->cfg = *cfg;
  if (c->cfg.clock == NULL)
    c->cfg.clock = monotonic_ms;
  /* Never more entries than asked (max_entries / shards per shard), and at
   * least 8 per shard so CLOCK has room to keep hot entries. */
  c->mask = CACHE_SHARDS;
  while (c->mask > 1 && c->mask * 8 > cfg->max_entries)
    c->mask /= 2;
  per = cfg->max_entries / c->mask;
  c->mask--;
  for (i = 0; i <= c->mask; i++) {
    shard *s = &c->shards[i];
    size_t nb = 4;
    while (nb < per * 2)
      nb *= 2;
    s->cap = per;
    s->nbuckets = nb;
    s->buckets = calloc(nb, sizeof(*s->buckets));
    s->ring = calloc(per, sizeof(*s->ring));
    pthread_rwlock_init(&s->lock, NULL);
    if (s->buckets == NULL || s->ring == NULL) {
      for (; i <= c->mask; i++) { /* the rest are zeroed */
        free(c->shards[i].buckets);
        free(c->shards[i].ring);
        c->shards[i].buckets = NULL;
        c->shards[i].ring = NULL;
      }
      xs_cache_free(c);
      return XS_ENOMEM;
    }
  }
  *out = c;
  return XS_OK;
}

void xs_cache_free(xs_cache *c) {
  size_t i, k;
  if (c == NULL)
    return;
  for (i = 0; i <= c->mask; i++) {
    shard *s = &c->shards[i];
    if (s->ring != NULL)
      for (k = 0; k < s->count; k++)
        free(s->ring[k]);
    free(s->ring);
    free(s->buckets);
    pthread_rwlock_destroy(&s->lock);
  }
  free(c);
}

/* The key: lowercase, no trailing dot. 0 if empty or too long. */
static size_t make_key(const char *name, char *key) {
  size_t len = strlen(name), i;
  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len == 0 || len > XS_MAX_NAME)
    return 0;
  for (i = 0; i < len; i++) {
    char ch = name[i];
    key[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
  }
  key[len] = '\0';
  return len;
}

/* Case-folded (OR 0x20 per octet, which lowercases letters and leaves
 * digits, '-' and '_' alone) so a name hashes as its lowercase key does. */
static uint32_t key_hash(const char *key, size_t len, uint16_t qtype) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ qtype ^ ((uint64_t)len << 16);
  size_t i;
  for (i = 0; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, key + i, 8);
    h = (h ^ (w | 0x2020202020202020ull)) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  for (; i < len; i++)
    h = (h ^ ((unsigned char)key[i] | 0x20u)) * 0x100000001b3ull;
  h ^= h >> 29;
  h *= 0xc4ceb9fe1a85ec53ull;
  return (uint32_t)(h ^ (h >> 32));
}

static uint32_t *link_ttls(entry *e) {
  return (uint32_t *)(void *)(e + 1);
}

static xs_upstream_addr *entry_addrs(entry *e) {
  size_t off = sizeof(uint32_t) * e->nchain;
  off = (off + 7) & ~(size_t)7;
  return (xs_upstream_addr *)(void *)((char *)(e + 1) + off);
}

static char *entry_key(entry *e) {
  return (char *)(entry_addrs(e) + e->naddrs);
}

static entry *find(shard *s, const char *key, size_t len, uint32_t h,
                   uint16_t qtype, entry ***where) {
  entry **pp = &s->buckets[h & (s->nbuckets - 1)];
  for (; *pp != NULL; pp = &(*pp)->next) {
    entry *e = *pp;
    if (e->hash == h && e->qtype == qtype && e->key_len == len &&
        xs_ci_eq(entry_key(e), key, len)) {
      if (where != NULL)
        *where = pp;
      return e;
    }
  }
  if (where != NULL)
    *where = pp;
  return NULL;
}

static void unlink_entry(shard *s, entry *e) {
  entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
  while (*pp != e)
    pp = &(*pp)->next;
  *pp = e->next;
}

static int dead(const xs_cache *c, const entry *e, uint64_t now) {
  return now >= e->expires_ms + (uint64_t)c->cfg.stale_max * 1000u;
}

/* Make room for one entry: CLOCK over the ring, dead entries first. The
 * hand's victim's slot is returned for the new entry. */
static size_t evict_one(xs_cache *c, shard *s, uint64_t now) {
  size_t tries;
  for (tries = 0; tries < 2 * s->cap + 1; tries++) {
    size_t pos = s->hand;
    entry *e = s->ring[pos];
    s->hand = (s->hand + 1) % s->cap;
    if (!dead(c, e, now) &&
        atomic_load_explicit(&e->referenced, memory_order_relaxed)) {
      atomic_store_explicit(&e->referenced, 0, memory_order_relaxed);
      continue;
    }
    if (!dead(c, e, now))
      atomic_fetch_add_explicit(&s->evictions, 1, memory_order_relaxed);
    unlink_entry(s, e);
    free(e);
    return pos;
  }
  return s->hand; /* unreachable: a second pass finds clear bits */
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

xs_status xs_cache_put(xs_cache *c, const char *name, uint16_t qtype,
                       const xs_upstream_answer *a) {
  char key[XS_NAME_BUF];
  size_t len, size, i, text = 0, off;
  uint32_t life, h;
  uint64_t now;
  entry *e, *old, **where;
  shard *s;
  char *p;
  if (c == NULL || name == NULL || a == NULL ||
      (len = make_key(name, key)) == 0 || a->nchain > XS_MAX_CHAIN ||
      a->naddrs > XS_UPSTREAM_MAX_ADDRS)
    return XS_EINVAL;
  if (a->status == XS_OK) {
    life = (uint32_t)-1;
    for (i = 0; i < a->nchain; i++)
      life = a->chain[i].ttl < life ? a->chain[i].ttl : life;
    for (i = 0; i < a->naddrs; i++)
      life = a->addrs[i].ttl < life ? a->addrs[i].ttl : life;
    if (a->naddrs == 0)
      return XS_EINVAL;
    life = clamp(life, c->cfg.min_ttl, c->cfg.max_ttl);
  } else if (a->status == XS_ENOTFOUND || a->status == XS_ENODATA) {
    if (a->negative_ttl == 0 || c->cfg.neg_max_ttl == 0)
      return XS_EINVAL; /* no SOA, or negative caching off */
    life = a->negative_ttl < c->cfg.neg_max_ttl ? a->negative_ttl
                                                : c->cfg.neg_max_ttl;
    for (i = 0; i < a->nchain; i++)
      life = a->chain[i].ttl < life ? a->chain[i].ttl : life;
  } else {
    return XS_EINVAL;
  }
  for (i = 0; i < a->nchain; i++)
    text += strlen(a->chain[i].name) + strlen(a->chain[i].target) + 2;
  off = (sizeof(uint32_t) * a->nchain + 7) & ~(size_t)7;
  size = sizeof(entry) + off + sizeof(xs_upstream_addr) * a->naddrs + len + 1 +
         text;
  if ((e = malloc(size)) == NULL)
    return XS_ENOMEM;
  now = xs_cache_now(c);
  e->next = NULL;
  e->qtype = qtype;
  e->key_len = (uint8_t)len;
  e->nchain = (uint8_t)a->nchain;
  e->naddrs = (uint8_t)a->naddrs;
  atomic_init(&e->referenced, 0);
  atomic_init(&e->prefetched, 0);
  e->status = a->status;
  e->lifetime_s = life;
  e->negative_ttl = a->negative_ttl;
  e->stored_ms = now;
  e->expires_ms = now + (uint64_t)life * 1000u;
  for (i = 0; i < a->nchain; i++)
    link_ttls(e)[i] = a->chain[i].ttl;
  if (a->naddrs > 0)
    memcpy(entry_addrs(e), a->addrs, sizeof(xs_upstream_addr) * a->naddrs);
  p = entry_key(e);
  memcpy(p, key, len + 1);
  p += len + 1;
  for (i = 0; i < a->nchain; i++) {
    size_t n = strlen(a->chain[i].name) + 1, t = strlen(a->chain[i].target) + 1;
    memcpy(p, a->chain[i].name, n);
    memcpy(p + n, a->chain[i].target, t);
    p += n + t;
  }
  h = key_hash(key, len, qtype);
  e->hash = h;
  s = &c->shards[h & c->mask];
  pthread_rwlock_wrlock(&s->lock);
  old = find(s, key, len, h, qtype, &where);
  if (old != NULL) { /* replace in place: same bucket, same ring slot */
    e->next = old->next;
    e->ring = old->ring;
    *where = e;
    s->ring[e->ring] = e;
    free(old);
  } else {
    size_t pos = s->count < s->cap ? s->count++ : evict_one(c, s, now);
    entry **bucket = &s->buckets[h & (s->nbuckets - 1)];
    e->ring = (uint32_t)pos;
    s->ring[pos] = e;
    e->next = *bucket;
    *bucket = e;
  }
  atomic_fetch_add_explicit(&s->inserts, 1, memory_order_relaxed);
  pthread_rwlock_unlock(&s->lock);
  return XS_OK;
}

static uint32_t remaining(uint32_t ttl, uint32_t life, uint64_t elapsed_s) {
  uint64_t t = ttl < life ? ttl : life;
  return t > elapsed_s ? (uint32_t)(t - elapsed_s) : 0;
}

int xs_cache_get(xs_cache *c, const char *name, uint16_t qtype, int flags,
                 xs_upstream_answer *out) {
  size_t len, i;
  uint32_t h;
  uint64_t now, elapsed;
  shard *s;
  entry *e;
  int result;
  if (c == NULL || name == NULL || out == NULL)
    return XS_CACHE_MISS;
  len = strlen(name); /* the name as given: hashed and compared folded */
  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len == 0 || len > XS_MAX_NAME)
    return XS_CACHE_MISS;
  h = key_hash(name, len, qtype);
  s = &c->shards[h & c->mask];
  now = xs_cache_now(c);
  pthread_rwlock_rdlock(&s->lock);
  e = find(s, name, len, h, qtype, NULL);
  if (e == NULL) {
    result = XS_CACHE_MISS;
  } else if (now < e->expires_ms) {
    result = XS_CACHE_FRESH;
  } else if ((flags & XS_CACHE_ALLOW_STALE) && c->cfg.stale_max > 0 &&
             !dead(c, e, now)) {
    result = XS_CACHE_STALE;
  } else {
    result = XS_CACHE_MISS;
  }
  if (result == XS_CACHE_MISS) {
    pthread_rwlock_unlock(&s->lock);
    atomic_fetch_add_explicit(&s->misses, 1, memory_order_relaxed);
    return result;
  }
  elapsed = (now - e->stored_ms) / 1000u;
  out->status = e->status;
  out->nchain = e->nchain;
  out->naddrs = e->naddrs;
  {
    const char *p = entry_key(e) + e->key_len + 1;
    for (i = 0; i < e->nchain; i++) {
      size_t n = strlen(p) + 1, t;
      memcpy(out->chain[i].name, p, n);
      p += n;
      t = strlen(p) + 1;
      memcpy(out->chain[i].target, p, t);
      p += t;
      out->chain[i].ttl =
          result == XS_CACHE_STALE
              ? c->cfg.stale_ttl
              : remaining(link_ttls(e)[i], e->lifetime_s, elapsed);
    }
  }
  if (e->naddrs > 0)
    memcpy(out->addrs, entry_addrs(e), sizeof(xs_upstream_addr) * e->naddrs);
  for (i = 0; i < e->naddrs; i++)
    out->addrs[i].ttl =
        result == XS_CACHE_STALE
            ? c->cfg.stale_ttl
            : remaining(out->addrs[i].ttl, e->lifetime_s, elapsed);
  out->negative_ttl = e->negative_ttl == 0 ? 0
                      : result == XS_CACHE_STALE
                          ? c->cfg.stale_ttl
                          : remaining(e->negative_ttl, e->lifetime_s, elapsed);
  if (!atomic_load_explicit(&e->referenced, memory_order_relaxed))
    atomic_store_explicit(&e->referenced, 1, memory_order_relaxed);
  if (result == XS_CACHE_FRESH && c->cfg.prefetch && e->lifetime_s >= 1 &&
      (e->expires_ms - now) * 10u <= (uint64_t)e->lifetime_s * 1000u) {
    unsigned char expected = 0;
    if (atomic_compare_exchange_strong(&e->prefetched, &expected, 1))
      result |= XS_CACHE_PREFETCH;
  }
  pthread_rwlock_unlock(&s->lock);
  atomic_fetch_add_explicit((result & XS_CACHE_STALE) ? &s->stale_hits
                                                      : &s->hits,
                            1, memory_order_relaxed);
  return result;
}

void xs_cache_clear(xs_cache *c) {
  size_t i, k;
  if (c == NULL)
    return;
  for (i = 0; i <= c->mask; i++) {
    shard *s = &c->shards[i];
    pthread_rwlock_wrlock(&s->lock);
    for (k = 0; k < s->count; k++)
      free(s->ring[k]);
    memset(s->buckets, 0, s->nbuckets * sizeof(*s->buckets));
    s->count = 0;
    s->hand = 0;
    pthread_rwlock_unlock(&s->lock);
  }
}

void xs_cache_stats_get(xs_cache *c, xs_cache_stats *out) {
  size_t i;
  memset(out, 0, sizeof(*out));
  if (c == NULL)
    return;
  for (i = 0; i <= c->mask; i++) {
    shard *s = &c->shards[i];
    pthread_rwlock_rdlock(&s->lock);
    out->entries += s->count;
    pthread_rwlock_unlock(&s->lock);
    out->hits += atomic_load(&s->hits);
    out->stale_hits += atomic_load(&s->stale_hits);
    out->misses += atomic_load(&s->misses);
    out->inserts += atomic_load(&s->inserts);
    out->evictions += atomic_load(&s->evictions);
  }
}
