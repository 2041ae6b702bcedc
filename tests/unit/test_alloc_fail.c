/* Allocation failure: for each public entry point, the Nth allocation
 * fails (tests/common/failalloc.h: the program's, the static library's,
 * c-ares's and libyaml's allocations), for N = 1, 2, ... until a run
 * completes without reaching its Nth allocation. Every run must end in
 * XS_ENOMEM or in a correct success (a failure the library could absorb,
 * e.g. a cache insert or a memo copy), change nothing on failure, leak no
 * file descriptor, and leak no memory (valgrind runs this program in the
 * suite). One exception, outside the library's reach: c-ares 1.18 drops a
 * reply it cannot allocate for, and the query then times out.
 *
 * Allocations made by glibc itself (stdio, opendir, pthread_create) are
 * never failed. In sanitizer builds the sanitizer keeps malloc, so every
 * test is reported skipped there (and the program exits XS_TEST_SKIPPED,
 * which ctest shows as skipped). */
#include <arpa/inet.h>
#include <dirent.h>
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "fds.h"
#include "responder.h"
#include "xsvc.h"

#include "skip.h"
#include "wait.h"

/* The failing allocator (tests/common/failalloc.c) reports where the
 * failed allocation came from. */
static const char *const from_name[XS_FAILALLOC_KINDS] = {"xsvc", "c-ares",
                                                          "libyaml"};
static unsigned long points[XS_FAILALLOC_KINDS]; /* failures, by origin */
static unsigned long cares_lost; /* c-ares failures seen as a lost reply */

static void arm(long n) {
  xs_failalloc_arm(n);
}

static int disarm(void) {
  int from = xs_failalloc_disarm();
  if (from >= 0)
    points[from]++;
  return from;
}

/* ---- fixtures ----------------------------------------------------------- */

static responder srv;
static int listener = -1; /* TCP on 127.0.0.1 for xs_connect */
static unsigned listen_port;
static char tmpdir[64];

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

/* Open descriptors other than UDP sockets (c-ares opens and closes those
 * for its queries as it likes). */

static void drain_listener(void) {
  int c;
  while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0)
    close(c);
}

static const char manifest[] =
    "apiVersion: v1\n"
    "kind: Namespace\n"
    "metadata: {name: prod}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: List\n"
    "items:\n"
    "- apiVersion: v1\n"
    "  kind: Service\n"
    "  metadata: &meta {name: db, namespace: prod, labels: {app: db}}\n"
    "  spec: {type: ExternalName, externalName: db.example.test}\n"
    "- apiVersion: v1\n"
    "  kind: Service\n"
    "  metadata: {name: backend, namespace: prod}\n"
    "  spec:\n"
    "    clusterIP: 10.96.0.20\n"
    "    ports: [{name: http, port: 80, protocol: TCP}]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: many, namespace: prod}\n"
    "spec: {clusterIP: None}\n"
    "---\n"
    "apiVersion: discovery.k8s.io/v1\n"
    "kind: EndpointSlice\n"
    "metadata:\n"
    "  name: many-abc\n"
    "  namespace: prod\n"
    "  labels: {kubernetes.io/service-name: many}\n"
    "addressType: IPv4\n"
    "endpoints:\n"
    "- addresses: [10.2.0.1]\n"
    "  hostname: a\n"
    "  conditions: {ready: true}\n"
    "- addresses: [10.2.0.2]\n"
    "  conditions: {ready: false}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata: {name: skipped}\n"
    "data: {a: b}\n";

static int setup(void **state) {
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  char path[128];
  FILE *f;
  (void)state;
  if (responder_start(&srv) != 0)
    return -1;
  atomic_store(&srv.no_aaaa, 1);
  atomic_store(&srv.loopback, 1);
  atomic_store(&srv.addr4, 1); /* aliases point at 127.0.0.1 */
  listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(listener, 64) != 0 ||
      getsockname(listener, (struct sockaddr *)&a, &alen) != 0)
    return -1;
  listen_port = ntohs(a.sin_port);
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/xsvc-alloc-XXXXXX");
  if (mkdtemp(tmpdir) == NULL)
    return -1;
  chmod(tmpdir, 0755);
  snprintf(path, sizeof(path), "%s/a.yaml", tmpdir);
  if ((f = fopen(path, "w")) == NULL)
    return -1;
  fputs(manifest, f);
  fclose(f);
  chmod(path, 0644);
  snprintf(path, sizeof(path), "%s/b.yaml", tmpdir);
  if ((f = fopen(path, "w")) == NULL)
    return -1;
  fputs("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: "
        "dev}\nspec: {type: ExternalName, externalName: web.example.test}\n",
        f);
  fclose(f);
  chmod(path, 0644);
  return 0;
}

