/* The engine thread against a scripted DNS responder on 127.0.0.1: answers,
 * statuses, single-flight, cancellation, shutdown, re-entrant callbacks and
 * the cache. The responder answers from a table of rules, counts every
 * query per (name, type), logs the order queries arrive in, and can hold
 * a rule's replies until the test releases them, so in-flight states are
 * reached without timing guesses. Waits end on the event awaited (or on
 * tests/common/wait.h's hang deadline), never after a fixed time, and an
 * upstream timeout is short only where it is meant to fire: a reply the
 * test expects can be late on a loaded machine without failing it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "engine.h"
#include "wait.h"

/* The per-attempt timeout where the responder answers: a timeout is not
 * meant to fire there, however loaded the machine. */
#define ANSWER_MS XS_TEST_HANG_MS

/* ---- time ---------------------------------------------------------------- */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

/* ---- the scripted responder ---------------------------------------------- */

enum action { ANSWER, NXDOMAIN, SERVFAIL, REFUSED, SILENT };

#define RSP_RULES 16
#define RSP_KEYS 128
#define RSP_HELD 256
#define RSP_LOG 8192 /* queries logged in arrival order */
/* SOA MINIMUM of NXDOMAIN replies (the SOA's own TTL is twice that) */
#define RSP_NEG_TTL 45

typedef struct rule {
  char name[64]; /* lowercase, no dot; "*.zone" matches names under zone */
  enum action action;
  uint32_t ttl;
  unsigned octet; /* last address octet; 0: the digits of the first label */
  int hold;       /* keep replies until rsp_release */
} rule;

typedef struct held {
  unsigned char buf[512];
  size_t len;
  struct sockaddr_in to;
  int rule;
} held;

typedef struct responder {
  int fd;
  char server[32];
  pthread_t thread;
  atomic_int stop;
  pthread_mutex_t lock; /* everything below */
  rule rules[RSP_RULES];
  int nrules;
  struct {
    char name[64];
    uint16_t qtype;
    int count;
  } keys[RSP_KEYS];
  int nkeys, total;
  held held[RSP_HELD];
  int nheld;
  int released; /* held replies sent */
  struct {
    char name[64];
    uint16_t qtype;
  } log[RSP_LOG];
  int nlog;
} responder;

static void put16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v & 0xffff);
}

/* Append an RR owned by the question name (pointer to offset 12). */
static size_t put_rr(unsigned char *p, unsigned type, uint32_t ttl,
                     const unsigned char *rdata, unsigned rdlen) {
  put16(p, 0xc00c);
  put16(p + 2, type);
  put16(p + 4, 1);
  put32(p + 6, ttl);
  put16(p + 10, rdlen);
  memcpy(p + 12, rdata, rdlen);
  return 12 + rdlen;
}

static int rule_matches(const rule *r, const char *name) {
  size_t n = strlen(name), s;
  if (r->name[0] != '*')
    return strcmp(r->name, name) == 0;
  s = strlen(r->name + 1); /* ".zone" */
  return n > s && strcmp(name + n - s, r->name + 1) == 0;
}

static unsigned octet_of(const rule *r, const char *name) {
  unsigned v = 0;
  if (r->octet != 0)
    return r->octet;
  for (; *name && *name != '.'; name++)
    if (*name >= '0' && *name <= '9')
      v = v * 10 + (unsigned)(*name - '0');
  return v % 250 + 1;
}

/* Under lock. */
static void count_query(responder *r, const char *name, uint16_t qtype) {
  int i;
  r->total++;
  if (r->nlog < RSP_LOG) {
    snprintf(r->log[r->nlog].name, sizeof(r->log[0].name), "%s", name);
    r->log[r->nlog].qtype = qtype;
    r->nlog++;
  }
  for (i = 0; i < r->nkeys; i++)
    if (r->keys[i].qtype == qtype && strcmp(r->keys[i].name, name) == 0) {
      r->keys[i].count++;
      return;
    }
  if (r->nkeys < RSP_KEYS) {
    snprintf(r->keys[r->nkeys].name, sizeof(r->keys[0].name), "%s", name);
    r->keys[r->nkeys].qtype = qtype;
    r->keys[r->nkeys].count = 1;
    r->nkeys++;
  }
}

