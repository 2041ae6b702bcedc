/* xs_registry_reload (reports, failed loads never published, unchanged
 * loads not published) and what a resolver answers after a reload or
 * xs_resolver_set_registry: never a memoised answer of the old contents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "responder.h"
#include "tmpfiles.h"
#include "xsvc.h"

typedef struct fixture {
  char dir[64];
  char a[128], b[128]; /* two manifest files in dir */
  const char *paths[1];
  xs_registry *reg;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  char text[512];
  xs_error err;
  if (f == NULL)
    return -1;
  snprintf(f->dir, sizeof(f->dir), "/tmp/xsvc-reload-XXXXXX");
  if (tmp_dir(f->dir) != 0)
    return -1;
  snprintf(f->a, sizeof(f->a), "%s/a.yaml", f->dir);
  snprintf(f->b, sizeof(f->b), "%s/b.yaml", f->dir);
  tmp_external(text, sizeof(text), "prod", "db", "old-db.example.test");
  if (tmp_write(f->a, text) != 0)
    return -1;
  tmp_external(text, sizeof(text), "prod", "cache", "redis.example.test");
  if (tmp_write(f->b, text) != 0)
    return -1;
  f->paths[0] = f->dir;
  if (xs_registry_load(f->dir, &f->reg, &err) != XS_OK)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  xs_registry_free(f->reg);
  tmp_remove(f->dir);
  free(f);
  return 0;
}

/* A resolver whose upstream is a closed loopback port. */
static xs_resolver *offline_resolver(xs_registry *reg, xs_error *err) {
  xs_config *cfg;
  xs_resolver *res = NULL;
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_set_namespace(cfg, "prod"), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, "127.0.0.1:9"), XS_OK);
  assert_int_equal(xs_config_set_timeout_ms(cfg, 50), XS_OK);
  assert_int_equal(xs_config_set_attempts(cfg, 1), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, reg, &res, err), XS_OK);
  xs_config_free(cfg);
  return res;
}

static void test_reload_reports_added_changed_removed(void **state) {
  fixture *f = *state;
  xs_reload_report rep;
  char text[1024], c[256];
  tmp_external(text, sizeof(text), "prod", "db", "new-db.example.test");
  tmp_external(c, sizeof(c), "prod", "queue", "mq.example.test");
  strcat(text, "---\n");
  strcat(text, c);
  assert_int_equal(tmp_write_rename(f->a, text), 0);
  assert_int_equal(unlink(f->b), 0);
  assert_int_equal(xs_registry_reload(f->reg, f->paths, 1, NULL, &rep), XS_OK);
  assert_int_equal(rep.status, XS_OK);
  assert_int_equal(rep.published, 1);
  assert_int_equal(rep.added, 1);
  assert_int_equal(rep.changed, 1);
  assert_int_equal(rep.removed, 1);
  assert_int_equal(rep.services, 2);
  assert_non_null(strstr(rep.summary, "added prod/queue"));
  assert_non_null(
      strstr(rep.summary,
             "changed prod/db (old-db.example.test -> new-db.example.test)"));
  assert_non_null(strstr(rep.summary, "removed prod/cache"));
  assert_int_equal(xs_registry_service_count(f->reg), 2);
}

static void test_reload_failed_load_keeps_registry_and_says_where(void **st) {
  fixture *f = *st;
  xs_reload_report rep;
  xs_stats before, after;
  xs_resolver *res;
  xs_result *r = NULL;
  xs_error err;
  assert_int_equal(xs_stats_get(&before, sizeof(before)), XS_OK);
  assert_int_equal(tmp_write(f->b, "kind: Service\nmetadata: {name: [\n"), 0);
  assert_int_equal(xs_registry_reload(f->reg, f->paths, 1, NULL, &rep),
                   XS_EMANIFEST);
  assert_int_equal(rep.status, XS_EMANIFEST);
  assert_int_equal(rep.published, 0);
  assert_int_equal(rep.services, 2);
  assert_string_equal(rep.error.file, f->b);
  assert_true(rep.error.line >= 2);
  assert_non_null(strstr(rep.summary, f->b));
  assert_int_equal(xs_stats_get(&after, sizeof(after)), XS_OK);
  assert_int_equal(after.reloads_failed, before.reloads_failed + 1);
  assert_int_equal(after.reloads_ok, before.reloads_ok);
  /* the previous contents still answer (the chain; upstream is a closed
   * loopback port) */
  res = offline_resolver(NULL, &err);
  assert_int_equal(xs_resolver_set_registry(res, f->reg), XS_OK);
  xs_resolve(res, "db.prod.svc.cluster.local.", XS_FAMILY_IPV4, &r);
  assert_int_equal(xs_result_chain_count(r), 1);
  assert_string_equal(xs_result_chain_target(r, 0), "old-db.example.test.");
  xs_result_free(r);
  xs_resolver_free(res);
  /* a missing path fails the same way */
  {
    const char *missing[] = {"/nonexistent/xsvc/manifests"};
    assert_int_equal(xs_registry_reload(f->reg, missing, 1, NULL, &rep),
                     XS_EIO);
    assert_int_equal(xs_registry_service_count(f->reg), 2);
  }
  assert_int_equal(xs_registry_reload(NULL, f->paths, 1, NULL, NULL),
                   XS_EINVAL);
}

