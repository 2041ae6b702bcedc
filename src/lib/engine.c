/* The engine thread (see engine.h). Requests are queued under a lock, in
 * two queues (blocking callers' and the rest, see Fairness in engine.h),
 * and the thread is woken through an eventfd (a pipe where there is none,
 * or when built with -DXS_ENGINE_PIPE); the thread alone touches the
 * c-ares channel and the table of questions in flight (single-flight).
 *
 * A request is completed exactly once, under the lock: `done` is set there
 * first. A cancelled request is completed only by the thread, from the
 * cancelled list; an answer that arrives for it meanwhile passes it by. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__) && !defined(XS_ENGINE_PIPE)
#define XS_ENGINE_EVENTFD 1
#include <sys/eventfd.h>
#endif

#include "names.h"
#include "registry.h"
#include "stats.h"

#define ID_BUCKETS 4096     /* request ids -> requests, for cancel */
#define FLIGHT_BUCKETS 1024 /* questions in flight */
#define MAX_POLL 17         /* the eventfd + c-ares's sockets */

typedef struct flight flight;

typedef struct ereq {
  uint64_t id;
  char name[XS_NAME_BUF];
  uint16_t qtype;
  xs_engine_cb cb;
  xs_engine_raw_cb rcb; /* a raw request (instead of cb) */
  void *arg;
  int blocking;               /* a thread waits: e->blocking_q, not bulk_q */
  uint64_t ahead_mark;        /* blocking: e->bulk_started at submission */
  int queued;                 /* in its queue (under lock) */
  int cancelled;              /* on e->cancelled (under lock) */
  int done;                   /* completed (under lock) */
  struct ereq *qprev, *qnext; /* its queue */
  struct ereq *cnext;         /* e->cancelled */
  struct ereq *idnext;        /* e->ids bucket */
  flight *fl;                 /* the question it waits on (thread only) */
  struct ereq *wprev, *wnext; /* fl->waiters (thread only) */
} ereq;

struct flight {
  xs_engine *e;
  char key[XS_NAME_BUF]; /* lowercase, no trailing dot */
  uint16_t qtype;
  ereq *waiters;
  flight *next;     /* bucket chain */
  uint64_t started; /* xs_stats_now_ns when sent; 0: stats off */
};

/* A question was sent upstream (thread). */
static void count_sent(flight *fl) {
  xs_stats_block *b = xs_stats_self();
  fl->started = 0;
  if (b == NULL)
    return;
  xs_stats_bump(b, XS_C_UPSTREAM_QUERIES, 1);
  fl->started = xs_stats_now_ns();
}

/* Its answer or failure arrived (thread). */
static void count_answer(const flight *fl, xs_status st) {
  xs_stats_block *b;
  if (st == XS_ECANCELLED || (b = xs_stats_self()) == NULL)
    return;
  if (fl->started != 0)
    xs_stats_observe(b, XS_H_UPSTREAM, xs_stats_now_ns() - fl->started);
  if (st == XS_ETIMEOUT)
    xs_stats_bump(b, XS_C_UPSTREAM_TIMEOUTS, 1);
  else if (st == XS_ESERVFAIL)
    xs_stats_bump(b, XS_C_UPSTREAM_SERVFAIL, 1);
  else if (st == XS_EREFUSED || st == XS_EUPSTREAM || st == XS_ENOMEM)
    xs_stats_bump(b, XS_C_UPSTREAM_FAILURES, 1);
  if (st == XS_ETIMEOUT || st == XS_ESERVFAIL || st == XS_EREFUSED ||
      st == XS_EUPSTREAM)
    xs_log(XS_LOG_DEBUG, "upstream %s (type %u): %s", fl->key,
           (unsigned)fl->qtype, xs_strerror(st));
}

typedef struct rqueue {
  ereq *head, *tail;
} rqueue;

