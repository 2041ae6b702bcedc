/* Process-wide counters, latency histograms and the log callback.
 *
 * Counting must cost next to nothing on the result-memo hit path (about
 * 85 ns), so nothing shared is written there: each thread owns a block of
 * counters that only it writes (a relaxed load and store, no atomic
 * read-modify-write, no lock), and readers sum the blocks under a mutex
 * that only thread start/exit and readers take. A thread's block is folded
 * into the departed totals when the thread exits. Latency of lookups
 * answered on the calling thread is timed for one lookup in
 * XS_STATS_SAMPLE per thread: reading the clock twice would cost about
 * half of a memo hit. Upstream queries are timed every one. */
#ifndef XS_STATS_H
#define XS_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "xsvc.h"

#define XS_STATS_SAMPLE 64 /* a power of two */

enum {
  /* lookups by outcome: XS_C_LOOKUPS + xs_status for those that walked,
   * XS_C_MEMO_LOOKUPS + xs_status for result-memo hits (one store on that
   * path; the sums and the memo hits are added up when read, and policy
   * refusals are the XS_EPOLICY outcomes) */
  XS_C_LOOKUPS = 0,
  XS_C_MEMO_LOOKUPS = XS_C_LOOKUPS + XS_STATUS_COUNT,
  XS_C_CACHE_HITS = XS_C_MEMO_LOOKUPS + XS_STATUS_COUNT,
  XS_C_CACHE_MISSES,
  XS_C_CACHE_STALE,
  XS_C_CACHE_PREFETCHES,
  XS_C_UPSTREAM_QUERIES,
  XS_C_UPSTREAM_TIMEOUTS,
  XS_C_UPSTREAM_SERVFAIL,
  XS_C_UPSTREAM_FAILURES,
  XS_C_RELOADS_OK,
  XS_C_RELOADS_FAILED,
  /* server replies by rcode: XS_C_SERVER_RCODES + rcode (0..15) */
  XS_C_SERVER_RCODES,
  XS_C_COUNT = XS_C_SERVER_RCODES + 16
};

enum { XS_H_HIT = 0, XS_H_UPSTREAM, XS_H_COUNT };

typedef struct xs_stats_block {
  _Atomic uint64_t c[XS_C_COUNT];
  _Atomic uint64_t
      bucket[XS_H_COUNT][XS_STATS_MAX_BUCKETS]; /* not cumulative */
  _Atomic uint64_t sum_ns[XS_H_COUNT];
  unsigned tick; /* the owner's lookups, for sampling */
  struct xs_stats_block *prev, *next;
} xs_stats_block;

extern atomic_int xs_stats_on;
extern _Thread_local xs_stats_block *xs_stats_tls;

/* The calling thread's block, created on first use (NULL: out of memory). */
xs_stats_block *xs_stats_block_new(void);

static inline xs_stats_block *xs_stats_self(void) {
  xs_stats_block *b;
  if (!atomic_load_explicit(&xs_stats_on, memory_order_relaxed))
    return NULL;
  b = xs_stats_tls;
  return b != NULL ? b : xs_stats_block_new();
}

/* Only the owning thread writes its block: no read-modify-write needed. */
static inline void xs_stats_bump(xs_stats_block *b, int counter, uint64_t n) {
  atomic_store_explicit(
      &b->c[counter],
      atomic_load_explicit(&b->c[counter], memory_order_relaxed) + n,
      memory_order_relaxed);
}

static inline void xs_count(int counter) {
  xs_stats_block *b = xs_stats_self();
  if (b != NULL)
    xs_stats_bump(b, counter, 1);
}

uint64_t xs_stats_now_ns(void);
void xs_stats_observe(xs_stats_block *b, int histogram, uint64_t ns);

/* The start of a lookup: 0 when it is not timed, else the clock. */
static inline uint64_t xs_stats_lookup_begin(xs_stats_block *b) {
  if (b == NULL || (++b->tick & (XS_STATS_SAMPLE - 1)) != 0)
    return 0;
  return xs_stats_now_ns();
}

/* A finished lookup: its outcome, whether the result memo answered it,
 * and its latency when begin timed it (t0 != 0: answered on this
 * thread). */
static inline void xs_stats_lookup_end(xs_stats_block *b, xs_status status,
                                       int memo, uint64_t t0) {
  if (b == NULL)
    return;
  if ((unsigned)status < XS_STATUS_COUNT)
    xs_stats_bump(b, (memo ? XS_C_MEMO_LOOKUPS : XS_C_LOOKUPS) + (int)status,
                  1);
  if (t0 != 0)
    xs_stats_observe(b, XS_H_HIT, xs_stats_now_ns() - t0);
}

/* The library's events for the application's log callback. */
void xs_log(xs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 1 when a message at level would reach the callback. */
int xs_log_enabled(xs_log_level level);

#endif
