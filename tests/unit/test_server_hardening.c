/* xs_server against hostile peers: an upstream whose replies carry
 * addresses the policy denies or records for the zones the server answers
 * itself; clients that trickle octets, hold connections, stop reading,
 * ask for oversized UDP replies or are not let in. Every wait is bounded
 * (2 s per reply, 10 s per test phase); nothing asserts how long anything
 * took. Clients use 127.0.0.x source addresses (all on lo). */
#include <arpa/inet.h>
#include <errno.h>
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "xsvc.h"

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static unsigned long long ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000u +
         (unsigned long long)ts.tv_nsec / 1000000u;
}

/* ---- messages ------------------------------------------------------------ */

/* A query for name (dotted, absolute) of type, with an OPT of edns octets
 * when edns > 0; returns its length. */
static size_t query(unsigned char *q, const char *name, unsigned type,
                    unsigned edns) {
  size_t n = 12;
  const char *p = name;
  memset(q, 0, 12);
  q[0] = 0x42;
  q[1] = 0x17;
  q[2] = 0x01; /* RD */
  q[5] = 1;
  while (*p != '\0') {
    const char *dot = strchr(p, '.');
    size_t l = (size_t)(dot - p);
    q[n++] = (unsigned char)l;
    memcpy(q + n, p, l);
    n += l;
    p = dot + 1;
  }
  q[n++] = 0;
  q[n++] = (unsigned char)(type >> 8);
  q[n++] = (unsigned char)type;
  q[n++] = 0;
  q[n++] = 1;
  if (edns > 0) {
    static const unsigned char opt[] = {0, 0, 41, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(q + n, opt, sizeof(opt));
    q[n + 3] = (unsigned char)(edns >> 8);
    q[n + 4] = (unsigned char)edns;
    n += sizeof(opt);
    q[11] = 1;
  }
  return n;
}

/* One record of a reply, names decompressed (lowercase, trailing dot). */
typedef struct rec {
  int section; /* 0 answer, 1 authority, 2 additional */
  char owner[300];
  unsigned type;
  char data[300]; /* A/AAAA as text, names as text, else "" */
} rec;

/* The name at *off (pointers must lead back) into out; 0 if bad. */
static int get_name(const unsigned char *m, size_t len, size_t *off,
                    char *out) {
  size_t o = *off, n = 0, limit = *off;
  int jumped = 0;
  for (;;) {
    if (o >= len)
      return 0;
    if ((m[o] & 0xc0) == 0xc0) {
      size_t to;
      if (o + 2 > len)
        return 0;
      to = (size_t)((m[o] & 0x3f) << 8 | m[o + 1]);
      if (to >= limit || to < 12)
        return 0;
      if (!jumped)
        *off = o + 2;
      jumped = 1;
      o = limit = to;
      continue;
    }
    if (m[o] == 0)
      break;
    if (m[o] > 63 || o + 1 + m[o] > len || n + m[o] + 2 > 299)
      return 0;
    for (size_t k = 0; k < m[o]; k++) {
      unsigned char c = m[o + 1 + k];
      out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[n++] = '.';
    o += (size_t)m[o] + 1;
  }
  if (n == 0)
    out[n++] = '.';
  out[n] = '\0';
  if (!jumped)
    *off = o + 1;
  return 1;
}

/* Every record of reply m[0..len) into recs (OPT left out); asserts that
 * the counts match the records and the records fill the message exactly.
 * Returns how many. */
static size_t parse(const unsigned char *m, size_t len, rec *recs, size_t max) {
  size_t off = 12, i, n = 0;
  unsigned an, ns, ar;
  char qname[300];
  assert_true(len >= 12);
  an = (unsigned)(m[6] << 8 | m[7]);
  ns = (unsigned)(m[8] << 8 | m[9]);
  ar = (unsigned)(m[10] << 8 | m[11]);
  assert_int_equal(m[4] << 8 | m[5], 1);
  assert_true(get_name(m, len, &off, qname));
  off += 4;
  for (i = 0; i < (size_t)an + ns + ar; i++) {
    rec r;
    size_t rd, rdlen;
    memset(&r, 0, sizeof(r));
    r.section = i < an ? 0 : i < (size_t)an + ns ? 1 : 2;
    assert_true(get_name(m, len, &off, r.owner));
    assert_true(off + 10 <= len);
    r.type = (unsigned)(m[off] << 8 | m[off + 1]);
    rdlen = (size_t)(m[off + 8] << 8 | m[off + 9]);
    rd = off + 10;
    assert_true(rd + rdlen <= len);
    if (r.type == 1 && rdlen == 4) {
      inet_ntop(AF_INET, m + rd, r.data, sizeof(r.data));
    } else if (r.type == 28 && rdlen == 16) {
      inet_ntop(AF_INET6, m + rd, r.data, sizeof(r.data));
    } else if (r.type == 2 || r.type == 5 || r.type == 12) {
      size_t o = rd;
      assert_true(get_name(m, rd + rdlen, &o, r.data));
      assert_int_equal(o, rd + rdlen);
    } else if (r.type == 15) {
      size_t o = rd + 2;
      assert_true(get_name(m, rd + rdlen, &o, r.data));
      assert_int_equal(o, rd + rdlen);
    }
    off = rd + rdlen;
    if (r.type == 41)
      continue;
    if (n < max)
      recs[n++] = r;
  }
  assert_int_equal(off, len);
  return n;
}

/* 1 if recs hold a record with owner, type and (data NULL: any) data. */
static int has(const rec *recs, size_t n, int section, const char *owner,
               unsigned type, const char *data) {
  for (size_t i = 0; i < n; i++)
    if (recs[i].section == section && strcmp(recs[i].owner, owner) == 0 &&
        recs[i].type == type &&
        (data == NULL || strcmp(recs[i].data, data) == 0))
      return 1;
  return 0;
}

/* ---- sockets ------------------------------------------------------------- */

static struct sockaddr_in at(const char *ip, unsigned port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

/* A socket bound to source address from (a 127.0.0.x), port 0. */
static int socket_from(int type, const char *from) {
  struct sockaddr_in a = at(from, 0);
  struct timeval tv = {2, 0};
  int fd = socket(AF_INET, type, 0);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

/* A UDP query from source from; the reply's length (-1: none in 2 s). */
static ssize_t udp_ask(unsigned port, const char *from, const unsigned char *q,
                       size_t qlen, unsigned char *r, size_t rcap) {
  struct sockaddr_in to = at("127.0.0.1", port);
  int fd = socket_from(SOCK_DGRAM, from);
  ssize_t n;
  assert_int_equal(sendto(fd, q, qlen, 0, (struct sockaddr *)&to, sizeof(to)),
                   (ssize_t)qlen);
  n = recv(fd, r, rcap, 0);
  close(fd);
  return n;
}

static int tcp_from(unsigned port, const char *from) {
  struct sockaddr_in to = at("127.0.0.1", port);
  int fd = socket_from(SOCK_STREAM, from);
  assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
  return fd;
}

/* Exactly n octets within the socket's 2 s timeout; 0, or -1 (closed,
 * reset or timed out). */
static int read_all(int fd, unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t k = recv(fd, p, n, 0);
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* A TCP query on fd; the reply's length (-1: the connection ended). */
static ssize_t tcp_ask_on(int fd, const unsigned char *q, size_t qlen,
                          unsigned char *r, size_t rcap) {
  unsigned char lb[2] = {(unsigned char)(qlen >> 8), (unsigned char)qlen};
  size_t want;
  if (send(fd, lb, 2, MSG_NOSIGNAL) != 2 ||
      send(fd, q, qlen, MSG_NOSIGNAL) != (ssize_t)qlen || read_all(fd, lb, 2))
    return -1;
  want = (size_t)(lb[0] << 8 | lb[1]);
  assert_true(want <= rcap);
  return read_all(fd, r, want) == 0 ? (ssize_t)want : -1;
}

static ssize_t tcp_ask(unsigned port, const char *from, const unsigned char *q,
                       size_t qlen, unsigned char *r, size_t rcap) {
  int fd = tcp_from(port, from);
  ssize_t n = tcp_ask_on(fd, q, qlen, r, rcap);
  close(fd);
  return n;
}

/* 1 once the server has closed fd (EOF or reset) within ms; 0 if it is
 * still open then. Data the server sent first is read and dropped. */
static int closed_within(int fd, int ms) {
  unsigned long long until = ms_now() + (unsigned long long)ms;
  unsigned char buf[4096];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    long left = (long)(until - ms_now());
    ssize_t n;
    if ((long long)(until - ms_now()) <= 0)
      return 0;
    if (poll(&p, 1, (int)left) <= 0)
      continue;
    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      return 1;
  }
}

/* ---- a scripted upstream --------------------------------------------------
 * One UDP socket on 127.0.0.1: every query gets its id and question back
 * (QR RD RA) and the records fill() appends after them. */

typedef struct builder {
  unsigned char b[2048];
  size_t len;
  unsigned count[3];
} builder;

/* Labels of dotted (no trailing dot), then a pointer to ptr or (ptr 0)
 * the root. Returns where the labels (or the pointer) start. */
static size_t b_name(builder *m, const char *dotted, size_t ptr) {
  size_t start = m->len;
  const char *p = dotted;
  while (*p != '\0') {
    const char *dot = strchr(p, '.');
    size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
    m->b[m->len++] = (unsigned char)l;
    memcpy(m->b + m->len, p, l);
    m->len += l;
    p += l + (dot != NULL);
  }
  if (ptr != 0) {
    m->b[m->len++] = (unsigned char)(0xc0 | ptr >> 8);
    m->b[m->len++] = (unsigned char)ptr;
  } else {
    m->b[m->len++] = 0;
  }
  return start;
}

/* A record's owner, type, class IN, TTL 60; its rdata follows (the caller
 * writes it, then b_end). Returns where its rdlength is. */
static size_t b_rr(builder *m, int section, const char *owner, size_t ptr,
                   unsigned type) {
  size_t at;
  b_name(m, owner, ptr);
  m->b[m->len++] = (unsigned char)(type >> 8);
  m->b[m->len++] = (unsigned char)type;
  m->b[m->len++] = 0;
  m->b[m->len++] = 1;
  memcpy(m->b + m->len, "\0\0\0\x3c", 4);
  m->len += 4;
  at = m->len;
  m->len += 2;
  m->count[section]++;
  return at;
}

static void b_end(builder *m, size_t at) {
  size_t n = m->len - at - 2;
  m->b[at] = (unsigned char)(n >> 8);
  m->b[at + 1] = (unsigned char)n;
}

static void b_raw(builder *m, const void *p, size_t n) {
  memcpy(m->b + m->len, p, n);
  m->len += n;
}

static void b_addr(builder *m, int section, const char *owner, size_t ptr,
                   const char *ip) {
  unsigned char a[16];
  int v6 = strchr(ip, ':') != NULL;
  size_t at = b_rr(m, section, owner, ptr, v6 ? 28 : 1);
  assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, ip, a), 1);
  b_raw(m, a, v6 ? 16 : 4);
  b_end(m, at);
}

typedef void (*fill_fn)(builder *m, unsigned qtype);

typedef struct upstream {
  int fd;
  char server[32];
  pthread_t thread;
  atomic_int stop;
  fill_fn fill;
} upstream;

static void *upstream_run(void *arg) {
  upstream *u = arg;
  while (!atomic_load(&u->stop)) {
    struct pollfd p = {u->fd, POLLIN, 0};
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    unsigned char q[512];
    builder m;
    ssize_t n;
    size_t qend = 12;
    if (poll(&p, 1, 100) <= 0)
      continue;
    n = recvfrom(u->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
    if (n < 17)
      continue;
    while (qend < (size_t)n && q[qend] != 0)
      qend += (size_t)q[qend] + 1;
    qend += 5;
    if (qend > (size_t)n)
      continue;
    memset(&m, 0, sizeof(m));
    memcpy(m.b, q, qend);
    m.len = qend;
    u->fill(&m, (unsigned)(q[qend - 4] << 8 | q[qend - 3]));
    m.b[2] = (unsigned char)(0x80 | (q[2] & 0x01)); /* QR RD */
    m.b[3] = 0x80;                                  /* RA */
    m.b[6] = 0;
    m.b[7] = (unsigned char)m.count[0];
    m.b[8] = 0;
    m.b[9] = (unsigned char)m.count[1];
    m.b[10] = 0;
    m.b[11] = (unsigned char)m.count[2];
    (void)sendto(u->fd, m.b, m.len, 0, (struct sockaddr *)&from, fl);
  }
  return NULL;
}

static void upstream_start(upstream *u, fill_fn fill) {
  struct sockaddr_in a = at("127.0.0.1", 0);
  socklen_t al = sizeof(a);
  u->fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_int_equal(bind(u->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(u->fd, (struct sockaddr *)&a, &al), 0);
  snprintf(u->server, sizeof(u->server), "127.0.0.1:%u", ntohs(a.sin_port));
  u->fill = fill;
  atomic_init(&u->stop, 0);
  assert_int_equal(pthread_create(&u->thread, NULL, upstream_run, u), 0);
}

static void upstream_stop(upstream *u) {
  atomic_store(&u->stop, 1);
  pthread_join(u->thread, NULL);
  close(u->fd);
}

/* A resolver over a registry with backend.prod (ClusterIP 10.96.0.20) and
 * the upstream, denying 198.51.100.0/24 besides its defaults. */
static xs_resolver *resolver_for(const upstream *u, xs_registry **reg,
                                 xs_config **cfg) {
  const char *ip[] = {"10.96.0.20"};
  xs_resolver *res;
  xs_error err;
  must(xs_registry_new(reg));
  must(xs_registry_add_cluster_ip(*reg, "prod", "backend", ip, 1, &err));
  must(xs_config_new(cfg));
  if (u != NULL) {
    must(xs_config_add_server(*cfg, u->server));
    must(xs_config_set_timeout_ms(*cfg, 1000));
    must(xs_config_set_attempts(*cfg, 2));
  }
  must(xs_config_add_denied_range(*cfg, "198.51.100.0/24"));
  must(xs_resolver_new(*cfg, *reg, &res, &err));
  return res;
}

/* ---- forwarded replies --------------------------------------------------- */

/* For any question about x.example.com: addresses in every section, some
 * the policy denies (198.51.100.7: the test's range; 169.254.169.254 and
 * fe80::1: link-local, denied by default), HTTPS records with and without
 * a denied hint, a glue address whose owner points into a record that
 * goes. */
static void fill_addresses(builder *m, unsigned qtype) {
  size_t at, ns_target, meta;
  (void)qtype;
  b_addr(m, 0, "", 12, "198.51.100.7");
  b_addr(m, 0, "", 12, "192.0.2.1");
  b_addr(m, 0, "", 12, "fe80::1");
  b_addr(m, 0, "", 12, "2001:db8::1");
  at = b_rr(m, 0, "", 12, 65); /* HTTPS 1 . alpn=h2 ipv4hint=169.254.169.254 */
  b_raw(m, "\0\1\0\0\1\0\3\2h2\0\4\0\4\xa9\xfe\xa9\xfe", 18);
  b_end(m, at);
  at = b_rr(m, 0, "", 12, 65); /* HTTPS 1 . ipv4hint=192.0.2.9 */
  b_raw(m, "\0\1\0\0\4\0\4\xc0\0\2\x09", 11);
  b_end(m, at);
  at = b_rr(m, 1, "example.com", 0, 2); /* NS ns1.x.example.com */
  ns_target = b_name(m, "ns1", 12);
  b_end(m, at);
  meta = m->len;
  b_addr(m, 2, "metadata", ns_target, "169.254.169.254");
  /* owner glue.metadata.ns1.x.example.com: a pointer into a record that
   * goes */
  b_addr(m, 2, "glue", meta, "192.0.2.53");
  b_addr(m, 2, "", ns_target, "198.51.100.9");
}

static void test_forward_drops_denied_addresses_in_every_section(void **st) {
  static const unsigned types[] = {255 /* ANY */, 65 /* HTTPS */};
  upstream u;
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv;
  xs_error err;
  unsigned char q[512], r[4096];
  rec recs[32];
  size_t qlen, n, t;
  int tcp;
  (void)st;
  upstream_start(&u, fill_addresses);
  res = resolver_for(&u, &reg, &cfg);
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  for (t = 0; t < 2; t++)
    for (tcp = 0; tcp < 2; tcp++) {
      ssize_t len;
      qlen = query(q, "x.example.com.", types[t], 1232);
      len =
          tcp ? tcp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r))
              : udp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r,
                        sizeof(r));
      assert_true(len > 12);
      assert_int_equal(r[3] & 0x0f, 0);
      n = parse(r, (size_t)len, recs, 32);
      /* kept: the allowed ones, with names that still decompress */
      assert_true(has(recs, n, 0, "x.example.com.", 1, "192.0.2.1"));
      assert_true(has(recs, n, 0, "x.example.com.", 28, "2001:db8::1"));
      assert_true(has(recs, n, 1, "example.com.", 2, "ns1.x.example.com."));
      assert_true(
          has(recs, n, 2, "glue.metadata.ns1.x.example.com.", 1, "192.0.2.53"));
      /* gone: every denied address, and the HTTPS record with the denied
       * hint (the other one stays) */
      assert_false(has(recs, n, 0, "x.example.com.", 1, "198.51.100.7"));
      assert_false(has(recs, n, 0, "x.example.com.", 28, "fe80::1"));
      assert_false(has(recs, n, 2, "metadata.ns1.x.example.com.", 1, NULL));
      assert_false(has(recs, n, 2, "ns1.x.example.com.", 1, NULL));
      assert_int_equal(n, 5);
      assert_int_equal(r[7], 3); /* A, AAAA, one HTTPS */
      assert_int_equal(r[9], 1);
      assert_int_equal(r[11], 2); /* the glue, our OPT */
      assert_int_equal(r[3] & 0x20, 0);
    }
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
  upstream_stop(&u);
}

/* For x.example.com: a CNAME into the cluster zone and the upstream's word
 * on that name (6.6.6.6), an NS for the cluster zone, a PTR in
 * in-addr.arpa; a glue address whose owner points into the CNAME target;
 * a TXT of its own. For nope.prod.svc.cluster.local (asked by fallthrough):
 * its own A, and one for backend (the registry's name). */
static void fill_zones(builder *m, unsigned qtype) {
  size_t at, target;
  if (m->b[12] == 4 && memcmp(m->b + 13, "nope", 4) == 0) {
    b_addr(m, 0, "", 12, "192.0.2.99");
    b_addr(m, 0, "backend", 12 + 5, "6.6.6.6");
    return;
  }
  at = b_rr(m, 0, "", 12, 5);
  target = b_name(m, "backend.prod.svc.cluster.local", 0);
  b_end(m, at);
  if (qtype == 1 || qtype == 255)
    b_addr(m, 0, "", target, "6.6.6.6");
  at = b_rr(m, 1, "", target + 8, 2); /* prod.svc.cluster.local NS */
  b_name(m, "ns.evil.test", 0);
  b_end(m, at);
  at = b_rr(m, 2, "20.0.96.10.in-addr.arpa", 0, 12);
  b_name(m, "evil.test", 0);
  b_end(m, at);
  b_addr(m, 2, "www", target, "192.0.2.80"); /* www.backend.prod...: goes */
  b_addr(m, 2, "mail", target + 8 + 5 + 4,
         "192.0.2.25"); /* mail.cluster.local */
  at = b_rr(m, 2, "", 12, 16);
  b_raw(m, "\2ok", 3);
  b_end(m, at);
}

static void
test_forward_drops_records_for_the_cluster_and_reverse_zones(void **st) {
  upstream u;
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv, *ft;
  xs_server_options o;
  xs_error err;
  unsigned char q[512], r[4096];
  rec recs[32];
  size_t qlen, n;
  ssize_t len;
  int tcp;
  (void)st;
  upstream_start(&u, fill_zones);
  res = resolver_for(&u, &reg, &cfg);
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  for (tcp = 0; tcp < 2; tcp++) {
    /* forwarded as it is (TXT): rewritten without the zones' records */
    qlen = query(q, "x.example.com.", 16, 0);
    len =
        tcp ? tcp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r))
            : udp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r));
    assert_true(len > 12);
    n = parse(r, (size_t)len, recs, 32);
    assert_true(has(recs, n, 0, "x.example.com.", 5,
                    "backend.prod.svc.cluster.local."));
    assert_true(has(recs, n, 2, "x.example.com.", 16, NULL));
    assert_int_equal(n, 2);
    assert_int_equal(r[7], 1);
    assert_int_equal(r[9], 0);
    assert_int_equal(r[11], 1);
    /* A, through the resolver: the chain stops where it enters the zone,
     * 6.6.6.6 is not relayed */
    qlen = query(q, "x.example.com.", 1, 0);
    len =
        tcp ? tcp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r))
            : udp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r));
    assert_true(len > 12);
    n = parse(r, (size_t)len, recs, 32);
    assert_false(has(recs, n, 0, "backend.prod.svc.cluster.local.", 1, NULL));
    for (size_t i = 0; i < n; i++)
      assert_string_not_equal(recs[i].data, "6.6.6.6");
    /* the name itself: the registry's answer */
    qlen = query(q, "backend.prod.svc.cluster.local.", 1, 0);
    len = udp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r));
    n = parse(r, (size_t)len, recs, 32);
    assert_true(
        has(recs, n, 0, "backend.prod.svc.cluster.local.", 1, "10.96.0.20"));
  }
  /* fallthrough: the question's own records are the upstream's to give,
   * other names in the zone are not */
  xs_server_options_init(&o);
  o.fallthrough = XS_FALLTHROUGH_CLUSTER;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &ft, &err));
  qlen = query(q, "nope.prod.svc.cluster.local.", 1, 0);
  len = udp_ask(xs_server_port(ft), "127.0.0.1", q, qlen, r, sizeof(r));
  assert_true(len > 12);
  n = parse(r, (size_t)len, recs, 32);
  assert_true(has(recs, n, 0, "nope.prod.svc.cluster.local.", 1, "192.0.2.99"));
  assert_int_equal(n, 1);
  assert_int_equal(r[7], 1);
  xs_server_stop(ft);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
  upstream_stop(&u);
}