static int teardown(void **state) {
  char path[128];
  unsigned long total = 0;
  int i;
  (void)state;
  snprintf(path, sizeof(path), "%s/a.yaml", tmpdir);
  unlink(path);
  snprintf(path, sizeof(path), "%s/b.yaml", tmpdir);
  unlink(path);
  rmdir(tmpdir);
  close(listener);
  responder_stop(&srv);
  for (i = 0; i < XS_FAILALLOC_KINDS; i++)
    total += points[i];
  printf("allocation failures injected: %lu (xsvc %lu, c-ares %lu, libyaml "
         "%lu); c-ares failures seen as a lost reply: %lu\n",
         total, points[XS_FAILALLOC_OURS], points[XS_FAILALLOC_CARES],
         points[XS_FAILALLOC_YAML], cares_lost);
  return 0;
}

/* One entry point under test: prepare (not failing), run (failing the Nth
 * allocation), verify (not failing) and clean up. */
typedef struct sweep_ops {
  const char *what;
  void *ctx;
  void (*prepare)(void *ctx);
  xs_status (*run)(void *ctx);
  /* st is run's status, from the origin of the failed allocation or -1 */
  void (*verify)(void *ctx, xs_status st, int from);
} sweep_ops;

/* Runs N = 1, 2, ... until a run completes without a failure; returns the
 * number of allocation points covered. */
static long sweep(const sweep_ops *ops) {
  long n;
  for (n = 1; n < 200000; n++) {
    int fds, from;
    xs_status st;
    fds = count_fds();
    if (ops->prepare != NULL)
      ops->prepare(ops->ctx);
    arm(n);
    st = ops->run(ops->ctx);
    from = disarm();
    if (getenv("XS_ALLOC_TRACE") != NULL)
      fprintf(stderr, "%s: allocation %ld (%s): %s\n", ops->what, n,
              from >= 0 ? from_name[from] : "none", xs_strerror(st));
    if (from < 0)
      assert_int_equal(st, XS_OK);
    else if (from == XS_FAILALLOC_CARES &&
             (st == XS_ETIMEOUT || st == XS_EUPSTREAM))
      cares_lost++; /* c-ares dropped the reply it could not decode */
    else if (st != XS_OK && st != XS_ENOMEM)
      fail_msg("%s: allocation %ld (%s) failed: status %s (%d), not ENOMEM",
               ops->what, n, from_name[from], xs_strerror(st), (int)st);
    ops->verify(ops->ctx, st, from);
    /* More open than before is a leak; fewer is a connection of an earlier
     * run (c-ares's TCP to the test's server) closed meanwhile. */
    if (count_fds() > fds)
      fail_msg("%s: allocation %ld failed: %d descriptors leaked", ops->what, n,
               count_fds() - fds);
    if (from < 0)
      break;
  }
  printf("%-40s %ld allocation points\n", ops->what, n - 1);
  return n - 1;
}

/* ---- loading ------------------------------------------------------------ */

typedef struct load_ctx {
  xs_registry *reg;
  xs_error err;
  int dir;
} load_ctx;

static xs_status run_load(void *p) {
  load_ctx *c = p;
  c->reg = NULL;
  if (c->dir)
    return xs_registry_load(tmpdir, &c->reg, &c->err);
  return xs_registry_load_buffer(manifest, sizeof(manifest) - 1, "m.yaml", NULL,
                                 &c->reg, &c->err);
}

static void verify_load(void *p, xs_status st, int from) {
  load_ctx *c = p;
  (void)from;
  if (st == XS_OK) {
    assert_non_null(c->reg);
    assert_int_equal(xs_registry_service_count(c->reg), c->dir ? 4 : 3);
    assert_int_equal(xs_registry_skipped_count(c->reg), 1);
  } else {
    assert_null(c->reg);
    assert_int_equal(c->err.status, XS_ENOMEM);
  }
  xs_registry_free(c->reg);
}

static void test_alloc_load_buffer_fails_cleanly(void **state) {
  load_ctx c;
  sweep_ops ops = {"xs_registry_load_buffer", &c, NULL, run_load, verify_load};
  (void)state;
  memset(&c, 0, sizeof(c));
  assert_true(sweep(&ops) > 10);
}

static void test_alloc_load_directory_fails_cleanly(void **state) {
  load_ctx c;
  sweep_ops ops = {"xs_registry_load (directory)", &c, NULL, run_load,
                   verify_load};
  (void)state;
  memset(&c, 0, sizeof(c));
  c.dir = 1;
  assert_true(sweep(&ops) > 10);
}

