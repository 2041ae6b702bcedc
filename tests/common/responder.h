/* A scripted DNS server on 127.0.0.1 for tests and benchmarks: one UDP
 * socket on a free port, one thread, counts every query it reads.
 *
 * Answers: A queries get `A 192.0.2.<addr4>` with TTL `ttl`; AAAA queries
 * get `AAAA 2001:db8::<addr4>` unless `no_aaaa` (then NODATA with an SOA);
 * names whose first label starts with "nx" get NXDOMAIN with an SOA whose
 * MINIMUM (and TTL) is `neg_ttl`. `rcode` > 0 answers that rcode instead;
 * `silent` drops queries (counted); `delay_ms` waits before each reply.
 * `delay_aaaa_ms` holds UDP AAAA replies back that long while other
 * queries are answered (at most 16 held at once; more are answered late).
 * `nx_outside` answers NXDOMAIN for every name not below example.test.
 * `loopback` makes the addresses 127.0.0.<addr4> and ::1 instead (for
 * tests that connect to them). `truncate` answers every UDP query with an empty
 * TC=1 reply, so clients retry over TCP: the same port also listens on TCP and
 * answers there as above (one connection at a time; queries there count in
 * `queries_tcp` too). `script` (an array ending in {NULL}) replaces all
 * of that with records of the test's own: a question is answered with the
 * script's records of its type for its name, following CNAMEs within the
 * script as a recursive server would; NXDOMAIN when the script has no record
 * for the name, NODATA when it has others. All knobs are atomics the test
 * may change while it runs.
 * Header-only: static functions for one test program. */
#ifndef XS_TEST_RESPONDER_H
#define XS_TEST_RESPONDER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One scripted record: owner and CNAME targets absolute ("a.test."), data
 * of A/AAAA as text ("127.0.0.1", "64:ff9b::a9fe:a9fe"). */
typedef struct rsp_record {
  const char *owner;
  unsigned type; /* 1 A, 5 CNAME, 28 AAAA */
  const char *data;
} rsp_record;

typedef struct responder {
  int fd, tcp, port;
  char server[32]; /* "127.0.0.1:PORT" for xs_config_add_server */
  atomic_int stop;
  atomic_int queries, queries_a, queries_aaaa;
  atomic_int queries_tcp;
  atomic_int addr4, ttl, neg_ttl, no_aaaa, rcode, silent, delay_ms, truncate;
  atomic_int loopback, nx_outside, delay_aaaa_ms;
  _Atomic(const rsp_record *) script;
  pthread_t thread;
} responder;

static size_t rsp_put16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
  return 2;
}

static size_t rsp_put32(unsigned char *p, uint32_t v) {
  rsp_put16(p, v >> 16);
  rsp_put16(p + 2, v & 0xffff);
  return 4;
}

/* An RR whose owner is the question name (pointer to offset 12). */
static size_t rsp_rr(unsigned char *p, unsigned type, uint32_t ttl,
                     const unsigned char *rdata, unsigned rdlen) {
  size_t n = 0;
  n += rsp_put16(p + n, 0xc00c);
  n += rsp_put16(p + n, type);
  n += rsp_put16(p + n, 1);
  n += rsp_put32(p + n, ttl);
  n += rsp_put16(p + n, rdlen);
  memcpy(p + n, rdata, rdlen);
  return n + rdlen;
}

static size_t rsp_soa(unsigned char *p, uint32_t neg) {
  unsigned char rd[22];
  memset(rd, 0, sizeof(rd)); /* mname ".", rname ".", serial 0 ... */
  rsp_put32(rd + 2, 1);
  rsp_put32(rd + 6, 7200);
  rsp_put32(rd + 10, 1800);
  rsp_put32(rd + 14, 86400);
  rsp_put32(rd + 18, neg);
  return rsp_rr(p, 6, neg, rd, sizeof(rd));
}

static void rsp_sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