/* Build the reply to one query (under lock); 0: stay silent. */
static size_t build_reply(responder *r, const unsigned char *q, size_t qlen,
                          unsigned char *out, int *rule_index) {
  char name[64];
  size_t off = 12, used = 0, n;
  uint16_t qtype;
  const rule *ru = NULL;
  unsigned rcode = 0, an = 0, ns = 0;
  int i;
  if (qlen < 12 || (q[2] & 0x80) != 0 || ((q[4] << 8) | q[5]) != 1)
    return 0;
  while (off < qlen && q[off] != 0) {
    unsigned len = q[off], k;
    if ((len & 0xc0) != 0 || off + 1 + len >= qlen ||
        used + len + 1 >= sizeof(name))
      return 0;
    if (used > 0)
      name[used++] = '.';
    for (k = 0; k < len; k++) {
      char c = (char)q[off + 1 + k];
      name[used++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    off += 1 + len;
  }
  if (off + 5 > qlen)
    return 0;
  name[used] = '\0';
  off++; /* the root label */
  qtype = (uint16_t)((q[off] << 8) | q[off + 1]);
  off += 4;
  count_query(r, name, qtype);
  for (i = 0; i < r->nrules && ru == NULL; i++)
    if (rule_matches(&r->rules[i], name)) {
      ru = &r->rules[i];
      *rule_index = i;
    }
  if (ru == NULL || ru->action == SILENT)
    return 0;
  memcpy(out, q, off); /* id, flags, counts, question */
  n = off;
  switch (ru->action) {
  case ANSWER: {
    unsigned char rd[16];
    unsigned o = octet_of(ru, name);
    if (qtype == 1) {
      rd[0] = 192, rd[1] = 0, rd[2] = 2, rd[3] = (unsigned char)o;
      n += put_rr(out + n, 1, ru->ttl, rd, 4);
      an = 1;
    } else if (qtype == 28) {
      memset(rd, 0, sizeof(rd));
      rd[0] = 0x20, rd[1] = 0x01, rd[2] = 0x0d, rd[3] = 0xb8;
      rd[15] = (unsigned char)o;
      n += put_rr(out + n, 28, ru->ttl, rd, 16);
      an = 1;
    }
    break;
  }
  case NXDOMAIN: {
    unsigned char rd[22];
    memset(rd, 0, sizeof(rd)); /* mname ".", rname "." */
    put32(rd + 2, 1);
    put32(rd + 6, 7200);
    put32(rd + 10, 1800);
    put32(rd + 14, 86400);
    put32(rd + 18, RSP_NEG_TTL);
    n += put_rr(out + n, 6, 2 * RSP_NEG_TTL, rd, sizeof(rd));
    rcode = 3;
    ns = 1;
    break;
  }
  case SERVFAIL:
    rcode = 2;
    break;
  default:
    rcode = 5;
    break;
  }
  out[2] = (unsigned char)(0x80 | (q[2] & 0x01)); /* QR, RD copied */
  out[3] = (unsigned char)(0x80 | rcode);         /* RA */
  put16(out + 6, an);
  put16(out + 8, ns);
  put16(out + 10, 0);
  return n;
}

static void send_released(responder *r) {
  int i = 0;
  pthread_mutex_lock(&r->lock);
  while (i < r->nheld) {
    held *h = &r->held[i];
    if (r->rules[h->rule].hold) {
      i++;
      continue;
    }
    (void)sendto(r->fd, h->buf, h->len, 0, (struct sockaddr *)&h->to,
                 sizeof(h->to));
    r->released++;
    r->held[i] = r->held[--r->nheld];
  }
  pthread_mutex_unlock(&r->lock);
}

static void *rsp_main(void *arg) {
  responder *r = arg;
  while (!atomic_load(&r->stop)) {
    struct pollfd pfd = {r->fd, POLLIN, 0};
    unsigned char q[1500], out[512];
    struct sockaddr_in from;
    socklen_t flen = sizeof(from);
    ssize_t n;
    size_t len;
    int index = -1;
    send_released(r);
    if (poll(&pfd, 1, 5) <= 0)
      continue;
    n = recvfrom(r->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
    if (n <= 0)
      continue;
    pthread_mutex_lock(&r->lock);
    len = build_reply(r, q, (size_t)n, out, &index);
    if (len > 0 && r->rules[index].hold && r->nheld < RSP_HELD) {
      held *h = &r->held[r->nheld++];
      memcpy(h->buf, out, len);
      h->len = len;
      h->to = from;
      h->rule = index;
      len = 0;
    }
    pthread_mutex_unlock(&r->lock);
    if (len > 0)
      (void)sendto(r->fd, out, len, 0, (struct sockaddr *)&from, flen);
  }
  return NULL;
}

static void rsp_rule(responder *r, const char *name, enum action action,
                     uint32_t ttl, unsigned octet, int hold) {
  rule *ru;
  pthread_mutex_lock(&r->lock);
  assert_true(r->nrules < RSP_RULES);
  ru = &r->rules[r->nrules++];
  snprintf(ru->name, sizeof(ru->name), "%s", name);
  ru->action = action;
  ru->ttl = ttl;
  ru->octet = octet;
  ru->hold = hold;
  pthread_mutex_unlock(&r->lock);
}

static void rsp_release(responder *r, const char *name) {
  int i;
  pthread_mutex_lock(&r->lock);
  for (i = 0; i < r->nrules; i++)
    if (strcmp(r->rules[i].name, name) == 0)
      r->rules[i].hold = 0;
  pthread_mutex_unlock(&r->lock);
}

static int rsp_count(responder *r, const char *name, uint16_t qtype) {
  int i, n = 0;
  pthread_mutex_lock(&r->lock);
  for (i = 0; i < r->nkeys; i++)
    if (r->keys[i].qtype == qtype && strcmp(r->keys[i].name, name) == 0)
      n = r->keys[i].count;
  pthread_mutex_unlock(&r->lock);
  return n;
}

static int rsp_total(responder *r) {
  int n;
  pthread_mutex_lock(&r->lock);
  n = r->total;
  pthread_mutex_unlock(&r->lock);
  return n;
}

/* Wait until (name, qtype) was asked at least n times; the count. */
static int rsp_wait_count(responder *r, const char *name, uint16_t qtype,
                          int n) {
  XS_WAIT_UNTIL(rsp_count(r, name, qtype) >= n);
  return rsp_count(r, name, qtype);
}

static int rsp_released(responder *r) {
  int n;
  pthread_mutex_lock(&r->lock);
  n = r->released;
  pthread_mutex_unlock(&r->lock);
  return n;
}

/* Where (name, qtype) first arrived in the log, and how many queries for
 * names ending in other_suffix arrived before it; -1 if it never did. */
static int rsp_position(responder *r, const char *name, uint16_t qtype,
                        const char *other_suffix, int *others_before) {
  int i, pos = -1;
  size_t sl = strlen(other_suffix);
  *others_before = 0;
  pthread_mutex_lock(&r->lock);
  for (i = 0; i < r->nlog && pos < 0; i++) {
    size_t nl = strlen(r->log[i].name);
    if (r->log[i].qtype == qtype && strcmp(r->log[i].name, name) == 0)
      pos = i;
    else if (nl >= sl && strcmp(r->log[i].name + nl - sl, other_suffix) == 0)
      (*others_before)++;
  }
  pthread_mutex_unlock(&r->lock);
  return pos;
}

static responder *rsp_start(void) {
  responder *r = calloc(1, sizeof(*r));
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  assert_non_null(r);
  pthread_mutex_init(&r->lock, NULL);
  r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(r->fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(getsockname(r->fd, (struct sockaddr *)&sa, &len), 0);
  snprintf(r->server, sizeof(r->server), "127.0.0.1:%u",
           (unsigned)ntohs(sa.sin_port));
  assert_int_equal(pthread_create(&r->thread, NULL, rsp_main, r), 0);
  return r;
}

static void rsp_stop(responder *r) {
  atomic_store(&r->stop, 1);
  pthread_join(r->thread, NULL);
  close(r->fd);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

/* ---- completions --------------------------------------------------------- */

typedef struct tally {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done; /* callbacks run, all slots */
} tally;

typedef struct slot {
  tally *t;
  atomic_int calls;
  xs_status status;
  size_t naddrs, nchain;
  xs_addr addr;
  uint32_t ttl, negative_ttl;
  pthread_t thread;
} slot;

static void tally_init(tally *t) {
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->cond, NULL);
  t->done = 0;
}

static void tally_destroy(tally *t) {
  pthread_cond_destroy(&t->cond);
  pthread_mutex_destroy(&t->lock);
}

static void slots_init(slot *s, size_t n, tally *t) {
  size_t i;
  memset(s, 0, n * sizeof(*s));
  for (i = 0; i < n; i++) {
    s[i].t = t;
    s[i].status = (xs_status)-1;
  }
}

/* Record the first call's answer; count every call. */
static void record(slot *s, const xs_upstream_answer *ans) {
  if (atomic_fetch_add(&s->calls, 1) == 0) {
    s->status = ans->status;
    s->naddrs = ans->naddrs;
    s->nchain = ans->nchain;
    s->negative_ttl = ans->negative_ttl;
    if (ans->naddrs > 0) {
      s->addr = ans->addrs[0].addr;
      s->ttl = ans->addrs[0].ttl;
    }
    s->thread = pthread_self();
  }
}

static void tally_bump(tally *t) {
  pthread_mutex_lock(&t->lock);
  t->done++;
  pthread_cond_broadcast(&t->cond);
  pthread_mutex_unlock(&t->lock);
}

static void on_done(void *arg, const xs_upstream_answer *ans) {
  slot *s = arg;
  record(s, ans);
  tally_bump(s->t);
}

/* Wait until at least n callbacks ran (or the hang deadline); how many
 * did. */
static int tally_wait(tally *t, int n) {
  struct timespec ts;
  int done;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += XS_TEST_HANG_MS / 1000;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&t->lock);
  while (t->done < n && pthread_cond_timedwait(&t->cond, &t->lock, &ts) == 0)
    ;
  done = t->done;
  pthread_mutex_unlock(&t->lock);
  return done;
}

static int tally_done(tally *t) {
  int n;
  pthread_mutex_lock(&t->lock);
  n = t->done;
  pthread_mutex_unlock(&t->lock);
  return n;
}

static const char *addr_text(const xs_addr *a) {
  static char buf[64];
  return xs_addr_format(a, buf, sizeof(buf));
}

/* ---- fixture ------------------------------------------------------------- */

typedef struct fixture {
  responder *rsp;
  xs_engine *engine;
  tally t;
} fixture;

static void start(fixture *f, int timeout_ms, xs_cache *cache) {
  xs_upstream_cfg cfg;
  xs_error err;
  memset(&cfg, 0, sizeof(cfg));
  memset(&err, 0, sizeof(err));
  f->rsp = rsp_start();
  cfg.servers[0] = f->rsp->server;
  cfg.nservers = 1;
  cfg.timeout_ms = timeout_ms;
  cfg.attempts = 1;
  tally_init(&f->t);
  assert_int_equal(xs_engine_new(&cfg, cache, &f->engine, &err), XS_OK);
}

static void stop(fixture *f) {
  xs_engine_free(f->engine);
  f->engine = NULL;
  rsp_stop(f->rsp);
  tally_destroy(&f->t);
}

static void submit(fixture *f, const char *name, uint16_t qtype, slot *s,
                   uint64_t *id) {
  assert_int_equal(xs_engine_submit(f->engine, name, qtype, on_done, s, id),
                   XS_OK);
}

/* Wait until the engine has attached n requests (to a query or a join). */
static void wait_attached(fixture *f, uint64_t n) {
  uint64_t end = now_ms() + XS_TEST_HANG_MS;
  xs_engine_stats st;
  do {
    xs_engine_stats_get(f->engine, &st);
    if (st.queries + st.joined >= n)
      return;
    sleep_ms(1);
  } while (now_ms() < end);
  fail_msg("only %llu of %llu requests attached",
           (unsigned long long)(st.queries + st.joined), (unsigned long long)n);
}

/* ---- answers and statuses ------------------------------------------------ */

static void test_engine_a_answer_arrives_with_address_and_ttl(void **state) {
  fixture f;
  slot s;
  uint64_t id = 0;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "www.example.test", ANSWER, 321, 7, 0);
  slots_init(&s, 1, &f.t);
  submit(&f, "www.example.test.", 1, &s, &id);
  assert_true(id > 0);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(s.status, XS_OK);
  assert_int_equal(s.naddrs, 1);
  assert_int_equal(s.nchain, 0);
  assert_string_equal(addr_text(&s.addr), "192.0.2.7");
  assert_int_equal(s.ttl, 321);
  assert_false(pthread_equal(s.thread, pthread_self())); /* engine thread */
  assert_int_equal(rsp_count(f.rsp, "www.example.test", 1), 1);
  stop(&f);
  assert_int_equal(atomic_load(&s.calls), 1);
}

static void test_engine_aaaa_answer_arrives_with_address_and_ttl(void **state) {
  fixture f;
  slot s;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "v6.example.test", ANSWER, 77, 9, 0);
  slots_init(&s, 1, &f.t);
  submit(&f, "v6.example.test", 28, &s, NULL);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(s.status, XS_OK);
  assert_int_equal(s.addr.family, 6);
  assert_string_equal(addr_text(&s.addr), "2001:db8::9");
  assert_int_equal(s.ttl, 77);
  assert_int_equal(rsp_count(f.rsp, "v6.example.test", 28), 1);
  assert_int_equal(rsp_count(f.rsp, "v6.example.test", 1), 0);
  stop(&f);
}

static void test_engine_nxdomain_is_enotfound_with_negative_ttl(void **state) {
  fixture f;
  slot s;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "gone.example.test", NXDOMAIN, 0, 0, 0);
  slots_init(&s, 1, &f.t);
  submit(&f, "gone.example.test", 1, &s, NULL);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(s.status, XS_ENOTFOUND);
  assert_int_equal(s.naddrs, 0);
  assert_int_equal(s.negative_ttl, RSP_NEG_TTL); /* min(SOA TTL, MINIMUM) */
  stop(&f);
}