/* ---- building a registry in code ---------------------------------------- */

typedef struct build_ctx {
  xs_registry *reg;
  xs_registry *other; /* for replace */
  int step;
  size_t before;
} build_ctx;

static void prepare_build(void *p) {
  build_ctx *c = p;
  xs_error err;
  if (c->reg != NULL)
    return;
  must(xs_registry_new(&c->reg));
  must(xs_registry_add_external(c->reg, "prod", "db", "db.example.test", &err));
  must(xs_registry_add_headless(c->reg, "prod", "many", &err));
}

static xs_status run_build(void *p) {
  build_ctx *c = p;
  static const char *const ip[] = {"10.96.0.30", "fd00::30"};
  xs_error err;
  c->before = xs_registry_service_count(c->reg);
  switch (c->step) {
  case 0:
    return xs_registry_add_namespace(c->reg, "staging", &err);
  case 1:
    return xs_registry_add_external(c->reg, "prod", "web", "web.example.test",
                                    &err);
  case 2:
    return xs_registry_set_external(c->reg, "prod", "db", "db2.example.test",
                                    &err);
  case 3:
    return xs_registry_add_cluster_ip(c->reg, "dev", "api", ip, 2, &err);
  case 4:
    return xs_registry_add_port(c->reg, "prod", "many", "http", 8080, "TCP",
                                &err);
  case 5:
    return xs_registry_add_endpoint(c->reg, "prod", "many", "10.2.0.9", "n9", 1,
                                    &err);
  case 6:
    return xs_registry_remove(c->reg, "prod", "db");
  case 7:
    return xs_registry_replace(c->reg, c->other);
  default: {
    xs_registry *fresh = NULL;
    xs_status st = xs_registry_new(&fresh);
    xs_registry_free(fresh);
    return st;
  }
  }
}

static void verify_build(void *p, xs_status st, int from) {
  build_ctx *c = p;
  static const size_t after[] = {2, 3, 2, 3, 2, 2, 1, 2, 2};
  (void)from;
  /* all or nothing: the count is the one before, or the one after */
  assert_int_equal(xs_registry_service_count(c->reg),
                   st == XS_OK ? after[c->step] : c->before);
  if (st == XS_OK) { /* start over from the same registry next time */
    xs_registry_free(c->reg);
    c->reg = NULL;
  }
}

static void test_alloc_registry_building_fails_atomically(void **state) {
  build_ctx c;
  sweep_ops ops = {NULL, &c, prepare_build, run_build, verify_build};
  static const char *const what[] = {"xs_registry_add_namespace",
                                     "xs_registry_add_external",
                                     "xs_registry_set_external",
                                     "xs_registry_add_cluster_ip",
                                     "xs_registry_add_port",
                                     "xs_registry_add_endpoint",
                                     "xs_registry_remove",
                                     "xs_registry_replace",
                                     "xs_registry_new"};
  xs_error err;
  (void)state;
  memset(&c, 0, sizeof(c));
  must(xs_registry_new(&c.other));
  must(xs_registry_add_external(c.other, "x", "a", "a.example.test", &err));
  must(xs_registry_add_external(c.other, "x", "b", "b.example.test", &err));
  for (c.step = 0; c.step < 9; c.step++) {
    long points_here;
    ops.what = what[c.step];
    points_here = sweep(&ops);
    /* replace shares the other registry's snapshot: nothing to allocate */
    assert_true(c.step == 7 ? points_here == 0 : points_here >= 1);
    xs_registry_free(c.reg);
    c.reg = NULL;
  }
  xs_registry_free(c.other);
}

/* ---- configuration ------------------------------------------------------ */

typedef struct config_ctx {
  xs_config *cfg;
} config_ctx;

static xs_status run_config(void *p) {
  config_ctx *c = p;
  xs_status st;
  c->cfg = NULL;
  if ((st = xs_config_new(&c->cfg)) != XS_OK)
    return st;
  if ((st = xs_config_set_namespace(c->cfg, "prod")) != XS_OK ||
      (st = xs_config_set_cluster_domain(c->cfg, "cluster.test.")) != XS_OK ||
      (st = xs_config_add_search(c->cfg, "corp.example")) != XS_OK ||
      (st = xs_config_add_server(c->cfg, srv.server)) != XS_OK ||
      (st = xs_config_add_server(c->cfg, "[::1]:53")) != XS_OK ||
      (st = xs_config_add_allowed_target(c->cfg, "example.test")) != XS_OK ||
      (st = xs_config_clear_denied_ranges(c->cfg)) != XS_OK ||
      (st = xs_config_add_denied_range(c->cfg, "10.0.0.0/8")) != XS_OK ||
      (st = xs_config_add_denied_range(c->cfg, "fe80::/10")) != XS_OK ||
      (st = xs_config_set_result_memo(c->cfg, 64)) != XS_OK ||
      (st = xs_config_set_cache_size(c->cfg, 100)) != XS_OK)
    return st;
  return XS_OK;
}