/* ---- UDP size ------------------------------------------------------------ */

static void test_udp_reply_capped_at_1232_whatever_the_client_asks(void **st) {
  static const unsigned sizes[] = {1232, 1500, 4096, 65535};
  xs_registry *reg;
  xs_resolver *res;
  xs_server *srv;
  xs_error err;
  unsigned char q[512], r[65535];
  char ip[32];
  size_t qlen, i;
  ssize_t n;
  (void)st;
  must(xs_registry_new(&reg));
  must(xs_registry_add_headless(reg, "prod", "many", &err));
  for (i = 0; i < 100; i++) { /* about 1.7 KB of A records */
    snprintf(ip, sizeof(ip), "10.2.0.%zu", i + 1);
    must(xs_registry_add_endpoint(reg, "prod", "many", ip, NULL, 1, &err));
  }
  must(xs_resolver_new(NULL, reg, &res, &err));
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    qlen = query(q, "many.prod.svc.cluster.local.", 1, sizes[i]);
    n = udp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r));
    assert_true(n > 12);
    assert_true(n <= (ssize_t)XS_SERVER_UDP_MAX);
    assert_int_equal(r[2] & 0x02, 0x02); /* TC: retry over TCP */
    assert_int_equal(r[7], 0);
  }
  /* over TCP it comes whole */
  n = tcp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r));
  assert_true(n > (ssize_t)XS_SERVER_UDP_MAX);
  assert_int_equal(r[2] & 0x02, 0);
  assert_int_equal(r[7], 100);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* ---- access control ------------------------------------------------------ */

