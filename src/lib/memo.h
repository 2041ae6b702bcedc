/* The resolver's result memo: finished results of blocking resolutions,
 * keyed by the exact query (as the caller spelled it) and family, so that
 * asking the same name again costs one hash probe and one copy instead of
 * the search walk, the registry answers, the cache lookups and the result
 * build.
 *
 * A memoised result is exactly what a new walk would return, because it is
 * served only while everything it was made from still holds:
 *   - the registry version the walk read (any publish invalidates it);
 *   - every cache entry the walk read, through their stamps (an entry
 *     replaced, evicted or cleared invalidates it; so does the next whole
 *     second of its age, when its remaining TTLs tick down, and its prefetch
 *     point, so the first hit past it still triggers the refresh);
 *   - the resolver's configuration, which never changes.
 * Only walks that finished on the caller's thread from fresh data are
 * stored: nothing from upstream in flight, nothing stale.
 *
 * Sets of four slots (the number of sets a power of two); a name lives in
 * any slot of its set, and a store into a full set replaces its slots in
 * turn. Results larger than XS_MEMO_MAX_RESULT octets are not stored; a
 * slot's buffer only grows (doubling), so the memo's memory stays below
 * about slots * 2 * (XS_MEMO_MAX_RESULT + a name and stamps).
 *
 * Every function is thread-safe. Readers write nothing shared: each slot
 * is a sequence lock (readers copy, then check that no store overlapped
 * their copy, else miss), so any number of threads read the same name
 * without contending. Stores into one set are serialised by a flag; a
 * store that finds it taken is dropped. */
#ifndef XS_MEMO_H
#define XS_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

#define XS_MEMO_MAX_SLOTS (1u << 20)
#define XS_MEMO_MAX_RESULT 2048
/* stamps per result: two families per candidate, a few candidates */
#define XS_MEMO_STAMPS 8

typedef struct xs_memo xs_memo;

typedef struct xs_memo_key {
  const char *name; /* name[0..len), exact octets */
  size_t len;
  int family;
  uint32_t hash;
} xs_memo_key;

/* slots is rounded up to a power of two (at most XS_MEMO_MAX_SLOTS).
 * XS_OK, XS_EINVAL (slots 0), XS_ENOMEM. */
xs_status xs_memo_new(size_t slots, xs_memo **out);
void xs_memo_free(xs_memo *m);

void xs_memo_key_init(xs_memo_key *k, const char *name, size_t len, int family);

/* A new copy (malloc'd, size octets as stored; the caller frees it) of the
 * blob stored under k, if it was stored for registry version and every
 * stamp it was stored with is still valid in cache c at now; NULL
 * otherwise (or out of memory). c may be NULL when nothing was stored with
 * stamps. */
void *xs_memo_get(xs_memo *m, const xs_memo_key *k, uint64_t version,
                  const xs_cache *c, uint64_t now);

/* Store a copy of blob[0..size) under k, made from registry version and
 * the cache reads stamps[0..nstamps) (each must be a fresh hit's). Does
 * nothing when the blob is too large, nstamps exceeds XS_MEMO_STAMPS, or
 * memory is short: the memo is only ever an optimisation. */
void xs_memo_put(xs_memo *m, const xs_memo_key *k, uint64_t version,
                 const xs_cache_stamp *stamps, size_t nstamps, const void *blob,
                 size_t size);

#endif