struct xs_engine {
  xs_upstream *up;
  xs_cache *cache;
  int wake_rd, wake_wr; /* one eventfd twice, or a pipe's two ends */
  pthread_t thread;
  pthread_mutex_t lock;
  rqueue blocking_q; /* requests a thread is blocked on: all taken per round */
  rqueue bulk_q;     /* the rest: XS_ENGINE_BATCH per round */
  ereq *cancelled;
  ereq *ids[ID_BUCKETS];
  uint64_t next_id;
  int stopping;
  int closing; /* thread: answers now complete as cancelled */
  flight *flights[FLIGHT_BUCKETS];
  xs_upstream_answer scratch; /* thread: a cached answer being handed out */
  atomic_ullong submitted, queries, joined, ncancelled;
  atomic_ullong nblocking;
  atomic_ullong bulk_started; /* bulk requests taken and started (thread) */
  atomic_ullong most_ahead;   /* see xs_engine_stats (thread) */
};

/* Under lock. */
static void rqueue_push(rqueue *q, ereq *r) {
  r->qnext = NULL;
  r->qprev = q->tail;
  if (q->tail != NULL)
    q->tail->qnext = r;
  else
    q->head = r;
  q->tail = r;
}

/* Under lock. */
static void rqueue_unlink(rqueue *q, ereq *r) {
  if (r->qprev != NULL)
    r->qprev->qnext = r->qnext;
  else
    q->head = r->qnext;
  if (r->qnext != NULL)
    r->qnext->qprev = r->qprev;
  else
    q->tail = r->qprev;
  r->qprev = r->qnext = NULL;
}

/* Take up to max requests (0: all) off the front of q (under lock); they
 * stay linked by qnext. */
static ereq *rqueue_take(rqueue *q, size_t max) {
  ereq *first = q->head, *r = first, *last = NULL;
  size_t n = 0;
  while (r != NULL && (max == 0 || n < max)) {
    r->queued = 0;
    last = r;
    r = r->qnext;
    n++;
  }
  if (last == NULL)
    return NULL;
  q->head = r;
  if (r != NULL)
    r->qprev = NULL;
  else
    q->tail = NULL;
  last->qnext = NULL;
  return first;
}

/* ---- wake-up: an eventfd on Linux, a non-blocking pipe elsewhere ---- */

static int wake_open(xs_engine *e) {
#ifdef XS_ENGINE_EVENTFD
  e->wake_rd = e->wake_wr = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return e->wake_rd >= 0;
#else
  int fds[2], i;
  e->wake_rd = e->wake_wr = -1;
  if (pipe(fds) != 0)
    return 0;
  for (i = 0; i < 2; i++)
    if (fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) != 0 ||
        fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
      close(fds[0]);
      close(fds[1]);
      return 0;
    }
  e->wake_rd = fds[0];
  e->wake_wr = fds[1];
  return 1;
#endif
}

static void wake_close(xs_engine *e) {
  if (e->wake_rd >= 0)
    close(e->wake_rd);
  if (e->wake_wr != e->wake_rd && e->wake_wr >= 0)
    close(e->wake_wr);
}

/* A full pipe (EAGAIN) is already readable: nothing is lost. */
static void wake(xs_engine *e) {
  uint64_t one = 1;
  ssize_t n;
  do
    n = write(e->wake_wr, &one, e->wake_wr == e->wake_rd ? sizeof(one) : 1);
  while (n < 0 && errno == EINTR);
}

static void wake_clear(xs_engine *e) {
  unsigned char buf[64];
  ssize_t n;
  do
    n = read(e->wake_rd, buf, e->wake_wr == e->wake_rd ? 8 : sizeof(buf));
  while (n == (ssize_t)sizeof(buf) || (n < 0 && errno == EINTR));
}

static size_t flight_bucket(const char *key, uint16_t qtype) {
  uint32_t h = 2166136261u ^ qtype;
  for (; *key; key++)
    h = (h ^ (unsigned char)*key) * 16777619u;
  return h & (FLIGHT_BUCKETS - 1);
}

/* Under lock. */
static void id_remove(xs_engine *e, ereq *r) {
  ereq **pp = &e->ids[r->id & (ID_BUCKETS - 1)];
  while (*pp != NULL && *pp != r)
    pp = &(*pp)->idnext;
  if (*pp == r)
    *pp = r->idnext;
}

