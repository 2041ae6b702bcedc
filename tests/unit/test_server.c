/* xs_server through the public API: start on a free loopback port (IPv4
 * and IPv6), answer over UDP and TCP from the registry, see registry
 * changes at the next query, count, refuse what it does not serve, reject
 * bad addresses, stop cleanly. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <poll.h>

#include "silent.h"
#include "wait.h"
#include "xsvc.h"

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

/* A query for name (dotted, absolute) of type; returns its length. */
static size_t query(unsigned char *q, const char *name, unsigned type) {
  size_t n = 12;
  const char *p = name;
  memset(q, 0, 12);
  q[0] = 0x42;
  q[1] = 0x42;
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
  return n;
}

/* Send over UDP (or TCP) to the server; returns the reply's length. */
static ssize_t ask(const xs_server *srv, int family, int tcp,
                   const unsigned char *q, size_t qlen, unsigned char *r,
                   size_t rcap) {
  struct sockaddr_storage ss;
  socklen_t len;
  struct timeval tv = {XS_TEST_HANG_MS / 1000, 0}; /* a hang, not slowness */
  int fd = socket(family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  ssize_t n;
  memset(&ss, 0, sizeof(ss));
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)xs_server_port(srv));
    inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
    len = sizeof(*a);
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)xs_server_port(srv));
    inet_pton(AF_INET6, "::1", &a->sin6_addr);
    len = sizeof(*a);
  }
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
  if (tcp) {
    unsigned char lb[2] = {(unsigned char)(qlen >> 8), (unsigned char)qlen};
    size_t got = 0, want;
    assert_int_equal(write(fd, lb, 2), 2);
    assert_int_equal(write(fd, q, qlen), (ssize_t)qlen);
    assert_int_equal(read(fd, lb, 2), 2);
    want = (size_t)(lb[0] << 8 | lb[1]);
    assert_true(want <= rcap);
    while (got < want && (n = read(fd, r + got, want - got)) > 0)
      got += (size_t)n;
    n = (ssize_t)got;
  } else {
    assert_int_equal(send(fd, q, qlen, 0), (ssize_t)qlen);
    n = recv(fd, r, rcap, 0);
  }
  close(fd);
  return n;
}

static void test_server_answers_and_follows_the_registry(void **st) {
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv;
  xs_server_counts c;
  xs_error err;
  unsigned char q[300], r[4096];
  const char *ip[] = {"10.96.0.20"};
  size_t qlen;
  ssize_t n;
  char want[64];
  (void)st;
  must(xs_registry_new(&reg));
  must(xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err));
  must(xs_config_new(&cfg));
  must(xs_resolver_new(cfg, reg, &res, &err));
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  assert_true(xs_server_port(srv) > 0);
  snprintf(want, sizeof(want), "127.0.0.1:%u", xs_server_port(srv));
  assert_string_equal(xs_server_address(srv), want);

  qlen = query(q, "backend.prod.svc.cluster.local.", 1);
  for (int tcp = 0; tcp < 2; tcp++) {
    n = ask(srv, AF_INET, tcp, q, qlen, r, sizeof(r));
    assert_true(n > (ssize_t)qlen);
    assert_int_equal(r[0], 0x42);
    assert_int_equal(r[2] & 0x84, 0x84);                   /* QR AA */
    assert_int_equal(r[3] & 0x0f, 0);                      /* NOERROR */
    assert_int_equal(r[7], 1);                             /* one answer */
    assert_memory_equal(r + n - 4, "\x0a\x60\x00\x14", 4); /* 10.96.0.20 */
  }
  /* a registry change is seen at the next query */
  must(xs_registry_remove(reg, "prod", "backend"));
  n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
  assert_int_equal(r[3] & 0x0f, 3); /* NXDOMAIN */
  /* no upstream configured: other names are refused */
  qlen = query(q, "www.example.com.", 1);
  n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
  assert_true(n >= 12);
  assert_int_equal(r[3] & 0x0f, 5);
  xs_server_stats(srv, &c);
  assert_int_equal(c.queries, 4);
  assert_int_equal(c.answered, 4); /* the refusal too */
  assert_int_equal(c.nxdomain, 1);
  assert_int_equal(c.refused, 1);
  assert_int_equal(c.rcodes[0], 2); /* NOERROR over UDP and TCP */
  assert_int_equal(c.rcodes[3], 1); /* NXDOMAIN */
  assert_int_equal(c.rcodes[5], 1); /* REFUSED */
  assert_int_equal(c.types[XS_SERVER_A], 4);
  assert_int_equal(c.types[XS_SERVER_TXT], 0);
  xs_server_stop(srv);
  xs_server_stop(NULL);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
}

