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
  struct timeval tv = {2, 0};
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

/* A query waiting for a slow upstream does not hold up the others, gets
 * its SERVFAIL when the upstream times out, and a stop does not wait for
 * the upstream either. */
static void test_server_upstream_does_not_block(void **st) {
  xs_registry *reg;
  xs_config *cfg;
  xs_resolver *res;
  xs_server *srv;
  xs_error err;
  const char *ip[] = {"10.96.0.20"};
  unsigned char q[300], r[512];
  struct sockaddr_in silent, to;
  socklen_t slen = sizeof(silent);
  struct timeval tv = {3, 0};
  char server[64];
  int sfd = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_DGRAM, 0);
  size_t qlen;
  ssize_t n;
  struct timespec t0, t1;
  (void)st;
  memset(&silent, 0, sizeof(silent));
  silent.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &silent.sin_addr);
  assert_int_equal(bind(sfd, (struct sockaddr *)&silent, sizeof(silent)), 0);
  getsockname(sfd, (struct sockaddr *)&silent, &slen);
  snprintf(server, sizeof(server), "127.0.0.1:%u", ntohs(silent.sin_port));
  must(xs_registry_new(&reg));
  must(xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err));
  must(xs_config_new(&cfg));
  must(xs_config_add_server(cfg, server)); /* never answers */
  must(xs_config_set_timeout_ms(cfg, 800));
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
  clock_gettime(CLOCK_MONOTONIC, &t0);
  qlen = query(q, "backend.prod.svc.cluster.local.", 1);
  q[1] = 2;
  sendto(c, q, qlen, 0, (struct sockaddr *)&to, sizeof(to));
  n = recv(c, r, sizeof(r), 0); /* the in-zone answer comes first */
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(n > 12);
  assert_int_equal(r[1], 2);
  assert_int_equal(r[3] & 0x0f, 0);
  assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
                  (t1.tv_nsec - t0.tv_nsec) / 1000000 <
              400);
  n = recv(c, r, sizeof(r), 0); /* then the forwarded one fails */
  assert_true(n > 12);
  assert_int_equal(r[1], 1);
  assert_int_equal(r[3] & 0x0f, 2); /* SERVFAIL */
  /* stopping with a query still waiting: cancelled, no wait */
  qlen = query(q, "www2.example.com.", 1);
  sendto(c, q, qlen, 0, (struct sockaddr *)&to, sizeof(to));
  usleep(50000);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  xs_server_stop(srv);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
                  (t1.tv_nsec - t0.tv_nsec) / 1000000 <
              500);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
  close(c);
  close(sfd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_answers_and_follows_the_registry),
      cmocka_unit_test(test_server_ipv6_and_bad_addresses),
      cmocka_unit_test(test_server_upstream_does_not_block),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
