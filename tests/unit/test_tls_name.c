/* The name for TLS (SNI, the certificate check, HTTP Host) against the
 * chain's final name, through xs_resolve, xs_connect and the DNS server,
 * with a scripted upstream on 127.0.0.1 that answers a name behind a CNAME
 * the way a cloud load balancer's DNS does: `db.example.com CNAME
 * lb-123.elb.test` + `lb-123.elb.test A ...`. Upstream CNAMEs are not
 * reference identities (RFC 6125, RFC 7525 section 6.1): xs_result_target
 * and xs_connect_info.target stay with the names the registry or the
 * caller gave; xs_result_final_name has the CNAME's target. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "responder.h"
#include "xsvc.h"

static responder srv;

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static int setup(void **state) {
  (void)state;
  return responder_start(&srv) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  responder_stop(&srv);
  return 0;
}

/* The upstream's names: db.example.com and www.example.com behind a load
 * balancer's CNAME, ext.example.com behind a CDN's. */
static const rsp_record cnames[] = {
    {"db.example.com.", 5, "lb-123.elb.test."},
    {"lb-123.elb.test.", 1, "192.0.2.10"},
    {"lb-123.elb.test.", 28, "2001:db8::a"},
    {"ext.example.com.", 5, "edge-7.cdn.test."},
    {"www.example.com.", 5, "edge-7.cdn.test."},
    {"edge-7.cdn.test.", 1, "192.0.2.10"},
    {"edge-7.cdn.test.", 28, "2001:db8::a"},
    {NULL, 0, NULL},
};

/* The same names, all behind lb-123.elb.test at 127.0.0.1 (and ::1), for
 * connections to a listener on loopback. */
static const rsp_record cnames_to_loopback[] = {
    {"db.example.com.", 5, "lb-123.elb.test."},
    {"ext.example.com.", 5, "lb-123.elb.test."},
    {"www.example.com.", 5, "lb-123.elb.test."},
    {"lb-123.elb.test.", 1, "127.0.0.1"},
    {"lb-123.elb.test.", 28, "::1"},
    {NULL, 0, NULL},
};

/* In namespace prod: db -> db.example.com; a -> b.prod.svc.cluster.local,
 * b -> ext.example.com; web (ClusterIP 10.96.0.20) and front -> web's FQDN;
 * pets (headless, endpoint pet-0 at 10.1.0.7). */
static xs_registry *registry(void) {
  xs_registry *reg;
  xs_error err;
  const char *ip[] = {"10.96.0.20"};
  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "prod", "db", "db.example.com", &err));
  must(xs_registry_add_external(reg, "prod", "a", "b.prod.svc.cluster.local",
                                &err));
  must(xs_registry_add_external(reg, "prod", "b", "ext.example.com", &err));
  must(xs_registry_add_cluster_ip(reg, "prod", "web", ip, 1, &err));
  must(xs_registry_add_external(reg, "prod", "front",
                                "web.prod.svc.cluster.local", &err));
  must(xs_registry_add_headless(reg, "prod", "pets", &err));
  must(xs_registry_add_endpoint(reg, "prod", "pets", "10.1.0.7", "pet-0", 1,
                                &err));
  return reg;
}

static xs_resolver *make(xs_registry *reg) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  atomic_store(&srv.script, cnames);
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, srv.server));
  must(xs_config_set_timeout_ms(cfg, 1000));
  must(xs_config_set_attempts(cfg, 2));
  must(xs_config_set_connect_prefer(cfg, 4));
  /* the connection test's upstream answers with loopback, which the
   * policy denies by default */
  must(xs_config_allow_range(cfg, "127.0.0.0/8"));
  must(xs_resolver_new(cfg, reg, &res, &err));
  xs_config_free(cfg);
  return res;
}

static xs_result *resolve(xs_resolver *res, const char *name, xs_family f) {
  xs_result *r = NULL;
  assert_int_equal(xs_resolve(res, name, f, &r), XS_OK);
  assert_non_null(r);
  return r;
}

static void expect_names(const xs_result *r, const char *target,
                         const char *final_name) {
  assert_string_equal(xs_result_target(r), target);
  assert_string_equal(xs_result_final_name(r), final_name);
}

/* An alias to a name behind an upstream CNAME: the ExternalName is the name
 * for TLS, the CNAME's target only the name the addresses belong to; the
 * same from the upstream, the cache and the result memo, for either
 * family and both. */