static void test_server_ipv6_and_bad_addresses(void **st) {
  xs_resolver *res;
  xs_server *srv, *other;
  xs_error err;
  unsigned char q[300], r[512];
  size_t qlen;
  char fixed[64];
  (void)st;
  must(xs_resolver_new(NULL, NULL, &res, &err));
  must(xs_server_start(res, "[::1]:0", &srv, &err));
  qlen = query(q, "dns-version.cluster.local.", 16);
  assert_true(ask(srv, AF_INET6, 0, q, qlen, r, sizeof(r)) > (ssize_t)qlen);
  assert_int_equal(r[7], 1);
  /* the same port again: taken */
  snprintf(fixed, sizeof(fixed), "[::1]:%u", xs_server_port(srv));
  assert_int_equal(xs_server_start(res, fixed, &other, &err), XS_EIO);
  assert_non_null(strstr(err.message, "cannot listen on"));
  xs_server_stop(srv);
  static const char *const bad[] = {"127.0.0.1",  "localhost:53",    "::1:53",
                                    "[::1]53",    "127.0.0.1:70000", "",
                                    "127.0.0.1:x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(xs_server_start(res, bad[i], &other, &err), XS_EINVAL);
  assert_int_equal(xs_server_start(NULL, "127.0.0.1:0", &other, &err),
                   XS_EINVAL);
  xs_resolver_free(res);
}

/* One query the server forwarded to the test's upstream socket: its
 * length, and where it came from (for the answer). */
static size_t upstream_read(int sfd, unsigned char *q, size_t cap,
                            struct sockaddr_storage *from, socklen_t *flen) {
  struct pollfd p = {sfd, POLLIN, 0};
  ssize_t n;
  assert_int_equal(poll(&p, 1, XS_TEST_HANG_MS), 1);
  *flen = sizeof(*from);
  n = recvfrom(sfd, q, cap, 0, (struct sockaddr *)from, flen);
  assert_true(n > 12);
  return (size_t)n;
}

/* A query waiting for the upstream does not hold up the others, gets its
 * SERVFAIL when the upstream fails it, and a stop does not wait for the
 * upstream either. The upstream is the test's own socket, answered when
 * the test chooses (its timeout is a minute), so the order of events is
 * the test's, not the scheduler's. */
static void test_server_upstream_does_not_block(void **st) {
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv;
  xs_error err;
  const char *ip[] = {"10.96.0.20"};
  unsigned char q[300], r[512], uq[512];
  struct sockaddr_in to;
  struct sockaddr_storage from;
  socklen_t flen;
  struct timeval tv = {XS_TEST_HANG_MS / 1000, 0};
  char server[64];
  int sfd = silent_upstream(server, sizeof(server)),
      c = socket(AF_INET, SOCK_DGRAM, 0);
  size_t qlen, ulen;
  ssize_t n;
  uint64_t t0;
  (void)st;
  assert_true(sfd >= 0);
  must(xs_registry_new(&reg));
  must(xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err));
  must(xs_config_new(&cfg));
  must(xs_config_add_server(cfg, server)); /* the test answers */
  must(xs_config_set_timeout_ms(cfg, 60000));
  must(xs_config_set_attempts(cfg, 1));
  must(xs_resolver_new(cfg, reg, &res, &err));
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)xs_server_port(srv));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  qlen = query(q, "www.example.com.", 1); /* forwarded: waits */
  q[1] = 1;
  sendto(c, q, qlen, 0, (struct sockaddr *)&to, sizeof(to));
  ulen = upstream_read(sfd, uq, sizeof(uq), &from, &flen); /* it waits */
  qlen = query(q, "backend.prod.svc.cluster.local.", 1);
  q[1] = 2;
  sendto(c, q, qlen, 0, (struct sockaddr *)&to, sizeof(to));
  n = recv(c, r, sizeof(r), 0); /* answered while the other still waits */
  assert_true(n > 12);
  assert_int_equal(r[1], 2);
  assert_int_equal(r[3] & 0x0f, 0);
  uq[2] |= 0x80; /* the upstream fails the forwarded one: SERVFAIL */
  uq[3] = (unsigned char)((uq[3] & 0xf0) | 2);
  sendto(sfd, uq, ulen, 0, (struct sockaddr *)&from, flen);
  n = recv(c, r, sizeof(r), 0);
  assert_true(n > 12);
  assert_int_equal(r[1], 1);
  assert_int_equal(r[3] & 0x0f, 2); /* SERVFAIL */
  /* stopping with queries still waiting at the upstream (one resolved,
   * one forwarded as it is): cancelled, no wait for the upstream's minute */
  qlen = query(q, "www2.example.com.", 1);
  sendto(c, q, qlen, 0, (struct sockaddr *)&to, sizeof(to));
  qlen = query(q, "www2.example.com.", 15);
  sendto(c, q, qlen, 0, (struct sockaddr *)&to, sizeof(to));
  upstream_read(sfd, uq, sizeof(uq), &from, &flen);
  upstream_read(sfd, uq, sizeof(uq), &from, &flen);
  t0 = xs_test_now_ms();
  xs_server_stop(srv);
  assert_true(xs_test_now_ms() - t0 < 60000); /* not the upstream timeout */
  xs_resolver_free(res);
  xs_config_free(cfg);
  close(sfd);

  /* an upstream that never answers: SERVFAIL once its timeout passed */
  sfd = silent_upstream(server, sizeof(server));
  assert_true(sfd >= 0);
  must(xs_config_new(&cfg));
  must(xs_config_add_server(cfg, server));
  must(xs_config_set_timeout_ms(cfg, 200));
  must(xs_config_set_attempts(cfg, 1));
  must(xs_resolver_new(cfg, reg, &res, &err));
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  to.sin_port = htons((uint16_t)xs_server_port(srv));
  qlen = query(q, "www3.example.com.", 1);
  q[1] = 3;
  t0 = xs_test_now_ms();
  sendto(c, q, qlen, 0, (struct sockaddr *)&to, sizeof(to));
  n = recv(c, r, sizeof(r), 0);
  assert_true(xs_test_now_ms() - t0 >= 200 - 1);
  assert_true(n > 12);
  assert_int_equal(r[1], 3);
  assert_int_equal(r[3] & 0x0f, 2); /* SERVFAIL */
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
  close(c);
  close(sfd);
}