/* SERVFAIL is answered (an engine whose timeout cannot fire first), a
 * silent server times out (an engine with a short one: 200 ms, one
 * attempt, so exactly one query). */
static void
test_engine_servfail_and_timeout_are_distinct_statuses(void **state) {
  fixture f, g;
  slot s[2];
  uint64_t t0;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  start(&g, 200, NULL);
  rsp_rule(f.rsp, "broken.example.test", SERVFAIL, 0, 0, 0);
  rsp_rule(g.rsp, "mute.example.test", SILENT, 0, 0, 0);
  slots_init(&s[0], 1, &f.t);
  slots_init(&s[1], 1, &g.t);
  submit(&f, "broken.example.test", 1, &s[0], NULL);
  t0 = now_ms();
  submit(&g, "mute.example.test", 1, &s[1], NULL);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(tally_wait(&g.t, 1), 1);
  assert_true(now_ms() - t0 >= 199); /* not before it (ms rounding) */
  assert_int_equal(s[0].status, XS_ESERVFAIL);
  assert_int_equal(s[1].status, XS_ETIMEOUT);
  assert_int_equal(rsp_count(g.rsp, "mute.example.test", 1), 1);
  stop(&f);
  stop(&g);
}

/* Many questions in flight on one socket at once: each failure rcode is
 * noted for its own question, not for whichever query is in flight (one
 * stays unanswered throughout, cancelled at the end). */
static void
test_engine_rcodes_of_concurrent_queries_map_to_their_question(void **state) {
  fixture f;
  slot s[5];
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "sf.example.test", SERVFAIL, 0, 0, 0);
  rsp_rule(f.rsp, "rf.example.test", REFUSED, 0, 0, 0);
  rsp_rule(f.rsp, "ok.example.test", ANSWER, 60, 3, 0);
  rsp_rule(f.rsp, "nx.example.test", NXDOMAIN, 0, 0, 0);
  rsp_rule(f.rsp, "quiet.example.test", SILENT, 0, 0, 0);
  slots_init(s, 5, &f.t);
  submit(&f, "sf.example.test", 28, &s[0], NULL);
  submit(&f, "rf.example.test", 28, &s[1], NULL);
  submit(&f, "ok.example.test", 28, &s[2], NULL);
  submit(&f, "nx.example.test", 28, &s[3], NULL);
  submit(&f, "quiet.example.test", 28, &s[4], NULL);
  assert_int_equal(tally_wait(&f.t, 4), 4);
  assert_int_equal(s[0].status, XS_ESERVFAIL);
  assert_int_equal(s[1].status, XS_EREFUSED);
  assert_int_equal(s[2].status, XS_OK);
  assert_int_equal(s[3].status, XS_ENOTFOUND);
  assert_int_equal(atomic_load(&s[4].calls), 0); /* still in flight */
  stop(&f);
  assert_int_equal(s[4].status, XS_ECANCELLED);
}

static void test_engine_submit_bad_arguments_einval_no_callback(void **state) {
  fixture f;
  slot s;
  char longname[300];
  (void)state;
  start(&f, 200, NULL);
  slots_init(&s, 1, &f.t);
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  assert_int_equal(xs_engine_submit(f.engine, "x.test", 16, on_done, &s, NULL),
                   XS_EINVAL);
  assert_int_equal(xs_engine_submit(f.engine, "", 1, on_done, &s, NULL),
                   XS_EINVAL);
  assert_int_equal(xs_engine_submit(f.engine, NULL, 1, on_done, &s, NULL),
                   XS_EINVAL);
  assert_int_equal(xs_engine_submit(f.engine, longname, 1, on_done, &s, NULL),
                   XS_EINVAL);
  assert_int_equal(xs_engine_submit(NULL, "x.test", 1, on_done, &s, NULL),
                   XS_EINVAL);
  sleep_ms(20);
  assert_int_equal(rsp_total(f.rsp), 0);
  stop(&f);
  assert_int_equal(atomic_load(&s.calls), 0);
}

