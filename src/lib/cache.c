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

/* Ring slots past a cold live victim searched for a dead entry to take
 * instead; bounded so that an insert stays O(1). */
#define DEAD_LOOKAHEAD 8

/* Octets per stored address: every address IPv4, every address IPv6, or
 * mixed (a whole xs_addr each). Packed addresses come back with the
 * octets their family does not use zeroed. */
#define PACK_V4 4
#define PACK_V6 16
#define PACK_ANY ((uint8_t)sizeof(xs_addr))

typedef struct entry {
  struct entry *next; /* bucket chain */
  uint64_t stored_ms;
  uint32_t hash;
  uint32_t ring; /* position in the shard's ring */
  uint32_t lifetime_s;
  uint32_t negative_ttl;
  uint16_t qtype;
  /* bit i: link i's owner name is not stored because it is the previous
   * link's target (for link 0: the key and a dot) */
  uint16_t shared_owner;
  uint8_t key_len;
  uint8_t nchain;
  uint8_t naddrs;
  uint8_t addr_size;       /* PACK_V4, PACK_V6 or PACK_ANY */
  uint8_t status;          /* XS_OK, XS_ENOTFOUND or XS_ENODATA */
  atomic_uchar referenced; /* CLOCK bit: set by hits, cleared by the hand */
  atomic_uchar prefetched; /* PREFETCH already handed out */
  /* then: uint32_t ttl[nchain + naddrs] (links, then addresses);
   * addresses, addr_size octets each; char key[key_len + 1]; per link its
   * owner name (unless shared) and its target, each NUL-terminated */
} entry;

/* Each shard on its own cache lines: a hit writes its shard's lock word
 * and counters, which must not be shared with a neighbour's. */
typedef struct shard {
  _Alignas(128) pthread_rwlock_t lock;
  entry **buckets; /* nbuckets, power of two */
  size_t nbuckets;
  entry **ring; /* cap slots, CLOCK order */
  size_t cap, count, hand;
  /* Bumped (under the write lock) whenever an entry of the shard is
   * replaced, evicted or cleared: a stamp taken at a read stays valid while
   * it is unchanged (see xs_cache_stamp). */
  atomic_uint epoch;
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
  size_t i, per, nb;
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
  /* A load factor of at most 1: chains stay short, buckets stay small. */
  for (nb = 4; nb < per; nb *= 2)
    ;
  for (i = 0; i <= c->mask; i++) {
    shard *s = &c->shards[i];
    s->cap = per;
    s->nbuckets = nb;
    s->buckets = calloc(nb, sizeof(*s->buckets));
    s->ring = calloc(per, sizeof(*s->ring));
    if (s->buckets == NULL || s->ring == NULL ||
        pthread_rwlock_init(&s->lock, NULL) != 0) {
      free(s->buckets);
      free(s->ring);
      goto fail;
    }
  }
  *out = c;
  return XS_OK;
fail:
  while (i-- > 0) { /* shards before i are complete and empty */
    free(c->shards[i].buckets);
    free(c->shards[i].ring);
    pthread_rwlock_destroy(&c->shards[i].lock);
  }
  free(c);
  return XS_ENOMEM;
}

void xs_cache_free(xs_cache *c) {
  size_t i, k;
  if (c == NULL)
    return;
  for (i = 0; i <= c->mask; i++) {
    shard *s = &c->shards[i];
    for (k = 0; k < s->count; k++)
      free(s->ring[k]);
    free(s->ring);
    free(s->buckets);
    pthread_rwlock_destroy(&s->lock);
  }
  free(c);
}

/* Case-folded, so a name hashes as its lowercase key does. */
static uint32_t key_hash(const char *key, size_t len, uint16_t qtype) {
  return xs_hash_ci(0x9e3779b9u ^ qtype, key, len);
}

static uint32_t *entry_ttls(const entry *e) {
  return (uint32_t *)(void *)(uintptr_t)(e + 1);
}

static const uint8_t *entry_addrs(const entry *e) {
  return (const uint8_t *)(entry_ttls(e) + e->nchain + e->naddrs);
}

static char *entry_key(const entry *e) {
  return (char *)(uintptr_t)(entry_addrs(e) + (size_t)e->addr_size * e->naddrs);
}