static void verify_config(void *p, xs_status st, int from) {
  config_ctx *c = p;
  (void)st;
  (void)from;
  xs_config_free(c->cfg);
}

static void test_alloc_config_setters_fail_cleanly(void **state) {
  config_ctx c;
  sweep_ops ops = {"xs_config_*", &c, NULL, run_config, verify_config};
  (void)state;
  sweep(&ops);
}

/* ---- resolvers, resolution, connect, server ------------------------------ */

typedef struct res_ctx {
  xs_config *cfg; /* for xs_resolver_new */
  xs_registry *reg;
  xs_resolver *res;
  xs_result *result;
  xs_error err;
  const char *name;
  int cache_off;
  int memo_off;
  int warm; /* resolve once before the sweep: the cached path */
  /* async */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  xs_status async_status;
  /* connect, server */
  int fd;
  xs_connect_info info;
  xs_server *server;
} res_ctx;

static xs_resolver *new_resolver(res_ctx *c, xs_dispatch dispatch) {
  xs_config *cfg;
  xs_resolver *res = NULL;
  must(xs_config_new(&cfg));
  must(xs_config_set_namespace(cfg, "prod"));
  must(xs_config_add_server(cfg, srv.server));
  /* A reply c-ares drops (it could not allocate for it) costs one 300 ms
   * attempt, and the retry answers; any reply, however late on a loaded
   * machine, is still taken within the three attempts' 2.1 s. */
  must(xs_config_set_timeout_ms(cfg, 300));
  must(xs_config_set_attempts(cfg, 3));
  must(xs_config_set_dispatch(cfg, dispatch));
  must(xs_config_allow_range(cfg, "127.0.0.0/8")); /* the test's listener */
  if (c->cache_off)
    must(xs_config_set_cache_size(cfg, 0));
  if (c->memo_off)
    must(xs_config_set_result_memo(cfg, 0));
  must(xs_resolver_new(cfg, c->reg, &res, &c->err));
  xs_config_free(cfg);
  return res;
}

static void res_init(res_ctx *c) {
  static const char *const ip[] = {"10.96.0.20"};
  static const char *const loop[] = {"127.0.0.1"};
  xs_error err;
  memset(c, 0, sizeof(*c));
  must(xs_registry_new(&c->reg));
  must(xs_registry_add_external(c->reg, "prod", "db", "db.example.test", &err));
  must(xs_registry_add_external(c->reg, "prod", "alias",
                                "backend.prod.svc.cluster.local", &err));
  must(xs_registry_add_cluster_ip(c->reg, "prod", "backend", ip, 1, &err));
  must(
      xs_registry_add_port(c->reg, "prod", "backend", "http", 80, "TCP", &err));
  must(xs_registry_add_cluster_ip(c->reg, "prod", "local", loop, 1, &err));
  must(xs_registry_add_port(c->reg, "prod", "local", "app", (int)listen_port,
                            "TCP", &err));
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->cond, NULL);
  c->fd = -1;
}

static void res_fini(res_ctx *c) {
  xs_resolver_free(c->res);
  xs_registry_free(c->reg);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->cond);
}

static void prepare_resolver_new(void *p) {
  res_ctx *c = p;
  must(xs_config_new(&c->cfg));
  must(xs_config_add_server(c->cfg, srv.server));
  must(xs_config_set_namespace(c->cfg, "prod"));
  must(xs_config_add_search(c->cfg, "corp.example"));
  must(xs_config_add_allowed_target(c->cfg, "example.test"));
  must(xs_config_add_denied_range(c->cfg, "10.1.0.0/16"));
}

static xs_status run_resolver_new(void *p) {
  res_ctx *c = p;
  c->res = NULL;
  return xs_resolver_new(c->cfg, c->reg, &c->res, &c->err);
}