/* ---- single-flight ------------------------------------------------------- */

#define FLOCK_THREADS 4
#define FLOCK_EACH 25

typedef struct flock_arg {
  fixture *f;
  slot *slots;
  const char *name;
} flock_arg;

static void *flock_main(void *arg) {
  flock_arg *a = arg;
  int i;
  for (i = 0; i < FLOCK_EACH; i++)
    if (xs_engine_submit(a->f->engine, a->name, 1, on_done, &a->slots[i],
                         NULL) != XS_OK)
      return a; /* reported as a failure by the joiner */
  return NULL;
}

static void
test_engine_identical_submits_from_threads_share_one_query(void **state) {
  fixture f;
  slot s[FLOCK_THREADS * FLOCK_EACH];
  pthread_t th[FLOCK_THREADS];
  flock_arg args[FLOCK_THREADS];
  xs_engine_stats st;
  int i;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "flock.example.test", ANSWER, 30, 42, 1);
  slots_init(s, FLOCK_THREADS * FLOCK_EACH, &f.t);
  for (i = 0; i < FLOCK_THREADS; i++) {
    args[i].f = &f;
    args[i].slots = s + i * FLOCK_EACH;
    /* spellings differ only in case and the root dot */
    args[i].name = i % 2 ? "Flock.Example.TEST." : "flock.example.test";
    assert_int_equal(pthread_create(&th[i], NULL, flock_main, &args[i]), 0);
  }
  for (i = 0; i < FLOCK_THREADS; i++) {
    void *ret;
    pthread_join(th[i], &ret);
    assert_null(ret);
  }
  wait_attached(&f, FLOCK_THREADS * FLOCK_EACH);
  assert_int_equal(rsp_wait_count(f.rsp, "flock.example.test", 1, 1), 1);
  assert_int_equal(tally_done(&f.t), 0); /* the reply is held */
  rsp_release(f.rsp, "flock.example.test");
  assert_int_equal(tally_wait(&f.t, FLOCK_THREADS * FLOCK_EACH),
                   FLOCK_THREADS * FLOCK_EACH);
  sleep_ms(20); /* room for a wrong second call */
  for (i = 0; i < FLOCK_THREADS * FLOCK_EACH; i++) {
    assert_int_equal(atomic_load(&s[i].calls), 1);
    assert_int_equal(s[i].status, XS_OK);
    assert_string_equal(addr_text(&s[i].addr), "192.0.2.42");
  }
  assert_int_equal(rsp_count(f.rsp, "flock.example.test", 1), 1);
  xs_engine_stats_get(f.engine, &st);
  assert_int_equal(st.submitted, FLOCK_THREADS * FLOCK_EACH);
  assert_int_equal(st.queries, 1);
  assert_int_equal(st.joined, FLOCK_THREADS * FLOCK_EACH - 1);
  stop(&f);
}

#define BULK_THREADS 4
#define BULK_NAMES 50
#define BULK_TOTAL 5000

typedef struct bulk_arg {
  fixture *f;
  slot *slots;
  int first, count;
} bulk_arg;

static void *bulk_main(void *arg) {
  bulk_arg *a = arg;
  int i;
  for (i = a->first; i < a->first + a->count; i++) {
    char name[64];
    snprintf(name, sizeof(name), "n%d.bulk.test", i % BULK_NAMES);
    if (xs_engine_submit(a->f->engine, name, i % 3 == 0 ? 28 : 1, on_done,
                         &a->slots[i], NULL) != XS_OK)
      return a;
  }
  return NULL;
}

static void
test_engine_5000_requests_over_50_names_complete_once(void **state) {
  fixture f;
  slot *s = calloc(BULK_TOTAL, sizeof(*s));
  pthread_t th[BULK_THREADS];
  bulk_arg args[BULK_THREADS];
  xs_engine_stats st;
  int i;
  (void)state;
  assert_non_null(s);
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "*.bulk.test", ANSWER, 600, 0, 0);
  slots_init(s, BULK_TOTAL, &f.t);
  for (i = 0; i < BULK_THREADS; i++) {
    args[i].f = &f;
    args[i].slots = s;
    args[i].first = i * (BULK_TOTAL / BULK_THREADS);
    args[i].count = BULK_TOTAL / BULK_THREADS;
    assert_int_equal(pthread_create(&th[i], NULL, bulk_main, &args[i]), 0);
  }
  for (i = 0; i < BULK_THREADS; i++) {
    void *ret;
    pthread_join(th[i], &ret);
    assert_null(ret);
  }
  assert_int_equal(tally_wait(&f.t, BULK_TOTAL), BULK_TOTAL);
  sleep_ms(20);
  for (i = 0; i < BULK_TOTAL; i++) {
    char want[64];
    int n = i % BULK_NAMES;
    assert_int_equal(atomic_load(&s[i].calls), 1);
    assert_int_equal(s[i].status, XS_OK);
    if (i % 3 == 0)
      snprintf(want, sizeof(want), "2001:db8::%x", n % 250 + 1);
    else
      snprintf(want, sizeof(want), "192.0.2.%d", n % 250 + 1);
    assert_string_equal(addr_text(&s[i].addr), want);
  }
  xs_engine_stats_get(f.engine, &st);
  assert_int_equal(st.submitted, BULK_TOTAL);
  assert_int_equal(st.queries + st.joined, BULK_TOTAL);
  assert_int_equal(st.cancelled, 0);
  assert_true(st.queries >= 2 * BULK_NAMES); /* every (name, type) once */
  assert_int_equal(rsp_total(f.rsp), (int)st.queries);
  stop(&f);
  free(s);
}

/* ---- cancellation -------------------------------------------------------- */

static void
test_engine_cancel_before_reply_cancelled_once_others_answered(void **state) {
  fixture f;
  slot s[2];
  uint64_t id[2];
  xs_engine_stats st;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "held.example.test", ANSWER, 30, 5, 1);
  slots_init(s, 2, &f.t);
  submit(&f, "held.example.test", 1, &s[0], &id[0]);
  submit(&f, "held.example.test", 1, &s[1], &id[1]);
  assert_true(id[1] > id[0]);
  wait_attached(&f, 2);
  assert_int_equal(rsp_wait_count(f.rsp, "held.example.test", 1, 1), 1);
  assert_int_equal(xs_engine_cancel(f.engine, id[0]), 1);
  assert_int_equal(xs_engine_cancel(f.engine, id[0]), 0); /* already */
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(s[0].status, XS_ECANCELLED);
  assert_int_equal(atomic_load(&s[1].calls), 0); /* its query goes on */
  rsp_release(f.rsp, "held.example.test");
  assert_int_equal(tally_wait(&f.t, 2), 2);
  assert_int_equal(s[1].status, XS_OK);
  sleep_ms(20);
  assert_int_equal(atomic_load(&s[0].calls), 1);
  assert_int_equal(atomic_load(&s[1].calls), 1);
  assert_int_equal(rsp_count(f.rsp, "held.example.test", 1), 1);
  xs_engine_stats_get(f.engine, &st);
  assert_int_equal(st.cancelled, 1);
  stop(&f);
}

