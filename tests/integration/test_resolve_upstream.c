/* Upstream resolution against real servers on 127.0.0.1 only:
 *  - Knot DNS (an independent, authoritative server; zones written by
 *    tests/integration/knot.sh), run by this test on a free port and always
 *    stopped (group teardown, atexit, and a guard process should the test
 *    die);
 *  - a scripted UDP responder thread for rcodes and silence.
 * Both xs_upstream (private) and the public API (xs_resolve) are used. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "responder.h"
#include "upstream.h"
#include "wait.h"
#include "xsvc.h"

/* Timeouts: a minute where a server answers (never meant to fire, on any
 * machine); short only against silent servers, where the wait has a lower
 * bound and no upper one; MIXED_MS where one resolver first gets an
 * answer, then must time out. */
#define ANSWER_MS XS_TEST_HANG_MS
#define MIXED_MS 1000

/* ---- Knot DNS ------------------------------------------------------------
 */

static char workdir[256];
static pid_t knot_pid = -1;
static int knot_port;
static char knot_server[64]; /* "127.0.0.1:PORT" */

/* A free 127.0.0.1 port (UDP and TCP both bindable), released for knotd. */
/* A loopback port free for both UDP and TCP (Knot listens on both), or
 * -1. Tried a few times: a port UDP gives out may be taken on TCP. */
static int free_port(void) {
  int tries;
  for (tries = 0; tries < 50; tries++) {
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1, one = 1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (t >= 0)
      (void)setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(u, (struct sockaddr *)&a, &len) == 0 &&
        bind(t, (struct sockaddr *)&a, sizeof(a)) == 0)
      port = ntohs(a.sin_port);
    if (u >= 0)
      close(u);
    if (t >= 0)
      close(t);
    if (port > 0)
      return port;
  }
  return -1;
}