/* The TTLs of a reply's records (OPT excluded), in order; returns how many,
 * and the reply's answer count in *an. With ttl NULL, sets them to 0. */
static size_t ttls_of(unsigned char *m, size_t len, unsigned *ttl, size_t max,
                      unsigned *an) {
  size_t off = 12, n = 0, i, total;
  unsigned qd = (unsigned)(m[4] << 8 | m[5]);
  assert_true(len >= 12);
  *an = (unsigned)(m[6] << 8 | m[7]);
  total =
      (size_t)*an + (size_t)(m[8] << 8 | m[9]) + (size_t)(m[10] << 8 | m[11]);
  for (i = 0; i < qd + total; i++) {
    while (m[off] != 0 && (m[off] & 0xc0) != 0xc0)
      off += m[off] + 1u;
    off += m[off] == 0 ? 1 : 2;
    if (i < qd) {
      off += 4;
      continue;
    }
    assert_true(off + 10 <= len);
    if ((m[off] << 8 | m[off + 1]) != 41 && ttl == NULL)
      memset(m + off + 4, 0, 4);
    else if ((m[off] << 8 | m[off + 1]) != 41 && n < max)
      ttl[n++] = (unsigned)m[off + 4] << 24 | (unsigned)m[off + 5] << 16 |
                 (unsigned)m[off + 6] << 8 | m[off + 7];
    off += 10u + (size_t)(m[off + 8] << 8 | m[off + 9]);
  }
  assert_int_equal(off, len);
  return n;
}

