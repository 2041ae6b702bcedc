/* The registry built in code: validation as the loader does it, nothing
 * changed on failure, atomic snapshots under concurrent readers. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"

static void must(xs_status st) {
  assert_int_equal(st, XS_OK);
}

static void test_registry_new_is_empty(void **s) {
  xs_registry *reg;
  (void)s;
  must(xs_registry_new(&reg));
  assert_int_equal(xs_registry_service_count(reg), 0);
  assert_int_equal(xs_registry_skipped_count(reg), 0);
  xs_registry_free(reg);
  xs_registry_free(NULL);
}

static void test_registry_invalid_name_exact_message_and_unchanged(void **s) {
  xs_registry *reg;
  xs_error err;
  (void)s;
  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "prod", "a", "a.example.com", &err));
  assert_int_equal(xs_registry_add_external(reg, "prod", "My-Service",
                                            "x.example.com", &err),
                   XS_EINVAL);
  assert_string_equal(
      err.message,
      "metadata.name: Invalid value: \"My-Service\": a DNS-1035 label must "
      "consist of lower case alphanumeric characters or '-', start with an "
      "alphabetic character, and end with an alphanumeric character (e.g. "
      "'my-name',  or 'abc-123', regex used for validation is "
      "'[a-z]([-a-z0-9]*[a-z0-9])?')");
  assert_int_equal(err.line, 0);
  assert_string_equal(err.file, "");
  assert_int_equal(xs_registry_service_count(reg), 1);
  xs_registry_free(reg);
}

static void test_registry_external_name_rules(void **s) {
  xs_registry *reg;
  xs_error err;
  char long_label[80];
  (void)s;
  must(xs_registry_new(&reg));
  assert_int_equal(
      xs_registry_add_external(reg, "prod", "x", "db_eu.example.com", &err),
      XS_EINVAL);
  assert_non_null(strstr(err.message, "spec.externalName: Invalid value: "
                                      "\"db_eu.example.com\": a lowercase RFC "
                                      "1123 subdomain must consist of"));
  assert_int_equal(xs_registry_add_external(reg, "prod", "x", "", &err),
                   XS_EINVAL);
  assert_string_equal(err.message, "spec.externalName: Required value");
  assert_int_equal(
      xs_registry_add_external(reg, "prod", "x", "example.com..", &err),
      XS_EINVAL);
  assert_int_equal(
      xs_registry_add_external(reg, "prod", "x", "2001:db8::1", &err),
      XS_EINVAL);
  memset(long_label, 'a', 64);
  strcpy(long_label + 64, ".example.com");
  assert_int_equal(xs_registry_add_external(reg, "prod", "x", long_label, &err),
                   XS_EINVAL);
  assert_non_null(strstr(err.message, "63"));
  must(xs_registry_add_external(reg, "prod", "x", "example.com.", &err));
  must(xs_registry_add_external(reg, "prod", "y", "10.1.2.3", &err));
  must(xs_registry_add_external(reg, "prod", "z", "localhost", &err));
  assert_int_equal(xs_registry_service_count(reg), 3);
  xs_registry_free(reg);
}

static void test_registry_duplicate_is_eexist(void **s) {
  xs_registry *reg;
  xs_error err;
  const char *ip[] = {"10.0.0.1"};
  (void)s;
  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "prod", "a", "a.example.com", &err));
  assert_int_equal(xs_registry_add_cluster_ip(reg, "prod", "a", ip, 1, &err),
                   XS_EEXIST);
  assert_string_equal(err.message,
                      "services \"a\" already exists in namespace \"prod\"");
  must(xs_registry_add_cluster_ip(reg, "dev", "a", ip, 1, &err));
  xs_registry_free(reg);
}

static void test_registry_cluster_ip_validation(void **s) {
  xs_registry *reg;
  xs_error err;
  const char *bad[] = {"10.0.0.300"};
  const char *same[] = {"10.0.0.1", "10.0.0.2"};
  (void)s;
  must(xs_registry_new(&reg));
  assert_int_equal(xs_registry_add_cluster_ip(reg, "prod", "a", bad, 1, &err),
                   XS_EINVAL);
  assert_string_equal(err.message,
                      "spec.clusterIPs[0]: Invalid value: \"10.0.0.300\": must "
                      "be a valid IP address, (e.g. 10.9.8.7 or "
                      "2001:db8::ffff)");
  assert_int_equal(xs_registry_add_cluster_ip(reg, "prod", "a", same, 2, &err),
                   XS_EINVAL);
  assert_int_equal(xs_registry_service_count(reg), 0);
  xs_registry_free(reg);
}

static void test_registry_port_rules(void **s) {
  xs_registry *reg;
  xs_error err;
  const char *ip[] = {"10.0.0.1"};
  (void)s;
  must(xs_registry_new(&reg));
  must(xs_registry_add_cluster_ip(reg, "prod", "a", ip, 1, &err));
  assert_int_equal(
      xs_registry_add_port(reg, "prod", "a", "http", 0, NULL, &err), XS_EINVAL);
  assert_string_equal(err.message, "spec.ports[0].port: Invalid value: 0: must "
                                   "be between 1 and 65535, inclusive");
  assert_int_equal(
      xs_registry_add_port(reg, "prod", "a", "http", 80, "ICMP", &err),
      XS_EINVAL);
  assert_int_equal(
      xs_registry_add_port(reg, "prod", "a", "Http", 80, "TCP", &err),
      XS_EINVAL);
  must(xs_registry_add_port(reg, "prod", "a", NULL, 80, "TCP", &err));
  /* a second port requires names on all */
  assert_int_equal(
      xs_registry_add_port(reg, "prod", "a", "https", 443, "TCP", &err),
      XS_EINVAL);
  assert_string_equal(err.message, "spec.ports[0].name: Required value");
  assert_int_equal(
      xs_registry_add_port(reg, "prod", "nope", "x", 1, "TCP", &err),
      XS_ENOTFOUND);
  xs_registry_free(reg);
}