static void test_clients_not_allowed_are_refused(void **st) {
  static const char *const only2[] = {"127.0.0.2/32"};
  /* ::ffff:0:0/96 does not let IPv4 clients in: they match as IPv4 */
  static const char *const v6net[] = {"127.0.0.3", "10.0.0.0/8",
                                      "2001:db8::/32", "::ffff:0:0/96"};
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv;
  xs_server_options o;
  xs_server_counts c;
  xs_error err;
  unsigned char q[512], r[4096];
  size_t qlen;
  ssize_t n;
  int fd;
  (void)st;
  res = resolver_for(NULL, &reg, &cfg);
  xs_server_options_init(&o);
  o.allow_from = only2;
  o.allow_count = 1;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
  qlen = query(q, "backend.prod.svc.cluster.local.", 1, 1232);
  /* 127.0.0.1 is not in the list (the list replaces the loopback default) */
  n = udp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r));
  assert_true(n > 12);
  assert_int_equal(r[3] & 0x0f, 5); /* REFUSED */
  assert_int_equal(r[7], 0);
  assert_true(n <= (ssize_t)qlen); /* no more than was sent */
  /* TCP: closed before anything is read */
  fd = tcp_from(xs_server_port(srv), "127.0.0.1");
  assert_int_equal(tcp_ask_on(fd, q, qlen, r, sizeof(r)), -1);
  close(fd);
  /* 127.0.0.2 is answered, over both */
  n = udp_ask(xs_server_port(srv), "127.0.0.2", q, qlen, r, sizeof(r));
  assert_true(n > 12);
  assert_int_equal(r[3] & 0x0f, 0);
  assert_int_equal(r[7], 1);
  n = tcp_ask(xs_server_port(srv), "127.0.0.2", q, qlen, r, sizeof(r));
  assert_true(n > 12);
  assert_int_equal(r[7], 1);
  xs_server_stats(srv, &c);
  assert_int_equal(c.refused, 1);
  xs_server_stop(srv);
  /* entries of both families, bare and with prefixes, and the bad ones */
  o.allow_from = v6net;
  o.allow_count = 4;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
  n = udp_ask(xs_server_port(srv), "127.0.0.3", q, qlen, r, sizeof(r));
  assert_int_equal(r[3] & 0x0f, 0);
  n = udp_ask(xs_server_port(srv), "127.0.0.4", q, qlen, r, sizeof(r));
  assert_int_equal(r[3] & 0x0f, 5);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
}