/* The reply cache changes nothing but TTLs counting down: two servers with
 * the cache option over one resolver, one keeping no replies, answer every
 * question (asked twice, in several spellings, with and without EDNS, over
 * UDP and TCP) alike, also after the registry changes. */
static void test_server_reply_cache_is_invisible(void **st) {
  static const char *const names[] = {
      "backend.prod.svc.cluster.local.",
      "BackEnd.Prod.svc.cluster.local.",
      "db.prod.svc.cluster.local.",
      "DB.PROD.SVC.CLUSTER.LOCAL.",
      "nope.prod.svc.cluster.local.",
      "prod.svc.cluster.local.",
      "_http._tcp.backend.prod.svc.cluster.local.",
      "20.0.96.10.in-addr.arpa.",
      "hdls.prod.svc.cluster.local.",
      "pet-0.hdls.prod.svc.cluster.local.",
      "dns-version.cluster.local.",
      "x.cluster.local."};
  static const unsigned types[] = {1, 28, 5, 33, 12, 16, 6, 15};
  xs_registry *reg;
  xs_resolver *res;
  xs_server *plain, *cached;
  xs_server_options o;
  xs_server_counts c;
  xs_error err;
  const char *ip[] = {"10.96.0.20"}, *ep[] = {"10.1.0.1", "10.1.0.2"};
  unsigned char q[300], r1[4096], r2[4096];
  size_t qlen, i, t, asked = 0;
  unsigned an;
  int round, edns, tcp, same = 0, changed = 0;
  (void)st;
  must(xs_registry_new(&reg));
  must(xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err));
  must(xs_registry_add_port(reg, "prod", "backend", "http", 80, "TCP", &err));
  must(xs_registry_add_external(reg, "prod", "db", "db.example.com", &err));
  must(xs_registry_add_headless(reg, "prod", "hdls", &err));
  must(xs_registry_add_endpoint(reg, "prod", "hdls", ep[0], "pet-0", 1, &err));
  must(xs_registry_add_endpoint(reg, "prod", "hdls", ep[1], "pet-1", 1, &err));
  must(xs_resolver_new(NULL, reg, &res, &err));
  xs_server_options_init(&o);
  assert_int_equal(o.cache_ttl, 0);
  assert_int_equal(o.reply_cache, XS_SERVER_REPLY_CACHE_DEFAULT);
  o.cache_ttl = 3600;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &cached, &err));
  o.reply_cache = 0;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &plain, &err));
  for (round = 0; round < 2; round++) {
    if (round == 1) { /* repoint, add and remove: seen at once */
      must(
          xs_registry_set_external(reg, "prod", "db", "db2.example.com", &err));
      must(xs_registry_remove(reg, "prod", "backend"));
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
      for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (edns = 0; edns < 2; edns++)
          for (tcp = 0; tcp < 2; tcp++) {
            ssize_t n1, n2, n3;
            qlen = query(q, names[i], types[t]);
            if (edns) { /* OPT, 1232 octets, DO */
              memcpy(q + qlen, "\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00",
                     11);
              qlen += 11;
              q[11] = 1;
            }
            q[1] = (unsigned char)(asked++);
            n1 = ask(plain, AF_INET, tcp, q, qlen, r1, sizeof(r1));
            n2 = ask(cached, AF_INET, tcp, q, qlen, r2, sizeof(r2));
            assert_true(n1 > 12);
            assert_int_equal(n1, n2);
            ttls_of(r1, (size_t)n1, NULL, 0, &an); /* a second may pass */
            ttls_of(r2, (size_t)n2, NULL, 0, &an);
            assert_memory_equal(r1, r2, (size_t)n1);
            q[0] ^= 0x5a; /* again, another id: from the cache */
            n3 = ask(cached, AF_INET, tcp, q, qlen, r2, sizeof(r2));
            r1[0] ^= 0x5a;
            assert_int_equal(n1, n3);
            ttls_of(r2, (size_t)n3, NULL, 0, &an);
            assert_memory_equal(r1, r2, (size_t)n1);
            q[0] ^= 0x5a;
            if (round == 1 && i == 2 && t == 2 && edns == 0 && tcp == 0)
              changed = memmem(r2, (size_t)n3,
                               "\x03"
                               "db2",
                               4) != NULL;
            same++;
          }
  }
  assert_true(changed);
  xs_server_stats(cached, &c);
  assert_int_equal(c.queries, (unsigned long long)same * 2);
  /* each question: its first UDP reply is kept, the other three asks
   * (UDP again, TCP twice) are answered from the cache */
  assert_int_equal(c.cache_hits, (unsigned long long)same * 3 / 2);
  xs_server_stats(plain, &c);
  assert_int_equal(c.cache_hits, 0);
  xs_server_stop(plain);
  xs_server_stop(cached);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* Conformance row 4: with `ttl 30` and `cache 30` an alias's CNAME and its
 * target's A (300 upstream) reach the client with one TTL, 30, counting
 * down on later hits; without the cache option they keep their own (30 and
 * 300); with the default ttl 5, both are 5. Negative answers get the
 * cache's floor of 5 with `ttl 0`. The upstream is a second xs_server
 * serving the target's zone. */
static void test_server_cache_option_normalises_ttls(void **st) {
  xs_registry *up_reg, *reg;
  xs_config *up_cfg, *cfg5, *cfg30;
  xs_resolver *up_res, *res5, *res30;
  xs_server *up, *srv;
  xs_server_options o;
  xs_error err;
  const char *ip[] = {"192.0.2.10"};
  unsigned char q[300], r[4096];
  unsigned ttl[8], an;
  size_t qlen, k;
  ssize_t n;
  uint64_t t0, t1, t2, t3;
  (void)st;
  /* upstream: db.data.svc.example.com. 300 IN A 192.0.2.10 */
  must(xs_registry_new(&up_reg));
  must(xs_registry_add_cluster_ip(up_reg, "data", "db", ip, 1, &err));
  must(xs_config_new(&up_cfg));
  must(xs_config_set_cluster_domain(up_cfg, "example.com"));
  must(xs_config_set_ttl(up_cfg, 300));
  must(xs_resolver_new(up_cfg, up_reg, &up_res, &err));
  must(xs_server_start(up_res, "127.0.0.1:0", &up, &err));

  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "prod", "my-service",
                                "db.data.svc.example.com", &err));
  must(xs_config_new(&cfg30));
  must(xs_config_add_server(cfg30, xs_server_address(up)));
  must(xs_config_set_ttl(cfg30, 30));
  must(xs_resolver_new(cfg30, reg, &res30, &err));
  must(xs_config_new(&cfg5));
  must(xs_config_add_server(cfg5, xs_server_address(up)));
  must(xs_resolver_new(cfg5, reg, &res5, &err));
  qlen = query(q, "my-service.prod.svc.cluster.local.", 1);

  /* no cache option: CNAME 30, A 300 (row 2's shape) */
  must(xs_server_start(res30, "127.0.0.1:0", &srv, &err));
  t0 = xs_test_now_ms();
  n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
  t1 = xs_test_now_ms();
  assert_int_equal(ttls_of(r, (size_t)n, ttl, 8, &an), 2);
  assert_int_equal(an, 2);
  assert_int_equal(ttl[0], 30);
  /* fetched during the call: aged at most its length */
  assert_true(ttl[1] <= 300 && ttl[1] >= 300 - (t1 - t0 + 999) / 1000);
  /* another type outside the zone: forwarded as it is, RA set */
  qlen = query(q, "DNS-version.example.com.", 16);
  n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
  assert_int_equal(r[3], 0x80); /* RA, NOERROR */
  assert_int_equal(r[7], 1);
  assert_memory_equal(r + 12, q + 12, qlen - 12); /* the question as asked */
  assert_memory_equal(r + n - 6,
                      "\x05"
                      "1.1.0",
                      6);
  xs_server_stop(srv);

  /* `cache 30`: both 30, then counting down */
  xs_server_options_init(&o);
  o.cache_ttl = 30;
  must(xs_server_start_opts(res30, "127.0.0.1:0", &o, &srv, &err));
  qlen = query(q, "my-service.prod.svc.cluster.local.", 1);
  t0 = xs_test_now_ms();
  n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
  t1 = xs_test_now_ms();
  assert_int_equal(ttls_of(r, (size_t)n, ttl, 8, &an), 2);
  assert_int_equal(ttl[0], 30);
  assert_int_equal(ttl[1], 30);
  usleep(2100 * 1000);
  t2 = xs_test_now_ms();
  n = ask(srv, AF_INET, 1, q, qlen, r, sizeof(r)); /* TCP: the same entry */
  t3 = xs_test_now_ms();
  assert_int_equal(ttls_of(r, (size_t)n, ttl, 8, &an), 2);
  /* counted down by the whole seconds the entry aged: at least the time
   * between the first reply and the second query, at most the time from
   * the first query to the second reply (a coarse clock: 10 ms slack) */
  assert_true(ttl[0] <= 30 - (t2 - t1 - 10) / 1000);
  assert_true(ttl[0] >= 30 - (t3 - t0 + 10) / 1000);
  assert_true(ttl[0] <= 28); /* 2.1 s slept */
  assert_int_equal(ttl[1], ttl[0]);
  /* a negative answer: the SOA (ttl 30, MINIMUM 30) as it is */
  qlen = query(q, "nope.prod.svc.cluster.local.", 1);
  n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
  assert_int_equal(r[3] & 0x0f, 3);
  assert_int_equal(ttls_of(r, (size_t)n, ttl, 8, &an), 1);
  assert_int_equal(ttl[0], 30);
  xs_server_stop(srv);

  /* default ttl 5 with `cache 30`: both 5 */
  qlen = query(q, "my-service.prod.svc.cluster.local.", 1);
  must(xs_server_start_opts(res5, "127.0.0.1:0", &o, &srv, &err));
  n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
  assert_int_equal(ttls_of(r, (size_t)n, ttl, 8, &an), 2);
  for (k = 0; k < 2; k++)
    assert_int_equal(ttl[k], 5);
  xs_server_stop(srv);

  /* bad options: refused with a reason, nothing started */
  o.cache_ttl = XS_SERVER_CACHE_TTL_MAX + 1;
  srv = (xs_server *)&o;
  assert_int_equal(xs_server_start_opts(res5, "127.0.0.1:0", &o, &srv, &err),
                   XS_EINVAL);
  assert_null(srv);
  assert_non_null(strstr(err.message, "cache TTL must be in range"));
  o.cache_ttl = 0;
  o.reply_cache = (size_t)XS_SERVER_REPLY_CACHE_MAX + 1;
  assert_int_equal(xs_server_start_opts(res5, "127.0.0.1:0", &o, &srv, &err),
                   XS_EINVAL);
  assert_non_null(strstr(err.message, "reply cache"));

  xs_server_stop(up);
  xs_resolver_free(res5);
  xs_resolver_free(res30);
  xs_resolver_free(up_res);
  xs_config_free(cfg5);
  xs_config_free(cfg30);
  xs_config_free(up_cfg);
  xs_registry_free(reg);
  xs_registry_free(up_reg);
}