static void test_registry_duplicate_port_name(void **s) {
  xs_registry *reg;
  xs_error err;
  (void)s;
  must(xs_registry_new(&reg));
  must(xs_registry_add_headless(reg, "prod", "h", &err));
  must(xs_registry_add_port(reg, "prod", "h", "http", 80, "TCP", &err));
  assert_int_equal(
      xs_registry_add_port(reg, "prod", "h", "http", 81, "TCP", &err),
      XS_EINVAL);
  assert_string_equal(err.message,
                      "spec.ports[1].name: Duplicate value: \"http\"");
  xs_registry_free(reg);
}

static void test_registry_endpoints_survive_port_changes(void **s) {
  xs_registry *reg;
  xs_error err;
  xs_snapshot *snap;
  const xs_service *svc;
  (void)s;
  must(xs_registry_new(&reg));
  must(xs_registry_add_headless(reg, "prod", "h", &err));
  must(
      xs_registry_add_endpoint(reg, "prod", "h", "10.1.0.1", "pet-0", 1, &err));
  must(xs_registry_add_endpoint(reg, "prod", "h", "fd00::1", NULL, 0, &err));
  must(xs_registry_add_port(reg, "prod", "h", "http", 80, "TCP", &err));
  snap = xs_registry_snapshot(reg);
  svc = xs_snapshot_find(snap, "prod", 4, "h", 1);
  assert_non_null(svc);
  assert_int_equal(svc->nendpoints, 2);
  assert_string_equal(svc->endpoints[0].hostname, "pet-0");
  assert_int_equal(svc->endpoints[1].ready, 0);
  assert_int_equal(svc->nports, 1);
  xs_snapshot_unref(snap);
  assert_int_equal(
      xs_registry_add_endpoint(reg, "prod", "h", "bogus", NULL, 1, &err),
      XS_EINVAL);
  assert_int_equal(
      xs_registry_add_endpoint(reg, "prod", "zz", "10.0.0.1", NULL, 1, &err),
      XS_ENOTFOUND);
  must(xs_registry_add_external(reg, "prod", "e", "e.example.com", &err));
  assert_int_equal(
      xs_registry_add_endpoint(reg, "prod", "e", "10.0.0.1", NULL, 1, &err),
      XS_EINVAL);
  xs_registry_free(reg);
}