/* ---- TCP: what one client can hold --------------------------------------- */

/* A message trickled one octet at a time is cut off tcp_message_ms after
 * its first octet, however often octets come (the idle time is far off);
 * a message sent whole is answered. */
static void test_tcp_message_deadline_runs_from_its_first_octet(void **st) {
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv;
  xs_server_options o;
  xs_error err;
  unsigned char q[512], r[4096], msg[514];
  size_t qlen, sent = 0;
  int fd, closed = 0;
  (void)st;
  res = resolver_for(NULL, &reg, &cfg);
  xs_server_options_init(&o);
  o.tcp_message_ms = 300;
  o.tcp_idle_ms = 60000;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
  qlen = query(q, "backend.prod.svc.cluster.local.", 1, 0);
  /* 512 octets announced, so the message is never whole */
  msg[0] = 512 >> 8;
  msg[1] = 512 & 0xff;
  memcpy(msg + 2, q, qlen);
  memset(msg + 2 + qlen, 0, sizeof(msg) - 2 - qlen);
  fd = tcp_from(xs_server_port(srv), "127.0.0.1");
  /* an octet every 100 ms: 100 octets take 10 s, far past the deadline */
  while (sent < 100 && !closed) {
    if (send(fd, msg + sent, 1, MSG_NOSIGNAL) != 1)
      break;
    sent++;
    closed = closed_within(fd, 100);
  }
  assert_true(closed || closed_within(fd, 2000));
  assert_true(sent < 100);
  close(fd);
  /* sent at once: answered */
  assert_true(tcp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r)) >
              12);
  assert_int_equal(r[7], 1);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
}