/* Conformance row 57: with fallthrough, the registry's NXDOMAIN goes to
 * the upstream (here another xs_server that knows the name); NODATA never
 * does; the reverse zone only when asked for. */
static void test_server_fallthrough(void **st) {
  xs_registry *up_reg, *reg;
  xs_config *cfg;
  xs_resolver *up_res, *res;
  xs_server *up, *srv;
  xs_server_options o;
  xs_error err;
  const char *ip[] = {"10.96.0.20"}, *ip2[] = {"10.96.0.99"};
  unsigned char q[300], r[1024];
  size_t qlen;
  ssize_t n;
  int pass;
  (void)st;
  must(xs_registry_new(&up_reg));
  must(xs_registry_add_cluster_ip(up_reg, "prod", "nope", ip2, 1, &err));
  must(xs_resolver_new(NULL, up_reg, &up_res, &err));
  must(xs_server_start(up_res, "127.0.0.1:0", &up, &err));
  must(xs_registry_new(&reg));
  must(xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err));
  must(xs_config_new(&cfg));
  must(xs_config_add_server(cfg, xs_server_address(up)));
  must(xs_resolver_new(cfg, reg, &res, &err));
  for (pass = 0; pass < 3; pass++) {
    xs_server_options_init(&o);
    o.fallthrough = pass == 0   ? 0
                    : pass == 1 ? XS_FALLTHROUGH_REVERSE
                                : XS_FALLTHROUGH_ALL;
    must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
    qlen = query(q, "nope.prod.svc.cluster.local.", 1);
    n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
    if (pass < 2) {
      assert_int_equal(r[3] & 0x0f, 3); /* NXDOMAIN from the registry */
    } else {
      assert_int_equal(r[3] & 0x0f, 0); /* the upstream's answer */
      assert_int_equal(r[3] & 0x80, 0x80);
      assert_memory_equal(r + n - 4, "\x0a\x60\x00\x63", 4);
    }
    qlen = query(q, "99.0.96.10.in-addr.arpa.", 12);
    n = ask(srv, AF_INET, 1, q, qlen, r, sizeof(r));
    assert_int_equal(r[3] & 0x0f, pass == 0 ? 3 : 0);
    qlen = query(q, "prod.svc.cluster.local.", 1); /* NODATA stays */
    n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));
    assert_int_equal(r[3] & 0x0f, 0);
    assert_int_equal(r[7], 0);
    assert_int_equal(r[9], 1);
    assert_int_equal(r[2] & 0x04, 0x04); /* ours: AA */
    xs_server_stop(srv);
  }
  o.fallthrough = 4;
  assert_int_equal(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err),
                   XS_EINVAL);
  xs_server_stop(up);
  xs_resolver_free(res);
  xs_resolver_free(up_res);
  xs_config_free(cfg);
  xs_registry_free(reg);
  xs_registry_free(up_reg);
}