/* A name as wire labels ("a.test." -> 1a4test0); returns its length. */
static size_t rsp_put_name(unsigned char *p, const char *name) {
  size_t n = 0;
  while (*name != '\0') {
    const char *dot = strchr(name, '.');
    size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);
    p[n++] = (unsigned char)len;
    memcpy(p + n, name, len);
    n += len;
    name += len + (dot != NULL);
  }
  p[n++] = 0;
  return n;
}

static size_t rsp_script_rr(unsigned char *p, const rsp_record *rec,
                            uint32_t ttl) {
  unsigned char rd[300];
  size_t n = rsp_put_name(p, rec->owner), rdlen;
  if (rec->type == 5)
    rdlen = rsp_put_name(rd, rec->data);
  else if (rec->type == 28)
    rdlen = inet_pton(AF_INET6, rec->data, rd) == 1 ? 16 : 0;
  else
    rdlen = inet_pton(AF_INET, rec->data, rd) == 1 ? 4 : 0;
  n += rsp_put16(p + n, rec->type);
  n += rsp_put16(p + n, 1);
  n += rsp_put32(p + n, ttl);
  n += rsp_put16(p + n, (unsigned)rdlen);
  memcpy(p + n, rd, rdlen);
  return n + rdlen;
}

/* The answer from the script for question name qname (text, with the
 * trailing dot) and type: records appended at out + *len, *an counted;
 * returns the rcode (0 or 3). */
static unsigned rsp_script_answer(const rsp_record *script, const char *qname,
                                  unsigned qtype, unsigned char *out,
                                  size_t *len, unsigned *an) {
  const char *name = qname;
  int hops, known = 0;
  for (hops = 0; hops < 8; hops++) {
    const rsp_record *rec, *cname = NULL;
    int any = 0;
    for (rec = script; rec->owner != NULL; rec++) {
      if (strcasecmp(rec->owner, name) != 0)
        continue;
      known = any = 1;
      if (rec->type == qtype) {
        *len += rsp_script_rr(out + *len, rec, 300);
        ++*an;
      } else if (rec->type == 5) {
        cname = rec;
      }
    }
    if (!any || cname == NULL || qtype == 5)
      break;
    *len += rsp_script_rr(out + *len, cname, 300);
    ++*an;
    name = cname->data;
  }
  return known ? 0 : 3;
}

/* The reply to query q[0..n) into out (1024 octets); 0: no reply (a
 * malformed query, or silent). Counts the query. */