static void
test_engine_cancel_lone_request_reply_later_no_second_call(void **state) {
  fixture f;
  slot s[2];
  uint64_t id;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "lone.example.test", ANSWER, 30, 5, 1);
  rsp_rule(f.rsp, "after.example.test", ANSWER, 30, 6, 0);
  slots_init(s, 2, &f.t);
  submit(&f, "lone.example.test", 1, &s[0], &id);
  assert_int_equal(rsp_wait_count(f.rsp, "lone.example.test", 1, 1), 1);
  assert_int_equal(xs_engine_cancel(f.engine, id), 1);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(s[0].status, XS_ECANCELLED);
  rsp_release(f.rsp, "lone.example.test");
  XS_WAIT_UNTIL(rsp_released(f.rsp) == 1);
  assert_int_equal(rsp_released(f.rsp), 1);
  /* Asked after the released reply was sent, so answered after it on the
   * same socket: once this answer is in, the late reply has been read. */
  submit(&f, "after.example.test", 1, &s[1], NULL);
  assert_int_equal(tally_wait(&f.t, 2), 2);
  assert_int_equal(s[1].status, XS_OK);
  assert_int_equal(atomic_load(&s[0].calls), 1);
  stop(&f);
  assert_int_equal(atomic_load(&s[0].calls), 1);
}

static void test_engine_cancel_completed_or_unknown_id_returns_0(void **state) {
  fixture f;
  slot s;
  uint64_t id;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "done.example.test", ANSWER, 30, 8, 0);
  slots_init(&s, 1, &f.t);
  submit(&f, "done.example.test", 1, &s, &id);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(xs_engine_cancel(f.engine, id), 0);
  assert_int_equal(xs_engine_cancel(f.engine, id + 1000), 0);
  assert_int_equal(xs_engine_cancel(f.engine, 0), 0);
  sleep_ms(20);
  assert_int_equal(atomic_load(&s.calls), 1);
  assert_int_equal(s.status, XS_OK);
  stop(&f);
}

/* Cancelled while still queued (the thread has not taken it): many at once
 * with thousands of ids live, so the lookup must find the right one. */
static void test_engine_cancel_many_of_thousands_each_once(void **state) {
  enum { N = 3000 };
  fixture f;
  slot *s = calloc(N, sizeof(*s));
  uint64_t *ids = calloc(N, sizeof(*ids));
  int i, cancelled = 0;
  (void)state;
  assert_non_null(s);
  assert_non_null(ids);
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "*.many.test", ANSWER, 30, 0, 1);
  slots_init(s, N, &f.t);
  for (i = 0; i < N; i++) {
    char name[64];
    snprintf(name, sizeof(name), "m%d.many.test", i % 20);
    submit(&f, name, 1, &s[i], &ids[i]);
  }
  for (i = 0; i < N; i += 2)
    cancelled += xs_engine_cancel(f.engine, ids[i]);
  assert_int_equal(cancelled, N / 2);
  assert_int_equal(tally_wait(&f.t, N / 2), N / 2);
  rsp_release(f.rsp, "*.many.test");
  assert_int_equal(tally_wait(&f.t, N), N);
  sleep_ms(20);
  for (i = 0; i < N; i++) {
    assert_int_equal(atomic_load(&s[i].calls), 1);
    assert_int_equal(s[i].status, i % 2 == 0 ? XS_ECANCELLED : XS_OK);
  }
  stop(&f);
  free(ids);
  free(s);
}

/* ---- shutdown ------------------------------------------------------------ */

/* Free does not wait for the upstream: every pending request completes
 * cancelled (a wait would end them XS_ETIMEOUT, after a timeout the test
 * could not outlast). */
static void test_engine_free_with_pending_cancels_all_quickly(void **state) {
  enum { N = 40 };
  fixture f;
  slot s[N];
  int i;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "*.void.test", SILENT, 0, 0, 0);
  slots_init(s, N, &f.t);
  for (i = 0; i < N; i++) {
    char name[64];
    snprintf(name, sizeof(name), "v%d.void.test", i % 8);
    submit(&f, name, i % 2 ? 28 : 1, &s[i], NULL);
  }
  wait_attached(&f, N);
  assert_int_equal(rsp_wait_count(f.rsp, "v7.void.test", 28, 1), 1);
  assert_int_equal(tally_done(&f.t), 0);
  xs_engine_free(f.engine);
  /* read before anything else can run: free returned after the callbacks */
  for (i = 0; i < N; i++) {
    assert_int_equal(atomic_load(&s[i].calls), 1);
    assert_int_equal(s[i].status, XS_ECANCELLED);
  }
  f.engine = NULL;
  stop(&f);
}

/* Requests still queued when free starts complete too. */
static void test_engine_free_right_after_submits_cancels_queued(void **state) {
  enum { N = 500 };
  fixture f;
  slot *s = calloc(N, sizeof(*s));
  int i;
  (void)state;
  assert_non_null(s);
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "*.void.test", SILENT, 0, 0, 0);
  slots_init(s, N, &f.t);
  for (i = 0; i < N; i++) {
    char name[64];
    snprintf(name, sizeof(name), "q%d.void.test", i % 50);
    submit(&f, name, 1, &s[i], NULL);
  }
  xs_engine_free(f.engine);
  f.engine = NULL;
  for (i = 0; i < N; i++) {
    assert_int_equal(atomic_load(&s[i].calls), 1);
    assert_int_equal(s[i].status, XS_ECANCELLED);
  }
  stop(&f);
  free(s);
}

/* Requests submitted by a callback that runs while free starts are still
 * queued when the shutdown begins; one of them cancels the next while the
 * queue is being completed. Each still runs exactly once. X is cancelled so
 * that its callback runs while the engine takes its queue, and it holds
 * the engine there (a test-only block) until free has begun. */
typedef struct late_ctx {
  fixture *f;
  slot x, a, b;
  uint64_t x_id, b_id;
  xs_status submit_a, submit_b;
  int cancel_result;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int started, go;
} late_ctx;

static void on_late_a(void *arg, const xs_upstream_answer *ans) {
  late_ctx *c = arg;
  record(&c->a, ans);
  c->cancel_result = xs_engine_cancel(c->f->engine, c->b_id);
  tally_bump(&c->f->t);
}

static void on_late_x(void *arg, const xs_upstream_answer *ans) {
  late_ctx *c = arg;
  record(&c->x, ans);
  c->submit_a =
      xs_engine_submit(c->f->engine, "a.void.test", 1, on_late_a, c, NULL);
  c->submit_b = xs_engine_submit(c->f->engine, "b.void.test", 1, on_done, &c->b,
                                 &c->b_id);
  pthread_mutex_lock(&c->lock);
  c->started = 1;
  pthread_cond_broadcast(&c->cond);
  while (!c->go)
    pthread_cond_wait(&c->cond, &c->lock);
  pthread_mutex_unlock(&c->lock);
  tally_bump(&c->f->t);
}

