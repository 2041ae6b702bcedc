/* Reloads under load: threads resolve without pause while the manifest is
 * rewritten and reloaded (valid and invalid versions alternating), or
 * while the resolver is switched between registries. No lookup may fail,
 * every answer must be one a published version gives, and no thread may
 * ever see an older version after a newer one. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "responder.h"
#include "tmpfiles.h"
#include "wait.h"
#include "xsvc.h"

#define MAX_VERSIONS 1001
#define MIN_LOOKUPS                                                            \
  100 /* the readers do at least this many, however scheduled */

static responder srv;
static xs_resolver *res;
static atomic_int stop;
static atomic_int latest;                      /* highest version announced */
static atomic_int published[MAX_VERSIONS + 1]; /* valid versions */
static atomic_long lookups, failed, wrong;

static int rewrites(void) {
  return getenv("XSVC_TEST_VALGRIND") != NULL ? 100 : 1000;
}

/* Version v: api's ClusterIP and db's target both name it. */
static void version_text(char *buf, size_t size, int v) {
  snprintf(buf, size,
           "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n"
           "  namespace: default\nspec:\n  clusterIP: 10.1.%d.%d\n"
           "  ports:\n  - port: 80\n---\n"
           "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n"
           "  namespace: default\nspec:\n  type: ExternalName\n"
           "  externalName: v%d.example.test\n",
           v >> 8, v & 255, v);
}

/* Two kinds of broken edits: a bad name (validation) and bad YAML. */
static void broken_text(char *buf, size_t size, int v) {
  if (v % 4 == 1)
    snprintf(buf, size,
             "apiVersion: v1\nkind: Service\nmetadata:\n  name: Api_%d\n"
             "spec:\n  type: ExternalName\n  externalName: x.example.test\n",
             v);
  else
    snprintf(buf, size, "apiVersion: v1\nkind: Service\nmetadata: {name: [\n");
}

/* The version an answer names, or -1. */
static int version_of_api(const xs_result *r) {
  int a, b;
  if (xs_result_address_count(r) != 1 ||
      sscanf(xs_result_address_text(r, 0), "10.1.%d.%d", &a, &b) != 2)
    return -1;
  return a * 256 + b;
}

static int version_of_db(const xs_result *r) {
  int v;
  if (xs_result_address_count(r) < 1 ||
      sscanf(xs_result_target(r), "v%d.example.test.", &v) != 1)
    return -1;
  return v;
}

/* A version seen must be published, not newer than announced, and not
 * older than one this thread saw before. */
static void check_version(int v, int *last) {
  if (v < 0 || v > MAX_VERSIONS || !atomic_load(&published[v]) ||
      v > atomic_load(&latest) || v < *last)
    atomic_fetch_add(&wrong, 1);
  else
    *last = v;
}

static void *reader(void *arg) {
  int last_api = 0, last_db = 0;
  (void)arg;
  while (!atomic_load(&stop)) {
    xs_result *r = NULL;
    if (xs_resolve(res, "api", XS_FAMILY_IPV4, &r) != XS_OK)
      atomic_fetch_add(&failed, 1);
    else
      check_version(version_of_api(r), &last_api);
    xs_result_free(r);
    r = NULL;
    if (xs_resolve(res, "db", XS_FAMILY_IPV4, &r) != XS_OK)
      atomic_fetch_add(&failed, 1);
    else
      check_version(version_of_db(r), &last_db);
    xs_result_free(r);
    atomic_fetch_add(&lookups, 2);
  }
  return NULL;
}

static void test_reload_concurrent_rewrites_never_fail_lookups(void **st) {
  char dir[] = "/tmp/xsvc-reload-XXXXXX", path[256], text[1024];
  const char *paths[1];
  xs_registry *reg = NULL;
  xs_config *cfg;
  xs_error err;
  xs_reload_report rep;
  pthread_t th[2];
  int v, n = rewrites(), ok = 0, refused = 0;
  (void)st;
  assert_int_equal(responder_start(&srv), 0);
  assert_int_equal(tmp_dir(dir), 0);
  snprintf(path, sizeof(path), "%s/services.yaml", dir);
  paths[0] = path;
  version_text(text, sizeof(text), 0);
  assert_int_equal(tmp_write(path, text), 0);
  atomic_store(&published[0], 1);
  assert_int_equal(xs_registry_load(path, &reg, &err), XS_OK);
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, srv.server), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, reg, &res, &err), XS_OK);
  xs_config_free(cfg);

  pthread_create(&th[0], NULL, reader, NULL);
  pthread_create(&th[1], NULL, reader, NULL);
  for (v = 1; v <= n; v++) {
    int valid = v % 2 == 0;
    if (valid) {
      version_text(text, sizeof(text), v);
      /* announced before it can be seen */
      atomic_store(&published[v], 1);
      atomic_store(&latest, v);
    } else {
      broken_text(text, sizeof(text), v);
    }
    /* in place and by rename, in turn */
    assert_int_equal(
        v % 3 == 0 ? tmp_write(path, text) : tmp_write_rename(path, text), 0);
    if (xs_registry_reload(reg, paths, 1, NULL, &rep) == XS_OK) {
      ok++;
      assert_true(valid);
      assert_int_equal(rep.published, 1);
      assert_int_equal(rep.changed, 2);
    } else {
      refused++;
      assert_false(valid);
      assert_int_not_equal(rep.status, XS_OK);
      assert_int_equal(rep.published, 0);
      assert_int_equal(xs_registry_service_count(reg), 2); /* the old one */
    }
  }
  /* the readers took part, however the threads were scheduled */
  XS_WAIT_UNTIL(atomic_load(&lookups) >= MIN_LOOKUPS);
  atomic_store(&stop, 1);
  pthread_join(th[0], NULL);
  pthread_join(th[1], NULL);
  fprintf(stderr,
          "%d reloads (%d refused), %ld lookups, %ld failed, %ld wrong\n", ok,
          refused, atomic_load(&lookups), atomic_load(&failed),
          atomic_load(&wrong));
  assert_int_equal(ok, n / 2);
  assert_int_equal(refused, n - n / 2);
  assert_int_equal(atomic_load(&failed), 0);
  assert_int_equal(atomic_load(&wrong), 0);
  assert_true(atomic_load(&lookups) >= MIN_LOOKUPS);
  {
    /* the last version is what answers now (no memoised older answer) */
    xs_result *r = NULL;
    int last_valid = n - n % 2, seen = -1;
    assert_int_equal(xs_resolve(res, "db", XS_FAMILY_IPV4, &r), XS_OK);
    seen = version_of_db(r);
    xs_result_free(r);
    assert_int_equal(seen, last_valid);
  }
  xs_resolver_free(res);
  xs_registry_free(reg);
  responder_stop(&srv);
  tmp_remove(dir);
}