static uint64_t expires_ms(const entry *e) {
  return e->stored_ms + (uint64_t)e->lifetime_s * 1000u;
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

/* Entries of s changed or went (under its write lock). */
static void bump(shard *s) {
  atomic_fetch_add_explicit(&s->epoch, 1, memory_order_relaxed);
}

static void unlink_entry(shard *s, entry *e) {
  entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
  while (*pp != e)
    pp = &(*pp)->next;
  *pp = e->next;
}

/* Past the stale window: of no use to anyone. */
static int dead(const xs_cache *c, const entry *e, uint64_t now) {
  return now >= expires_ms(e) + (uint64_t)c->cfg.stale_max * 1000u;
}

/* Make room for one entry in a full shard and return the freed ring slot.
 * CLOCK: the hand passes over (and clears) referenced entries; a dead entry
 * goes even when referenced; before a cold live entry goes, a dead one a
 * few slots ahead is taken instead, and the cold one moves into its slot,
 * so that the new entry always lands just behind the hand. */
static size_t evict_one(xs_cache *c, shard *s, uint64_t now) {
  size_t tries, pos = s->hand;
  for (tries = 0; tries < 2 * s->cap + 1; tries++) {
    entry *e = s->ring[pos];
    s->hand = (pos + 1) % s->cap;
    if (!dead(c, e, now)) {
      size_t k, q;
      if (atomic_load_explicit(&e->referenced, memory_order_relaxed)) {
        atomic_store_explicit(&e->referenced, 0, memory_order_relaxed);
        pos = s->hand;
        continue;
      }
      for (k = 0, q = s->hand; k < DEAD_LOOKAHEAD && q != pos;
           k++, q = (q + 1) % s->cap) {
        if (dead(c, s->ring[q], now)) {
          entry *gone = s->ring[q];
          s->ring[q] = e;
          e->ring = (uint32_t)q;
          e = gone;
          break;
        }
      }
      if (!dead(c, e, now))
        atomic_fetch_add_explicit(&s->evictions, 1, memory_order_relaxed);
    }
    unlink_entry(s, e);
    free(e);
    return pos;
  }
  return pos; /* unreachable: one pass clears every referenced bit */
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* Link i's owner (n octets) is the key and a dot (i == 0) or the previous
 * link's target. */
static int owner_shared(const xs_upstream_answer *a, size_t i, size_t n,
                        const char *key, size_t len) {
  const char *owner = a->chain[i].name;
  if (i > 0)
    return strcmp(owner, a->chain[i - 1].target) == 0;
  return n == len + 1 && owner[len] == '.' && memcmp(owner, key, len) == 0;
}

static uint8_t addr_packing(const xs_upstream_answer *a) {
  size_t i, v4 = 0, v6 = 0;
  for (i = 0; i < a->naddrs; i++) {
    v4 += a->addrs[i].addr.family == 4;
    v6 += a->addrs[i].addr.family == 6;
  }
  return v4 == a->naddrs ? PACK_V4 : v6 == a->naddrs ? PACK_V6 : PACK_ANY;
}

xs_status xs_cache_put(xs_cache *c, const char *name, uint16_t qtype,
                       const xs_upstream_answer *a) {
  char key[XS_NAME_BUF];
  size_t len, size, i, text = 0;
  uint32_t life, h;
  uint16_t shared_owner = 0;
  uint8_t addr_size;
  uint64_t now;
  entry *e, *old, **where;
  shard *s;
  char *p;
  uint8_t *ap;
  if (c == NULL || name == NULL || a == NULL ||
      (len = xs_name_key(name, key)) == 0 || a->nchain > XS_MAX_CHAIN ||
      a->naddrs > XS_UPSTREAM_MAX_ADDRS)
    return XS_EINVAL;
  if (a->status == XS_OK) {
    if (a->naddrs == 0)
      return XS_EINVAL;
    life = (uint32_t)-1;
    for (i = 0; i < a->nchain; i++)
      life = a->chain[i].ttl < life ? a->chain[i].ttl : life;
    for (i = 0; i < a->naddrs; i++)
      life = a->addrs[i].ttl < life ? a->addrs[i].ttl : life;
    life = clamp(life, c->cfg.min_ttl, c->cfg.max_ttl);
  } else if (a->status == XS_ENOTFOUND || a->status == XS_ENODATA) {
    if (a->negative_ttl == 0 || c->cfg.neg_max_ttl == 0)
      return XS_EINVAL; /* no SOA, or negative caching off */
    life = a->negative_ttl < c->cfg.neg_max_ttl ? a->negative_ttl
                                                : c->cfg.neg_max_ttl;
    /* reached through CNAMEs: the answer is no older than its links */
    for (i = 0; i < a->nchain; i++)
      life = a->chain[i].ttl < life ? a->chain[i].ttl : life;
  } else {
    return XS_EINVAL;
  }
  for (i = 0; i < a->nchain; i++) {
    size_t n = strnlen(a->chain[i].name, XS_NAME_BUF);
    size_t t = strnlen(a->chain[i].target, XS_NAME_BUF);
    if (n == XS_NAME_BUF || t == XS_NAME_BUF)
      return XS_EINVAL; /* unterminated */
    if (owner_shared(a, i, n, key, len))
      shared_owner |= (uint16_t)(1u << i);
    else
      text += n + 1;
    text += t + 1;
  }
  addr_size = addr_packing(a);
  size = sizeof(entry) + sizeof(uint32_t) * (a->nchain + a->naddrs) +
         (size_t)addr_size * a->naddrs + len + 1 + text;
  if ((e = malloc(size)) == NULL)
    return XS_ENOMEM;
  now = xs_cache_now(c);
  e->next = NULL;
  e->stored_ms = now;
  e->lifetime_s = life;
  e->negative_ttl = a->negative_ttl;
  e->qtype = qtype;
  e->shared_owner = shared_owner;
  e->key_len = (uint8_t)len;
  e->nchain = (uint8_t)a->nchain;
  e->naddrs = (uint8_t)a->naddrs;
  e->addr_size = addr_size;
  e->status = (uint8_t)a->status;
  atomic_init(&e->referenced, 0);
  atomic_init(&e->prefetched, 0);
  for (i = 0; i < a->nchain; i++)
    entry_ttls(e)[i] = a->chain[i].ttl;
  ap = (uint8_t *)(uintptr_t)entry_addrs(e);
  for (i = 0; i < a->naddrs; i++) {
    entry_ttls(e)[a->nchain + i] = a->addrs[i].ttl;
    if (addr_size == PACK_ANY)
      memcpy(ap, &a->addrs[i].addr, PACK_ANY);
    else
      memcpy(ap, a->addrs[i].addr.bytes, addr_size);
    ap += addr_size;
  }
  p = entry_key(e);
  memcpy(p, key, len + 1);
  p += len + 1;
  for (i = 0; i < a->nchain; i++) {
    size_t t = strlen(a->chain[i].target) + 1;
    if (!(shared_owner & (1u << i))) {
      size_t n = strlen(a->chain[i].name) + 1;
      memcpy(p, a->chain[i].name, n);
      p += n;
    }
    memcpy(p, a->chain[i].target, t);
    p += t;
  }
  h = key_hash(key, len, qtype);
  e->hash = h;
  s = &c->shards[h & c->mask];
  pthread_rwlock_wrlock(&s->lock);
  old = find(s, key, len, h, qtype, &where);
  if (old != NULL) { /* same bucket, same ring slot, as hot as it was */
    e->next = old->next;
    e->ring = old->ring;
    atomic_store_explicit(
        &e->referenced,
        atomic_load_explicit(&old->referenced, memory_order_relaxed),
        memory_order_relaxed);
    *where = e;
    s->ring[e->ring] = e;
    free(old);
    bump(s);
  } else {
    size_t pos;
    if (s->count < s->cap) {
      pos = s->count++;
    } else {
      pos = evict_one(c, s, now);
      bump(s);
    }
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

/* The record's TTL capped at the entry's lifetime, less the time served. */
static uint32_t remaining(uint32_t ttl, uint32_t life, uint64_t elapsed_s) {
  uint64_t t = ttl < life ? ttl : life;
  return t > elapsed_s ? (uint32_t)(t - elapsed_s) : 0;
}

/* Copy e out into out; every TTL is stale_ttl when stale. */
static void copy_out(const xs_cache *c, const entry *e, int stale,
                     uint64_t elapsed, xs_upstream_answer *out) {
  const uint32_t *ttls = entry_ttls(e);
  const uint8_t *ap = entry_addrs(e);
  const char *key = entry_key(e), *p = key + e->key_len + 1;
  size_t i;
  out->status = (xs_status)e->status;
  out->nchain = e->nchain;
  out->naddrs = e->naddrs;
  for (i = 0; i < e->nchain; i++) {
    xs_upstream_link *l = &out->chain[i];
    size_t t;
    if (!(e->shared_owner & (1u << i))) {
      size_t n = strlen(p) + 1;
      memcpy(l->name, p, n);
      p += n;
    } else if (i == 0) {
      memcpy(l->name, key, e->key_len);
      l->name[e->key_len] = '.';
      l->name[e->key_len + 1] = '\0';
    } else {
      strcpy(l->name, out->chain[i - 1].target);
    }
    t = strlen(p) + 1;
    memcpy(l->target, p, t);
    p += t;
    l->ttl =
        stale ? c->cfg.stale_ttl : remaining(ttls[i], e->lifetime_s, elapsed);
  }
  ttls += e->nchain;
  for (i = 0; i < e->naddrs; i++) {
    xs_upstream_addr *o = &out->addrs[i];
    /* constant sizes, so the copies compile to moves */
    if (e->addr_size == PACK_V4) {
      o->addr.family = 4;
      memcpy(o->addr.bytes, ap, PACK_V4);
      memset(o->addr.bytes + PACK_V4, 0, sizeof(o->addr.bytes) - PACK_V4);
    } else if (e->addr_size == PACK_V6) {
      o->addr.family = 6;
      memcpy(o->addr.bytes, ap, PACK_V6);
    } else {
      memcpy(&o->addr, ap, PACK_ANY);
    }
    ap += e->addr_size;
    o->ttl =
        stale ? c->cfg.stale_ttl : remaining(ttls[i], e->lifetime_s, elapsed);
  }
  out->negative_ttl = e->negative_ttl == 0 ? 0
                      : stale
                          ? c->cfg.stale_ttl
                          : remaining(e->negative_ttl, e->lifetime_s, elapsed);
}

int xs_cache_get(xs_cache *c, const char *name, uint16_t qtype, int flags,
                 xs_upstream_answer *out) {
  return xs_cache_get_stamped(c, name, qtype, flags, out, NULL);
}

/* Until when a fresh hit on e at now reads the same: the next whole second
 * of its age (remaining TTLs count down in seconds; the lifetime is whole
 * seconds, so expiry is such a tick), or the prefetch point if the hit
 * that crosses it still has to report PREFETCH. */
static uint64_t same_until(const xs_cache *c, const entry *e, uint64_t now) {
  uint64_t age = now > e->stored_ms ? now - e->stored_ms : 0;
  uint64_t until = e->stored_ms + (age / 1000u + 1u) * 1000u;
  if (c->cfg.prefetch && e->lifetime_s >= 1 &&
      !atomic_load_explicit(&e->prefetched, memory_order_relaxed)) {
    uint64_t p = expires_ms(e) - (uint64_t)e->lifetime_s * 100u;
    if (p > now && p < until)
      until = p;
  }
  return until;
}

int xs_cache_get_stamped(xs_cache *c, const char *name, uint16_t qtype,
                         int flags, xs_upstream_answer *out,
                         xs_cache_stamp *stamp) {
  size_t len;
  uint32_t h;
  uint64_t now, expires = 0;
  shard *s;
  entry *e;
  int result;
  if (stamp != NULL)
    stamp->until_ms = 0; /* vouches for nothing unless fresh */
  if (c == NULL || name == NULL || out == NULL)
    return XS_CACHE_MISS;
  len = strlen(name); /* as given: hashed, compared folded */
  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len == 0 || len > XS_MAX_NAME)
    return XS_CACHE_MISS;
  h = key_hash(name, len, qtype);
  s = &c->shards[h & c->mask];
  now = xs_cache_now(c);
  pthread_rwlock_rdlock(&s->lock);
  e = find(s, name, len, h, qtype, NULL);
  result = XS_CACHE_MISS;
  if (e != NULL) {
    expires = expires_ms(e);
    if (now < expires)
      result = XS_CACHE_FRESH;
    else if ((flags & XS_CACHE_ALLOW_STALE) && c->cfg.stale_max > 0 &&
             !dead(c, e, now))
      result = XS_CACHE_STALE;
  }
  if (result == XS_CACHE_MISS) {
    pthread_rwlock_unlock(&s->lock);
    atomic_fetch_add_explicit(&s->misses, 1, memory_order_relaxed);
    return result;
  }
  /* now may predate a put that won the lock after this thread read it */
  copy_out(c, e, result == XS_CACHE_STALE,
           now > e->stored_ms ? (now - e->stored_ms) / 1000u : 0, out);
  if (!atomic_load_explicit(&e->referenced, memory_order_relaxed))
    atomic_store_explicit(&e->referenced, 1, memory_order_relaxed);
  if (result == XS_CACHE_FRESH && c->cfg.prefetch && e->lifetime_s >= 1 &&
      (expires - now) * 10u <= (uint64_t)e->lifetime_s * 1000u &&
      !atomic_load_explicit(&e->prefetched, memory_order_relaxed)) {
    unsigned char expected = 0;
    if (atomic_compare_exchange_strong_explicit(&e->prefetched, &expected, 1,
                                                memory_order_relaxed,
                                                memory_order_relaxed))
      result |= XS_CACHE_PREFETCH;
  }
  if (stamp != NULL && result != XS_CACHE_STALE) {
    stamp->shard = (uint32_t)(s - c->shards);
    stamp->epoch = atomic_load_explicit(&s->epoch, memory_order_relaxed);
    stamp->until_ms = same_until(c, e, now);
  }
  pthread_rwlock_unlock(&s->lock);
  atomic_fetch_add_explicit(result == XS_CACHE_STALE ? &s->stale_hits
                                                     : &s->hits,
                            1, memory_order_relaxed);
  return result;
}

int xs_cache_stamp_valid(const xs_cache *c, const xs_cache_stamp *stamp,
                         uint64_t now) {
  return now < stamp->until_ms &&
         atomic_load_explicit(&c->shards[stamp->shard].epoch,
                              memory_order_relaxed) == stamp->epoch;
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
    bump(s);
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