static void verify_resolver_new(void *p, xs_status st, int from) {
  res_ctx *c = p;
  (void)from;
  if (st == XS_OK) {
    xs_result *r;
    assert_int_equal(xs_resolve(c->res, "backend", XS_FAMILY_IPV4, &r), XS_OK);
    xs_result_free(r);
  } else {
    assert_null(c->res);
    assert_int_equal(c->err.status, XS_ENOMEM);
  }
  xs_resolver_free(c->res);
  c->res = NULL;
  xs_config_free(c->cfg);
  c->cfg = NULL;
}

static void test_alloc_resolver_new_fails_cleanly(void **state) {
  res_ctx c;
  sweep_ops ops = {"xs_resolver_new", &c, prepare_resolver_new,
                   run_resolver_new, verify_resolver_new};
  (void)state;
  res_init(&c);
  assert_true(sweep(&ops) > 3);
  res_fini(&c);
}

static xs_status run_resolve(void *p) {
  res_ctx *c = p;
  c->result = NULL;
  return xs_resolve(c->res, c->name, XS_FAMILY_IPV4, &c->result);
}

static void verify_resolve(void *p, xs_status st, int from) {
  res_ctx *c = p;
  (void)from;
  if (st == XS_OK) {
    assert_non_null(c->result);
    assert_int_equal(xs_result_status(c->result), XS_OK);
    assert_int_equal(xs_result_address_count(c->result), 1);
    assert_string_equal(xs_result_address_text(c->result, 0),
                        strcmp(c->name, "db") == 0 ? "127.0.0.1"
                                                   : "10.96.0.20");
  } else if (st == XS_ENOMEM) {
    assert_null(c->result);
  } else { /* c-ares lost the reply: a result with the upstream status */
    assert_non_null(c->result);
    assert_int_equal(xs_result_status(c->result), st);
  }
  xs_result_free(c->result);
  c->result = NULL;
}

static void resolve_sweep(const char *what, const char *name, int cache_off,
                          int memo_off) {
  res_ctx c;
  sweep_ops ops = {what, &c, NULL, run_resolve, verify_resolve};
  xs_result *r;
  res_init(&c);
  c.name = name;
  c.cache_off = cache_off;
  c.memo_off = memo_off;
  c.res = new_resolver(&c, XS_DISPATCH_ENGINE);
  must(xs_resolve(c.res, name, XS_FAMILY_IPV4, &r)); /* warm: cache, memo */
  xs_result_free(r);
  assert_true(sweep(&ops) >= 1);
  res_fini(&c);
}

static void test_alloc_resolve_registry_path(void **state) {
  (void)state;
  resolve_sweep("xs_resolve (registry chain)", "alias", 0, 1);
  resolve_sweep("xs_resolve (registry, memo)", "alias", 0, 0);
}

static void test_alloc_resolve_cached_path(void **state) {
  (void)state;
  resolve_sweep("xs_resolve (cache hit)", "db", 0, 1);
  resolve_sweep("xs_resolve (cache hit, memo)", "db", 0, 0);
}

static void test_alloc_resolve_upstream_path(void **state) {
  (void)state;
  resolve_sweep("xs_resolve (upstream, no cache)", "db", 1, 1);
}

/* A cache miss with the cache and the memo on: a new resolver each run. */
static void prepare_fresh(void *p) {
  res_ctx *c = p;
  c->res = new_resolver(c, XS_DISPATCH_ENGINE);
}

static void verify_fresh(void *p, xs_status st, int from) {
  res_ctx *c = p;
  verify_resolve(p, st, from);
  xs_resolver_free(c->res);
  c->res = NULL;
}

static void test_alloc_resolve_cache_miss_path(void **state) {
  res_ctx c;
  sweep_ops ops = {"xs_resolve (cache miss, then stored)", &c, prepare_fresh,
                   run_resolve, verify_fresh};
  (void)state;
  res_init(&c);
  c.name = "db";
  assert_true(sweep(&ops) >= 1);
  res_fini(&c);
}

static void async_done(xs_status st, xs_result *r, void *arg) {
  res_ctx *c = arg;
  pthread_mutex_lock(&c->lock);
  c->async_status = st;
  c->result = r;
  c->done = 1;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->lock);
}

static xs_status run_async(void *p) {
  res_ctx *c = p;
  xs_status st;
  c->result = NULL;
  c->done = 0;
  st = xs_resolve_async(c->res, c->name, XS_FAMILY_IPV4, async_done, c, NULL);
  if (st != XS_OK)
    return st;
  pthread_mutex_lock(&c->lock);
  while (!c->done)
    pthread_cond_wait(&c->cond, &c->lock);
  pthread_mutex_unlock(&c->lock);
  return c->async_status;
}