static void
test_target_alias_behind_upstream_cname_is_the_external_name(void **st) {
  xs_registry *reg = registry();
  xs_resolver *res = make(reg);
  xs_family fams[] = {XS_FAMILY_IPV4, XS_FAMILY_IPV6, XS_FAMILY_ANY};
  xs_result *r;
  size_t f;
  int i;
  (void)st;
  for (f = 0; f < 3; f++)
    for (i = 0; i < 3; i++) { /* upstream, then cache, then memo */
      r = resolve(res, "db", fams[f]);
      expect_names(r, "db.example.com.", "lb-123.elb.test.");
      assert_string_equal(xs_result_name(r), "db.prod.svc.cluster.local.");
      assert_int_equal(xs_result_chain_count(r), 2);
      assert_string_equal(xs_result_chain_target(r, 0), "db.example.com.");
      assert_int_equal(xs_result_chain_source(r, 0), XS_SOURCE_REGISTRY);
      assert_string_equal(xs_result_chain_name(r, 1), "db.example.com.");
      assert_string_equal(xs_result_chain_target(r, 1), "lb-123.elb.test.");
      assert_string_equal(xs_result_address_text(r, 0),
                          fams[f] == XS_FAMILY_IPV6 ? "2001:db8::a"
                                                    : "192.0.2.10");
      xs_result_free(r);
    }
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* In-cluster aliases are followed (registry data): the first name outside
 * the cluster domain is the name for TLS, not the alias in between nor the
 * upstream CNAME's target. */
static void
test_target_in_cluster_aliases_then_the_first_external_name(void **st) {
  xs_registry *reg = registry();
  xs_resolver *res = make(reg);
  xs_result *r;
  (void)st;
  r = resolve(res, "a", XS_FAMILY_IPV4);
  expect_names(r, "ext.example.com.", "edge-7.cdn.test.");
  assert_int_equal(xs_result_chain_count(r), 3);
  assert_string_equal(xs_result_chain_target(r, 0),
                      "b.prod.svc.cluster.local.");
  assert_string_equal(xs_result_chain_target(r, 1), "ext.example.com.");
  assert_string_equal(xs_result_chain_target(r, 2), "edge-7.cdn.test.");
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* A name outside the cluster: the name asked (the answering candidate,
 * absolute, as spelled) is the name for TLS whatever upstream CNAMEs it. */
static void test_target_outside_cluster_is_the_name_asked(void **st) {
  xs_registry *reg = registry();
  xs_resolver *res = make(reg);
  xs_result *r;
  (void)st;
  r = resolve(res, "www.example.com.", XS_FAMILY_ANY);
  expect_names(r, "www.example.com.", "edge-7.cdn.test.");
  assert_int_equal(xs_result_chain_count(r), 1);
  assert_int_equal(xs_result_chain_source(r, 0), XS_SOURCE_UPSTREAM);
  xs_result_free(r);
  /* relative: the cluster suffixes first (answered locally), then as is */
  r = resolve(res, "www.example.com", XS_FAMILY_IPV4);
  expect_names(r, "www.example.com.", "edge-7.cdn.test.");
  assert_int_equal(xs_result_candidate_count(r), 4);
  xs_result_free(r);
  r = resolve(res, "WWW.Example.COM.", XS_FAMILY_IPV4);
  expect_names(r, "WWW.Example.COM.", "edge-7.cdn.test.");
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* No external name at all: the in-cluster name the registry's records are
 * at (the Service's FQDN, also through an alias; an endpoint's hostname
 * name; an IP-like externalName answered as an address) is both names. */
static void
test_target_cluster_ip_and_headless_are_the_registry_names(void **st) {
  xs_registry *reg = registry();
  xs_resolver *res = make(reg);
  xs_result *r;
  (void)st;
  r = resolve(res, "web", XS_FAMILY_IPV4);
  expect_names(r, "web.prod.svc.cluster.local.", "web.prod.svc.cluster.local.");
  xs_result_free(r);
  r = resolve(res, "front", XS_FAMILY_IPV4);
  expect_names(r, "web.prod.svc.cluster.local.", "web.prod.svc.cluster.local.");
  assert_string_equal(xs_result_name(r), "front.prod.svc.cluster.local.");
  xs_result_free(r);
  r = resolve(res, "pet-0.pets", XS_FAMILY_IPV4);
  expect_names(r, "pet-0.pets.prod.svc.cluster.local.",
               "pet-0.pets.prod.svc.cluster.local.");
  assert_string_equal(xs_result_address_text(r, 0), "10.1.0.7");
  xs_result_free(r);
  xs_resolver_free(res);
  {
    xs_config *cfg;
    xs_error err;
    must(xs_registry_add_external(reg, "prod", "legacy", "10.1.2.3", &err));
    must(xs_config_new(&cfg));
    must(xs_config_set_namespace(cfg, "prod"));
    must(xs_config_add_server(cfg, srv.server));
    must(xs_config_set_ip_literal_targets(cfg, 1));
    must(xs_resolver_new(cfg, reg, &res, &err));
    xs_config_free(cfg);
  }
  r = resolve(res, "legacy", XS_FAMILY_IPV4);
  expect_names(r, "legacy.prod.svc.cluster.local.",
               "legacy.prod.svc.cluster.local.");
  assert_string_equal(xs_result_address_text(r, 0), "10.1.2.3");
  xs_result_free(r);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* A listener on 127.0.0.1 (port 0: any); returns the fd, *port set. */
static int listen_v4(unsigned *port) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(fd, 8), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* xs_connect_info.target is xs_result_target without the trailing dot:
 * the ExternalName (directly and after in-cluster aliases) or the name
 * asked, never the upstream CNAME's target. */
static void test_connect_target_is_the_name_for_tls(void **st) {
  static const struct {
    const char *name, *want;
  } cases[] = {
      {"db", "db.example.com"},
      {"a", "ext.example.com"},
      {"www.example.com.", "www.example.com"},
  };
  xs_registry *reg = registry();
  xs_resolver *res = make(reg);
  unsigned port = 0;
  int l = listen_v4(&port);
  size_t c;
  (void)st;
  atomic_store(&srv.script, cnames_to_loopback);
  for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    xs_connect_info info;
    struct pollfd p;
    int fd = -1, i;
    for (i = 0; i < 2; i++) { /* upstream, then cache */
      must(xs_connect(res, cases[c].name, port, 3000, &fd, &info));
      assert_string_equal(info.target, cases[c].want);
      assert_string_equal(info.address, "127.0.0.1");
      p.fd = l;
      p.events = POLLIN;
      assert_int_equal(poll(&p, 1, 1000), 1);
      close(accept(l, NULL, NULL));
      close(fd);
    }
  }
  close(l);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

/* The owner of the name at m[*off] (wire form, compression followed) as
 * dotted text with the trailing dot; *off moves past it. */
static void read_name(const unsigned char *m, size_t len, size_t *off,
                      char *out) {
  size_t p = *off, n = 0;
  int jumped = 0;
  while (p < len && m[p] != 0) {
    if ((m[p] & 0xc0) == 0xc0) {
      if (!jumped)
        *off = p + 2;
      jumped = 1;
      p = (size_t)((m[p] & 0x3f) << 8 | m[p + 1]);
      continue;
    }
    memcpy(out + n, m + p + 1, m[p]);
    n += m[p];
    out[n++] = '.';
    p += (size_t)m[p] + 1;
  }
  out[n] = '\0';
  if (!jumped)
    *off = p + 1;
}

/* The DNS server still puts the addresses at the chain's final name (a
 * valid CNAME chain): the TLS name is not a DNS owner. */
static void test_server_addresses_owned_by_the_final_name(void **st) {
  static const char qname[] = "\002db\004prod\003svc\007cluster\005local";
  xs_registry *reg = registry();
  xs_resolver *res = make(reg);
  xs_server *server;
  xs_error err;
  unsigned char q[64], m[512];
  struct sockaddr_in to;
  struct timeval tv = {3, 0};
  char owner[256], target[256];
  size_t qlen = 0, off;
  ssize_t n;
  unsigned an, i;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  (void)st;
  must(xs_server_start(res, "127.0.0.1:0", &server, &err));
  memset(q, 0, 12);
  q[0] = 0x42;
  q[2] = 0x01; /* RD */
  q[5] = 1;    /* QDCOUNT */
  qlen = 12;
  memcpy(q + qlen, qname, sizeof(qname)); /* with the root label */
  qlen += sizeof(qname);
  q[qlen++] = 0;
  q[qlen++] = 1; /* A */
  q[qlen++] = 0;
  q[qlen++] = 1; /* IN */
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)xs_server_port(server));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  assert_int_equal(sendto(fd, q, qlen, 0, (struct sockaddr *)&to, sizeof(to)),
                   (ssize_t)qlen);
  n = recv(fd, m, sizeof(m), 0);
  assert_true(n > (ssize_t)qlen);
  assert_int_equal(m[3] & 0x0f, 0);
  an = (unsigned)(m[6] << 8 | m[7]);
  assert_int_equal(an, 3);
  off = qlen;
  for (i = 0; i < an; i++) {
    unsigned type, rdlen;
    read_name(m, (size_t)n, &off, owner);
    type = (unsigned)(m[off] << 8 | m[off + 1]);
    rdlen = (unsigned)(m[off + 8] << 8 | m[off + 9]);
    off += 10;
    if (i == 0) {
      assert_int_equal(type, 5);
      assert_string_equal(owner, "db.prod.svc.cluster.local.");
    } else if (i == 1) {
      size_t t = off;
      assert_int_equal(type, 5);
      assert_string_equal(owner, "db.example.com.");
      read_name(m, (size_t)n, &t, target);
      assert_string_equal(target, "lb-123.elb.test.");
    } else {
      assert_int_equal(type, 1);
      assert_string_equal(owner, "lb-123.elb.test.");
    }
    off += rdlen;
  }
  xs_server_stop(server);
  close(fd);
  xs_resolver_free(res);
  xs_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          test_target_alias_behind_upstream_cname_is_the_external_name),
      cmocka_unit_test(
          test_target_in_cluster_aliases_then_the_first_external_name),
      cmocka_unit_test(test_target_outside_cluster_is_the_name_asked),
      cmocka_unit_test(
          test_target_cluster_ip_and_headless_are_the_registry_names),
      cmocka_unit_test(test_connect_target_is_the_name_for_tls),
      cmocka_unit_test(test_server_addresses_owned_by_the_final_name),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