/* One source holds at most tcp_per_source connections: one more is closed
 * at once while another source is still served; the ones it holds work. */
static void test_tcp_connections_per_source_bounded(void **st) {
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv;
  xs_server_options o;
  xs_error err;
  unsigned char q[512], r[4096];
  size_t qlen;
  int fds[XS_SERVER_TCP_PER_SOURCE_DEFAULT], extra, i;
  (void)st;
  res = resolver_for(NULL, &reg, &cfg);
  xs_server_options_init(&o);
  o.tcp_idle_ms = 60000; /* the slots stay held for the whole test */
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
  qlen = query(q, "backend.prod.svc.cluster.local.", 1, 0);
  for (i = 0; i < (int)XS_SERVER_TCP_PER_SOURCE_DEFAULT; i++)
    fds[i] = tcp_from(xs_server_port(srv), "127.0.0.1");
  extra = tcp_from(xs_server_port(srv), "127.0.0.1");
  assert_true(closed_within(extra, 2000));
  close(extra);
  assert_true(tcp_ask(xs_server_port(srv), "127.0.0.9", q, qlen, r, sizeof(r)) >
              12);
  for (i = 0; i < (int)XS_SERVER_TCP_PER_SOURCE_DEFAULT; i++) {
    assert_true(tcp_ask_on(fds[i], q, qlen, r, sizeof(r)) > 12);
    close(fds[i]);
  }
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
}