/* Complete r with ans (thread). For a cancelled request only from the
 * cancelled list (force). Frees r. */
static int take(xs_engine *e, ereq *r, int force) {
  pthread_mutex_lock(&e->lock);
  if (r->done || (r->cancelled && !force)) {
    pthread_mutex_unlock(&e->lock);
    return 0;
  }
  r->done = 1;
  id_remove(e, r);
  pthread_mutex_unlock(&e->lock);
  return 1;
}

static void complete(xs_engine *e, ereq *r, const xs_upstream_answer *ans,
                     int force) {
  if (!take(e, r, force))
    return;
  if (r->rcb != NULL)
    r->rcb(r->arg, ans->status, NULL, 0);
  else if (r->cb != NULL)
    r->cb(r->arg, ans);
  free(r);
}

static void flight_unlink_waiter(flight *fl, ereq *r) {
  if (r->wprev != NULL)
    r->wprev->wnext = r->wnext;
  else
    fl->waiters = r->wnext;
  if (r->wnext != NULL)
    r->wnext->wprev = r->wprev;
  r->wprev = r->wnext = NULL;
  r->fl = NULL;
}

static void on_flight(void *arg, const xs_upstream_answer *ans) {
  flight *fl = arg, **pp;
  xs_engine *e = fl->e;
  xs_upstream_answer cancelled;
  ereq *r;
  pp = &e->flights[flight_bucket(fl->key, fl->qtype)];
  while (*pp != fl)
    pp = &(*pp)->next;
  *pp = fl->next;
  count_answer(fl, e->closing ? XS_ECANCELLED : ans->status);
  if (e->closing || ans->status == XS_ECANCELLED) {
    xs_upstream_answer_status(&cancelled, XS_ECANCELLED);
    ans = &cancelled;
  } else if (e->cache != NULL) {
    xs_cache_put(e->cache, fl->key, fl->qtype, ans); /* before the callbacks */
  }
  while ((r = fl->waiters) != NULL) {
    flight_unlink_waiter(fl, r);
    complete(e, r, ans, 0);
  }
  free(fl);
}

/* A raw request's reply (its flight is its own, in no bucket: a cancel
 * unlinks the request, and the reply then finds no waiter). */
static void on_raw(void *arg, xs_status st, const unsigned char *buf,
                   size_t len) {
  flight *fl = arg;
  xs_engine *e = fl->e;
  ereq *r;
  if (e->closing) {
    st = XS_ECANCELLED;
    buf = NULL;
    len = 0;
  }
  count_answer(fl, st);
  while ((r = fl->waiters) != NULL) {
    flight_unlink_waiter(fl, r);
    if (take(e, r, 0))
      r->rcb(r->arg, st, buf, len);
    else
      continue; /* completed elsewhere: not ours to free */
    free(r);
  }
  free(fl);
}

static void attach_raw(xs_engine *e, ereq *r) {
  flight *fl = malloc(sizeof(*fl));
  xs_status st;
  if (fl == NULL) {
    xs_upstream_answer a;
    xs_upstream_answer_status(&a, XS_ENOMEM);
    complete(e, r, &a, 0);
    return;
  }
  fl->e = e;
  fl->key[0] = '\0';
  fl->qtype = r->qtype;
  fl->next = NULL;
  fl->waiters = r;
  r->fl = fl;
  r->wprev = r->wnext = NULL;
  atomic_fetch_add(&e->queries, 1);
  count_sent(fl);
  st = xs_upstream_start_raw(e->up, r->name, r->qtype, on_raw, fl);
  if (st != XS_OK)
    on_raw(fl, st, NULL, 0);
}

/* Attach a request to its question, starting the query if nobody asks it
 * yet (thread). */
