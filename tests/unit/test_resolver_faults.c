/* Fault injection: xs_resolve against an upstream on 127.0.0.1 that
 * misbehaves on command: forged replies (wrong id, wrong question name or
 * type) sent before the right one or instead of it, SERVFAIL, REFUSED,
 * silence, truncation (TCP fallback), a TCP connection closed in the
 * middle of a message or before it, and a server that flaps between
 * answering and failing. The resolver must take only the right reply
 * (cache poisoning defence), keep answering from stale cache entries while
 * upstream fails, give up on silent servers after attempts x servers
 * queries, and leave no descriptor behind (valgrind checks memory in the
 * suite).
 *
 * Nothing here depends on the machine's speed: a timeout is short only
 * where the servers stay silent (the wait then only has a lower bound),
 * failures that follow answers are rcodes or closed connections rather
 * than silence, and the one failover from a silent server to an answering
 * one leaves the answer seconds to arrive. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fds.h"
#include "wait.h"
#include "xsvc.h"

/* The per-attempt timeout where a server answers: never meant to fire. */
#define ANSWER_MS XS_TEST_HANG_MS

/* ---- a misbehaving DNS server ---------------------------------------------
 */

typedef enum fault {
  F_ANSWER,                 /* the right reply */
  F_DROP,                   /* nothing */
  F_SERVFAIL,               /* rcode 2 */
  F_REFUSED,                /* rcode 5 */
  F_WRONG_ID,               /* only a forged reply: another id */
  F_WRONG_NAME,             /* only a forged reply: another question name */
  F_WRONG_ID_THEN_ANSWER,   /* forged (id), then the right reply */
  F_WRONG_NAME_THEN_ANSWER, /* forged (name), then the right reply */
  F_WRONG_TYPE_THEN_ANSWER, /* forged (question type), then the right one */
  F_TRUNCATE,               /* UDP: TC=1, empty; TCP: the right reply */
  F_TCP_CUT,                /* UDP: TC=1; TCP: half the message, close */
  F_TCP_CLOSE,              /* UDP: TC=1; TCP: close without a reply */
  F_FLAP                    /* `up` queries answered, `down` SERVFAIL, ... */
} fault;

typedef struct fserver {
  int udp, tcp, port;
  char addr[32];
  atomic_int stop, mode, up, down;
  atomic_int queries, queries_tcp, answered;
  atomic_int ttl;
  pthread_t thread;
} fserver;

#define GOOD "192.0.2.10"
#define POISON "203.0.113.66"

static void put16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

/* A reply to q[0..n) into out; 0 if q is not a query we can answer.
 * rcode, a forged address and a changed question as asked. */
static size_t make_reply(const unsigned char *q, size_t n, unsigned char *out,
                         unsigned rcode, int tc, int poison, int other_name,
                         int other_type, int other_id, uint32_t ttl) {
  size_t qend = 12, len;
  unsigned qtype;
  if (n < 17 || n > 512)
    return 0;
  while (qend < n && q[qend] != 0)
    qend += (size_t)q[qend] + 1;
  if (qend + 5 > n)
    return 0;
  qtype = (unsigned)(q[qend + 1] << 8 | q[qend + 2]);
  qend += 5;
  memcpy(out, q, qend);
  if (other_id)
    put16(out, (unsigned)(q[0] << 8 | q[1]) ^ 0x5a5au);
  if (other_name && qend > 13)
    out[13] = out[13] == 'x' ? 'y' : 'x'; /* first octet of the first label */
  if (other_type) {
    qtype = qtype == 1 ? 28 : 1;
    put16(out + qend - 4, qtype);
  }
  out[2] = (unsigned char)(0x84 | (tc ? 0x02 : 0) | (q[2] & 0x01));
  out[3] = (unsigned char)(0x80 | rcode);
  put16(out + 4, 1);
  put16(out + 6, 0);
  put16(out + 8, 0);
  put16(out + 10, 0);
  len = qend;
  if (rcode == 0 && !tc && (qtype == 1 || qtype == 28)) {
    unsigned rdlen = qtype == 1 ? 4 : 16;
    unsigned char rd[16] = {0};
    if (qtype == 1) {
      inet_pton(AF_INET, poison ? POISON : GOOD, rd);
    } else {
      inet_pton(AF_INET6, poison ? "2001:db8::bad" : "2001:db8::10", rd);
    }
    put16(out + len, 0xc00c);
    put16(out + len + 2, qtype);
    put16(out + len + 4, 1);
    put16(out + len + 6, ttl >> 16);
    put16(out + len + 8, ttl & 0xffff);
    put16(out + len + 10, rdlen);
    memcpy(out + len + 12, rd, rdlen);
    len += 12 + rdlen;
    put16(out + 6, 1);
  }
  return len;
}