static size_t rsp_reply(responder *r, const unsigned char *q, size_t n,
                        unsigned char *out, int udp) {
  size_t qend = 12, len;
  unsigned qtype, an = 0, ns = 0, rcode, tc = 0;
  int nx, delay;
  if (n < 17)
    return 0;
  while (qend < n && q[qend] != 0)
    qend += (size_t)q[qend] + 1;
  if (qend + 5 > n)
    return 0;
  qtype = (unsigned)(q[qend + 1] << 8 | q[qend + 2]);
  qend += 5;
  atomic_fetch_add(&r->queries, 1);
  if (!udp)
    atomic_fetch_add(&r->queries_tcp, 1);
  if (qtype == 1)
    atomic_fetch_add(&r->queries_a, 1);
  else if (qtype == 28)
    atomic_fetch_add(&r->queries_aaaa, 1);
  if (atomic_load(&r->silent))
    return 0;
  if ((delay = atomic_load(&r->delay_ms)) > 0)
    rsp_sleep_ms(delay);
  nx = q[12] >= 2 && q[13] == 'n' && q[14] == 'x';
  if (atomic_load(&r->nx_outside)) {
    static const unsigned char sfx[] = "\007example\004test"; /* + root */
    size_t nlen = qend - 4 - 12; /* the name's wire length, root included */
    nx |= nlen < sizeof(sfx) ||
          memcmp(q + qend - 4 - sizeof(sfx), sfx, sizeof(sfx)) != 0;
  }
  rcode = (unsigned)atomic_load(&r->rcode);
  memcpy(out, q, qend);
  len = qend;
  if (rcode == 0 && atomic_load(&r->script) != NULL) {
    char qname[256];
    size_t i = 12, o = 0;
    while (q[i] != 0 && o + q[i] + 1 < sizeof(qname)) {
      memcpy(qname + o, q + i + 1, q[i]);
      o += q[i];
      qname[o++] = '.';
      i += (size_t)q[i] + 1;
    }
    qname[o] = '\0';
    rcode = rsp_script_answer(atomic_load(&r->script), qname, qtype, out, &len,
                              &an);
    if (an == 0) {
      len += rsp_soa(out + len, (uint32_t)atomic_load(&r->neg_ttl));
      ns = 1;
    }
  } else if (udp && atomic_load(&r->truncate)) {
    rcode = 0;
    tc = 0x02;
  } else if (rcode == 0 && nx) {
    rcode = 3;
    len += rsp_soa(out + len, (uint32_t)atomic_load(&r->neg_ttl));
    ns = 1;
  } else if (rcode == 0 && qtype == 1) {
    unsigned char a[4] = {192, 0, 2, (unsigned char)atomic_load(&r->addr4)};
    if (atomic_load(&r->loopback)) {
      a[0] = 127;
      a[1] = a[2] = 0;
    }
    len += rsp_rr(out + len, 1, (uint32_t)atomic_load(&r->ttl), a, 4);
    an = 1;
  } else if (rcode == 0 && qtype == 28 && !atomic_load(&r->no_aaaa)) {
    unsigned char a[16] = {0x20, 0x01, 0x0d, 0xb8};
    a[15] = (unsigned char)atomic_load(&r->addr4);
    if (atomic_load(&r->loopback)) {
      memset(a, 0, sizeof(a));
      a[15] = 1;
    }
    len += rsp_rr(out + len, 28, (uint32_t)atomic_load(&r->ttl), a, 16);
    an = 1;
  } else if (rcode == 0) {
    len += rsp_soa(out + len, (uint32_t)atomic_load(&r->neg_ttl));
    ns = 1;
  }
  out[2] = (unsigned char)(0x84 | tc | (q[2] & 0x01)); /* QR AA (TC) RD */
  out[3] = (unsigned char)(0x80 | (rcode & 0x0f));     /* RA */
  rsp_put16(out + 4, 1);
  rsp_put16(out + 6, an);
  rsp_put16(out + 8, ns);
  rsp_put16(out + 10, 0);
  return len;
}

