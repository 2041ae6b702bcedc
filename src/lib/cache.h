/* TTL cache of upstream answers, keyed by (name, type): positive entries,
 * negative entries (RFC 2308), serve-stale (RFC 8767), prefetch marks,
 * bounded with CLOCK eviction, sharded so concurrent hits do not
 * serialise. Only upstream answers are cached; registry answers never are,
 * so a registry swap cannot leave a stale alias here.
 *
 * Every function is thread-safe. */
#ifndef XS_CACHE_H
#define XS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "upstream.h"
#include "xsvc.h"

/* Monotonic milliseconds. Injectable so tests drive time by hand. */
typedef uint64_t (*xs_clock_fn)(void *arg);

typedef struct xs_cache_cfg {
  size_t max_entries;   /* bound on entries; default 10000 */
  uint32_t min_ttl;     /* positive TTL clamp, seconds; default 0 */
  uint32_t max_ttl;     /* default 3600 */
  uint32_t neg_max_ttl; /* cap on negative TTLs; default 300; 0: none cached */
  uint32_t stale_max;   /* seconds past expiry an entry may be served stale;
                           default 3600; 0 disables serve-stale */
  uint32_t stale_ttl;   /* TTL reported on stale answers; default 30 */
  int prefetch;         /* nonzero: report PREFETCH in the last 10% of TTL */
  xs_clock_fn clock;    /* NULL: CLOCK_MONOTONIC */
  void *clock_arg;
} xs_cache_cfg;

/* Fill cfg with the defaults above. */
void xs_cache_cfg_default(xs_cache_cfg *cfg);

typedef struct xs_cache xs_cache;

/* XS_OK, XS_EINVAL (max_entries 0, min_ttl > max_ttl), XS_ENOMEM. */
xs_status xs_cache_new(const xs_cache_cfg *cfg, xs_cache **out);
void xs_cache_free(xs_cache *c);

/* The cache's clock, in milliseconds. */
uint64_t xs_cache_now(const xs_cache *c);

/* Store the answer to (name, qtype); name is absolute, trailing dot
 * optional, any case (keys are lowercase without the dot). Caches XS_OK
 * (lifetime: the minimum TTL over chain links and addresses, clamped to
 * [min_ttl, max_ttl]) and XS_ENOTFOUND / XS_ENODATA (lifetime:
 * min(negative_ttl, neg_max_ttl), and no longer than any chain link's TTL;
 * not cached when negative_ttl is 0, i.e. the reply had no SOA). Any other
 * status is ignored and leaves an existing entry in place, so it can still be
 * served stale. Replaces an existing entry for the key. Returns XS_OK,
 * XS_ENOMEM (nothing changed), or XS_EINVAL (status not cacheable, nothing
 * changed). */
xs_status xs_cache_put(xs_cache *c, const char *name, uint16_t qtype,
                       const xs_upstream_answer *a);

/* xs_cache_get flags */
#define XS_CACHE_ALLOW_STALE 1 /* return an expired entry within stale_max */

/* xs_cache_get results (a bit set) */
#define XS_CACHE_MISS 0
#define XS_CACHE_FRESH 1
#define XS_CACHE_STALE 2
/* with FRESH: the hit fell in the last 10% of the entry's lifetime and
 * this caller is the first to be told so for this entry: it should refresh
 * the key in the background. */
#define XS_CACHE_PREFETCH 4

/* Look up (name, qtype). On a hit, fills out: status, nchain + chain[],
 * naddrs + addrs[], negative_ttl; only those parts are written (out need
 * not be zeroed). TTLs are the remaining seconds (original minus elapsed,
 * never below 0); on a stale hit every TTL is stale_ttl. An expired entry is
 * a MISS unless flags has XS_CACHE_ALLOW_STALE and it expired less than
 * stale_max seconds ago. Does not write memory shared with other readers of
 * the same entry except a reference bit that is only set when clear. */
int xs_cache_get(xs_cache *c, const char *name, uint16_t qtype, int flags,
                 xs_upstream_answer *out);

/* What a fresh hit read, for a caller that keeps something derived from it
 * (the resolver's result memo): while the stamp is valid, the same lookup
 * would return exactly the same answer, TTLs included. */
typedef struct xs_cache_stamp {
  uint32_t shard;
  uint32_t epoch;    /* the shard's; bumped when its entries change or go */
  uint64_t until_ms; /* the answer's TTLs tick down (or prefetch is due) */
} xs_cache_stamp;

/* xs_cache_get, and on a FRESH hit (stamp may be NULL) the stamp of what
 * it read; on a miss or a stale hit stamp->until_ms is 0 (never valid). */
int xs_cache_get_stamped(xs_cache *c, const char *name, uint16_t qtype,
                         int flags, xs_upstream_answer *out,
                         xs_cache_stamp *stamp);

/* 1 while the answer a stamp vouches for is still what the cache holds and
 * says at time now (xs_cache_now): the entry was neither replaced nor
 * evicted nor cleared (conservatively: no entry of its shard was), and its
 * TTLs have not ticked down. */
int xs_cache_stamp_valid(const xs_cache *c, const xs_cache_stamp *stamp,
                         uint64_t now);

/* Drop every entry. */
void xs_cache_clear(xs_cache *c);

typedef struct xs_cache_stats {
  uint64_t entries;
  uint64_t hits;       /* fresh */
  uint64_t stale_hits; /* served stale */
  uint64_t misses;
  uint64_t inserts;
  uint64_t evictions; /* live or stale-servable entries dropped for room */
} xs_cache_stats;

void xs_cache_stats_get(xs_cache *c, xs_cache_stats *out);

#endif