/* A TCP client that sends queries and never reads the replies does not
 * stall the server: its connection is dropped once a reply cannot be
 * written for a while, and UDP clients are answered meanwhile. */
static void test_server_tcp_client_that_never_reads(void **st) {
  xs_registry *reg;
  xs_resolver *res;
  xs_server *srv;
  xs_error err;
  unsigned char q[300], r[4096], lb[2];
  char ip[32];
  struct sockaddr_in to;
  struct timespec t0, t1;
  int fd, i, small = 4096, sent = 0;
  size_t qlen;
  ssize_t n;
  (void)st;
  must(xs_registry_new(&reg));
  must(xs_registry_add_headless(reg, "prod", "many", &err));
  for (i = 0; i < 100; i++) {
    snprintf(ip, sizeof(ip), "10.2.0.%d", i + 1);
    must(xs_registry_add_endpoint(reg, "prod", "many", ip, NULL, 1, &err));
  }
  must(xs_resolver_new(NULL, reg, &res, &err));
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)xs_server_port(srv));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
  qlen = query(q + 2, "many.prod.svc.cluster.local.", 1); /* ~1.7 KB reply */
  q[0] = (unsigned char)(qlen >> 8);
  q[1] = (unsigned char)qlen;
  /* queries until the server stops reading them (its replies pile up) */
  for (i = 0; i < 20000; i++) {
    n = send(fd, q, qlen + 2, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0)
      break;
    sent++;
  }
  assert_true(sent > 100);
  usleep(200 * 1000);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  qlen = query(q, "many.prod.svc.cluster.local.", 16); /* small: NODATA */
  n = ask(srv, AF_INET, 0, q, qlen, r, sizeof(r));     /* waits up to 2 s */
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(n > 12);
  assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
                  (t1.tv_nsec - t0.tv_nsec) / 1000000 <
              1900);
  /* the stuck connection was closed: reading ends (after what was sent) */
  for (i = 0; i < 100000 && (n = recv(fd, r, sizeof(r), 0)) > 0; i++)
    ;
  assert_true(n <= 0);
  (void)lb;
  close(fd);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* Silent TCP connections in every slot are closed after the idle time even
 * while UDP queries keep the server busy, and TCP is served again. */