static void attach(xs_engine *e, ereq *r) {
  char key[XS_NAME_BUF];
  flight *fl, **bucket;
  xs_status st;
  if (r->rcb != NULL) {
    attach_raw(e, r);
    return;
  }
  xs_name_key(r->name, key); /* checked by xs_engine_submit */
  bucket = &e->flights[flight_bucket(key, r->qtype)];
  for (fl = *bucket; fl != NULL; fl = fl->next)
    if (fl->qtype == r->qtype && strcmp(fl->key, key) == 0)
      break;
  if (fl != NULL) {
    atomic_fetch_add(&e->joined, 1);
  } else if (r->cb != NULL && e->cache != NULL &&
             (xs_cache_get(e->cache, key, r->qtype, 0, &e->scratch) &
              XS_CACHE_FRESH)) {
    /* Answered while this request was queued (its asker saw a miss): no
     * second query. A prefetch (no callback) always asks. */
    complete(e, r, &e->scratch, 0);
    return;
  } else {
    if ((fl = malloc(sizeof(*fl))) == NULL) {
      xs_upstream_answer a;
      xs_upstream_answer_status(&a, XS_ENOMEM);
      complete(e, r, &a, 0);
      return;
    }
    fl->e = e;
    memcpy(fl->key, key, strlen(key) + 1);
    fl->qtype = r->qtype;
    fl->waiters = NULL;
    fl->next = *bucket;
    *bucket = fl;
    atomic_fetch_add(&e->queries, 1);
    count_sent(fl);
    /* The request waits before the query starts: a query that fails at
     * once completes it through on_flight. */
    r->fl = fl;
    r->wprev = NULL;
    r->wnext = NULL;
    fl->waiters = r;
    st = xs_upstream_start(e->up, fl->key, fl->qtype, on_flight, fl);
    if (st != XS_OK) {
      xs_upstream_answer a;
      xs_upstream_answer_status(&a, st);
      on_flight(fl, &a);
    }
    return;
  }
  r->fl = fl;
  r->wprev = NULL;
  r->wnext = fl->waiters;
  if (fl->waiters != NULL)
    fl->waiters->wprev = r;
  fl->waiters = r;
}

/* Start the requests of list (taken off a queue), skipping those
 * cancelled since (thread). */
static void start_taken(xs_engine *e, ereq *list,
                        const xs_upstream_answer *cancelled) {
  ereq *r;
  while ((r = list) != NULL) {
    int skip;
    list = r->qnext;
    r->qnext = r->qprev = NULL;
    pthread_mutex_lock(&e->lock);
    skip = r->cancelled; /* completed from the cancelled list */
    pthread_mutex_unlock(&e->lock);
    if (skip)
      continue;
    if (r->blocking) {
      uint64_t ahead = atomic_load(&e->bulk_started) - r->ahead_mark;
      if (ahead > atomic_load(&e->most_ahead))
        atomic_store(&e->most_ahead, ahead);
    } else {
      atomic_fetch_add(&e->bulk_started, 1);
    }
    if (e->closing)
      complete(e, r, cancelled, 0);
    else
      attach(e, r);
  }
}

/* One round (thread): every blocking request queued, then at most
 * XS_ENGINE_BATCH of the others, then the cancellations. Returns 1 if
 * requests are left queued for the next round. */
static int drain(xs_engine *e) {
  ereq *blocking, *bulk, *cancelled, *r;
  xs_upstream_answer a;
  int more;
  pthread_mutex_lock(&e->lock);
  blocking = rqueue_take(&e->blocking_q, 0);
  bulk = rqueue_take(&e->bulk_q, XS_ENGINE_BATCH);
  cancelled = e->cancelled;
  e->cancelled = NULL;
  pthread_mutex_unlock(&e->lock);
  xs_upstream_answer_status(&a, XS_ECANCELLED);
  start_taken(e, blocking, &a);
  start_taken(e, bulk, &a);
  while ((r = cancelled) != NULL) {
    cancelled = r->cnext;
    if (r->fl != NULL)
      flight_unlink_waiter(r->fl, r); /* the query goes on for the others */
    complete(e, r, &a, 1);
  }
  pthread_mutex_lock(&e->lock);
  more = e->blocking_q.head != NULL || e->bulk_q.head != NULL;
  pthread_mutex_unlock(&e->lock);
  return more;
}

/* Stopping (thread): every request completes, cancelled. A cancel (from a
 * callback run by the drain itself, or from another thread) can move a
 * request the drain has already taken onto the cancelled list after the
 * drain took that list, so drain until both lists stay empty; nothing new
 * is queued once stopping is set. */