static void test_registry_set_external_and_remove(void **s) {
  xs_registry *reg;
  xs_error err;
  xs_snapshot *before, *after;
  (void)s;
  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "prod", "db", "old.example.com", &err));
  must(xs_registry_add_port(reg, "prod", "db", "pg", 5432, "TCP", &err));
  before = xs_registry_snapshot(reg);
  must(xs_registry_set_external(reg, "prod", "db", "new.example.com.", &err));
  after = xs_registry_snapshot(reg);
  assert_string_equal(
      xs_snapshot_find(before, "prod", 4, "db", 2)->external_name,
      "old.example.com");
  assert_string_equal(
      xs_snapshot_find(after, "prod", 4, "db", 2)->external_name,
      "new.example.com");
  assert_int_equal(xs_snapshot_find(after, "prod", 4, "db", 2)->nports, 1);
  xs_snapshot_unref(before);
  xs_snapshot_unref(after);
  assert_int_equal(
      xs_registry_set_external(reg, "prod", "nope", "x.example.com", &err),
      XS_ENOTFOUND);
  assert_int_equal(
      xs_registry_set_external(reg, "prod", "db", "bad_name", &err), XS_EINVAL);
  must(xs_registry_remove(reg, "prod", "db"));
  assert_int_equal(xs_registry_remove(reg, "prod", "db"), XS_ENOTFOUND);
  assert_int_equal(xs_registry_service_count(reg), 0);
  xs_registry_free(reg);
}

static void test_registry_lookup_is_case_insensitive(void **s) {
  xs_registry *reg;
  xs_error err;
  xs_snapshot *snap;
  (void)s;
  must(xs_registry_new(&reg));
  must(xs_registry_add_external(reg, "prod", "db", "x.example.com", &err));
  snap = xs_registry_snapshot(reg);
  assert_non_null(xs_snapshot_find(snap, "PROD", 4, "Db", 2));
  assert_true(xs_snapshot_has_namespace(snap, "Prod", 4));
  assert_false(xs_snapshot_has_namespace(snap, "dev", 3));
  xs_snapshot_unref(snap);
  xs_registry_free(reg);
}

/* Every name length takes one of the hash's and the comparison's paths
 * (short, 4..7, whole words, overlapping tail): each must fold case, and a
 * one-letter difference anywhere must not match. */
static void test_registry_lookup_case_every_length_and_position(void **s) {
  xs_registry *reg;
  xs_error err;
  xs_snapshot *snap;
  char name[64], upper[64], ns[64];
  size_t len, i;
  (void)s;
  must(xs_registry_new(&reg));
  for (len = 1; len <= 63; len++) {
    for (i = 0; i < len; i++)
      name[i] = (char)('a' + (i * 7 + len) % 26);
    name[len] = '\0';
    snprintf(ns, sizeof(ns), "%.*s", (int)(len < 20 ? len : 20), name);
    must(xs_registry_add_external(reg, ns, name, "x.example.com", &err));
  }
  snap = xs_registry_snapshot(reg);
  for (len = 1; len <= 63; len++) {
    size_t nslen = len < 20 ? len : 20;
    for (i = 0; i < len; i++)
      name[i] = (char)('a' + (i * 7 + len) % 26);
    for (i = 0; i < len; i++)
      upper[i] = (char)(name[i] - 32);
    assert_non_null(xs_snapshot_find(snap, upper, nslen, upper, len));
    assert_non_null(xs_snapshot_find(snap, name, nslen, upper, len));
    for (i = 0; i < len; i++) { /* one octet off at each position */
      char saved = upper[i];
      upper[i] = saved == 'Z' ? 'Y' : (char)(saved + 1);
      assert_null(xs_snapshot_find(snap, name, nslen, upper, len));
      upper[i] = saved;
    }
  }
  xs_snapshot_unref(snap);
  xs_registry_free(reg);
}

static void test_registry_many_services_grow_tables(void **s) {
  xs_registry *reg;
  xs_snapshot *snap, *b;
  char name[32];
  size_t i;
  (void)s;
  snap = xs_snapshot_new();
  for (i = 0; i < 5000; i++) {
    xs_service svc;
    memset(&svc, 0, sizeof(svc));
    snprintf(name, sizeof(name), "svc-%zu", i);
    svc.ns = i % 2 ? "a" : "b";
    svc.name = name;
    svc.type = XS_SVC_EXTERNAL;
    svc.external_name = "x.example.com";
    must(xs_snapshot_add_service(snap, &svc, NULL));
  }
  must(xs_snapshot_finish(snap));
  must(xs_registry_from_snapshot(snap, &reg));
  b = xs_registry_snapshot(reg);
  for (i = 0; i < 5000; i++) {
    snprintf(name, sizeof(name), "svc-%zu", i);
    assert_non_null(
        xs_snapshot_find(b, i % 2 ? "a" : "b", 1, name, strlen(name)));
    assert_null(xs_snapshot_find(b, i % 2 ? "b" : "a", 1, name, strlen(name)));
  }
  xs_snapshot_unref(b);
  xs_registry_free(reg);
}