static void test_alloc_resolve_async(void **state) {
  static const char *const names[] = {"alias", "db"};
  size_t i;
  (void)state;
  for (i = 0; i < 2; i++) {
    res_ctx c;
    sweep_ops ops = {NULL, &c, NULL, run_async, verify_resolve};
    res_init(&c);
    c.name = names[i];
    c.cache_off = i == 1; /* the external name goes upstream every time */
    c.res = new_resolver(&c, XS_DISPATCH_ENGINE);
    ops.what =
        i == 0 ? "xs_resolve_async (registry)" : "xs_resolve_async (upstream)";
    assert_true(sweep(&ops) >= 1);
    res_fini(&c);
  }
}

static xs_status run_connect(void *p) {
  res_ctx *c = p;
  c->fd = -1;
  return xs_connect(c->res, c->name, 0, XS_TEST_HANG_MS, &c->fd, &c->info);
}

static void verify_connect(void *p, xs_status st, int from) {
  res_ctx *c = p;
  (void)from;
  if (st == XS_OK) {
    assert_true(c->fd >= 0);
    assert_string_equal(c->info.address, "127.0.0.1");
    assert_int_equal(c->info.port, listen_port);
    close(c->fd);
  } else {
    assert_int_equal(c->fd, -1);
  }
  c->fd = -1;
  drain_listener();
}

static void test_alloc_connect(void **state) {
  char name[2][64];
  size_t i;
  (void)state;
  snprintf(name[0], sizeof(name[0]), "local:app");
  snprintf(name[1], sizeof(name[1]), "db:%u", listen_port);
  for (i = 0; i < 2; i++) {
    res_ctx c;
    sweep_ops ops = {NULL, &c, NULL, run_connect, verify_connect};
    res_init(&c);
    c.name = name[i];
    c.cache_off = i == 1;
    c.res = new_resolver(&c, XS_DISPATCH_ENGINE);
    ops.what =
        i == 0 ? "xs_connect (registry, named port)" : "xs_connect (upstream)";
    assert_true(sweep(&ops) >= 1);
    res_fini(&c);
  }
}

static xs_status run_server(void *p) {
  res_ctx *c = p;
  c->server = NULL;
  return xs_server_start(c->res, "127.0.0.1:0", &c->server, &c->err);
}

static void verify_server(void *p, xs_status st, int from) {
  res_ctx *c = p;
  (void)from;
  if (st == XS_OK)
    assert_true(xs_server_port(c->server) > 0);
  else
    assert_null(c->server);
  xs_server_stop(c->server);
  c->server = NULL;
}

static void test_alloc_server_start(void **state) {
  res_ctx c;
  sweep_ops ops = {"xs_server_start", &c, NULL, run_server, verify_server};
  (void)state;
  res_init(&c);
  c.res = new_resolver(&c, XS_DISPATCH_ENGINE);
  assert_true(sweep(&ops) >= 1);
  res_fini(&c);
}

/* The same with the cache option (the reply cache's table too). */
static xs_status run_server_cached(void *p) {
  res_ctx *c = p;
  xs_server_options o;
  xs_server_options_init(&o);
  o.cache_ttl = 30;
  c->server = NULL;
  return xs_server_start_opts(c->res, "127.0.0.1:0", &o, &c->server, &c->err);
}

static void test_alloc_server_start_cached(void **state) {
  res_ctx c;
  sweep_ops ops = {"xs_server_start_opts (cache 30)", &c, NULL,
                   run_server_cached, verify_server};
  (void)state;
  res_init(&c);
  c.res = new_resolver(&c, XS_DISPATCH_ENGINE);
  assert_true(sweep(&ops) >= 1);
  res_fini(&c);
}

/* ---- live changes ---------------------------------------------------------
 */

/* xs_registry_reload of the directory (4 Services) over a registry of 3:
 * on failure the registry is exactly as it was. */
typedef struct reload_ctx {
  xs_registry *reg;
  xs_reload_report report;
} reload_ctx;

static void prepare_reload(void *p) {
  reload_ctx *c = p;
  xs_error err;
  must(xs_registry_load_buffer(manifest, sizeof(manifest) - 1, "m.yaml", NULL,
                               &c->reg, &err));
}

static xs_status run_reload(void *p) {
  reload_ctx *c = p;
  const char *paths[] = {tmpdir};
  return xs_registry_reload(c->reg, paths, 1, NULL, &c->report);
}

static void verify_reload(void *p, xs_status st, int from) {
  reload_ctx *c = p;
  (void)from;
  assert_int_equal(c->report.status, st);
  assert_int_equal(xs_registry_service_count(c->reg), st == XS_OK ? 4 : 3);
  if (st != XS_OK)
    assert_int_equal(c->report.published, 0);
  xs_registry_free(c->reg);
  c->reg = NULL;
}