static void *late_release(void *arg) {
  late_ctx *c = arg;
  /* free has set its flag and waits for the thread */
  XS_WAIT_UNTIL(xs_engine_stopping(c->f->engine));
  pthread_mutex_lock(&c->lock);
  c->go = 1;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

static void
test_engine_cancel_in_callback_during_free_each_runs_once(void **state) {
  fixture f;
  late_ctx *c = calloc(1, sizeof(*c));
  pthread_t th;
  (void)state;
  assert_non_null(c);
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "*.void.test", SILENT, 0, 0, 0);
  c->f = &f;
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->cond, NULL);
  slots_init(&c->x, 1, &f.t);
  slots_init(&c->a, 1, &f.t);
  slots_init(&c->b, 1, &f.t);
  assert_int_equal(
      xs_engine_submit(f.engine, "x.void.test", 1, on_late_x, c, &c->x_id),
      XS_OK);
  wait_attached(&f, 1);
  assert_int_equal(xs_engine_cancel(f.engine, c->x_id), 1);
  pthread_mutex_lock(&c->lock);
  while (!c->started)
    pthread_cond_wait(&c->cond, &c->lock);
  pthread_mutex_unlock(&c->lock);
  assert_int_equal(pthread_create(&th, NULL, late_release, c), 0);
  xs_engine_free(f.engine);
  f.engine = NULL;
  pthread_join(th, NULL);
  assert_int_equal(c->submit_a, XS_OK);
  assert_int_equal(c->submit_b, XS_OK);
  assert_int_equal(atomic_load(&c->x.calls), 1);
  assert_int_equal(c->x.status, XS_ECANCELLED);
  assert_int_equal(atomic_load(&c->a.calls), 1);
  assert_int_equal(c->a.status, XS_ECANCELLED);
  assert_int_equal(c->cancel_result, 1);
  assert_int_equal(atomic_load(&c->b.calls), 1);
  assert_int_equal(c->b.status, XS_ECANCELLED);
  stop(&f);
  pthread_cond_destroy(&c->cond);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

/* ---- re-entrant callbacks ------------------------------------------------ */

typedef struct chain_ctx {
  fixture *f;
  slot first, second;
  xs_status resubmit;
} chain_ctx;

static void on_first_submit_second(void *arg, const xs_upstream_answer *ans) {
  chain_ctx *c = arg;
  record(&c->first, ans);
  c->resubmit = xs_engine_submit(c->f->engine, "second.example.test", 1,
                                 on_done, &c->second, NULL);
  tally_bump(&c->f->t);
}

static void
test_engine_callback_submits_another_request_answered(void **state) {
  fixture f;
  chain_ctx c;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "first.example.test", ANSWER, 30, 1, 0);
  rsp_rule(f.rsp, "second.example.test", ANSWER, 30, 2, 0);
  memset(&c, 0, sizeof(c));
  c.f = &f;
  slots_init(&c.first, 1, &f.t);
  slots_init(&c.second, 1, &f.t);
  assert_int_equal(xs_engine_submit(f.engine, "first.example.test", 1,
                                    on_first_submit_second, &c, NULL),
                   XS_OK);
  assert_int_equal(tally_wait(&f.t, 2), 2);
  assert_int_equal(c.resubmit, XS_OK);
  assert_int_equal(c.first.status, XS_OK);
  assert_int_equal(c.second.status, XS_OK);
  assert_string_equal(addr_text(&c.second.addr), "192.0.2.2");
  stop(&f);
  assert_int_equal(atomic_load(&c.first.calls), 1);
  assert_int_equal(atomic_load(&c.second.calls), 1);
}

typedef struct rival {
  fixture *f;
  slot slot;
  struct rival *other;
  uint64_t id;
  int cancel_result;
} rival;

static void on_rival_cancel_other(void *arg, const xs_upstream_answer *ans) {
  rival *r = arg;
  record(&r->slot, ans);
  r->cancel_result = xs_engine_cancel(r->f->engine, r->other->id);
  tally_bump(&r->f->t);
}

/* Two requests wait on one query and each callback cancels the other while
 * the answer is being handed out: whichever runs first is answered, the
 * other runs once, cancelled; the second cancel finds nothing pending. */
static void
test_engine_callback_cancels_joined_request_cancelled_once(void **state) {
  fixture f;
  rival r[2];
  int i, ok = -1;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "pair.example.test", ANSWER, 30, 4, 1);
  memset(r, 0, sizeof(r));
  for (i = 0; i < 2; i++) {
    r[i].f = &f;
    r[i].other = &r[1 - i];
    slots_init(&r[i].slot, 1, &f.t);
  }
  for (i = 0; i < 2; i++)
    assert_int_equal(xs_engine_submit(f.engine, "pair.example.test", 1,
                                      on_rival_cancel_other, &r[i], &r[i].id),
                     XS_OK);
  wait_attached(&f, 2);
  rsp_release(f.rsp, "pair.example.test");
  assert_int_equal(tally_wait(&f.t, 2), 2);
  sleep_ms(20);
  for (i = 0; i < 2; i++) {
    assert_int_equal(atomic_load(&r[i].slot.calls), 1);
    if (r[i].slot.status == XS_OK)
      ok = i;
  }
  assert_true(ok >= 0);
  assert_int_equal(r[ok].cancel_result, 1);
  assert_int_equal(r[1 - ok].slot.status, XS_ECANCELLED);
  assert_int_equal(r[1 - ok].cancel_result, 0);
  assert_int_equal(rsp_count(f.rsp, "pair.example.test", 1), 1);
  stop(&f);
  assert_int_equal(atomic_load(&r[0].slot.calls), 1);
  assert_int_equal(atomic_load(&r[1].slot.calls), 1);
}

/* ---- prefetch and the cache ---------------------------------------------- */

/* A prefetch (no callback) starts a query another request can join; a
 * pending prefetch can be cancelled like any request. */
static void
test_engine_prefetch_without_callback_shares_query_cancellable(void **state) {
  fixture f;
  slot s;
  uint64_t id1 = 0, id2 = 0;
  xs_engine_stats st;
  (void)state;
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "pre.example.test", ANSWER, 30, 11, 1);
  rsp_rule(f.rsp, "pre2.example.test", SILENT, 0, 0, 0);
  slots_init(&s, 1, &f.t);
  assert_int_equal(
      xs_engine_submit(f.engine, "pre.example.test", 1, NULL, NULL, &id1),
      XS_OK);
  assert_true(id1 > 0);
  assert_int_equal(rsp_wait_count(f.rsp, "pre.example.test", 1, 1), 1);
  submit(&f, "pre.example.test", 1, &s, NULL);
  wait_attached(&f, 2);
  rsp_release(f.rsp, "pre.example.test");
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(s.status, XS_OK);
  assert_string_equal(addr_text(&s.addr), "192.0.2.11");
  assert_int_equal(rsp_count(f.rsp, "pre.example.test", 1), 1);
  xs_engine_stats_get(f.engine, &st);
  assert_int_equal(st.queries, 1);
  assert_int_equal(st.joined, 1);

  assert_int_equal(
      xs_engine_submit(f.engine, "pre2.example.test", 1, NULL, NULL, &id2),
      XS_OK);
  assert_true(id2 > id1);
  assert_int_equal(rsp_wait_count(f.rsp, "pre2.example.test", 1, 1), 1);
  assert_int_equal(xs_engine_cancel(f.engine, id2), 1);
  assert_int_equal(xs_engine_cancel(f.engine, id2), 0);
  stop(&f);
  assert_int_equal(atomic_load(&s.calls), 1);
}

static xs_cache *new_cache(void) {
  xs_cache_cfg cfg;
  xs_cache *c = NULL;
  xs_cache_cfg_default(&cfg);
  assert_int_equal(xs_cache_new(&cfg, &c), XS_OK);
  return c;
}