static int read_full(int fd, unsigned char *p, size_t n) {
  while (n > 0) {
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t k;
    if (poll(&pfd, 1, XS_TEST_HANG_MS) <= 0 || (k = recv(fd, p, n, 0)) <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static void serve_tcp(fserver *s, int c) {
  for (;;) {
    unsigned char lb[2], q[512], out[600];
    size_t n, len;
    int mode = atomic_load(&s->mode);
    if (read_full(c, lb, 2) != 0)
      break;
    n = (size_t)(lb[0] << 8 | lb[1]);
    if (n > sizeof(q) || read_full(c, q, n) != 0)
      break;
    atomic_fetch_add(&s->queries, 1);
    atomic_fetch_add(&s->queries_tcp, 1);
    if (mode == F_TCP_CLOSE)
      break;
    len = make_reply(q, n, out + 2, 0, 0, 0, 0, 0, 0,
                     (uint32_t)atomic_load(&s->ttl));
    if (len == 0)
      continue;
    put16(out, (unsigned)len);
    if (mode == F_TCP_CUT) { /* the length says more than ever comes */
      send(c, out, 2 + len / 2, MSG_NOSIGNAL);
      break;
    }
    if (send(c, out, len + 2, MSG_NOSIGNAL) != (ssize_t)(len + 2))
      break;
    atomic_fetch_add(&s->answered, 1);
  }
  close(c);
}

static void serve_udp(fserver *s) {
  unsigned char q[512], out[600];
  struct sockaddr_storage from;
  socklen_t fromlen = sizeof(from);
  ssize_t n =
      recvfrom(s->udp, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
  int mode = atomic_load(&s->mode), nth;
  uint32_t ttl = (uint32_t)atomic_load(&s->ttl);
  size_t len;
  if (n <= 0)
    return;
  nth = atomic_fetch_add(&s->queries, 1);
#define SEND(...)                                                              \
  do {                                                                         \
    len = make_reply(q, (size_t)n, out, __VA_ARGS__, ttl);                     \
    if (len > 0)                                                               \
      sendto(s->udp, out, len, 0, (struct sockaddr *)&from, fromlen);          \
  } while (0)
  switch (mode) {
  case F_DROP:
    return;
  case F_SERVFAIL:
    SEND(2, 0, 0, 0, 0, 0);
    return;
  case F_REFUSED:
    SEND(5, 0, 0, 0, 0, 0);
    return;
  case F_WRONG_ID:
    SEND(0, 0, 1, 0, 0, 1);
    return;
  case F_WRONG_NAME:
    SEND(0, 0, 1, 1, 0, 0);
    return;
  case F_WRONG_ID_THEN_ANSWER:
    SEND(0, 0, 1, 0, 0, 1);
    break;
  case F_WRONG_NAME_THEN_ANSWER:
    SEND(0, 0, 1, 1, 0, 0);
    break;
  case F_WRONG_TYPE_THEN_ANSWER:
    SEND(0, 0, 1, 0, 1, 0);
    break;
  case F_TRUNCATE:
  case F_TCP_CUT:
  case F_TCP_CLOSE:
    SEND(0, 1, 0, 0, 0, 0);
    return;
  case F_FLAP: {
    int up = atomic_load(&s->up), down = atomic_load(&s->down);
    if (nth % (up + down) >= up) {
      SEND(2, 0, 0, 0, 0, 0);
      return;
    }
    break;
  }
  default:
    break;
  }
  SEND(0, 0, 0, 0, 0, 0);
  atomic_fetch_add(&s->answered, 1);
#undef SEND
}

static void *fs_run(void *arg) {
  fserver *s = arg;
  while (!atomic_load(&s->stop)) {
    struct pollfd pfd[2] = {{s->udp, POLLIN, 0}, {s->tcp, POLLIN, 0}};
    if (poll(pfd, 2, 20) <= 0)
      continue;
    if (pfd[1].revents & POLLIN) {
      int c = accept(s->tcp, NULL, NULL);
      if (c >= 0)
        serve_tcp(s, c);
    }
    if (pfd[0].revents & POLLIN)
      serve_udp(s);
  }
  return NULL;
}

static int fs_start(fserver *s) {
  int tries;
  memset(s, 0, sizeof(*s));
  atomic_init(&s->ttl, 10);
  atomic_init(&s->up, 1);
  atomic_init(&s->down, 1);
  for (tries = 0; tries < 50; tries++) {
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    s->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    s->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->udp >= 0 && s->tcp >= 0 &&
        bind(s->udp, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s->udp, (struct sockaddr *)&a, &alen) == 0 &&
        bind(s->tcp, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        listen(s->tcp, 8) == 0) {
      s->port = ntohs(a.sin_port);
      snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
      return pthread_create(&s->thread, NULL, fs_run, s) == 0 ? 0 : -1;
    }
    close(s->udp);
    close(s->tcp);
  }
  return -1;
}

static void fs_stop(fserver *s) {
  atomic_store(&s->stop, 1);
  pthread_join(s->thread, NULL);
  close(s->udp);
  close(s->tcp);
}

/* ---- fixtures ------------------------------------------------------------ */

static fserver fs, fs2;
static xs_registry *reg;
static atomic_ullong fake_ms;
static int under_valgrind;

static unsigned long long fake_clock(void *arg) {
  (void)arg;
  return atomic_load(&fake_ms);
}

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fds_before;

static int setup(void **state) {
  xs_error err;
  (void)state;
  under_valgrind = getenv("XSVC_TEST_VALGRIND") != NULL;
  if (fs_start(&fs) != 0 || fs_start(&fs2) != 0)
    return -1;
  if (xs_registry_new(&reg) != XS_OK ||
      xs_registry_add_external(reg, "prod", "db", "db.example.test", &err) !=
          XS_OK)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  xs_registry_free(reg);
  fs_stop(&fs);
  fs_stop(&fs2);
  return 0;
}

/* Before each test: the server answering, the clock at its start. */
static int reset(void **state) {
  (void)state;
  atomic_store(&fs.mode, F_ANSWER);
  atomic_store(&fs2.mode, F_ANSWER);
  atomic_store(&fs.queries, 0);
  atomic_store(&fs.queries_tcp, 0);
  atomic_store(&fs.answered, 0);
  atomic_store(&fs2.queries, 0);
  atomic_store(&fs.ttl, 10);
  atomic_store(&fake_ms, 1000000);
  fds_before = count_fds();
  return 0;
}

/* After each test: every descriptor the resolvers opened is closed. The
 * fake server closes its side of a TCP connection on its own thread, when
 * it sees the resolver's side go: wait for that (a busy machine). */
static int no_fd_leak(void **state) {
  (void)state;
  XS_WAIT_UNTIL(count_fds() == fds_before);
  return count_fds() == fds_before ? 0 : -1;
}

static xs_resolver *make(int timeout_ms, int attempts, int two_servers) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, fs.addr));
  if (two_servers)
    must(xs_config_add_server(cfg, fs2.addr));
  must(xs_config_set_timeout_ms(cfg, timeout_ms));
  must(xs_config_set_attempts(cfg, attempts));
  must(xs_config_set_clock(cfg, fake_clock, NULL));
  must(xs_config_set_prefetch(cfg, 0));
  must(xs_resolver_new(cfg, reg, &res, &err));
  xs_config_free(cfg);
  return res;
}

/* Resolve name (A), check the status and, when OK, the one address and its
 * source; never the forged address. Returns the elapsed ms. */
static long long expect(xs_resolver *res, const char *name, xs_status want,
                        xs_source source) {
  xs_result *r = NULL;
  long long t0 = now_ms();
  xs_status st = xs_resolve(res, name, XS_FAMILY_IPV4, &r);
  long long ms = now_ms() - t0;
  size_t i;
  if (st != want)
    fail_msg("%s: %s, expected %s", name, xs_strerror(st), xs_strerror(want));
  assert_non_null(r);
  for (i = 0; i < xs_result_address_count(r); i++)
    assert_string_not_equal(xs_result_address_text(r, i), POISON);
  if (want == XS_OK) {
    assert_int_equal(xs_result_address_count(r), 1);
    assert_string_equal(xs_result_address_text(r, 0), GOOD);
    assert_int_equal(xs_result_address_source(r, 0), source);
  }
  xs_result_free(r);
  return ms;
}

/* ---- forged replies ------------------------------------------------------ */

static void test_fault_wrong_id_reply_ignored_right_one_answers(void **s) {
  xs_resolver *res = make(ANSWER_MS, 1, 0);
  (void)s;
  atomic_store(&fs.mode, F_WRONG_ID_THEN_ANSWER);
  expect(res, "db", XS_OK, XS_SOURCE_UPSTREAM);
  expect(res, "id.example.test.", XS_OK, XS_SOURCE_UPSTREAM);
  xs_resolver_free(res);
}

static void test_fault_wrong_question_name_ignored_right_one_answers(void **s) {
  xs_resolver *res = make(ANSWER_MS, 1, 0);
  (void)s;
  atomic_store(&fs.mode, F_WRONG_NAME_THEN_ANSWER);
  expect(res, "db", XS_OK, XS_SOURCE_UPSTREAM);
  expect(res, "name.example.test.", XS_OK, XS_SOURCE_UPSTREAM);
  xs_resolver_free(res);
}

static void test_fault_wrong_question_type_ignored_right_one_answers(void **s) {
  xs_resolver *res = make(ANSWER_MS, 1, 0);
  (void)s;
  atomic_store(&fs.mode, F_WRONG_TYPE_THEN_ANSWER);
  expect(res, "type.example.test.", XS_OK, XS_SOURCE_UPSTREAM);
  xs_resolver_free(res);
}

/* Only forged replies: the query times out as if nothing came (after
 * both attempts: 150 + 300 ms, two queries), and nothing forged reaches
 * the cache: asked again of a silent server, the name times out again. */
static void test_fault_only_forged_replies_time_out_unpoisoned(void **s) {
  xs_resolver *res = make(150, 2, 0);
  long long ms;
  (void)s;
  atomic_store(&fs.mode, F_WRONG_ID);
  ms = expect(res, "forged-id.example.test.", XS_ETIMEOUT, XS_SOURCE_UPSTREAM);
  assert_true(ms >= 150 + 300 - 1);
  assert_int_equal(atomic_load(&fs.queries), 2);
  atomic_store(&fs.mode, F_WRONG_NAME);
  ms =
      expect(res, "forged-name.example.test.", XS_ETIMEOUT, XS_SOURCE_UPSTREAM);
  assert_true(ms >= 150 + 300 - 1);
  assert_int_equal(atomic_load(&fs.queries), 4);
  atomic_store(&fs.mode, F_DROP);
  expect(res, "forged-id.example.test.", XS_ETIMEOUT, XS_SOURCE_UPSTREAM);
  expect(res, "forged-name.example.test.", XS_ETIMEOUT, XS_SOURCE_UPSTREAM);
  assert_int_equal(atomic_load(&fs.queries), 8); /* asked again: not cached */
  xs_resolver_free(res);
}

/* ---- rcodes and serve-stale ---------------------------------------------- */

static void test_fault_servfail_refused_fail_uncached_serve_stale(void **s) {
  xs_resolver *res = make(ANSWER_MS, 1, 0);
  (void)s;
  expect(res, "db", XS_OK, XS_SOURCE_UPSTREAM); /* cached for 10 s */
  atomic_fetch_add(&fake_ms, 60000);            /* expired */
  atomic_store(&fs.mode, F_SERVFAIL);
  expect(res, "sf.example.test.", XS_ESERVFAIL, XS_SOURCE_UPSTREAM);
  expect(res, "db", XS_OK, XS_SOURCE_STALE);
  atomic_store(&fs.mode, F_REFUSED);
  expect(res, "rf.example.test.", XS_EREFUSED, XS_SOURCE_UPSTREAM);
  expect(res, "db", XS_OK, XS_SOURCE_STALE);
  atomic_store(&fs.mode, F_ANSWER); /* back: fresh again */
  expect(res, "db", XS_OK, XS_SOURCE_UPSTREAM);
  expect(res, "db", XS_OK, XS_SOURCE_CACHE);
  xs_resolver_free(res);
}

/* ---- TCP ----------------------------------------------------------------- */

static void test_fault_truncated_udp_reply_retried_over_tcp(void **s) {
  xs_resolver *res = make(ANSWER_MS, 1, 0);
  (void)s;
  atomic_store(&fs.mode, F_TRUNCATE);
  expect(res, "tc.example.test.", XS_OK, XS_SOURCE_UPSTREAM);
  assert_true(atomic_load(&fs.queries_tcp) >= 1);
  xs_resolver_free(res);
}

/* A TCP reply cut short, or a connection closed before any reply: a
 * failure, without waiting for a timeout (a minute here: a wait would be
 * a hang), and a stale entry still answers. */
static void test_fault_tcp_closed_mid_message_fails_in_time(void **s) {
  static const fault modes[] = {F_TCP_CUT, F_TCP_CLOSE};
  size_t i;
  (void)s;
  for (i = 0; i < 2; i++) {
    xs_resolver *res = make(ANSWER_MS, 2, 0);
    xs_result *r = NULL;
    xs_status st;
    atomic_store(&fs.mode, F_ANSWER);
    expect(res, "db", XS_OK, XS_SOURCE_UPSTREAM);
    atomic_fetch_add(&fake_ms, 60000);
    atomic_store(&fs.mode, modes[i]);
    st = xs_resolve(res, "cut.example.test.", XS_FAMILY_IPV4, &r);
    assert_true(st == XS_EUPSTREAM || st == XS_EREFUSED);
    assert_int_equal(xs_result_address_count(r), 0);
    xs_result_free(r);
    assert_true(atomic_load(&fs.queries_tcp) >= 1);
    expect(res, "db", XS_OK, XS_SOURCE_STALE);
    xs_resolver_free(res);
  }
}

/* ---- silence and flapping ------------------------------------------------ */

/* Two silent servers: each is asked once per attempt, in turn, and the
 * call ends XS_ETIMEOUT once every attempt's timeout has passed (c-ares
 * 1.18 doubles it each round: 100 + 100 + 200 + 200 ms). */
static void test_fault_silent_servers_bounded_by_timeout_attempts(void **s) {
  xs_resolver *res = make(100, 2, 1);
  long long ms;
  (void)s;
  atomic_store(&fs.mode, F_DROP);
  atomic_store(&fs2.mode, F_DROP);
  ms = expect(res, "silent.example.test.", XS_ETIMEOUT, XS_SOURCE_UPSTREAM);
  assert_true(ms >= 100 * 2 * (1 + 2) - 1);
  assert_int_equal(atomic_load(&fs.queries), 2);
  assert_int_equal(atomic_load(&fs2.queries), 2);
  xs_resolver_free(res);
  /* one silent, one answering: the answer, from the second server, after
   * the first one's timeout (1 s; the answer has the query's remaining
   * 5 s to arrive) */
  res = make(1000, 2, 1);
  atomic_store(&fs2.mode, F_ANSWER);
  ms = expect(res, "one-up.example.test.", XS_OK, XS_SOURCE_UPSTREAM);
  assert_true(ms >= 1000 - 1);
  assert_true(atomic_load(&fs2.queries) >= 3);
  xs_resolver_free(res);
}

/* The server answers two queries, fails two (SERVFAIL), and so on; each
 * answer lives one second of the fake clock, which moves two seconds per
 * round. Every resolution answers: fresh from upstream, or stale while it
 * is down, half and half. */
static void test_fault_flapping_upstream_serve_stale_keeps_answering(void **s) {
  xs_resolver *res = make(ANSWER_MS, 1, 0);
  int rounds = under_valgrind ? 12 : 60, i, stale = 0, fresh = 0;
  (void)s;
  atomic_store(&fs.ttl, 1);
  expect(res, "db", XS_OK, XS_SOURCE_UPSTREAM);
  atomic_store(&fs.queries, 0);
  atomic_store(&fs.up, 2);
  atomic_store(&fs.down, 2);
  atomic_store(&fs.mode, F_FLAP);
  for (i = 0; i < rounds; i++) {
    xs_result *r;
    atomic_fetch_add(&fake_ms, 2000);
    must(xs_resolve(res, "db", XS_FAMILY_IPV4, &r));
    assert_string_equal(xs_result_address_text(r, 0), GOOD);
    if (xs_result_address_source(r, 0) == XS_SOURCE_STALE)
      stale++;
    else if (xs_result_address_source(r, 0) == XS_SOURCE_UPSTREAM)
      fresh++;
    xs_result_free(r);
  }
  assert_int_equal(stale + fresh, rounds);
  assert_int_equal(fresh, rounds / 2);
  assert_int_equal(stale, rounds / 2);
  xs_resolver_free(res);
}

/* Threads resolving many names while the upstream flaps and the clock
 * moves: every call answers, answers are never forged, names once answered
 * keep answering (fresh or stale). For TSan. */
typedef struct worker {
  xs_resolver *res;
  int id, calls, failures;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  int i;
  for (i = 0; i < w->calls; i++) {
    char name[64];
    xs_result *r = NULL;
    xs_status st;
    snprintf(name, sizeof(name), "n%d.example.test.", (w->id + i) % 6);
    st = xs_resolve(w->res, name, XS_FAMILY_IPV4, &r);
    if (st != XS_OK)
      w->failures++;
    else if (strcmp(xs_result_address_text(r, 0), GOOD) != 0)
      w->failures += 1000;
    xs_result_free(r);
    atomic_fetch_add(&fake_ms, 700);
  }
  return NULL;
}

static void test_fault_concurrent_resolves_against_flapping_upstream(void **s) {
  xs_resolver *res = make(ANSWER_MS, 1, 0);
  pthread_t t[4];
  worker w[4];
  int i, n;
  (void)s;
  atomic_store(&fs.ttl, 1);
  for (n = 0; n < 6; n++) { /* every name cached once */
    char name[64];
    snprintf(name, sizeof(name), "n%d.example.test.", n);
    expect(res, name, XS_OK, XS_SOURCE_UPSTREAM);
  }
  atomic_store(&fs.up, 3);
  atomic_store(&fs.down, 3);
  atomic_store(&fs.mode, F_FLAP);
  for (i = 0; i < 4; i++) {
    memset(&w[i], 0, sizeof(w[i]));
    w[i].res = res;
    w[i].id = i;
    w[i].calls = under_valgrind ? 5 : 40;
    assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
  }
  for (i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].failures, 0);
  }
  xs_resolver_free(res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_fault_wrong_id_reply_ignored_right_one_answers, reset,
          no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_wrong_question_name_ignored_right_one_answers, reset,
          no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_wrong_question_type_ignored_right_one_answers, reset,
          no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_only_forged_replies_time_out_unpoisoned, reset,
          no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_servfail_refused_fail_uncached_serve_stale, reset,
          no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_truncated_udp_reply_retried_over_tcp, reset, no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_tcp_closed_mid_message_fails_in_time, reset, no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_silent_servers_bounded_by_timeout_attempts, reset,
          no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_flapping_upstream_serve_stale_keeps_answering, reset,
          no_fd_leak),
      cmocka_unit_test_setup_teardown(
          test_fault_concurrent_resolves_against_flapping_upstream, reset,
          no_fd_leak),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