/* Exactly n octets from a connected socket within ~1 s; 0 on success. */
static int rsp_read_all(int fd, unsigned char *p, size_t n) {
  while (n > 0) {
    struct pollfd pfd;
    ssize_t k;
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 1000) <= 0)
      return -1;
    if ((k = recv(fd, p, n, 0)) <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* One TCP client: length-prefixed queries until it closes or idles. */
static void rsp_serve_tcp(responder *r, int c) {
  for (;;) {
    unsigned char lb[2], q[512], out[1026];
    size_t n, len;
    if (rsp_read_all(c, lb, 2) != 0)
      break;
    n = (size_t)(lb[0] << 8 | lb[1]);
    if (n > sizeof(q) || rsp_read_all(c, q, n) != 0)
      break;
    if ((len = rsp_reply(r, q, n, out + 2, 0)) == 0)
      continue;
    rsp_put16(out, (unsigned)len);
    if (send(c, out, len + 2, MSG_NOSIGNAL) != (ssize_t)(len + 2))
      break;
  }
  close(c);
}

/* A UDP reply held back (delay_aaaa_ms). */
typedef struct rsp_held {
  unsigned char out[1024];
  size_t len;
  struct sockaddr_storage to;
  socklen_t tolen;
  long long due_ms; /* 0: free */
} rsp_held;

static long long rsp_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *rsp_run(void *arg) {
  responder *r = arg;
  static rsp_held held[16]; /* one responder per program */
  while (!atomic_load(&r->stop)) {
    unsigned char q[512], out[1024];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof(from);
    struct pollfd pfd[2];
    ssize_t n;
    size_t len, i;
    long long now = rsp_now_ms();
    int wait = 20, aaaa_delay;
    for (i = 0; i < 16; i++) /* send what is due; wake for the next */
      if (held[i].due_ms != 0 && held[i].due_ms <= now) {
        sendto(r->fd, held[i].out, held[i].len, 0,
               (struct sockaddr *)&held[i].to, held[i].tolen);
        held[i].due_ms = 0;
      } else if (held[i].due_ms != 0 && held[i].due_ms - now < wait) {
        wait = (int)(held[i].due_ms - now);
      }
    pfd[0].fd = r->fd;
    pfd[1].fd = r->tcp;
    pfd[0].events = pfd[1].events = POLLIN;
    pfd[0].revents = pfd[1].revents = 0;
    if (poll(pfd, 2, wait) <= 0)
      continue;
    if (pfd[1].revents & POLLIN) {
      int c = accept(r->tcp, NULL, NULL);
      if (c >= 0)
        rsp_serve_tcp(r, c);
    }
    if (!(pfd[0].revents & POLLIN))
      continue;
    n = recvfrom(r->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
    if (n <= 0 || (len = rsp_reply(r, q, (size_t)n, out, 1)) == 0)
      continue;
    aaaa_delay = atomic_load(&r->delay_aaaa_ms);
    if (aaaa_delay > 0) {
      size_t qend = 12; /* the question's type follows its name */
      int kept = 0;
      while (qend < len && out[qend] != 0)
        qend += (size_t)out[qend] + 1;
      if (qend + 2 < len && out[qend + 1] == 0 && out[qend + 2] == 28)
        for (i = 0; i < 16 && !kept; i++)
          if (held[i].due_ms == 0) {
            memcpy(held[i].out, out, len);
            held[i].len = len;
            held[i].to = from;
            held[i].tolen = fromlen;
            held[i].due_ms = rsp_now_ms() + aaaa_delay;
            kept = 1;
          }
      if (kept)
        continue;
    }
    sendto(r->fd, out, len, 0, (struct sockaddr *)&from, fromlen);
  }
  return NULL;
}

/* Start on a free loopback port (UDP and TCP). Returns 0, or -1. */
static int responder_start(responder *r) {
  int tries;
  memset(r, 0, sizeof(*r));
  atomic_init(&r->addr4, 10);
  atomic_init(&r->ttl, 300);
  atomic_init(&r->neg_ttl, 60);
  for (tries = 0; tries < 50; tries++) {
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    r->fd = socket(AF_INET, SOCK_DGRAM, 0);
    r->tcp = socket(AF_INET, SOCK_STREAM, 0);
    if (r->fd < 0 || r->tcp < 0)
      return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)setsockopt(r->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* a free UDP port, then the same port on TCP (taken: try again) */
    if (bind(r->fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(r->fd, (struct sockaddr *)&a, &alen) == 0 &&
        bind(r->tcp, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        listen(r->tcp, 8) == 0) {
      r->port = ntohs(a.sin_port);
      snprintf(r->server, sizeof(r->server), "127.0.0.1:%d", r->port);
      if (pthread_create(&r->thread, NULL, rsp_run, r) == 0)
        return 0;
      close(r->fd);
      close(r->tcp);
      return -1;
    }
    close(r->fd);
    close(r->tcp);
  }
  return -1;
}

static void responder_stop(responder *r) {
  atomic_store(&r->stop, 1);
  pthread_join(r->thread, NULL);
  close(r->fd);
  close(r->tcp);
}

#endif
