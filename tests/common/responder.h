/* A scripted DNS server on 127.0.0.1 for tests and benchmarks: one UDP
 * socket on a free port, one thread, counts every query it reads.
 *
 * Answers: A queries get `A 192.0.2.<addr4>` with TTL `ttl`; AAAA queries
 * get `AAAA 2001:db8::<addr4>` unless `no_aaaa` (then NODATA with an SOA);
 * names whose first label starts with "nx" get NXDOMAIN with an SOA whose
 * MINIMUM (and TTL) is `neg_ttl`. `rcode` > 0 answers that rcode instead;
 * `silent` drops queries (counted); `delay_ms` waits before each reply.
 * All knobs are atomics the test may change while it runs. Header-only:
 * static functions for one test program. */
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct responder {
  int fd, port;
  char server[32]; /* "127.0.0.1:PORT" for xs_config_add_server */
  atomic_int stop;
  atomic_int queries, queries_a, queries_aaaa;
  atomic_int addr4, ttl, neg_ttl, no_aaaa, rcode, silent, delay_ms;
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

static void *rsp_run(void *arg) {
  responder *r = arg;
  while (!atomic_load(&r->stop)) {
    unsigned char q[512], out[1024];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof(from);
    struct pollfd pfd;
    ssize_t n;
    size_t qend = 12, len;
    unsigned qtype, an = 0, ns = 0, rcode;
    int nx, delay;
    pfd.fd = r->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 20) <= 0)
      continue;
    n = recvfrom(r->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
    if (n < 17)
      continue;
    while (qend < (size_t)n && q[qend] != 0)
      qend += (size_t)q[qend] + 1;
    if (qend + 5 > (size_t)n)
      continue;
    qtype = (unsigned)(q[qend + 1] << 8 | q[qend + 2]);
    qend += 5;
    atomic_fetch_add(&r->queries, 1);
    if (qtype == 1)
      atomic_fetch_add(&r->queries_a, 1);
    else if (qtype == 28)
      atomic_fetch_add(&r->queries_aaaa, 1);
    if (atomic_load(&r->silent))
      continue;
    if ((delay = atomic_load(&r->delay_ms)) > 0)
      rsp_sleep_ms(delay);
    nx = q[12] >= 2 && q[13] == 'n' && q[14] == 'x';
    rcode = (unsigned)atomic_load(&r->rcode);
    memcpy(out, q, qend);
    len = qend;
    if (rcode == 0 && nx) {
      rcode = 3;
      len += rsp_soa(out + len, (uint32_t)atomic_load(&r->neg_ttl));
      ns = 1;
    } else if (rcode == 0 && qtype == 1) {
      unsigned char a[4] = {192, 0, 2, (unsigned char)atomic_load(&r->addr4)};
      len += rsp_rr(out + len, 1, (uint32_t)atomic_load(&r->ttl), a, 4);
      an = 1;
    } else if (rcode == 0 && qtype == 28 && !atomic_load(&r->no_aaaa)) {
      unsigned char a[16] = {0x20, 0x01, 0x0d, 0xb8};
      a[15] = (unsigned char)atomic_load(&r->addr4);
      len += rsp_rr(out + len, 28, (uint32_t)atomic_load(&r->ttl), a, 16);
      an = 1;
    } else if (rcode == 0) {
      len += rsp_soa(out + len, (uint32_t)atomic_load(&r->neg_ttl));
      ns = 1;
    }
    out[2] = (unsigned char)(0x84 | (q[2] & 0x01));  /* QR AA RD */
    out[3] = (unsigned char)(0x80 | (rcode & 0x0f)); /* RA */
    rsp_put16(out + 4, 1);
    rsp_put16(out + 6, an);
    rsp_put16(out + 8, ns);
    rsp_put16(out + 10, 0);
    sendto(r->fd, out, len, 0, (struct sockaddr *)&from, fromlen);
  }
  return NULL;
}

/* Start on a free loopback port. Returns 0, or -1 on failure. */
static int responder_start(responder *r) {
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  memset(r, 0, sizeof(*r));
  atomic_init(&r->addr4, 10);
  atomic_init(&r->ttl, 300);
  atomic_init(&r->neg_ttl, 60);
  r->fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (r->fd < 0)
    return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(r->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(r->fd, (struct sockaddr *)&a, &alen) != 0) {
    close(r->fd);
    return -1;
  }
  r->port = ntohs(a.sin_port);
  snprintf(r->server, sizeof(r->server), "127.0.0.1:%d", r->port);
  if (pthread_create(&r->thread, NULL, rsp_run, r) != 0) {
    close(r->fd);
    return -1;
  }
  return 0;
}

static void responder_stop(responder *r) {
  atomic_store(&r->stop, 1);
  pthread_join(r->thread, NULL);
  close(r->fd);
}

#endif