static int run_shell(const char *fmt, ...) {
  char cmd[1024];
  va_list ap;
  int rc;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* knotd runs under a guard process holding the read end of a pipe whose
 * write end only this process has: when the write end closes (knot_stop, or
 * this process dying in any way, even by SIGKILL), the guard stops knotd and
 * exits. knot_pid is the guard's pid. */
static int knot_guard = -1;

static void knot_stop(void) {
  int i;
  if (knot_guard >= 0) {
    close(knot_guard);
    knot_guard = -1;
  }
  if (knot_pid > 0) {
    for (i = 0; i < 200 && waitpid(knot_pid, NULL, WNOHANG) != knot_pid; i++)
      usleep(50000);
    if (i == 200) {
      kill(knot_pid, SIGKILL);
      waitpid(knot_pid, NULL, 0);
    }
    knot_pid = -1;
  }
  if (workdir[0] != '\0') {
    nftw(workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    workdir[0] = '\0';
  }
}

static void guard_knotd(int lifeline, const char *conf, pid_t test) {
  struct pollfd pfd = {lifeline, POLLIN, 0};
  pid_t knotd = fork();
  int i;
  if (knotd < 0)
    _exit(1);
  if (knotd == 0) {
    int null = open("/dev/null", O_RDWR);
    close(lifeline);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    execlp("knotd", "knotd", "-c", conf, (char *)NULL);
    _exit(127);
  }
  for (;;) {
    if (poll(&pfd, 1, 100) > 0)
      break; /* EOF: the test is done or gone */
    if (waitpid(knotd, NULL, WNOHANG) == knotd)
      _exit(1); /* knotd exited by itself (port taken?) */
  }
  kill(knotd, SIGTERM);
  for (i = 0; i < 100 && waitpid(knotd, NULL, WNOHANG) != knotd; i++)
    usleep(50000);
  if (i == 100) {
    kill(knotd, SIGKILL);
    waitpid(knotd, NULL, 0);
  }
  if (getppid() != test) /* the test died: tidy up for it */
    nftw(workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  _exit(0);
}

static pid_t spawn_knotd(const char *conf) {
  int lifeline[2];
  pid_t pid, test = getpid();
  if (pipe2(lifeline, O_CLOEXEC) != 0)
    return -1;
  pid = fork();
  if (pid == 0) {
    close(lifeline[1]);
    guard_knotd(lifeline[0], conf, test);
  }
  close(lifeline[0]);
  if (pid < 0)
    close(lifeline[1]);
  else
    knot_guard = lifeline[1];
  return pid;
}

/* Stop knotd but keep the work directory (for a retry). */
static void knot_stop_server(void) {
  char keep[sizeof(workdir)];
  memcpy(keep, workdir, sizeof(keep));
  workdir[0] = '\0';
  knot_stop();
  memcpy(workdir, keep, sizeof(keep));
}

static int knot_start(void **state) {
  char dns[300], conf[320];
  int tries, i;
  (void)state;
  if (run_shell("command -v knotd >/dev/null && command -v kdig >/dev/null") !=
      0) {
    fprintf(stderr, "knotd/kdig not installed (Debian: knot, knot-dnsutils)\n");
    return -1;
  }
  snprintf(workdir, sizeof(workdir), "/tmp/xsvc-knot-XXXXXX");
  if (mkdtemp(workdir) == NULL) {
    workdir[0] = '\0';
    return -1;
  }
  atexit(knot_stop);
  snprintf(dns, sizeof(dns), "%s/dns", workdir);
  snprintf(conf, sizeof(conf), "%s/knot.conf", dns);
  for (tries = 0; tries < 5; tries++) {
    knot_port = free_port();
    if (knot_port < 0 || run_shell(". '%s' && knot_write '%s' %d", XSVC_KNOT_SH,
                                   dns, knot_port) != 0)
      continue;
    knot_pid = spawn_knotd(conf);
    if (knot_pid < 0)
      return -1;
    for (i = 0; i < XS_TEST_HANG_MS / 100; i++) { /* until it serves */
      if (waitpid(knot_pid, NULL, WNOHANG) == knot_pid) {
        knot_pid = -1; /* exited: the port was taken meanwhile? */
        break;
      }
      if (run_shell(". '%s' && knot_ready %d", XSVC_KNOT_SH, knot_port) == 0) {
        snprintf(knot_server, sizeof(knot_server), "127.0.0.1:%d", knot_port);
        return 0;
      }
      usleep(100000);
    }
    knot_stop_server();
  }
  fprintf(stderr, "knotd did not come up; see %s/knot.log\n", dns);
  return -1;
}

static int knot_teardown(void **state) {
  (void)state;
  knot_stop();
  return 0;
}

/* ---- scripted responder ---------------------------------------------------
 * tests/common/responder.h, answering every query with a fixed rcode, or
 * (rcode -1) staying silent. */

static void scripted_start(responder *r, int rcode) {
  assert_int_equal(responder_start(r), 0);
  if (rcode < 0)
    atomic_store(&r->silent, 1);
  else
    atomic_store(&r->rcode, rcode);
}

/* ---- helpers ---------------------------------------------------------------
 */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static xs_upstream *upstream_to(const char *s1, const char *s2, int timeout_ms,
                                int attempts) {
  xs_upstream_cfg cfg;
  xs_upstream *u = NULL;
  xs_error err;
  memset(&cfg, 0, sizeof(cfg));
  cfg.servers[0] = s1;
  cfg.servers[1] = s2;
  cfg.nservers = s2 != NULL ? 2 : 1;
  cfg.timeout_ms = timeout_ms;
  cfg.attempts = attempts;
  assert_int_equal(xs_upstream_new(&cfg, &u, &err), XS_OK);
  return u;
}

static xs_upstream_answer a4, a6;

static void query(xs_upstream *u, const char *name) {
  assert_int_equal(xs_upstream_query(u, name, 1, &a4, 1, &a6), XS_OK);
}

static const char *text(const xs_addr *a) {
  static char buf[64];
  return xs_addr_format(a, buf, sizeof(buf));
}

/* ---- xs_upstream against Knot ----------------------------------------------
 */

static void test_knot_a_and_aaaa_with_ttls(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  query(u, "my.database.example.com.");
  assert_int_equal(a4.status, XS_OK);
  assert_int_equal(a4.nchain, 0);
  assert_int_equal(a4.naddrs, 1);
  assert_string_equal(text(&a4.addrs[0].addr), "192.0.2.10");
  assert_int_equal(a4.addrs[0].ttl, 300);
  assert_int_equal(a6.status, XS_OK);
  assert_int_equal(a6.naddrs, 1);
  assert_string_equal(text(&a6.addrs[0].addr), "2001:db8::10");
  assert_int_equal(a6.addrs[0].ttl, 300);
  /* without the trailing dot, and in another case */
  query(u, "MY.Database.Example.COM");
  assert_int_equal(a4.status, XS_OK);
  assert_int_equal(a6.status, XS_OK);
  xs_upstream_free(u);
}

static void test_knot_cname_chain_keeps_distinct_ttls(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  query(u, "alias.example.com.");
  assert_int_equal(a4.status, XS_OK);
  assert_int_equal(a4.nchain, 1);
  assert_string_equal(a4.chain[0].name, "alias.example.com.");
  assert_string_equal(a4.chain[0].target, "my.database.example.com.");
  assert_int_equal(a4.chain[0].ttl, 120);
  assert_int_equal(a4.naddrs, 1);
  assert_int_equal(a4.addrs[0].ttl, 300);
  assert_int_equal(a6.status, XS_OK);
  assert_int_equal(a6.nchain, 1);
  assert_string_equal(text(&a6.addrs[0].addr), "2001:db8::10");
  xs_upstream_free(u);
}

static void test_knot_nxdomain_with_negative_ttl(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  query(u, "nx.example.com.");
  assert_int_equal(a4.status, XS_ENOTFOUND);
  assert_int_equal(a6.status, XS_ENOTFOUND);
  assert_int_equal(a4.naddrs, 0);
  assert_int_equal(a4.negative_ttl, 60);
  xs_upstream_free(u);
}

static void test_knot_nodata_for_missing_family(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  query(u, "v4only.example.com.");
  assert_int_equal(a4.status, XS_OK);
  assert_int_equal(a4.addrs[0].ttl, 60);
  assert_string_equal(text(&a4.addrs[0].addr), "192.0.2.20");
  assert_int_equal(a6.status, XS_ENODATA);
  assert_int_equal(a6.naddrs, 0);
  assert_int_equal(a6.negative_ttl, 60);
  xs_upstream_free(u);
}

static void test_knot_cname_loop_is_eloop(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  query(u, "loop-a.example.com.");
  assert_int_equal(a4.status, XS_ELOOP);
  assert_int_equal(a6.status, XS_ELOOP);
  assert_int_equal(a4.nchain, 2);
  xs_upstream_free(u);
}

static void test_knot_zone_that_failed_to_load_is_servfail(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  query(u, "www.broken.example.");
  assert_int_equal(a4.status, XS_ESERVFAIL);
  assert_int_equal(a6.status, XS_ESERVFAIL);
  xs_upstream_free(u);
}

static void test_knot_name_outside_its_zones_is_refused(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  query(u, "www.example.org.");
  assert_int_equal(a4.status, XS_EREFUSED);
  assert_int_equal(a6.status, XS_EREFUSED);
  xs_upstream_free(u);
}

static void test_knot_truncated_reply_retried_over_tcp(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  query(u, "big.example.com.");
  assert_int_equal(a4.status, XS_OK);
  assert_int_equal(a4.naddrs, XS_UPSTREAM_MAX_ADDRS); /* 100 sent, 64 kept */
  assert_int_equal(a4.addrs[0].ttl, 30);
  assert_int_equal(a6.status, XS_ENODATA);
  xs_upstream_free(u);
}

static void test_knot_one_family_only(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  (void)s;
  memset(&a6, 0xa5, sizeof(a6));
  assert_int_equal(
      xs_upstream_query(u, "my.database.example.com.", 1, &a4, 0, NULL), XS_OK);
  assert_int_equal(a4.status, XS_OK);
  assert_int_equal(
      xs_upstream_query(u, "my.database.example.com.", 0, NULL, 1, &a6), XS_OK);
  assert_int_equal(a6.status, XS_OK);
  assert_int_equal(a6.addrs[0].addr.family, 6);
  xs_upstream_free(u);
}

/* Calls on one xs_upstream from several threads are serialised, each gets
 * its own complete answer. */
typedef struct worker {
  xs_upstream *u;
  int ok;
} worker;

static void *hammer(void *arg) {
  worker *w = arg;
  static const char *const names[] = {
      "my.database.example.com.", "alias.example.com.", "v4only.example.com."};
  int i;
  for (i = 0; i < 30; i++) {
    xs_upstream_answer x4, x6;
    const char *name = names[i % 3];
    if (xs_upstream_query(w->u, name, 1, &x4, 1, &x6) != XS_OK ||
        x4.status != XS_OK || x4.naddrs != 1 ||
        x4.addrs[0].addr.bytes[3] != (i % 3 == 2 ? 20 : 10) ||
        x6.status != (i % 3 == 2 ? XS_ENODATA : XS_OK) ||
        x4.nchain != (i % 3 == 1 ? 1u : 0u))
      return NULL;
  }
  w->ok = 1;
  return NULL;
}

static void test_knot_one_upstream_shared_by_threads(void **s) {
  xs_upstream *u = upstream_to(knot_server, NULL, ANSWER_MS, 2);
  pthread_t t[4];
  worker w[4];
  int i;
  (void)s;
  for (i = 0; i < 4; i++) {
    w[i].u = u;
    w[i].ok = 0;
    assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
  }
  for (i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_true(w[i].ok);
  }
  xs_upstream_free(u);
}

static void test_failover_from_servfail_server_to_knot(void **s) {
  responder r;
  xs_upstream *u;
  (void)s;
  scripted_start(&r, 2);
  char bad[64];
  snprintf(bad, sizeof(bad), "127.0.0.1:%d", r.port);
  u = upstream_to(bad, knot_server, ANSWER_MS, 1);
  query(u, "my.database.example.com.");
  assert_int_equal(a4.status, XS_OK);
  assert_int_equal(a6.status, XS_OK);
  assert_true(r.queries >= 1); /* the first server was asked */
  xs_upstream_free(u);
  responder_stop(&r);
}

static void test_failover_from_silent_server_to_knot(void **s) {
  responder r;
  xs_upstream *u;
  char silent[64];
  double t0;
  (void)s;
  scripted_start(&r, -1);
  snprintf(silent, sizeof(silent), "127.0.0.1:%d", r.port);
  /* the silent one's 1 s timeout first; Knot's answer then has the
   * query's remaining 5 s to arrive */
  u = upstream_to(silent, knot_server, MIXED_MS, 2);
  t0 = now();
  query(u, "my.database.example.com.");
  assert_int_equal(a4.status, XS_OK);
  assert_int_equal(a6.status, XS_OK);
  assert_true(now() - t0 >= MIXED_MS / 1000.0 - 0.001);
  xs_upstream_free(u);
  responder_stop(&r);
}

/* ---- the public API against Knot -------------------------------------------
 */

static xs_resolver *resolver_for(const char *ns, const char *server,
                                 int timeout_ms, int attempts) {
  xs_registry *reg = NULL;
  xs_config *cfg = NULL;
  xs_resolver *res = NULL;
  xs_error err;
  assert_int_equal(xs_registry_new(&reg), XS_OK);
  assert_int_equal(xs_registry_add_external(reg, "prod", "my-service",
                                            "my.database.example.com", &err),
                   XS_OK);
  assert_int_equal(xs_registry_add_external(reg, "prod", "via-alias",
                                            "alias.example.com", &err),
                   XS_OK);
  assert_int_equal(xs_registry_add_external(reg, "prod", "v4only",
                                            "v4only.example.com", &err),
                   XS_OK);
  assert_int_equal(
      xs_registry_add_external(reg, "prod", "broken", "nx.example.com", &err),
      XS_OK);
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_set_namespace(cfg, ns), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, server), XS_OK);
  assert_int_equal(xs_config_set_timeout_ms(cfg, timeout_ms), XS_OK);
  assert_int_equal(xs_config_set_attempts(cfg, attempts), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, reg, &res, &err), XS_OK);
  xs_config_free(cfg);
  xs_registry_free(reg); /* the resolver keeps its own reference */
  return res;
}