typedef struct cache_probe {
  slot slot;
  xs_cache *cache;
  xs_upstream_answer seen; /* what the cache held when the callback ran */
  int hit;
} cache_probe;

static void on_done_look_in_cache(void *arg, const xs_upstream_answer *ans) {
  cache_probe *p = arg;
  p->hit = xs_cache_get(p->cache, "cached.example.test", 1, 0, &p->seen);
  record(&p->slot, ans);
  tally_bump(p->slot.t);
}

static void test_engine_answer_in_cache_before_callback(void **state) {
  fixture f;
  xs_cache *cache = new_cache();
  cache_probe *p = calloc(1, sizeof(*p));
  (void)state;
  assert_non_null(p);
  start(&f, ANSWER_MS, cache);
  rsp_rule(f.rsp, "cached.example.test", ANSWER, 300, 12, 0);
  slots_init(&p->slot, 1, &f.t);
  p->cache = cache;
  assert_int_equal(xs_cache_get(cache, "cached.example.test", 1, 0, &p->seen),
                   XS_CACHE_MISS);
  assert_int_equal(xs_engine_submit(f.engine, "Cached.Example.Test.", 1,
                                    on_done_look_in_cache, p, NULL),
                   XS_OK);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(p->slot.status, XS_OK);
  assert_true(p->hit & XS_CACHE_FRESH);
  assert_int_equal(p->seen.status, XS_OK);
  assert_int_equal(p->seen.naddrs, 1);
  assert_string_equal(addr_text(&p->seen.addrs[0].addr), "192.0.2.12");
  assert_true(p->seen.addrs[0].ttl <= 300 && p->seen.addrs[0].ttl >= 299);
  stop(&f);
  xs_cache_free(cache);
  free(p);
}

static void test_engine_negative_answer_cached_with_soa_ttl(void **state) {
  fixture f;
  slot s;
  xs_cache *cache = new_cache();
  xs_upstream_answer *got = calloc(1, sizeof(*got));
  (void)state;
  assert_non_null(got);
  start(&f, ANSWER_MS, cache);
  rsp_rule(f.rsp, "absent.example.test", NXDOMAIN, 0, 0, 0);
  slots_init(&s, 1, &f.t);
  submit(&f, "absent.example.test", 28, &s, NULL);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  assert_int_equal(s.status, XS_ENOTFOUND);
  assert_true(xs_cache_get(cache, "absent.example.test", 28, 0, got) &
              XS_CACHE_FRESH);
  assert_int_equal(got->status, XS_ENOTFOUND);
  stop(&f);
  xs_cache_free(cache);
  free(got);
}

static void test_engine_prefetch_without_callback_fills_cache(void **state) {
  fixture f;
  xs_cache *cache = new_cache();
  xs_upstream_answer *got = calloc(1, sizeof(*got));
  int hit = 0;
  (void)state;
  assert_non_null(got);
  start(&f, ANSWER_MS, cache);
  rsp_rule(f.rsp, "warm.example.test", ANSWER, 120, 13, 0);
  assert_int_equal(
      xs_engine_submit(f.engine, "warm.example.test", 1, NULL, NULL, NULL),
      XS_OK);
  XS_WAIT_UNTIL((hit = xs_cache_get(cache, "warm.example.test", 1, 0, got) &
                       XS_CACHE_FRESH) != 0);
  assert_true(hit);
  assert_string_equal(addr_text(&got->addrs[0].addr), "192.0.2.13");
  stop(&f);
  xs_cache_free(cache);
  free(got);
}

/* A request for a key answered meanwhile takes the cached answer: the
 * responder is asked once. */
static void test_engine_fresh_cache_entry_answers_without_query(void **state) {
  fixture f;
  slot s[2];
  xs_cache *cache = new_cache();
  xs_engine_stats st;
  (void)state;
  start(&f, ANSWER_MS, cache);
  rsp_rule(f.rsp, "twice.example.test", ANSWER, 300, 14, 0);
  slots_init(s, 2, &f.t);
  submit(&f, "twice.example.test", 1, &s[0], NULL);
  assert_int_equal(tally_wait(&f.t, 1), 1);
  submit(&f, "twice.example.test", 1, &s[1], NULL);
  assert_int_equal(tally_wait(&f.t, 2), 2);
  assert_int_equal(s[1].status, XS_OK);
  assert_string_equal(addr_text(&s[1].addr), "192.0.2.14");
  assert_int_equal(rsp_count(f.rsp, "twice.example.test", 1), 1);
  xs_engine_stats_get(f.engine, &st);
  assert_int_equal(st.queries, 1);
  stop(&f);
  xs_cache_free(cache);
}

/* ---- fairness ------------------------------------------------------------ */

/* A callback that holds the engine thread until the test opens it: the
 * engine is then at a known point while the test queues requests. */
typedef struct gate {
  slot s;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int entered, open;
} gate;

static void gate_init(gate *g, tally *t) {
  memset(g, 0, sizeof(*g));
  slots_init(&g->s, 1, t);
  pthread_mutex_init(&g->lock, NULL);
  pthread_cond_init(&g->cond, NULL);
}

static void gate_destroy(gate *g) {
  pthread_cond_destroy(&g->cond);
  pthread_mutex_destroy(&g->lock);
}

static void on_gate(void *arg, const xs_upstream_answer *ans) {
  gate *g = arg;
  record(&g->s, ans);
  pthread_mutex_lock(&g->lock);
  g->entered = 1;
  pthread_cond_broadcast(&g->cond);
  while (!g->open)
    pthread_cond_wait(&g->cond, &g->lock);
  pthread_mutex_unlock(&g->lock);
  tally_bump(g->s.t);
}

static int gate_entered(gate *g) {
  int n;
  pthread_mutex_lock(&g->lock);
  n = g->entered;
  pthread_mutex_unlock(&g->lock);
  return n;
}

static void gate_open(gate *g) {
  pthread_mutex_lock(&g->lock);
  g->open = 1;
  pthread_cond_broadcast(&g->cond);
  pthread_mutex_unlock(&g->lock);
}

#define FAIR_BULK 2000

/* A blocking request queued behind thousands of others is started first
 * in the next round: the responder sees its query before any of theirs.
 * (With one queue it came after all 2,000.) Counted in the order queries
 * arrive, not timed. */
static void test_engine_blocking_request_goes_ahead_of_queued_ones(void **st) {
  fixture f;
  gate g;
  slot urgent, *bulk = calloc(FAIR_BULK, sizeof(*bulk));
  xs_engine_stats es;
  int i, before = -1;
  (void)st;
  assert_non_null(bulk);
  start(&f, ANSWER_MS, NULL);
  rsp_rule(f.rsp, "gate.example.test", ANSWER, 30, 1, 0);
  rsp_rule(f.rsp, "urgent.example.test", ANSWER, 30, 2, 0);
  rsp_rule(f.rsp, "*.bulk.test", SILENT, 0, 0, 0);
  gate_init(&g, &f.t);
  slots_init(bulk, FAIR_BULK, &f.t);
  slots_init(&urgent, 1, &f.t);
  assert_int_equal(
      xs_engine_submit(f.engine, "gate.example.test", 1, on_gate, &g, NULL),
      XS_OK);
  XS_WAIT_UNTIL(gate_entered(&g));
  assert_true(gate_entered(&g)); /* the engine thread is held */
  for (i = 0; i < FAIR_BULK; i++) {
    char name[64];
    snprintf(name, sizeof(name), "b%d.bulk.test", i);
    submit(&f, name, 1, &bulk[i], NULL);
  }
  assert_int_equal(xs_engine_submit_blocking(f.engine, "urgent.example.test", 1,
                                             on_done, &urgent, NULL),
                   XS_OK);
  gate_open(&g);
  assert_int_equal(tally_wait(&f.t, 2), 2); /* the gate and the urgent one */
  assert_int_equal(urgent.status, XS_OK);
  assert_true(rsp_position(f.rsp, "urgent.example.test", 1, ".bulk.test",
                           &before) >= 0);
  assert_int_equal(before, 0);
  xs_engine_stats_get(f.engine, &es);
  assert_int_equal(es.blocking, 1);
  assert_int_equal(es.most_ahead_of_blocking, 0);
  stop(&f); /* the silent ones complete, cancelled */
  for (i = 0; i < FAIR_BULK; i++)
    assert_int_equal(atomic_load(&bulk[i].calls), 1);
  gate_destroy(&g);
  free(bulk);
}

