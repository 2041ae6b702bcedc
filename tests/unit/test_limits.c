/* Every documented bound of include/xsvc.h that the manifest tests do not
 * already cover (file size, depth, documents, aliases and files are in
 * test_manifest.c and test_load.c): the last value inside each bound works,
 * the first one past it gets the documented status and changes nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "responder.h"
#include "silent.h"
#include "wait.h"
#include "xsvc.h"

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static xs_resolver *resolver_for(xs_registry *reg) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, "127.0.0.1:9")); /* never asked here */
  must(xs_resolver_new(cfg, reg, &res, &err));
  xs_config_free(cfg);
  return res;
}

/* "a.a.a...." of n octets (no trailing dot), labels of label octets. */
static void make_name(char *buf, size_t n, size_t label) {
  size_t i, in = 0;
  for (i = 0; i < n; i++) {
    if (in == label && i + 1 < n) {
      buf[i] = '.';
      in = 0;
    } else {
      buf[i] = 'a';
      in++;
    }
  }
  buf[n] = '\0';
}

static void test_limits_name_253_octets_resolved_254_ebadname(void **s) {
  xs_registry *reg;
  xs_resolver *res;
  xs_result *r;
  char name[300], fqdn[320];
  xs_error err;
  (void)s;
  must(xs_registry_new(&reg));
  must(xs_registry_add_namespace(reg, "prod", &err));
  res = resolver_for(reg);
  make_name(name, XS_MAX_NAME, 63);
  snprintf(fqdn, sizeof(fqdn), "%s.", name);
  /* a valid name: asked upstream (a closed port here) */
  assert_int_not_equal(xs_resolve(res, fqdn, XS_FAMILY_IPV4, &r), XS_EBADNAME);
  assert_string_equal(xs_result_name(r), fqdn);
  xs_result_free(r);
  make_name(name, XS_MAX_NAME + 1, 63);
  snprintf(fqdn, sizeof(fqdn), "%s.", name);
  assert_int_equal(xs_resolve(res, fqdn, XS_FAMILY_IPV4, &r), XS_EBADNAME);
  assert_int_equal(xs_result_status(r), XS_EBADNAME);
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

static void test_limits_label_63_octets_valid_64_ebadname(void **s) {
  xs_resolver *res = resolver_for(NULL);
  xs_result *r;
  xs_registry *reg;
  xs_error err;
  char label[80], name[100];
  (void)s;
  memset(label, 'b', 64);
  label[63] = '\0';
  snprintf(name, sizeof(name), "%s.svc.cluster.local.", label);
  assert_int_equal(xs_resolve(res, name, XS_FAMILY_IPV4, &r), XS_ENOTFOUND);
  xs_result_free(r);
  label[63] = 'b';
  label[64] = '\0';
  snprintf(name, sizeof(name), "%s.svc.cluster.local.", label);
  assert_int_equal(xs_resolve(res, name, XS_FAMILY_IPV4, &r), XS_EBADNAME);
  xs_result_free(r);
  xs_resolver_free(res);
  /* an externalName label past 63 octets is refused, nothing added */
  must(xs_registry_new(&reg));
  snprintf(name, sizeof(name), "%s.example.com", label);
  assert_int_equal(xs_registry_add_external(reg, "prod", "long", name, &err),
                   XS_EINVAL);
  assert_int_equal(xs_registry_service_count(reg), 0);
  xs_registry_free(reg);
}

/* In-cluster aliases s0 -> s1 -> ... -> sN -> a ClusterIP service. */
static xs_status chain_of(size_t links, size_t *chain_count) {
  xs_registry *reg;
  xs_resolver *res;
  xs_result *r;
  xs_error err;
  xs_status st;
  const char *ip[] = {"10.96.0.7"};
  size_t i;
  must(xs_registry_new(&reg));
  for (i = 0; i < links; i++) {
    char name[32], target[64];
    snprintf(name, sizeof(name), "s%zu", i);
    if (i + 1 < links)
      snprintf(target, sizeof(target), "s%zu.prod.svc.cluster.local", i + 1);
    else
      snprintf(target, sizeof(target), "end.prod.svc.cluster.local");
    must(xs_registry_add_external(reg, "prod", name, target, &err));
  }
  must(xs_registry_add_cluster_ip(reg, "prod", "end", ip, 1, &err));
  res = resolver_for(reg);
  st = xs_resolve(res, "s0", XS_FAMILY_IPV4, &r);
  *chain_count = xs_result_chain_count(r);
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(reg);
  return st;
}

static void test_limits_chain_of_10_links_followed_11_eloop(void **s) {
  size_t n;
  (void)s;
  assert_int_equal(chain_of(XS_MAX_CHAIN, &n), XS_OK);
  assert_int_equal(n, XS_MAX_CHAIN);
  assert_int_equal(chain_of(XS_MAX_CHAIN + 1, &n), XS_ELOOP);
  assert_true(n <= XS_MAX_CHAIN + 1);
}

static void test_limits_config_list_bounds(void **s) {
  xs_config *cfg;
  char text[64];
  int i;
  (void)s;
  must(xs_config_new(&cfg));
  for (i = 0; i < 8; i++) {
    snprintf(text, sizeof(text), "127.0.0.%d:53", i + 1);
    must(xs_config_add_server(cfg, text));
  }
  assert_int_equal(xs_config_add_server(cfg, "127.0.0.9:53"), XS_EINVAL);
  for (i = 0; i < 32; i++) {
    snprintf(text, sizeof(text), "d%d.example", i);
    must(xs_config_add_search(cfg, text));
  }
  assert_int_equal(xs_config_add_search(cfg, "d32.example"), XS_EINVAL);
  for (i = 0; i < 32; i++) {
    snprintf(text, sizeof(text), "t%d.example", i);
    must(xs_config_add_allowed_target(cfg, text));
  }
  assert_int_equal(xs_config_add_allowed_target(cfg, "t32.example"), XS_ELIMIT);
  must(xs_config_clear_denied_ranges(cfg));
  for (i = 0; i < 64; i++) {
    snprintf(text, sizeof(text), "10.%d.0.0/16", i);
    must(xs_config_add_denied_range(cfg, text));
  }
  assert_int_equal(xs_config_add_denied_range(cfg, "10.64.0.0/16"), XS_ELIMIT);
  must(xs_config_set_cache_size(cfg, 10000000));
  assert_int_equal(xs_config_set_cache_size(cfg, 10000001), XS_EINVAL);
  must(xs_config_set_result_memo(cfg, 1048576));
  assert_int_equal(xs_config_set_result_memo(cfg, 1048577), XS_EINVAL);
  xs_config_free(cfg);
}

/* A cache of 64 entries asked for many external names: all answered (the
 * full cache evicts instead of refusing), and asked again, answered again. */
static void test_limits_full_cache_evicts_never_refuses(void **s) {
  responder up;
  xs_resolver *res;
  xs_config *cfg;
  xs_error err;
  int i, round, n = getenv("XSVC_TEST_VALGRIND") != NULL ? 200 : 1000;
  (void)s;
  assert_int_equal(responder_start(&up), 0);
  atomic_store(&up.no_aaaa, 1);
  must(xs_config_new(&cfg));
  must(xs_config_add_server(cfg, up.server));
  must(xs_config_set_cache_size(cfg, 64));
  must(xs_resolver_new(cfg, NULL, &res, &err));
  xs_config_free(cfg);
  for (round = 0; round < 2; round++)
    for (i = 0; i < n; i++) {
      char name[32];
      xs_result *r;
      snprintf(name, sizeof(name), "e%d.example.test.", i);
      assert_int_equal(xs_resolve(res, name, XS_FAMILY_IPV4, &r), XS_OK);
      xs_result_free(r);
    }
  /* the second round found at most the cache's 64 entries */
  assert_true(atomic_load(&up.queries_a) >= 2 * n - 64);
  xs_resolver_free(res);
  responder_stop(&up);
}

/* The server holds 16 TCP connections (XS_SERVER_TCP_MAX; here all from
 * one address, its per-source bound lifted to that); a 17th is closed at
 * once, and once one of the 16 goes, a new one is served. The per-source
 * bound itself: test_server_hardening. */
static int tcp_to(unsigned port) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* 1 if fd answers a TCP query for the zone apex's SOA (0 if it is closed
 * instead; the hang deadline otherwise). */