static void assert_my_service_from(xs_result *r, xs_source source) {
  assert_int_equal(xs_result_status(r), XS_OK);
  assert_string_equal(xs_result_name(r), "my-service.prod.svc.cluster.local.");
  assert_int_equal(xs_result_chain_count(r), 1);
  assert_string_equal(xs_result_chain_name(r, 0),
                      "my-service.prod.svc.cluster.local.");
  assert_string_equal(xs_result_chain_target(r, 0), "my.database.example.com.");
  assert_int_equal(xs_result_chain_ttl(r, 0), 5);
  assert_int_equal(xs_result_chain_source(r, 0), XS_SOURCE_REGISTRY);
  assert_string_equal(xs_result_target(r), "my.database.example.com.");
  assert_int_equal(xs_result_address_count(r), 2);
  assert_int_equal(xs_result_address_family(r, 0), 4);
  assert_string_equal(xs_result_address_text(r, 0), "192.0.2.10");
  assert_int_equal(xs_result_address_ttl(r, 0), 300);
  assert_int_equal(xs_result_address_source(r, 0), source);
  assert_int_equal(xs_result_address_family(r, 1), 6);
  assert_string_equal(xs_result_address_text(r, 1), "2001:db8::10");
  assert_int_equal(xs_result_address_source(r, 1), source);
  assert_int_equal(xs_result_ttl(r), 5); /* min over chain and addresses */
}