static void test_server_idle_tcp_slots_freed_under_udp_load(void **st) {
  xs_registry *reg;
  xs_resolver *res;
  xs_server *srv;
  xs_error err;
  const char *ip[] = {"10.96.0.20"};
  unsigned char q[300], r[512];
  struct sockaddr_in to;
  struct timespec t0, t1;
  int fds[16], i, u;
  size_t qlen;
  long ms = 0;
  struct timeval tv = {1, 0};
  (void)st;
  must(xs_registry_new(&reg));
  must(xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err));
  must(xs_resolver_new(NULL, reg, &res, &err));
  must(xs_server_start(res, "127.0.0.1:0", &srv, &err));
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)xs_server_port(srv));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  for (i = 0; i < 16; i++) { /* every slot, silent (4 per source) */
    struct sockaddr_in from = to;
    from.sin_port = 0;
    from.sin_addr.s_addr = htonl(0x7f000a00u + (uint32_t)(i / 4)); /* .10 */
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fds[i], (struct sockaddr *)&from, sizeof(from)), 0);
    assert_int_equal(connect(fds[i], (struct sockaddr *)&to, sizeof(to)), 0);
  }
  usleep(100 * 1000);
  u = socket(AF_INET, SOCK_DGRAM, 0);
  setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  qlen = query(q, "backend.prod.svc.cluster.local.", 1);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (ms < 2600) { /* UDP all along: the poll never times out */
    assert_int_equal(sendto(u, q, qlen, 0, (struct sockaddr *)&to, sizeof(to)),
                     (ssize_t)qlen);
    assert_true(recv(u, r, sizeof(r), 0) > 12);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  }
  /* the silent ones were closed (waited for: a busy server may be late) */
  for (i = 0; i < 16; i++) {
    struct timeval hang = {XS_TEST_HANG_MS / 1000, 0};
    setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &hang, sizeof(hang));
    assert_int_equal(recv(fds[i], r, sizeof(r), 0), 0);
    close(fds[i]);
  }
  /* ... and TCP answers */
  assert_true(ask(srv, AF_INET, 1, q, qlen, r, sizeof(r)) > (ssize_t)qlen);
  close(u);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_answers_and_follows_the_registry),
      cmocka_unit_test(test_server_ipv6_and_bad_addresses),
      cmocka_unit_test(test_server_upstream_does_not_block),
      cmocka_unit_test(test_server_reply_cache_is_invisible),
      cmocka_unit_test(test_server_cache_option_normalises_ttls),
      cmocka_unit_test(test_server_fallthrough),
      cmocka_unit_test(test_server_tcp_client_that_never_reads),
      cmocka_unit_test(test_server_idle_tcp_slots_freed_under_udp_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