static void shut_down(xs_engine *e) {
  xs_upstream_answer a;
  size_t i;
  int more;
  e->closing = 1;
  xs_upstream_cancel_all(e->up); /* in-flight questions, through on_flight */
  xs_upstream_answer_status(&a, XS_ECANCELLED);
  for (i = 0; i < FLIGHT_BUCKETS; i++) /* none expected after the cancel */
    while (e->flights[i] != NULL)
      on_flight(e->flights[i], &a);
  do {
    more = drain(e);
    pthread_mutex_lock(&e->lock);
    more |= e->cancelled != NULL;
    pthread_mutex_unlock(&e->lock);
  } while (more);
}

static void *engine_main(void *arg) {
  xs_engine *e = arg;
  int more = 0; /* requests left queued by the last round */
  for (;;) {
    struct pollfd pfd[MAX_POLL];
    int n, ms, rc, stop;
    pthread_mutex_lock(&e->lock);
    stop = e->stopping;
    pthread_mutex_unlock(&e->lock);
    if (stop)
      break;
    pfd[0].fd = e->wake_rd;
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
    n = xs_upstream_pollfds(e->up, pfd + 1, MAX_POLL - 1);
    /* with requests left queued, only look: replies that are in are
     * handled between rounds, then the next round starts at once */
    ms = more ? 0 : xs_upstream_timeout_ms(e->up);
    rc = poll(pfd, (nfds_t)n + 1, ms);
    if (rc > 0 && (pfd[0].revents & POLLIN))
      wake_clear(e);
    /* rc < 0 (EINTR): only timeouts are due, if any */
    if (ms >= 0 || n > 0)
      xs_upstream_process(e->up, pfd + 1, rc > 0 ? n : 0);
    more = drain(e);
  }
  shut_down(e);
  return NULL;
}

xs_status xs_engine_new(const xs_upstream_cfg *cfg, xs_cache *cache,
                        xs_engine **out, xs_error *err) {
  sigset_t all, old;
  xs_engine *e;
  xs_status st;
  int started;
  if (out == NULL) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "out must not be NULL");
    return XS_EINVAL;
  }
  if ((e = calloc(1, sizeof(*e))) == NULL) {
    xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "out of memory");
    return XS_ENOMEM;
  }
  if ((st = xs_upstream_new(cfg, &e->up, err)) != XS_OK) {
    free(e);
    return st;
  }
  e->cache = cache;
  e->next_id = 1;
  pthread_mutex_init(&e->lock, NULL);
  if (!wake_open(e)) {
    xs_error_set(err, XS_EUPSTREAM, NULL, 0, 0,
                 "cannot create the resolver's wake-up descriptor: %s",
                 strerror(errno));
    goto fail;
  }
  /* The thread takes no asynchronous signals: they stay with the
   * application's threads (the mask is inherited at creation). */
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGFPE);
  sigdelset(&all, SIGILL);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  started = pthread_create(&e->thread, NULL, engine_main, e) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!started) {
    xs_error_set(err, XS_EUPSTREAM, NULL, 0, 0,
                 "cannot start the resolver's engine thread");
    goto fail;
  }
  *out = e;
  return XS_OK;

fail:
  wake_close(e);
  pthread_mutex_destroy(&e->lock);
  xs_upstream_free(e->up);
  free(e);
  return XS_EUPSTREAM;
}

void xs_engine_free(xs_engine *e) {
  if (e == NULL)
    return;
  pthread_mutex_lock(&e->lock);
  e->stopping = 1;
  pthread_mutex_unlock(&e->lock);
  wake(e);
  pthread_join(e->thread, NULL);
  xs_upstream_free(e->up);
  wake_close(e);
  pthread_mutex_destroy(&e->lock);
  free(e);
}