static void assert_my_service(xs_result *r) {
  assert_my_service_from(r, XS_SOURCE_UPSTREAM);
}

static void test_api_alias_resolves_through_knot(void **s) {
  xs_resolver *res = resolver_for("prod", knot_server, ANSWER_MS, 2);
  xs_result *r = NULL;
  (void)s;
  assert_int_equal(xs_resolve(res, "my-service", XS_FAMILY_ANY, &r), XS_OK);
  assert_my_service(r);
  xs_result_free(r);
  xs_resolver_free(res);
}

static void test_api_other_namespace_and_fqdn(void **s) {
  xs_resolver *res = resolver_for("default", knot_server, ANSWER_MS, 2);
  xs_result *r = NULL;
  (void)s;
  assert_int_equal(xs_resolve(res, "my-service.prod", XS_FAMILY_ANY, &r),
                   XS_OK);
  assert_my_service(r);
  xs_result_free(r);
  assert_int_equal(
      xs_resolve(res, "my-service.prod.svc.cluster.local.", XS_FAMILY_ANY, &r),
      XS_OK);
  assert_my_service_from(r, XS_SOURCE_CACHE); /* the target was just asked */
  assert_int_equal(xs_result_candidate_count(r), 1);
  xs_result_free(r);
  /* The short name is not in namespace default: the walk ends with the
   * name as-is, which Knot (authoritative for other zones) refuses. */
  assert_int_equal(xs_resolve(res, "my-service", XS_FAMILY_IPV4, &r),
                   XS_EREFUSED);
  assert_int_equal(xs_result_candidate_count(r), 4);
  assert_string_equal(xs_result_candidate(r, 3), "my-service.");
  assert_int_equal(xs_result_address_count(r), 0);
  xs_result_free(r);
  xs_resolver_free(res);
}