/* The bound when a blocking request arrives in the middle of a round: the
 * rest of that round's batch goes first, then the blocking request; at
 * most XS_ENGINE_BATCH other requests are started in between. The 11th
 * queued request is answered from the cache, so its callback runs inside
 * the batch and holds the engine there while the blocking one is queued. */
static void test_engine_blocking_request_waits_at_most_one_batch(void **st) {
  fixture f;
  gate g1, g2;
  slot urgent, *bulk = calloc(FAIR_BULK, sizeof(*bulk));
  xs_cache *cache = new_cache();
  xs_upstream_answer *hit = calloc(1, sizeof(*hit));
  xs_engine_stats es;
  int i, before = -1;
  (void)st;
  assert_non_null(bulk);
  assert_non_null(hit);
  hit->status = XS_OK;
  hit->naddrs = 1;
  hit->addrs[0].addr.family = 4;
  hit->addrs[0].addr.bytes[0] = 192;
  hit->addrs[0].addr.bytes[3] = 3;
  hit->addrs[0].ttl = 3600;
  assert_int_equal(xs_cache_put(cache, "hit.bulk.test", 1, hit), XS_OK);
  start(&f, ANSWER_MS, cache);
  rsp_rule(f.rsp, "gate.example.test", ANSWER, 30, 1, 0);
  rsp_rule(f.rsp, "urgent.example.test", ANSWER, 30, 2, 0);
  rsp_rule(f.rsp, "*.bulk.test", SILENT, 0, 0, 0);
  gate_init(&g1, &f.t);
  gate_init(&g2, &f.t);
  slots_init(bulk, FAIR_BULK, &f.t);
  slots_init(&urgent, 1, &f.t);
  assert_int_equal(
      xs_engine_submit(f.engine, "gate.example.test", 1, on_gate, &g1, NULL),
      XS_OK);
  XS_WAIT_UNTIL(gate_entered(&g1));
  assert_true(gate_entered(&g1));
  for (i = 0; i < FAIR_BULK; i++) {
    char name[64];
    if (i == 10) {
      assert_int_equal(
          xs_engine_submit(f.engine, "hit.bulk.test", 1, on_gate, &g2, NULL),
          XS_OK);
      continue;
    }
    snprintf(name, sizeof(name), "b%d.bulk.test", i);
    submit(&f, name, 1, &bulk[i], NULL);
  }
  gate_open(&g1);
  XS_WAIT_UNTIL(gate_entered(&g2)); /* the engine is inside the batch */
  assert_true(gate_entered(&g2));
  assert_int_equal(xs_engine_submit_blocking(f.engine, "urgent.example.test", 1,
                                             on_done, &urgent, NULL),
                   XS_OK);
  gate_open(&g2);
  assert_int_equal(tally_wait(&f.t, 3), 3);
  assert_int_equal(urgent.status, XS_OK);
  assert_int_equal(g2.s.status, XS_OK); /* from the cache */
  assert_true(rsp_position(f.rsp, "urgent.example.test", 1, ".bulk.test",
                           &before) >= 0);
  /* the ten before the cached one, and the rest of its batch */
  assert_true(before >= 10);
  assert_true(before <= (int)XS_ENGINE_BATCH);
  xs_engine_stats_get(f.engine, &es);
  assert_true(es.most_ahead_of_blocking > 0);
  assert_true(es.most_ahead_of_blocking <= XS_ENGINE_BATCH);
  stop(&f);
  for (i = 0; i < FAIR_BULK; i++)
    if (i != 10)
      assert_int_equal(atomic_load(&bulk[i].calls), 1);
  gate_destroy(&g1);
  gate_destroy(&g2);
  xs_cache_free(cache);
  free(hit);
  free(bulk);
}

static void test_engine_new_bad_server_einval_with_message(void **state) {
  xs_upstream_cfg cfg;
  xs_error err;
  xs_engine *e = NULL;
  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  memset(&err, 0, sizeof(err));
  cfg.servers[0] = "not-an-address";
  cfg.nservers = 1;
  assert_int_equal(xs_engine_new(&cfg, NULL, &e, &err), XS_EINVAL);
  assert_null(e);
  assert_non_null(strstr(err.message, "not-an-address"));
  xs_engine_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_engine_a_answer_arrives_with_address_and_ttl),
      cmocka_unit_test(test_engine_aaaa_answer_arrives_with_address_and_ttl),
      cmocka_unit_test(test_engine_nxdomain_is_enotfound_with_negative_ttl),
      cmocka_unit_test(test_engine_servfail_and_timeout_are_distinct_statuses),
      cmocka_unit_test(
          test_engine_rcodes_of_concurrent_queries_map_to_their_question),
      cmocka_unit_test(test_engine_submit_bad_arguments_einval_no_callback),
      cmocka_unit_test(
          test_engine_identical_submits_from_threads_share_one_query),
      cmocka_unit_test(test_engine_5000_requests_over_50_names_complete_once),
      cmocka_unit_test(
          test_engine_cancel_before_reply_cancelled_once_others_answered),
      cmocka_unit_test(
          test_engine_cancel_lone_request_reply_later_no_second_call),
      cmocka_unit_test(test_engine_cancel_completed_or_unknown_id_returns_0),
      cmocka_unit_test(test_engine_cancel_many_of_thousands_each_once),
      cmocka_unit_test(test_engine_free_with_pending_cancels_all_quickly),
      cmocka_unit_test(test_engine_free_right_after_submits_cancels_queued),
      cmocka_unit_test(
          test_engine_cancel_in_callback_during_free_each_runs_once),
      cmocka_unit_test(test_engine_callback_submits_another_request_answered),
      cmocka_unit_test(
          test_engine_callback_cancels_joined_request_cancelled_once),
      cmocka_unit_test(
          test_engine_prefetch_without_callback_shares_query_cancellable),
      cmocka_unit_test(test_engine_answer_in_cache_before_callback),
      cmocka_unit_test(test_engine_negative_answer_cached_with_soa_ttl),
      cmocka_unit_test(test_engine_prefetch_without_callback_fills_cache),
      cmocka_unit_test(test_engine_fresh_cache_entry_answers_without_query),
      cmocka_unit_test(test_engine_blocking_request_goes_ahead_of_queued_ones),
      cmocka_unit_test(test_engine_blocking_request_waits_at_most_one_batch),
      cmocka_unit_test(test_engine_new_bad_server_einval_with_message),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