static int tcp_answers(int fd) {
  static const unsigned char q[] = {0,   31,  0x12, 0x34, 1, 0,   0,   1,   0,
                                    0,   0,   0,    0,    0, 7,   'c', 'l', 'u',
                                    's', 't', 'e',  'r',  5, 'l', 'o', 'c', 'a',
                                    'l', 0,   0,    6,    0, 1};
  unsigned char reply[512];
  struct pollfd p = {fd, POLLIN, 0};
  if (send(fd, q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q))
    return 0;
  return poll(&p, 1, XS_TEST_HANG_MS) == 1 &&
         recv(fd, reply, sizeof(reply), 0) > 4;
}

/* 1 if the server closed fd (EOF; the hang deadline otherwise). */
static int closed_by_peer(int fd) {
  unsigned char b;
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, XS_TEST_HANG_MS) == 1 && recv(fd, &b, 1, 0) == 0;
}

static void test_limits_server_16_tcp_connections_17th_closed(void **s) {
  xs_registry *reg;
  xs_resolver *res;
  xs_server *srv;
  xs_error err;
  xs_server_options o;
  int fds[17], i, extra;
  (void)s;
  must(xs_registry_new(&reg));
  res = resolver_for(reg);
  xs_server_options_init(&o);
  o.tcp_per_source = XS_SERVER_TCP_MAX;
  must(xs_server_start_opts(res, "127.0.0.1:0", &o, &srv, &err));
  for (i = 0; i < 16; i++) {
    fds[i] = tcp_to(xs_server_port(srv));
    assert_true(fds[i] >= 0);
    assert_true(tcp_answers(fds[i])); /* held, and served */
  }
  fds[16] = tcp_to(xs_server_port(srv));
  assert_true(fds[16] >= 0);
  assert_true(closed_by_peer(fds[16]));
  close(fds[16]);
  close(fds[0]);
  /* Once the server has seen it go (when is up to its thread: until then
   * a newcomer is still the 17th and closed), a new connection is served. */
  {
    uint64_t end = xs_test_now_ms() + XS_TEST_HANG_MS;
    int served = 0;
    while (!served && xs_test_now_ms() < end) {
      extra = tcp_to(xs_server_port(srv));
      assert_true(extra >= 0);
      served = tcp_answers(extra);
      close(extra);
      if (!served)
        xs_test_sleep_ms(10);
    }
    assert_true(served);
  }
  for (i = 1; i < 16; i++)
    close(fds[i]);
  xs_server_stop(srv);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

static void count_done(xs_status st, xs_result *r, void *arg) {
  (void)st;
  atomic_fetch_add((atomic_int *)arg, 1);
  xs_result_free(r);
}

/* Requests in flight: max_pending of them wait for a silent upstream, the
 * next is refused with XS_ELIMIT (its callback never runs) until one
 * completes; answers from the result memo are not held back. */
static void test_limits_pending_requests(void **s) {
  xs_config *cfg;
  xs_resolver *res;
  xs_registry *reg;
  xs_error err;
  const char *ip[] = {"10.96.0.20"};
  char server[64], name[64];
  unsigned long long ids[3];
  atomic_int done = 0;
  int sfd = silent_upstream(server, sizeof(server)), i;
  (void)s;
  assert_true(sfd >= 0);
  must(xs_registry_new(&reg));
  must(xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err));
  must(xs_config_new(&cfg));
  assert_int_equal(xs_config_set_max_pending(cfg, 0), XS_EINVAL);
  assert_int_equal(xs_config_set_max_pending(cfg, XS_MAX_PENDING + 1),
                   XS_EINVAL);
  must(xs_config_set_max_pending(cfg, 3));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, server));
  must(xs_config_set_timeout_ms(cfg, 5000));
  must(xs_config_set_attempts(cfg, 1));
  must(xs_resolver_new(cfg, reg, &res, &err));
  {
    xs_result *r;
    must(xs_resolve(res, "backend", XS_FAMILY_IPV4, &r)); /* memoised */
    xs_result_free(r);
  }
  for (i = 0; i < 3; i++) {
    snprintf(name, sizeof(name), "h%d.example.test.", i);
    must(xs_resolve_async(res, name, XS_FAMILY_IPV4, count_done, &done,
                          &ids[i]));
  }
  assert_int_equal(xs_resolve_async(res, "h3.example.test.", XS_FAMILY_IPV4,
                                    count_done, &done, NULL),
                   XS_ELIMIT);
  /* an answer the result memo gives completes at once: not held back */
  must(xs_resolve_async(res, "backend", XS_FAMILY_IPV4, count_done, &done,
                        NULL));
  assert_int_equal(atomic_load(&done), 1);
  /* one completes (cancelled): room for one more */
  must(xs_resolve_cancel(res, ids[0]));
  XS_WAIT_UNTIL(atomic_load(&done) >= 2);
  assert_int_equal(atomic_load(&done), 2);
  must(xs_resolve_async(res, "h3.example.test.", XS_FAMILY_IPV4, count_done,
                        &done, NULL));
  xs_resolver_free(res); /* the waiting ones complete, cancelled */
  assert_int_equal(atomic_load(&done), 5);
  xs_config_free(cfg);
  xs_registry_free(reg);
  close(sfd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_limits_name_253_octets_resolved_254_ebadname),
      cmocka_unit_test(test_limits_label_63_octets_valid_64_ebadname),
      cmocka_unit_test(test_limits_chain_of_10_links_followed_11_eloop),
      cmocka_unit_test(test_limits_config_list_bounds),
      cmocka_unit_test(test_limits_full_cache_evicts_never_refuses),
      cmocka_unit_test(test_limits_server_16_tcp_connections_17th_closed),
      cmocka_unit_test(test_limits_pending_requests),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