static void test_api_external_chain_keeps_each_ttl(void **s) {
  xs_resolver *res = resolver_for("prod", knot_server, ANSWER_MS, 2);
  xs_result *r = NULL;
  (void)s;
  assert_int_equal(xs_resolve(res, "via-alias", XS_FAMILY_IPV4, &r), XS_OK);
  assert_int_equal(xs_result_chain_count(r), 2);
  assert_string_equal(xs_result_chain_target(r, 0), "alias.example.com.");
  assert_int_equal(xs_result_chain_ttl(r, 0), 5);
  assert_int_equal(xs_result_chain_source(r, 0), XS_SOURCE_REGISTRY);
  assert_string_equal(xs_result_chain_name(r, 1), "alias.example.com.");
  assert_string_equal(xs_result_chain_target(r, 1), "my.database.example.com.");
  assert_int_equal(xs_result_chain_ttl(r, 1), 120);
  assert_int_equal(xs_result_chain_source(r, 1), XS_SOURCE_UPSTREAM);
  assert_int_equal(xs_result_address_count(r), 1);
  assert_int_equal(xs_result_address_ttl(r, 0), 300);
  /* the name for TLS is the alias's target; the CNAME's only the final */
  assert_string_equal(xs_result_target(r), "alias.example.com.");
  assert_string_equal(xs_result_final_name(r), "my.database.example.com.");
  xs_result_free(r);
  xs_resolver_free(res);
}

static void test_api_negative_answers_keep_the_chain(void **s) {
  xs_resolver *res = resolver_for("prod", knot_server, ANSWER_MS, 2);
  xs_result *r = NULL;
  (void)s;
  assert_int_equal(xs_resolve(res, "v4only", XS_FAMILY_IPV6, &r), XS_ENODATA);
  assert_int_equal(xs_result_chain_count(r), 1);
  assert_string_equal(xs_result_chain_target(r, 0), "v4only.example.com.");
  assert_int_equal(xs_result_address_count(r), 0);
  xs_result_free(r);
  assert_int_equal(xs_resolve(res, "v4only", XS_FAMILY_ANY, &r), XS_OK);
  assert_int_equal(xs_result_address_count(r), 1);
  assert_int_equal(xs_result_address_ttl(r, 0), 60);
  xs_result_free(r);
  assert_int_equal(xs_resolve(res, "broken", XS_FAMILY_ANY, &r), XS_ENOTFOUND);
  assert_int_equal(xs_result_chain_count(r), 1);
  assert_string_equal(xs_result_chain_target(r, 0), "nx.example.com.");
  xs_result_free(r);
  xs_resolver_free(res);
}