/* Readers grab snapshots while a writer repoints a service: every snapshot
 * is whole (one of the published values, never torn). */
static xs_registry *shared;
static atomic_int stop_readers;

static void *reader(void *arg) {
  long bad = 0;
  (void)arg;
  while (!atomic_load(&stop_readers)) {
    xs_snapshot *snap = xs_registry_snapshot(shared);
    const xs_service *svc = xs_snapshot_find(snap, "prod", 4, "db", 2);
    if (svc == NULL || strncmp(svc->external_name, "v", 1) != 0 ||
        xs_snapshot_find(snap, "prod", 4, "other", 5) == NULL)
      bad++;
    xs_snapshot_unref(snap);
  }
  return (void *)bad;
}

static void test_registry_concurrent_readers_see_whole_snapshots(void **s) {
  pthread_t t[2];
  xs_error err;
  char target[64];
  void *bad;
  (void)s;
  must(xs_registry_new(&shared));
  must(xs_registry_add_external(shared, "prod", "db", "v0.example.com", &err));
  must(
      xs_registry_add_external(shared, "prod", "other", "o.example.com", &err));
  atomic_store(&stop_readers, 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
  for (int i = 1; i <= 500; i++) {
    snprintf(target, sizeof(target), "v%d.example.com", i);
    must(xs_registry_set_external(shared, "prod", "db", target, &err));
  }
  atomic_store(&stop_readers, 1);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(pthread_join(t[i], &bad), 0);
    assert_int_equal((long)bad, 0);
  }
  xs_registry_free(shared);
}

/* A reload: reg takes from's contents in one step; the two stay
 * separate afterwards. */
static void test_registry_replace(void **s) {
  xs_registry *a, *b;
  xs_snapshot *snap;
  xs_error err;
  (void)s;
  assert_int_equal(xs_registry_new(&a), XS_OK);
  assert_int_equal(xs_registry_new(&b), XS_OK);
  assert_int_equal(
      xs_registry_add_external(a, "prod", "x", "x.example.com", &err), XS_OK);
  assert_int_equal(
      xs_registry_add_external(b, "prod", "y", "y.example.com", &err), XS_OK);
  assert_int_equal(
      xs_registry_add_external(b, "prod", "z", "z.example.com", &err), XS_OK);
  assert_int_equal(xs_registry_replace(a, b), XS_OK);
  assert_int_equal(xs_registry_service_count(a), 2);
  snap = xs_registry_snapshot(a);
  assert_null(xs_snapshot_find(snap, "prod", 4, "x", 1));
  assert_non_null(xs_snapshot_find(snap, "prod", 4, "y", 1));
  xs_snapshot_unref(snap);
  /* separate afterwards */
  assert_int_equal(xs_registry_remove(b, "prod", "y"), XS_OK);
  assert_int_equal(xs_registry_service_count(a), 2);
  assert_int_equal(xs_registry_service_count(b), 1);
  assert_int_equal(
      xs_registry_add_external(a, "prod", "w", "w.example.com", &err), XS_OK);
  assert_int_equal(xs_registry_service_count(b), 1);
  assert_int_equal(xs_registry_replace(a, a), XS_OK);
  assert_int_equal(xs_registry_service_count(a), 3);
  assert_int_equal(xs_registry_replace(NULL, b), XS_EINVAL);
  assert_int_equal(xs_registry_replace(a, NULL), XS_EINVAL);
  xs_registry_free(b); /* a keeps what it took */
  assert_int_equal(xs_registry_service_count(a), 3);
  xs_registry_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry_new_is_empty),
      cmocka_unit_test(test_registry_invalid_name_exact_message_and_unchanged),
      cmocka_unit_test(test_registry_external_name_rules),
      cmocka_unit_test(test_registry_duplicate_is_eexist),
      cmocka_unit_test(test_registry_cluster_ip_validation),
      cmocka_unit_test(test_registry_port_rules),
      cmocka_unit_test(test_registry_duplicate_port_name),
      cmocka_unit_test(test_registry_endpoints_survive_port_changes),
      cmocka_unit_test(test_registry_set_external_and_remove),
      cmocka_unit_test(test_registry_lookup_is_case_insensitive),
      cmocka_unit_test(test_registry_lookup_case_every_length_and_position),
      cmocka_unit_test(test_registry_many_services_grow_tables),
      cmocka_unit_test(test_registry_concurrent_readers_see_whole_snapshots),
      cmocka_unit_test(test_registry_replace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