static void test_alloc_registry_reload(void **state) {
  reload_ctx c;
  sweep_ops ops = {"xs_registry_reload", &c, prepare_reload, run_reload,
                   verify_reload};
  (void)state;
  memset(&c, 0, sizeof(c));
  assert_true(sweep(&ops) > 10);
}

/* xs_resolver_set_registry: the resolver answers from the new registry, or
 * (on failure) still from the old one. */
typedef struct switch_ctx {
  res_ctx rc;
  xs_registry *other;
} switch_ctx;

static void prepare_switch(void *p) {
  switch_ctx *c = p;
  must(xs_resolver_set_registry(c->rc.res, c->rc.reg)); /* back to the first */
}

static xs_status run_switch(void *p) {
  switch_ctx *c = p;
  return xs_resolver_set_registry(c->rc.res, c->other);
}

static void verify_switch(void *p, xs_status st, int from) {
  switch_ctx *c = p;
  xs_result *r = NULL;
  (void)from;
  /* "backend" is only in the first registry, "only-other" in the second */
  assert_int_equal(xs_resolve(c->rc.res, "only-other", XS_FAMILY_IPV4, &r),
                   st == XS_OK ? XS_OK : XS_ENOTFOUND);
  xs_result_free(r);
}

static void test_alloc_resolver_set_registry(void **state) {
  static const char *const ip[] = {"10.96.0.77"};
  switch_ctx c;
  xs_error err;
  sweep_ops ops = {"xs_resolver_set_registry", &c, prepare_switch, run_switch,
                   verify_switch};
  (void)state;
  res_init(&c.rc);
  c.rc.res = new_resolver(&c.rc, XS_DISPATCH_ENGINE);
  must(xs_registry_new(&c.other));
  must(xs_registry_add_cluster_ip(c.other, "prod", "only-other", ip, 1, &err));
  /* it allocates nothing (the resolver's own view takes the new registry's
   * snapshot by reference): no point can fail, and the switch is seen */
  assert_int_equal(sweep(&ops), 0);
  xs_registry_free(c.other);
  res_fini(&c.rc);
}

/* xs_watch_start: a watcher, or XS_ENOMEM and none. */
typedef struct watch_ctx {
  xs_registry *reg;
  xs_watch *w;
  xs_error err;
} watch_ctx;

static xs_status run_watch(void *p) {
  watch_ctx *c = p;
  const char *paths[] = {tmpdir};
  c->w = NULL;
  return xs_watch_start(c->reg, paths, 1, NULL, &c->w, &c->err);
}

static void verify_watch(void *p, xs_status st, int from) {
  watch_ctx *c = p;
  (void)from;
  if (st == XS_OK)
    assert_non_null(c->w);
  else
    assert_null(c->w);
  xs_watch_stop(c->w);
  c->w = NULL;
}

static void test_alloc_watch_start(void **state) {
  watch_ctx c;
  sweep_ops ops = {"xs_watch_start", &c, NULL, run_watch, verify_watch};
  (void)state;
  memset(&c, 0, sizeof(c));
  must(xs_registry_new(&c.reg));
  assert_true(sweep(&ops) >= 1);
  xs_registry_free(c.reg);
}

/* A running server answering while its allocations fail: every query gets
 * a reply (NOERROR with the answer, or SERVFAIL) or none, never a crash. */
static int udp_ask(unsigned port, const char *name, unsigned char *reply,
                   size_t cap) {
  unsigned char q[512];
  size_t n = 12;
  const char *label = name;
  struct sockaddr_in a;
  struct pollfd pfd;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), got = -1;
  memset(q, 0, sizeof(q));
  q[0] = 0x12;
  q[1] = 0x34;
  q[2] = 0x01; /* RD */
  q[5] = 1;
  while (*label != '\0') {
    const char *dot = strchr(label, '.');
    size_t len = dot != NULL ? (size_t)(dot - label) : strlen(label);
    q[n++] = (unsigned char)len;
    memcpy(q + n, label, len);
    n += len;
    label += len + (dot != NULL);
  }
  q[n++] = 0;
  q[n++] = 0;
  q[n++] = 1; /* A */
  q[n++] = 0;
  q[n++] = 1; /* IN */
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0)
    return -1;
  if (sendto(fd, q, n, 0, (struct sockaddr *)&a, sizeof(a)) == (ssize_t)n) {
    /* A failed allocation may cost the reply: then a second is enough.
     * Until one fails the answer must come, however slow the machine:
     * wait for it up to the hang deadline. */
    uint64_t start = xs_test_now_ms();
    pfd.fd = fd;
    pfd.events = POLLIN;
    for (;;) {
      uint64_t waited = xs_test_now_ms() - start;
      if (poll(&pfd, 1, 20) == 1) {
        got = (int)recv(fd, reply, cap, 0);
        break;
      }
      if (waited >= XS_TEST_HANG_MS || (xs_failalloc_fired() && waited >= 1000))
        break;
    }
  }
  close(fd);
  return got;
}