static void test_api_silent_upstream_times_out_quickly(void **s) {
  responder silent;
  char server[64];
  xs_resolver *res;
  xs_result *r = NULL;
  double t0;
  (void)s;
  scripted_start(&silent, -1);
  snprintf(server, sizeof(server), "127.0.0.1:%d", silent.port);
  res = resolver_for("prod", server, 200, 1);
  t0 = now();
  assert_int_equal(xs_resolve(res, "my-service", XS_FAMILY_ANY, &r),
                   XS_ETIMEOUT);
  assert_true(now() - t0 >= 0.2 - 0.001);        /* not before its timeout */
  assert_int_equal(silent.queries, 2);           /* A and AAAA, one attempt */
  assert_int_equal(xs_result_chain_count(r), 1); /* the alias is still shown */
  assert_string_equal(xs_result_chain_target(r, 0), "my.database.example.com.");
  xs_result_free(r);
  xs_resolver_free(res);
  responder_stop(&silent);
}

/* ---- scripted replies (no Knot needed) -------------------------------------
 */

static void expect_rcode_status(int rcode, xs_status want) {
  responder r;
  char server[64];
  xs_upstream *u;
  scripted_start(&r, rcode);
  snprintf(server, sizeof(server), "127.0.0.1:%d", r.port);
  u = upstream_to(server, NULL, ANSWER_MS, 2);
  query(u, "www.example.com.");
  assert_int_equal(a4.status, want);
  assert_int_equal(a6.status, want);
  xs_upstream_free(u);
  responder_stop(&r);
}

static void test_scripted_servfail_is_eservfail(void **s) {
  (void)s;
  expect_rcode_status(2, XS_ESERVFAIL);
}

static void test_scripted_refused_is_erefused(void **s) {
  (void)s;
  expect_rcode_status(5, XS_EREFUSED);
}

static void test_scripted_notimp_is_eupstream(void **s) {
  (void)s;
  expect_rcode_status(4, XS_EUPSTREAM);
}

static void test_scripted_nxdomain_is_enotfound(void **s) {
  (void)s;
  expect_rcode_status(3, XS_ENOTFOUND);
}

static void test_silent_server_times_out_quickly(void **s) {
  responder r;
  char server[64];
  xs_upstream *u;
  double t0, took;
  (void)s;
  scripted_start(&r, -1);
  snprintf(server, sizeof(server), "127.0.0.1:%d", r.port);
  u = upstream_to(server, NULL, 200, 1);
  t0 = now();
  query(u, "www.example.com.");
  took = now() - t0;
  assert_int_equal(a4.status, XS_ETIMEOUT);
  assert_int_equal(a6.status, XS_ETIMEOUT);
  assert_true(took >= 0.2 - 0.001); /* both in flight at once: one timeout */
  assert_int_equal(r.queries, 2);
  xs_upstream_free(u);
  responder_stop(&r);
}

static void test_closed_port_is_erefused_quickly(void **s) {
  int port = free_port(); /* nothing listens there any more */
  char server[64];
  xs_upstream *u;
  double t0;
  (void)s;
  assert_true(port > 0);
  snprintf(server, sizeof(server), "127.0.0.1:%d", port);
  u = upstream_to(server, NULL, 1000, 1);
  t0 = now();
  query(u, "www.example.com.");
  /* ICMP port unreachable: "refused the connection", not a timeout (the
   * status tells; the time is not measured) */
  assert_int_equal(a4.status, XS_EREFUSED);
  assert_int_equal(a6.status, XS_EREFUSED);
  (void)t0;
  xs_upstream_free(u);
}

/* ---- the cache against Knot: zone changes, reloads, outages ---------------
 * cache.test is rewritten and reloaded through knotc; the cache's clock is
 * moved by hand; queries are counted by Knot's mod-stats. */

static atomic_ullong knot_clock_ms = 5000000;

static unsigned long long knot_clock(void *arg) {
  (void)arg;
  return atomic_load(&knot_clock_ms);
}

static void clock_advance_s(unsigned s) {
  atomic_fetch_add(&knot_clock_ms, (unsigned long long)s * 1000ull);
}

static xs_resolver *cached_resolver(int timeout_ms) {
  xs_config *cfg = NULL;
  xs_resolver *res = NULL;
  xs_error err;
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, knot_server), XS_OK);
  assert_int_equal(xs_config_set_timeout_ms(cfg, timeout_ms), XS_OK);
  assert_int_equal(xs_config_set_attempts(cfg, 1), XS_OK);
  assert_int_equal(xs_config_set_clock(cfg, knot_clock, NULL), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, NULL, &res, &err), XS_OK);
  xs_config_free(cfg);
  return res;
}