static xs_status submit(xs_engine *e, const char *name, uint16_t qtype,
                        xs_engine_cb cb, xs_engine_raw_cb rcb, void *arg,
                        int blocking, uint64_t *id) {
  size_t len;
  ereq *r;
  if (e == NULL || name == NULL)
    return XS_EINVAL;
  {
    char key[XS_NAME_BUF];
    if (xs_name_key(name, key) == 0) /* empty, or too long for a name */
      return XS_EINVAL;
  }
  len = strlen(name);
  if ((r = calloc(1, sizeof(*r))) == NULL)
    return XS_ENOMEM;
  memcpy(r->name, name, len + 1);
  r->qtype = qtype;
  r->cb = cb;
  r->rcb = rcb;
  r->arg = arg;
  r->blocking = blocking;
  pthread_mutex_lock(&e->lock);
  if (e->stopping) {
    pthread_mutex_unlock(&e->lock);
    free(r);
    return XS_ECANCELLED;
  }
  r->id = e->next_id++;
  r->queued = 1;
  if (blocking) {
    r->ahead_mark = atomic_load(&e->bulk_started);
    rqueue_push(&e->blocking_q, r);
  } else {
    rqueue_push(&e->bulk_q, r);
  }
  r->idnext = e->ids[r->id & (ID_BUCKETS - 1)];
  e->ids[r->id & (ID_BUCKETS - 1)] = r;
  if (id != NULL)
    *id = r->id;
  pthread_mutex_unlock(&e->lock);
  atomic_fetch_add(&e->submitted, 1);
  if (blocking)
    atomic_fetch_add(&e->nblocking, 1);
  wake(e);
  return XS_OK;
}

xs_status xs_engine_submit(xs_engine *e, const char *name, uint16_t qtype,
                           xs_engine_cb cb, void *arg, uint64_t *id) {
  if (qtype != 1 && qtype != 28)
    return XS_EINVAL;
  return submit(e, name, qtype, cb, NULL, arg, 0, id);
}

xs_status xs_engine_submit_blocking(xs_engine *e, const char *name,
                                    uint16_t qtype, xs_engine_cb cb, void *arg,
                                    uint64_t *id) {
  if (qtype != 1 && qtype != 28)
    return XS_EINVAL;
  return submit(e, name, qtype, cb, NULL, arg, 1, id);
}

xs_status xs_engine_submit_raw(xs_engine *e, const char *name, uint16_t qtype,
                               xs_engine_raw_cb cb, void *arg, uint64_t *id) {
  if (cb == NULL || qtype == 0)
    return XS_EINVAL;
  return submit(e, name, qtype, NULL, cb, arg, 0, id);
}

int xs_engine_cancel(xs_engine *e, uint64_t id) {
  ereq *r;
  if (e == NULL || id == 0)
    return 0;
  pthread_mutex_lock(&e->lock);
  for (r = e->ids[id & (ID_BUCKETS - 1)]; r != NULL; r = r->idnext)
    if (r->id == id)
      break;
  if (r == NULL || r->done || r->cancelled) {
    pthread_mutex_unlock(&e->lock);
    return 0;
  }
  r->cancelled = 1;
  if (r->queued) { /* not taken by the thread yet: out of the queue */
    rqueue_unlink(r->blocking ? &e->blocking_q : &e->bulk_q, r);
    r->queued = 0;
  }
  r->cnext = e->cancelled;
  e->cancelled = r;
  pthread_mutex_unlock(&e->lock);
  atomic_fetch_add(&e->ncancelled, 1);
  wake(e);
  return 1;
}

void xs_engine_stats_get(xs_engine *e, xs_engine_stats *out) {
  memset(out, 0, sizeof(*out));
  if (e == NULL)
    return;
  out->submitted = atomic_load(&e->submitted);
  out->queries = atomic_load(&e->queries);
  out->joined = atomic_load(&e->joined);
  out->cancelled = atomic_load(&e->ncancelled);
  out->blocking = atomic_load(&e->nblocking);
  out->most_ahead_of_blocking = atomic_load(&e->most_ahead);
}

int xs_engine_stopping(xs_engine *e) {
  int stopping;
  pthread_mutex_lock(&e->lock);
  stopping = e->stopping;
  pthread_mutex_unlock(&e->lock);
  return stopping;
}