/* A client that pipelines queries and does not read holds no one up: a
 * UDP query is answered while the client is connected, with replies the
 * server cannot write (its message time far off); once it reads, every
 * reply it asked for comes, the connection never dropped. The replies
 * (64 KB each) are more than the kernel buffers between the two hold. */
static void test_udp_answered_while_a_tcp_client_does_not_read(void **st) {
  enum { QUERIES = 150 };
  xs_registry *reg;
  xs_resolver *res;
  xs_server *srv;
  xs_server_options o;
  xs_server_counts c;
  xs_error err;
  unsigned char q[1100], r[4096], msg[1100], lb[2];
  char ip[32];
  size_t qlen, mlen, tail_off = 0, need = 0, have = 0;
  unsigned long long until, answered = 0;
  int fd, i, small = 4096, big = 1 << 20, queued = 0, replies = 0, tail = 0;
  ssize_t n;
  (void)st;
  must(xs_registry_new(&reg));
  must(xs_registry_add_headless(reg, "prod", "big", &err));
  for (i = 0; i < 4000; i++) {
    snprintf(ip, sizeof(ip), "10.3.%d.%d", i / 200, i % 200 + 1);
    must(xs_registry_add_endpoint(reg, "prod", "big", ip, NULL, 1, &err));
  }
  must(xs_resolver_new(NULL, reg, &res, &err));
  xs_server_options_init(&o);
  o.tcp_message_ms = 10000;
  o.tcp_idle_ms = 10000;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
  fd = socket_from(SOCK_STREAM, "127.0.0.1");
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  {
    struct sockaddr_in to = at("127.0.0.1", xs_server_port(srv));
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
  }
  /* the queries padded (RFC 7830) to 528 octets: few fill the buffers */
  qlen = query(q, "big.prod.svc.cluster.local.", 1, 1232);
  q[qlen - 2] = 0x01;
  q[qlen - 1] = 0xf4;                    /* OPT rdata: 500 octets */
  memcpy(q + qlen, "\0\x0c\x01\xf0", 4); /* padding, 496 octets */
  memset(q + qlen + 4, 0, 496);
  qlen += 500;
  msg[0] = (unsigned char)(qlen >> 8);
  msg[1] = (unsigned char)qlen;
  memcpy(msg + 2, q, qlen);
  mlen = qlen + 2;
  /* all of them, as fast as the server takes them (it stops when it
   * cannot write: then they wait in the kernel's buffers) */
  until = ms_now() + 5000;
  while (queued < QUERIES && ms_now() < until) {
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, 200) <= 0)
      continue;
    n = send(fd, msg + tail_off, mlen - tail_off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0)
      continue;
    tail_off += (size_t)n;
    tail = tail_off < mlen;
    if (!tail) {
      queued++;
      tail_off = 0;
    }
  }
  if (tail)
    queued++; /* its rest goes below */
  assert_true(queued > 0);
  /* the server answers what it can write, then waits for the client */
  until = ms_now() + 5000;
  do {
    unsigned long long before = answered;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    xs_server_stats(srv, &c);
    answered = c.answered;
    if (answered == before && answered > 0)
      break;
  } while (ms_now() < until);
  assert_true(answered < (unsigned long long)queued); /* it is stuck */
  /* meanwhile UDP is served */
  qlen = query(q, "big.prod.svc.cluster.local.", 16, 0);
  n = udp_ask(xs_server_port(srv), "127.0.0.1", q, qlen, r, sizeof(r));
  assert_true(n > 12);
  assert_int_equal(r[3] & 0x0f, 0);
  xs_server_stats(srv, &c);
  assert_true(c.answered < (unsigned long long)queued + 1);
  /* now it reads: every reply comes, none was dropped */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  until = ms_now() + 10000;
  while (replies < queued && ms_now() < until) {
    struct pollfd p = {fd, (short)(POLLIN | (tail ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 200) <= 0)
      continue;
    if (p.revents & POLLOUT) {
      n = send(fd, msg + tail_off, mlen - tail_off,
               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0 && (tail_off += (size_t)n) == mlen)
        tail = 0;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      unsigned char buf[65536];
      n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      assert_true(n > 0 || (n < 0 && errno == EAGAIN)); /* not closed */
      for (ssize_t k = 0; k < n; k++) { /* count the length-prefixed ones */
        if (have < 2) {
          lb[have++] = buf[k];
          if (have == 2)
            need = (size_t)(lb[0] << 8 | lb[1]);
          continue;
        }
        if (++have == 2 + need) {
          replies++;
          have = 0;
        }
      }
    }
  }
  assert_int_equal(replies, queued);
  assert_int_equal(tail, 0);
  close(fd);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* A client that sends its question and shuts its sending side gets its
 * reply before the server closes. */
static void test_tcp_reply_after_the_client_half_closes(void **st) {
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv;
  xs_error err;
  unsigned char q[512], r[4096], lb[2];
  size_t qlen;
  int fd;
  (void)st;
  res = resolver_for(NULL, &reg, &cfg);
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  qlen = query(q, "backend.prod.svc.cluster.local.", 1, 0);
  fd = tcp_from(xs_server_port(srv), "127.0.0.1");
  lb[0] = 0;
  lb[1] = (unsigned char)qlen;
  assert_int_equal(send(fd, lb, 2, MSG_NOSIGNAL), 2);
  assert_int_equal(send(fd, q, qlen, MSG_NOSIGNAL), (ssize_t)qlen);
  assert_int_equal(shutdown(fd, SHUT_WR), 0);
  assert_int_equal(read_all(fd, lb, 2), 0);
  assert_int_equal(read_all(fd, r, (size_t)(lb[0] << 8 | lb[1])), 0);
  assert_int_equal(r[7], 1);
  assert_true(closed_within(fd, 2000));
  close(fd);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
}

/* The defaults init gives, zeros taken as defaults, and each bound. */
static void test_server_options_defaults_and_bounds(void **st) {
  static const char *const bad[] = {
      "127.0.0.1/33", "example.com", "::1/129",     "",
      "10.0.0.0/",    "1.2.3.4/x",   "10.0.0.0/08x"};
  static const char *const one[] = {"::/0"};
  xs_resolver *res;
  xs_server *srv;
  xs_server_options o;
  xs_error err;
  size_t i;
  (void)st;
  must(xs_resolver_new(NULL, NULL, &res, &err));
  xs_server_options_init(&o);
  assert_null(o.allow_from);
  assert_int_equal(o.allow_count, 0);
  assert_int_equal(o.tcp_idle_ms, XS_SERVER_TCP_IDLE_MS_DEFAULT);
  assert_int_equal(o.tcp_message_ms, XS_SERVER_TCP_MESSAGE_MS_DEFAULT);
  assert_int_equal(o.tcp_per_source, XS_SERVER_TCP_PER_SOURCE_DEFAULT);
  o.tcp_idle_ms = o.tcp_message_ms = o.tcp_per_source = 0; /* defaults */
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
  xs_server_stop(srv);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    o.allow_from = &bad[i];
    o.allow_count = 1;
    srv = (xs_server *)&o;
    assert_int_equal(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err),
                     XS_EINVAL);
    assert_null(srv);
    assert_non_null(strstr(err.message, "allow-from"));
  }
  o.allow_from = one;
  o.allow_count = XS_SERVER_ALLOW_MAX + 1;
  assert_int_equal(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err),
                   XS_EINVAL);
  o.allow_from = NULL;
  o.allow_count = 1;
  assert_int_equal(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err),
                   XS_EINVAL);
  o.allow_count = 0;
  o.tcp_per_source = XS_SERVER_TCP_MAX + 1;
  assert_int_equal(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err),
                   XS_EINVAL);
  o.tcp_per_source = XS_SERVER_TCP_MAX;
  o.tcp_message_ms = XS_SERVER_TCP_TIMEOUT_MAX_MS + 1;
  assert_int_equal(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err),
                   XS_EINVAL);
  o.tcp_message_ms = XS_SERVER_TCP_TIMEOUT_MAX_MS;
  o.tcp_idle_ms = XS_SERVER_TCP_TIMEOUT_MAX_MS + 1;
  assert_int_equal(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err),
                   XS_EINVAL);
  o.tcp_idle_ms = XS_SERVER_TCP_TIMEOUT_MAX_MS;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
  xs_server_stop(srv);
  xs_resolver_free(res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forward_drops_denied_addresses_in_every_section),
      cmocka_unit_test(
          test_forward_drops_records_for_the_cluster_and_reverse_zones),
      cmocka_unit_test(test_udp_reply_capped_at_1232_whatever_the_client_asks),
      cmocka_unit_test(test_clients_not_allowed_are_refused),
      cmocka_unit_test(test_tcp_message_deadline_runs_from_its_first_octet),
      cmocka_unit_test(test_tcp_connections_per_source_bounded),
      cmocka_unit_test(test_udp_answered_while_a_tcp_client_does_not_read),
      cmocka_unit_test(test_tcp_reply_after_the_client_half_closes),
      cmocka_unit_test(test_server_options_defaults_and_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