static void test_reload_unchanged_publishes_nothing(void **state) {
  fixture *f = *state;
  xs_reload_report rep;
  char text[512];
  assert_int_equal(xs_registry_reload(f->reg, f->paths, 1, NULL, &rep), XS_OK);
  assert_int_equal(rep.published, 0);
  assert_int_equal(rep.added + rep.changed + rep.removed, 0);
  assert_string_equal(rep.summary, "unchanged");
  /* a namespace alone is a change */
  snprintf(text, sizeof(text),
           "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n");
  {
    char path[160];
    snprintf(path, sizeof(path), "%s/ns.yaml", f->dir);
    assert_int_equal(tmp_write(path, text), 0);
  }
  assert_int_equal(xs_registry_reload(f->reg, f->paths, 1, NULL, &rep), XS_OK);
  assert_int_equal(rep.published, 1);
  assert_string_equal(rep.summary, "namespaces changed");
}

/* An alias resolved through upstream (then the cache, then the memo) and
 * repointed by a reload answers with the new target on the very next
 * lookup: the memoised answer of the old target is not served. */
static void test_reload_changed_alias_drops_memoised_answer(void **state) {
  fixture *f = *state;
  responder srv;
  xs_config *cfg;
  xs_resolver *res;
  xs_result *r = NULL;
  xs_reload_report rep;
  xs_stats s0, s1;
  xs_error err;
  char text[512];
  int q;
  assert_int_equal(responder_start(&srv), 0);
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_set_namespace(cfg, "prod"), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, srv.server), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, f->reg, &res, &err), XS_OK);
  xs_config_free(cfg);
  /* upstream, then the cache (memoised then), then the memo */
  assert_int_equal(xs_resolve(res, "db", XS_FAMILY_IPV4, &r), XS_OK);
  xs_result_free(r);
  assert_int_equal(xs_resolve(res, "db", XS_FAMILY_IPV4, &r), XS_OK);
  xs_result_free(r);
  assert_int_equal(xs_stats_get(&s0, sizeof(s0)), XS_OK);
  assert_int_equal(xs_resolve(res, "db", XS_FAMILY_IPV4, &r), XS_OK);
  assert_string_equal(xs_result_target(r), "old-db.example.test.");
  xs_result_free(r);
  assert_int_equal(xs_stats_get(&s1, sizeof(s1)), XS_OK);
  assert_int_equal(s1.memo_hits, s0.memo_hits + 1); /* memoised */
  q = atomic_load(&srv.queries);

  tmp_external(text, sizeof(text), "prod", "db", "new-db.example.test");
  assert_int_equal(tmp_write_rename(f->a, text), 0);
  assert_int_equal(xs_registry_reload(f->reg, f->paths, 1, NULL, &rep), XS_OK);
  assert_int_equal(rep.changed, 1);
  assert_int_equal(xs_resolve(res, "db", XS_FAMILY_IPV4, &r), XS_OK);
  assert_string_equal(xs_result_target(r), "new-db.example.test.");
  assert_int_equal(xs_result_chain_source(r, 0), XS_SOURCE_REGISTRY);
  assert_int_equal(xs_result_address_source(r, 0), XS_SOURCE_UPSTREAM);
  xs_result_free(r);
  assert_true(atomic_load(&srv.queries) > q); /* the new target was asked */
  xs_resolver_free(res);
  responder_stop(&srv);
}

static void test_reload_set_registry_null_and_back(void **state) {
  fixture *f = *state;
  xs_resolver *res;
  xs_result *r = NULL;
  xs_error err;
  res = offline_resolver(NULL, &err);
  assert_int_equal(
      xs_resolve(res, "db.prod.svc.cluster.local.", XS_FAMILY_IPV4, &r),
      XS_ENOTFOUND);
  xs_result_free(r);
  assert_int_equal(xs_resolver_set_registry(res, f->reg), XS_OK);
  assert_int_equal(xs_resolver_set_registry(res, f->reg), XS_OK); /* again */
  r = NULL;
  xs_resolve(res, "db.prod.svc.cluster.local.", XS_FAMILY_IPV4, &r);
  assert_int_equal(xs_result_chain_count(r), 1);
  assert_string_equal(xs_result_chain_target(r, 0), "old-db.example.test.");
  xs_result_free(r);
  assert_int_equal(xs_resolver_set_registry(res, NULL), XS_OK);
  r = NULL;
  assert_int_equal(
      xs_resolve(res, "db.prod.svc.cluster.local.", XS_FAMILY_IPV4, &r),
      XS_ENOTFOUND);
  xs_result_free(r);
  assert_int_equal(xs_resolver_set_registry(NULL, f->reg), XS_EINVAL);
  xs_resolver_free(res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reload_reports_added_changed_removed,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_reload_failed_load_keeps_registry_and_says_where, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_reload_unchanged_publishes_nothing,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_reload_changed_alias_drops_memoised_answer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reload_set_registry_null_and_back,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