/* Rewrite cache.test and have Knot reload it; wait until it serves it. */
static void cache_zone(int serial, const char *www, const char *extra,
                       const char *probe, const char *want) {
  int i;
  assert_int_equal(run_shell(". '%s' && knot_cache_zone '%s/dns' %d %s '%s' && "
                             "knotc -s '%s/dns/knot.sock' zone-reload "
                             "cache.test >/dev/null",
                             XSVC_KNOT_SH, workdir, serial, www,
                             extra != NULL ? extra : "", workdir),
                   0);
  for (i = 0; i < XS_TEST_HANG_MS / 1100; i++) {
    if (run_shell("kdig @127.0.0.1 -p %d +timeout=1 +retry=0 +short %s A | "
                  "grep -qx '%s'",
                  knot_port, probe, want) == 0)
      return;
    usleep(100000);
  }
  fail_msg("Knot did not serve the reloaded cache.test");
}

/* Queries of type A Knot has answered so far (mod-stats). */
static long knot_a_queries(void) {
  char cmd[512], line[256];
  long n = 0;
  FILE *p;
  snprintf(cmd, sizeof(cmd),
           "knotc -s '%s/dns/knot.sock' stats mod-stats.query-type 2>/dev/null",
           workdir);
  p = popen(cmd, "r");
  assert_non_null(p);
  while (fgets(line, sizeof(line), p) != NULL)
    if (strstr(line, "[A] = ") != NULL)
      n = atol(strstr(line, "= ") + 2);
  pclose(p);
  return n;
}

static xs_result *resolve_a(xs_resolver *res, const char *name,
                            xs_status want) {
  xs_result *r = NULL;
  assert_int_equal(xs_resolve(res, name, XS_FAMILY_IPV4, &r), want);
  assert_non_null(r);
  return r;
}

static void test_cache_knot_expiry_picks_up_reloaded_zone(void **s) {
  xs_resolver *res = cached_resolver(ANSWER_MS);
  xs_result *r;
  (void)s;
  cache_zone(10, "192.0.2.50", NULL, "www.cache.test", "192.0.2.50");
  r = resolve_a(res, "www.cache.test.", XS_OK);
  assert_string_equal(xs_result_address_text(r, 0), "192.0.2.50");
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_UPSTREAM);
  assert_int_equal(xs_result_address_ttl(r, 0), 30);
  xs_result_free(r);
  cache_zone(11, "192.0.2.51", NULL, "www.cache.test", "192.0.2.51");
  clock_advance_s(20);
  r = resolve_a(res, "www.cache.test.", XS_OK); /* still the cached one */
  assert_string_equal(xs_result_address_text(r, 0), "192.0.2.50");
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_CACHE);
  assert_int_equal(xs_result_address_ttl(r, 0), 10);
  xs_result_free(r);
  clock_advance_s(11);
  r = resolve_a(res, "www.cache.test.", XS_OK);
  assert_string_equal(xs_result_address_text(r, 0), "192.0.2.51");
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_UPSTREAM);
  xs_result_free(r);
  xs_resolver_free(res);
}

static void test_cache_knot_nxdomain_cached_until_negative_ttl(void **s) {
  xs_resolver *res = cached_resolver(ANSWER_MS);
  xs_result *r;
  long before;
  (void)s;
  cache_zone(20, "192.0.2.50", NULL, "www.cache.test", "192.0.2.50");
  xs_result_free(resolve_a(res, "later.cache.test.", XS_ENOTFOUND));
  cache_zone(21, "192.0.2.50", "later 30 IN A 192.0.2.70", "later.cache.test",
             "192.0.2.70");
  before = knot_a_queries();
  clock_advance_s(15); /* the negative TTL is 20 s (SOA MINIMUM) */
  xs_result_free(resolve_a(res, "later.cache.test.", XS_ENOTFOUND));
  assert_int_equal(knot_a_queries(), before); /* answered from the cache */
  clock_advance_s(6);
  r = resolve_a(res, "later.cache.test.", XS_OK);
  assert_int_equal(knot_a_queries(), before + 1);
  assert_string_equal(xs_result_address_text(r, 0), "192.0.2.70");
  xs_result_free(r);
  xs_resolver_free(res);
}

typedef struct burst_arg {
  xs_resolver *res;
  pthread_barrier_t *start;
  xs_status st;
} burst_arg;

static void *burst_thread(void *p) {
  burst_arg *b = p;
  xs_result *r = NULL;
  pthread_barrier_wait(b->start);
  b->st = xs_resolve(b->res, "burst.cache.test.", XS_FAMILY_IPV4, &r);
  xs_result_free(r);
  return NULL;
}