typedef struct serve_ctx {
  res_ctx *rc;
  const char *qname;
  int len;
  unsigned char reply[1024];
} serve_ctx;

static xs_status run_serve(void *p) {
  serve_ctx *c = p;
  c->len = udp_ask(xs_server_port(c->rc->server), c->qname, c->reply,
                   sizeof(c->reply));
  return XS_OK;
}

static void verify_serve(void *p, xs_status st, int from) {
  serve_ctx *c = p;
  (void)st;
  if (from < 0) { /* nothing failed: the full answer */
    assert_true(c->len > 12);
    assert_int_equal(c->reply[3] & 0x0f, 0);
    assert_true(c->reply[7] >= 1);
  } else if (c->len > 0) {
    assert_true(c->len >= 12);
    if (getenv("XS_ALLOC_TRACE") != NULL)
      fprintf(stderr, "rcode %d, %d answers\n", c->reply[3] & 0x0f,
              c->reply[7]);
    assert_true((c->reply[3] & 0x0f) == 0 || (c->reply[3] & 0x0f) == 2);
  }
}

static void test_alloc_server_answers_or_fails_cleanly(void **state) {
  static const char *const names[] = {"backend.prod.svc.cluster.local",
                                      "db.prod.svc.cluster.local",
                                      "other.example.test"};
  res_ctx rc;
  serve_ctx c;
  xs_error err;
  size_t i;
  (void)state;
  res_init(&rc);
  rc.cache_off = 1; /* chased and forwarded names go upstream every time */
  rc.res = new_resolver(&rc, XS_DISPATCH_ENGINE);
  must(xs_server_start(rc.res, "127.0.0.1:0", &rc.server, &err));
  c.rc = &rc;
  for (i = 0; i < 3; i++) {
    char what[80];
    sweep_ops ops = {what, &c, NULL, run_serve, verify_serve};
    snprintf(what, sizeof(what), "xs_server answering %s", names[i]);
    c.qname = names[i];
    sweep(&ops);
  }
  xs_server_stop(rc.server);
  res_fini(&rc);
}

/* In a sanitizer build, in place of each test. */
static void skip_without_failing_malloc(void **state) {
  (void)state;
  XS_SKIP("the " XS_TEST_SANITIZER " sanitizer replaces malloc, so no "
          "allocation can be made to fail (the plain build and valgrind run "
          "these)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alloc_load_buffer_fails_cleanly),
      cmocka_unit_test(test_alloc_load_directory_fails_cleanly),
      cmocka_unit_test(test_alloc_registry_building_fails_atomically),
      cmocka_unit_test(test_alloc_config_setters_fail_cleanly),
      cmocka_unit_test(test_alloc_resolver_new_fails_cleanly),
      cmocka_unit_test(test_alloc_resolve_registry_path),
      cmocka_unit_test(test_alloc_resolve_cached_path),
      cmocka_unit_test(test_alloc_resolve_upstream_path),
      cmocka_unit_test(test_alloc_resolve_cache_miss_path),
      cmocka_unit_test(test_alloc_resolve_async),
      cmocka_unit_test(test_alloc_connect),
      cmocka_unit_test(test_alloc_server_start),
      cmocka_unit_test(test_alloc_server_start_cached),
      cmocka_unit_test(test_alloc_registry_reload),
      cmocka_unit_test(test_alloc_resolver_set_registry),
      cmocka_unit_test(test_alloc_watch_start),
      cmocka_unit_test(test_alloc_server_answers_or_fails_cleanly),
  };
  if (XS_TEST_SANITIZER[0] != '\0') {
    /* Every test by its name, skipped. */
    struct CMUnitTest skipped[sizeof(tests) / sizeof(tests[0])];
    size_t i;
    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
      skipped[i] = tests[i];
      skipped[i].test_func = skip_without_failing_malloc;
    }
    return XS_RUN_GROUP(skipped, NULL, NULL);
  }
  return XS_RUN_GROUP(tests, setup, teardown);
}
