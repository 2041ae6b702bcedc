/* Watchers: edits in place and by rename, files added to and removed from
 * a watched directory, broken edits refused, a directory that goes away
 * and comes back, bursts coalesced, and the exact update sequence of a
 * Kubernetes ConfigMap volume (..data symlink swapped to a new timestamped
 * directory). Each test waits for the watcher's report (up to the hang
 * deadline), then checks what resolvers answer. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tmpfiles.h"
#include "wait.h"
#include "xsvc.h"

#define WAIT_MS XS_TEST_HANG_MS
#define MAX_REPORTS 64

typedef struct fixture {
  char dir[64];
  char file[128];
  xs_registry *reg;
  xs_resolver *res;
  xs_watch *watch;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t nreports;
  xs_reload_report reports[MAX_REPORTS];
  int hold; /* on_reload keeps the watcher's thread until cleared */
  int held; /* ... and it is there */
} fixture;

static void on_reload(const xs_reload_report *rep, void *arg) {
  fixture *f = arg;
  pthread_mutex_lock(&f->mu);
  if (f->nreports < MAX_REPORTS)
    f->reports[f->nreports] = *rep;
  f->nreports++;
  pthread_cond_broadcast(&f->cv);
  while (f->hold) {
    f->held = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_cond_wait(&f->cv, &f->mu);
  }
  f->held = 0;
  pthread_mutex_unlock(&f->mu);
}

static int is_held(fixture *f) {
  int held;
  pthread_mutex_lock(&f->mu);
  held = f->held;
  pthread_mutex_unlock(&f->mu);
  return held;
}

