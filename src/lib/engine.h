/* The resolver's engine: one thread that owns the c-ares channel and drives
 * it with ares_getsock / ares_process_fd / ares_timeout (c-ares 1.18 has no
 * event thread of its own). Requests enter through locked queues with an
 * eventfd wake-up; identical in-flight questions (same lowercase name and
 * type) share one upstream query (single-flight); answers are stored in the
 * cache (when one is given) before the callbacks run.
 *
 * Fairness: two queues. Requests a thread is blocked on
 * (xs_engine_submit_blocking: xs_resolve, xs_connect) are all taken each
 * round, before any other; the rest (xs_engine_submit: asynchronous
 * requests, prefetches, a server's forwarding) are taken at most
 * XS_ENGINE_BATCH per round, in the order submitted. So between a blocking
 * request's submission and its query going to c-ares (or joining one in
 * flight), at most XS_ENGINE_BATCH other requests are started, however
 * many are queued; and no request waits behind blocking ones for more than
 * a round, since a blocked thread has at most a few questions queued.
 *
 * Fork: the engine thread does not survive fork(). A child process must
 * not use (nor free) an engine, or a resolver, created before the fork:
 * the thread is gone and the lock may be held forever. It creates its own.
 * The engine's descriptors are close-on-exec. The thread blocks
 * asynchronous signals, so they are delivered to the application's threads. */
#ifndef XS_ENGINE_H
#define XS_ENGINE_H

#include <stdint.h>

#include "cache.h"
#include "upstream.h"

typedef struct xs_engine xs_engine;

/* Runs on the engine thread, exactly once per submitted request: with the
 * upstream answer, or with ans->status XS_ECANCELLED after xs_engine_cancel
 * or xs_engine_free. ans is valid only during the call. Must not block and
 * must not call xs_engine_free. It may call xs_engine_submit. */
typedef void (*xs_engine_cb)(void *arg, const xs_upstream_answer *ans);

/* Queued requests of the non-blocking class taken per round. */
#define XS_ENGINE_BATCH XS_ASYNC_BATCH

typedef struct xs_engine_stats {
  uint64_t submitted; /* requests accepted */
  uint64_t queries;   /* upstream queries started (after single-flight) */
  uint64_t joined;    /* requests that joined a query already in flight */
  uint64_t cancelled;
  uint64_t blocking; /* requests submitted with xs_engine_submit_blocking */
  /* The most non-blocking requests started (sent, joined or answered from
   * the cache) between a blocking request's submission and its own start:
   * at most XS_ENGINE_BATCH. */
  uint64_t most_ahead_of_blocking;
} xs_engine_stats;

/* Start the engine thread. cache may be NULL; when given it must outlive
 * the engine. XS_OK, XS_EINVAL (bad server string: err says which),
 * XS_ENOMEM, XS_EUPSTREAM (c-ares or the thread could not start). */
xs_status xs_engine_new(const xs_upstream_cfg *cfg, xs_cache *cache,
                        xs_engine **out, xs_error *err);

/* Complete every pending request with XS_ECANCELLED (callbacks run before
 * this returns), stop and join the thread, free. Must not be called from a
 * callback. NULL is a no-op. */
void xs_engine_free(xs_engine *e);

/* Ask for (name, qtype) (qtype 1 = A, 28 = AAAA; name absolute, trailing
 * dot optional). cb may be NULL (a prefetch: the answer only refreshes the
 * cache). On XS_OK *id (if id is non-NULL) names the request for
 * xs_engine_cancel and cb will run exactly once; on failure (XS_ENOMEM,
 * XS_EINVAL for a bad name or type, XS_ECANCELLED from a callback run while
 * xs_engine_free is completing requests) cb never runs. Any thread. */
xs_status xs_engine_submit(xs_engine *e, const char *name, uint16_t qtype,
                           xs_engine_cb cb, void *arg, uint64_t *id);
/* The same for a request a thread is blocked on: it goes ahead of those of
 * xs_engine_submit (see Fairness above). */
xs_status xs_engine_submit_blocking(xs_engine *e, const char *name,
                                    uint16_t qtype, xs_engine_cb cb, void *arg,
                                    uint64_t *id);

/* Runs on the engine thread, exactly once per xs_engine_submit_raw request
 * (see xs_upstream_raw_cb; status XS_ECANCELLED after xs_engine_cancel or
 * xs_engine_free). buf is valid only during the call. */
typedef void (*xs_engine_raw_cb)(void *arg, xs_status status,
                                 const unsigned char *buf, size_t len);

/* Ask upstream for (name, qtype) of any type and hand the reply over as it
 * came: no cache, no sharing with other requests (a server forwarding a
 * query). Otherwise as xs_engine_submit. */
xs_status xs_engine_submit_raw(xs_engine *e, const char *name, uint16_t qtype,
                               xs_engine_raw_cb cb, void *arg, uint64_t *id);

/* Cancel a request: its callback runs soon on the engine thread with
 * XS_ECANCELLED (the upstream query goes on if other requests share it).
 * Returns 1 if the request was still pending, 0 if it had completed or is
 * unknown. Any thread, also from a callback. */
int xs_engine_cancel(xs_engine *e, uint64_t id);

void xs_engine_stats_get(xs_engine *e, xs_engine_stats *out);
/* 1 once xs_engine_free has begun (for tests that must act then). */
int xs_engine_stopping(xs_engine *e);

#endif