/* xs_resolver_set_registry while threads resolve: every answer is one of
 * the two registries', never a failure; after the last switch the
 * resolver answers from the registry it was given. */
static xs_registry *regs[2];
static atomic_int current_reg;

static void *switch_reader(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    xs_result *r = NULL;
    xs_status s = xs_resolve(res, "api", XS_FAMILY_IPV4, &r);
    if (s != XS_OK)
      atomic_fetch_add(&failed, 1);
    else if (strcmp(xs_result_address_text(r, 0), "10.9.0.1") != 0 &&
             strcmp(xs_result_address_text(r, 0), "10.9.0.2") != 0)
      atomic_fetch_add(&wrong, 1);
    xs_result_free(r);
    atomic_fetch_add(&lookups, 1);
  }
  return NULL;
}

static void test_reload_concurrent_set_registry_switches(void **st) {
  const char *ip1[] = {"10.9.0.1"}, *ip2[] = {"10.9.0.2"};
  xs_error err;
  xs_result *r = NULL;
  xs_config *cfg;
  pthread_t th[2];
  int i, n = rewrites();
  (void)st;
  atomic_store(&stop, 0);
  atomic_store(&failed, 0);
  atomic_store(&wrong, 0);
  atomic_store(&lookups, 0);
  assert_int_equal(xs_registry_new(&regs[0]), XS_OK);
  assert_int_equal(xs_registry_new(&regs[1]), XS_OK);
  assert_int_equal(
      xs_registry_add_cluster_ip(regs[0], "default", "api", ip1, 1, &err),
      XS_OK);
  assert_int_equal(
      xs_registry_add_cluster_ip(regs[1], "default", "api", ip2, 1, &err),
      XS_OK);
  /* the test's own upstream (NXDOMAIN for "api."), never the machine's */
  assert_int_equal(responder_start(&srv), 0);
  atomic_store(&srv.nx_outside, 1);
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, srv.server), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, regs[0], &res, &err), XS_OK);
  xs_config_free(cfg);
  pthread_create(&th[0], NULL, switch_reader, NULL);
  pthread_create(&th[1], NULL, switch_reader, NULL);
  for (i = 1; i <= n; i++) {
    atomic_store(&current_reg, i % 2);
    assert_int_equal(xs_resolver_set_registry(res, regs[i % 2]), XS_OK);
  }
  XS_WAIT_UNTIL(atomic_load(&lookups) >= MIN_LOOKUPS);
  atomic_store(&stop, 1);
  pthread_join(th[0], NULL);
  pthread_join(th[1], NULL);
  assert_int_equal(atomic_load(&failed), 0);
  assert_int_equal(atomic_load(&wrong), 0);
  assert_true(atomic_load(&lookups) >= MIN_LOOKUPS);
  /* n is even: regs[0] is the last one set */
  assert_int_equal(xs_resolve(res, "api", XS_FAMILY_IPV4, &r), XS_OK);
  assert_string_equal(xs_result_address_text(r, 0), "10.9.0.1");
  xs_result_free(r);
  /* a change to the registry followed is seen; one to the other is not */
  assert_int_equal(xs_registry_remove(regs[1], "default", "api"), XS_OK);
  assert_int_equal(xs_registry_remove(regs[0], "default", "api"), XS_OK);
  r = NULL;
  assert_int_equal(xs_resolve(res, "api", XS_FAMILY_IPV4, &r), XS_ENOTFOUND);
  xs_result_free(r);
  /* the resolver holds its own reference */
  xs_registry_free(regs[0]);
  xs_registry_free(regs[1]);
  xs_resolver_free(res);
  responder_stop(&srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reload_concurrent_rewrites_never_fail_lookups),
      cmocka_unit_test(test_reload_concurrent_set_registry_switches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