static void test_cache_knot_concurrent_misses_one_query(void **s) {
  enum { N = 100 };
  xs_resolver *res = cached_resolver(ANSWER_MS);
  pthread_t th[N];
  burst_arg b[N];
  pthread_barrier_t start;
  long before = knot_a_queries();
  int i;
  (void)s;
  pthread_barrier_init(&start, NULL, N);
  for (i = 0; i < N; i++) {
    b[i].res = res;
    b[i].start = &start;
    assert_int_equal(pthread_create(&th[i], NULL, burst_thread, &b[i]), 0);
  }
  for (i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(b[i].st, XS_OK);
  }
  pthread_barrier_destroy(&start);
  assert_int_equal(knot_a_queries() - before, 1);
  xs_resolver_free(res);
}

/* Last in the group: stops Knot. */
static void test_cache_knot_outage_serves_stale_and_times_out(void **s) {
  xs_resolver *res = cached_resolver(MIXED_MS);
  xs_result *r;
  double t0, t;
  (void)s;
  cache_zone(30, "192.0.2.52", NULL, "www.cache.test", "192.0.2.52");
  xs_result_free(resolve_a(res, "www.cache.test.", XS_OK));
  knot_stop_server();
  clock_advance_s(120); /* expired 90 s ago: inside the stale window */
  r = resolve_a(res, "www.cache.test.", XS_OK);
  assert_string_equal(xs_result_address_text(r, 0), "192.0.2.52");
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_STALE);
  assert_int_equal(xs_result_address_ttl(r, 0), 30);
  xs_result_free(r);
  /* Nothing listens on the port: the kernel refuses at once. */
  r = resolve_a(res, "never-cached.cache.test.", XS_EREFUSED);
  xs_result_free(r);
  /* A server that hangs (the port black-holed by a silent socket): uncached
   * names time out within timeout x attempts; cached ones stay stale. */
  {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)knot_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    t0 = now();
    r = resolve_a(res, "never-cached.cache.test.", XS_ETIMEOUT);
    t = now() - t0;
    assert_true(t >= MIXED_MS / 1000.0 - 0.001); /* its timeout, no less */
    assert_int_equal(xs_result_address_count(r), 0);
    xs_result_free(r);
    r = resolve_a(res, "www.cache.test.", XS_OK);
    assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_STALE);
    xs_result_free(r);
    close(fd);
  }
  xs_resolver_free(res);
}

int main(void) {
  const struct CMUnitTest scripted[] = {
      cmocka_unit_test(test_scripted_servfail_is_eservfail),
      cmocka_unit_test(test_scripted_refused_is_erefused),
      cmocka_unit_test(test_scripted_notimp_is_eupstream),
      cmocka_unit_test(test_scripted_nxdomain_is_enotfound),
      cmocka_unit_test(test_silent_server_times_out_quickly),
      cmocka_unit_test(test_closed_port_is_erefused_quickly),
  };
  const struct CMUnitTest knot[] = {
      cmocka_unit_test(test_knot_a_and_aaaa_with_ttls),
      cmocka_unit_test(test_knot_cname_chain_keeps_distinct_ttls),
      cmocka_unit_test(test_knot_nxdomain_with_negative_ttl),
      cmocka_unit_test(test_knot_nodata_for_missing_family),
      cmocka_unit_test(test_knot_cname_loop_is_eloop),
      cmocka_unit_test(test_knot_zone_that_failed_to_load_is_servfail),
      cmocka_unit_test(test_knot_name_outside_its_zones_is_refused),
      cmocka_unit_test(test_knot_truncated_reply_retried_over_tcp),
      cmocka_unit_test(test_knot_one_family_only),
      cmocka_unit_test(test_knot_one_upstream_shared_by_threads),
      cmocka_unit_test(test_failover_from_servfail_server_to_knot),
      cmocka_unit_test(test_failover_from_silent_server_to_knot),
      cmocka_unit_test(test_api_alias_resolves_through_knot),
      cmocka_unit_test(test_api_other_namespace_and_fqdn),
      cmocka_unit_test(test_api_external_chain_keeps_each_ttl),
      cmocka_unit_test(test_api_negative_answers_keep_the_chain),
      cmocka_unit_test(test_api_silent_upstream_times_out_quickly),
      cmocka_unit_test(test_cache_knot_expiry_picks_up_reloaded_zone),
      cmocka_unit_test(test_cache_knot_nxdomain_cached_until_negative_ttl),
      cmocka_unit_test(test_cache_knot_concurrent_misses_one_query),
      cmocka_unit_test(test_cache_knot_outage_serves_stale_and_times_out),
  };
  int failed = cmocka_run_group_tests_name("scripted", scripted, NULL, NULL);
  failed +=
      cmocka_run_group_tests_name("knot", knot, knot_start, knot_teardown);
  return failed;
}