static void set_hold(fixture *f, int hold) {
  pthread_mutex_lock(&f->mu);
  f->hold = hold;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

/* The report after the first `seen`, waiting for it (NULL on timeout). */
static const xs_reload_report *wait_report(fixture *f, size_t seen) {
  struct timespec until;
  const xs_reload_report *r = NULL;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += WAIT_MS / 1000;
  pthread_mutex_lock(&f->mu);
  while (f->nreports <= seen &&
         pthread_cond_timedwait(&f->cv, &f->mu, &until) == 0) {
  }
  if (f->nreports > seen && seen < MAX_REPORTS)
    r = &f->reports[seen];
  pthread_mutex_unlock(&f->mu);
  return r;
}

static size_t reports(fixture *f) {
  size_t n;
  pthread_mutex_lock(&f->mu);
  n = f->nreports;
  pthread_mutex_unlock(&f->mu);
  return n;
}

static fixture *fixture_new(void) {
  fixture *f = calloc(1, sizeof(*f));
  char text[512];
  xs_config *cfg;
  xs_error err;
  assert_non_null(f);
  snprintf(f->dir, sizeof(f->dir), "/tmp/xsvc-watch-XXXXXX");
  assert_int_equal(tmp_dir(f->dir), 0);
  snprintf(f->file, sizeof(f->file), "%s/services.yaml", f->dir);
  tmp_external(text, sizeof(text), "default", "db", "old.example.test");
  assert_int_equal(tmp_write(f->file, text), 0);
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
  assert_int_equal(xs_registry_new(&f->reg), XS_OK);
  /* upstream: a closed loopback port (only the chain is looked at) */
  assert_int_equal(xs_config_new(&cfg), XS_OK);
  assert_int_equal(xs_config_add_server(cfg, "127.0.0.1:9"), XS_OK);
  assert_int_equal(xs_config_set_timeout_ms(cfg, 20), XS_OK);
  assert_int_equal(xs_config_set_attempts(cfg, 1), XS_OK);
  assert_int_equal(xs_resolver_new(cfg, f->reg, &f->res, &err), XS_OK);
  xs_config_free(cfg);
  return f;
}

/* Load path into the fixture's registry and watch it. */
static void watch(fixture *f, const char *path, unsigned debounce_ms) {
  xs_watch_options opts;
  xs_reload_report rep;
  xs_error err;
  memset(&err, 0, sizeof(err));
  assert_int_equal(xs_registry_reload(f->reg, &path, 1, NULL, &rep), XS_OK);
  xs_watch_options_init(&opts);
  opts.debounce_ms = debounce_ms;
  opts.on_reload = on_reload;
  opts.arg = f;
  if (xs_watch_start(f->reg, &path, 1, &opts, &f->watch, &err) != XS_OK)
    fail_msg("xs_watch_start: %s", err.message);
}

static int teardown(void **state) {
  fixture *f = *state;
  xs_watch_stop(f->watch);
  xs_resolver_free(f->res);
  xs_registry_free(f->reg);
  tmp_remove(f->dir);
  pthread_mutex_destroy(&f->mu);
  pthread_cond_destroy(&f->cv);
  free(f);
  return 0;
}

static int setup(void **state) {
  *state = fixture_new();
  return 0;
}

/* The target alias `name` (namespace default) has now, "" if none. */
static void target_of(fixture *f, const char *name, char *out, size_t size) {
  char fqdn[128];
  xs_result *r = NULL;
  snprintf(fqdn, sizeof(fqdn), "%s.default.svc.cluster.local.", name);
  xs_resolve(f->res, fqdn, XS_FAMILY_IPV4, &r);
  snprintf(out, size, "%s",
           xs_result_chain_count(r) > 0 ? xs_result_chain_target(r, 0) : "");
  xs_result_free(r);
}

static void test_watch_rename_edit_reloads_new_target(void **state) {
  fixture *f = *state;
  const xs_reload_report *rep;
  char text[512], target[128];
  watch(f, f->file, 20);
  tmp_external(text, sizeof(text), "default", "db", "new.example.test");
  assert_int_equal(tmp_write_rename(f->file, text), 0);
  rep = wait_report(f, 0);
  assert_non_null(rep);
  assert_int_equal(rep->status, XS_OK);
  assert_int_equal(rep->changed, 1);
  assert_non_null(strstr(rep->summary, "old.example.test -> new.example.test"));
  target_of(f, "db", target, sizeof(target));
  assert_string_equal(target, "new.example.test.");
}

static void test_watch_in_place_write_reloads(void **state) {
  fixture *f = *state;
  const xs_reload_report *rep;
  char text[512], target[128];
  watch(f, f->file, 20);
  tmp_external(text, sizeof(text), "default", "db", "inplace.example.test");
  assert_int_equal(tmp_write(f->file, text), 0);
  rep = wait_report(f, 0);
  assert_non_null(rep);
  /* several events may make several reloads; the last one tells */
  while (strcmp((target_of(f, "db", target, sizeof(target)), target),
                "inplace.example.test.") != 0)
    assert_non_null(wait_report(f, reports(f)));
  assert_int_equal(xs_watch_reloads(f->watch), reports(f));
}

static void test_watch_broken_edit_keeps_registry(void **state) {
  fixture *f = *state;
  const xs_reload_report *rep;
  char text[512], target[128];
  size_t n;
  watch(f, f->file, 20);
  assert_int_equal(tmp_write_rename(f->file, "kind: Service\nmetadata: [\n"),
                   0);
  rep = wait_report(f, 0);
  assert_non_null(rep);
  assert_int_not_equal(rep->status, XS_OK);
  assert_int_equal(rep->published, 0);
  assert_string_equal(rep->error.file, f->file);
  target_of(f, "db", target, sizeof(target));
  assert_string_equal(target, "old.example.test.");
  /* fixed: taken */
  n = reports(f);
  tmp_external(text, sizeof(text), "default", "db", "fixed.example.test");
  assert_int_equal(tmp_write_rename(f->file, text), 0);
  rep = wait_report(f, n);
  assert_non_null(rep);
  assert_int_equal(rep->status, XS_OK);
  target_of(f, "db", target, sizeof(target));
  assert_string_equal(target, "fixed.example.test.");
}

static void test_watch_directory_files_added_and_removed(void **state) {
  fixture *f = *state;
  const xs_reload_report *rep;
  char text[512], path[160], target[128];
  size_t n;
  watch(f, f->dir, 20);
  snprintf(path, sizeof(path), "%s/queue.yml", f->dir);
  tmp_external(text, sizeof(text), "default", "queue", "mq.example.test");
  assert_int_equal(tmp_write(path, text), 0);
  rep = wait_report(f, 0);
  assert_non_null(rep);
  assert_int_equal(rep->status, XS_OK);
  assert_int_equal(rep->added, 1);
  assert_non_null(strstr(rep->summary, "added default/queue"));
  target_of(f, "queue", target, sizeof(target));
  assert_string_equal(target, "mq.example.test.");
  n = reports(f);
  assert_int_equal(unlink(f->file), 0);
  rep = wait_report(f, n);
  assert_non_null(rep);
  assert_int_equal(rep->removed, 1);
  assert_non_null(strstr(rep->summary, "removed default/db"));
  target_of(f, "db", target, sizeof(target));
  assert_string_equal(target, "");
}

/* The directory removed: the reload fails and the registry stays; made
 * again with new contents: found again (within about a second) and
 * loaded. */
static void test_watch_directory_gone_and_back(void **state) {
  fixture *f = *state;
  const xs_reload_report *rep;
  char text[512], target[128];
  size_t n;
  watch(f, f->dir, 20);
  tmp_remove(f->dir);
  rep = wait_report(f, 0);
  assert_non_null(rep);
  assert_int_equal(rep->status, XS_EIO);
  target_of(f, "db", target, sizeof(target));
  assert_string_equal(target, "old.example.test.");
  n = reports(f);
  /* made beside it and renamed into place: it appears whole */
  {
    char side[80], file[120];
    snprintf(side, sizeof(side), "%s.new", f->dir);
    snprintf(file, sizeof(file), "%s/services.yaml", side);
    assert_int_equal(mkdir(side, 0755), 0);
    tmp_external(text, sizeof(text), "default", "db", "back.example.test");
    assert_int_equal(tmp_write(file, text), 0);
    assert_int_equal(rename(side, f->dir), 0);
  }
  do {
    rep = wait_report(f, n);
    assert_non_null(rep);
    n++;
  } while (rep->status != XS_OK);
  target_of(f, "db", target, sizeof(target));
  assert_string_equal(target, "back.example.test.");
}

/* Ten edits in a row: fewer reloads than edits, and the last edit is what
 * is served. The burst is made certain, not merely fast: after the first
 * edit's reload the watcher's thread is held in its callback while the
 * other nine are made, so they are all pending when it goes on. */
static void test_watch_burst_is_debounced(void **state) {
  fixture *f = *state;
  char text[512], target[128], t[64];
  int i;
  set_hold(f, 1);
  watch(f, f->file, 300);
  for (i = 0; i < 10; i++) {
    snprintf(t, sizeof(t), "burst%d.example.test", i);
    tmp_external(text, sizeof(text), "default", "db", t);
    assert_int_equal(tmp_write_rename(f->file, text), 0);
    if (i == 0) {
      XS_WAIT_UNTIL(is_held(f));
      assert_true(is_held(f));
    }
  }
  set_hold(f, 0);
  assert_non_null(wait_report(f, 0));
  while (strcmp((target_of(f, "db", target, sizeof(target)), target),
                "burst9.example.test.") != 0)
    assert_non_null(wait_report(f, reports(f)));
  assert_true(reports(f) < 10);
}

/* A ConfigMap volume as the kubelet writes it (atomic_writer): files are
 * symlinks through ..data, which points at a timestamped directory. */
static void configmap_version(const char *dir, const char *stamp,
                              const char *target) {
  char sub[160], path[200], text[512];
  snprintf(sub, sizeof(sub), "%s/%s", dir, stamp);
  assert_int_equal(mkdir(sub, 0755), 0);
  snprintf(path, sizeof(path), "%s/services.yaml", sub);
  tmp_external(text, sizeof(text), "default", "db", target);
  assert_int_equal(tmp_write(path, text), 0);
}

static void configmap_update(fixture *f) {
  char tmp[160], data[160], old[160];
  configmap_version(f->dir, "..2026_11_30_07_20_00.000000002",
                    "swapped.example.test");
  snprintf(tmp, sizeof(tmp), "%s/..data_tmp", f->dir);
  snprintf(data, sizeof(data), "%s/..data", f->dir);
  snprintf(old, sizeof(old), "%s/..2026_11_30_07_15_00.000000001", f->dir);
  assert_int_equal(symlink("..2026_11_30_07_20_00.000000002", tmp), 0);
  assert_int_equal(rename(tmp, data), 0);
  tmp_remove(old);
}

static int setup_configmap(void **state) {
  fixture *f = fixture_new();
  char link[160];
  /* replace the plain file with the volume layout */
  assert_int_equal(unlink(f->file), 0);
  configmap_version(f->dir, "..2026_11_30_07_15_00.000000001",
                    "old.example.test");
  snprintf(link, sizeof(link), "%s/..data", f->dir);
  assert_int_equal(symlink("..2026_11_30_07_15_00.000000001", link), 0);
  assert_int_equal(symlink("..data/services.yaml", f->file), 0);
  *state = f;
  return 0;
}

static void check_configmap_swap(fixture *f) {
  const xs_reload_report *rep;
  char target[128];
  target_of(f, "db", target, sizeof(target));
  assert_string_equal(target, "old.example.test.");
  configmap_update(f);
  rep = wait_report(f, 0);
  assert_non_null(rep);
  while (strcmp((target_of(f, "db", target, sizeof(target)), target),
                "swapped.example.test.") != 0) {
    rep = wait_report(f, reports(f));
    assert_non_null(rep);
  }
  assert_int_equal(rep->status, XS_OK);
}

static void test_watch_configmap_directory_symlink_swap(void **state) {
  fixture *f = *state;
  watch(f, f->dir, 20);
  check_configmap_swap(f);
}

static void test_watch_configmap_file_symlink_swap(void **state) {
  fixture *f = *state;
  watch(f, f->file, 20);
  check_configmap_swap(f);
}

static void test_watch_start_refuses_bad_arguments(void **state) {
  fixture *f = *state;
  xs_watch_options opts;
  xs_watch *w = NULL;
  xs_error err;
  const char *missing = "/nonexistent/xsvc/dir/services.yaml";
  const char *file = f->file;
  assert_int_equal(xs_watch_start(f->reg, &missing, 1, NULL, &w, &err),
                   XS_EINVAL);
  assert_non_null(strstr(err.message, "cannot watch"));
  assert_null(w);
  xs_watch_options_init(&opts);
  opts.debounce_ms = XS_WATCH_DEBOUNCE_MAX_MS + 1;
  assert_int_equal(xs_watch_start(f->reg, &file, 1, &opts, &w, &err),
                   XS_EINVAL);
  assert_int_equal(xs_watch_start(NULL, &file, 1, NULL, &w, &err), XS_EINVAL);
  assert_int_equal(xs_watch_start(f->reg, &file, 0, NULL, &w, &err), XS_EINVAL);
  xs_watch_stop(NULL);
  assert_int_equal(xs_watch_reloads(NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_watch_rename_edit_reloads_new_target,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_in_place_write_reloads, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_watch_broken_edit_keeps_registry,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_watch_directory_files_added_and_removed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_directory_gone_and_back, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_watch_burst_is_debounced, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_watch_configmap_directory_symlink_swap, setup_configmap,
          teardown),
      cmocka_unit_test_setup_teardown(test_watch_configmap_file_symlink_swap,
                                      setup_configmap, teardown),
      cmocka_unit_test_setup_teardown(test_watch_start_refuses_bad_arguments,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
