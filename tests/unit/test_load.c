/* Loading manifests through the public API: the API server's validation
 * rules and messages (K8S-DNS.md 3, rows 63-79), positions, kinds, lists,
 * endpoints, all-or-nothing, and hostile YAML. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "manifest.h"
#include "registry.h"

#include "api_messages.h"
#include "skip.h"

static int nwarnings, ndiags;
static char last_warning[XS_ERROR_MESSAGE_MAX];

static void on_diag(const xs_error *d, int is_warning, void *arg) {
  (void)arg;
  ndiags++;
  if (is_warning) {
    nwarnings++;
    snprintf(last_warning, sizeof(last_warning), "%s", d->message);
  }
}

static xs_status load(const char *yaml, xs_registry **reg, xs_error *err) {
  xs_load_options opts;
  xs_load_options_init(&opts);
  opts.diag = on_diag;
  nwarnings = ndiags = 0;
  last_warning[0] = '\0';
  *reg = NULL;
  memset(err, 0, sizeof(*err));
  return xs_registry_load_buffer(yaml, strlen(yaml), "test.yaml", &opts, reg,
                                 err);
}

/* Load one ExternalName service whose externalName is ext; expect failure
 * with exactly msg (when non-NULL) at line/col. */
static void expect_error(const char *yaml, xs_status st, const char *msg,
                         unsigned line, unsigned col) {
  xs_registry *reg;
  xs_error err;
  assert_int_equal(load(yaml, &reg, &err), st);
  assert_null(reg);
  assert_int_equal(err.status, st);
  assert_string_equal(err.file, "test.yaml");
  if (msg != NULL)
    assert_string_equal(err.message, msg);
  if (line != 0) {
    assert_int_equal(err.line, line);
    assert_int_equal(err.column, col);
  }
}

static xs_registry *expect_ok(const char *yaml) {
  xs_registry *reg;
  xs_error err;
  xs_status st = load(yaml, &reg, &err);
  if (st != XS_OK)
    fprintf(stderr, "unexpected error %u:%u: %s\n", err.line, err.column,
            err.message);
  assert_int_equal(st, XS_OK);
  assert_non_null(reg);
  return reg;
}

#define EXT(name, ext)                                                         \
  "apiVersion: v1\n"                                                           \
  "kind: Service\n"                                                            \
  "metadata:\n"                                                                \
  "  name: " name "\n"                                                         \
  "  namespace: prod\n"                                                        \
  "spec:\n"                                                                    \
  "  type: ExternalName\n"                                                     \
  "  externalName: " ext "\n"

static void test_load_external_name_service_ok(void **s) {
  xs_registry *reg = expect_ok(EXT("my-service", "my.database.example.com"));
  xs_snapshot *snap = xs_registry_snapshot(reg);
  const xs_service *svc = xs_snapshot_find(snap, "prod", 4, "my-service", 10);
  (void)s;
  assert_non_null(svc);
  assert_int_equal(svc->type, XS_SVC_EXTERNAL);
  assert_string_equal(svc->external_name, "my.database.example.com");
  assert_int_equal(xs_registry_service_count(reg), 1);
  xs_snapshot_unref(snap);
  xs_registry_free(reg);
}

static void test_load_uppercase_name_rejected_with_api_message(void **s) {
  (void)s; /* row 63 */
  expect_error(EXT("My-Service", "x.example.com"), XS_EMANIFEST,
               "metadata.name: Invalid value: \"My-Service\": " DNS1035, 4, 9);
}

static void test_load_name_starting_with_digit_rejected(void **s) {
  (void)s; /* row 64 */
  expect_error(EXT("1db", "x.example.com"), XS_EMANIFEST,
               "metadata.name: Invalid value: \"1db\": " DNS1035, 4, 9);
}

static void test_load_name_of_64_chars_rejected(void **s) {
  (void)s; /* row 65 */
  expect_error(EXT("a123456789012345678901234567890123456789012345678901234567"
                   "890123",
                   "x.example.com"),
               XS_EMANIFEST,
               "metadata.name: Invalid value: "
               "\"a123456789012345678901234567890123456789012345678901234567"
               "890123\": must be no more than 63 characters",
               4, 9);
}

static void test_load_uppercase_namespace_rejected(void **s) {
  (void)s; /* row 66 */
  expect_error("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
               "  namespace: Prod\nspec:\n  type: ExternalName\n"
               "  externalName: x.example.com\n",
               XS_EMANIFEST,
               "metadata.namespace: Invalid value: \"Prod\": " DNS1123_LABEL, 5,
               14);
}

static void test_load_external_name_rules(void **s) {
  xs_registry *reg;
  (void)s;
  /* row 67 */
  expect_error(
      EXT("a", "db_eu.example.com"), XS_EMANIFEST,
      "spec.externalName: Invalid value: \"db_eu.example.com\": " SUBDOMAIN, 8,
      17);
  /* row 68 */
  expect_error(
      EXT("a", "My.Example.com"), XS_EMANIFEST,
      "spec.externalName: Invalid value: \"My.Example.com\": " SUBDOMAIN, 8,
      17);
  /* row 69: one trailing dot accepted, stored without it */
  reg = expect_ok(EXT("a", "example.com."));
  xs_registry_free(reg);
  /* row 70 */
  expect_error(EXT("a", "example.com.."), XS_EMANIFEST,
               "spec.externalName: Invalid value: \"example.com.\": " SUBDOMAIN,
               8, 17);
  /* row 72 */
  expect_error(EXT("a", "\"2001:db8::1\""), XS_EMANIFEST, NULL, 8, 17);
  /* row 75 */
  expect_error("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
               "spec:\n  type: ExternalName\n",
               XS_EMANIFEST, "spec.externalName: Required value", 0, 0);
}

static void test_load_ip_like_external_name_accepted_with_warning(void **s) {
  xs_registry *reg = expect_ok(EXT("a", "10.1.2.3")); /* row 71 */
  (void)s;
  assert_int_equal(nwarnings, 1);
  assert_non_null(strstr(last_warning, "looks like an IPv4 address"));
  xs_registry_free(reg);
  reg = expect_ok(EXT("b", "localhost")); /* row 79 */
  assert_int_equal(nwarnings, 1);
  assert_non_null(strstr(last_warning, "localhost"));
  xs_registry_free(reg);
}

static void test_load_externalname_too_long_or_long_label(void **s) {
  char yaml[1024], ext[300];
  (void)s;
  /* row 73: 254 characters */
  memset(ext, 'a', 254);
  for (int i = 50; i < 254; i += 51)
    ext[i] = '.';
  ext[254] = '\0';
  snprintf(yaml, sizeof(yaml), EXT("a", "%s"), ext);
  expect_error(yaml, XS_EMANIFEST, NULL, 8, 17);
  /* row 74: a 64-octet label passes the API but not xsvc */
  memset(ext, 'b', 64);
  strcpy(ext + 64, ".example.com");
  snprintf(yaml, sizeof(yaml), EXT("a", "%s"), ext);
  {
    xs_registry *reg;
    xs_error err;
    assert_int_equal(load(yaml, &reg, &err), XS_EMANIFEST);
    assert_non_null(strstr(err.message, "63 octets"));
  }
}

static void test_load_external_forbids_cluster_ip_and_families(void **s) {
  (void)s; /* rows 76, 77 */
  expect_error(EXT("a", "x.example.com") "  clusterIP: 10.0.0.5\n",
               XS_EMANIFEST,
               "spec.clusterIPs: Forbidden: may not be set for ExternalName "
               "services",
               9, 14);
  expect_error(EXT("a", "x.example.com") "  ipFamilies: [IPv4]\n", XS_EMANIFEST,
               "spec.ipFamilies: Forbidden: may not be set for ExternalName "
               "services",
               9, 15);
  expect_error(EXT("a", "x.example.com") "  ipFamilyPolicy: SingleStack\n",
               XS_EMANIFEST,
               "spec.ipFamilyPolicy: Forbidden: may not be set for "
               "ExternalName services",
               9, 19);
}

static void test_load_cluster_ip_needs_ports_external_does_not(void **s) {
  xs_registry *reg;
  (void)s; /* row 78 */
  reg = expect_ok(EXT("a", "x.example.com"));
  xs_registry_free(reg);
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec: {clusterIP: 10.0.0.1}\n",
               XS_EMANIFEST, "spec.ports: Required value", 4, 7);
  reg = expect_ok("apiVersion: v1\nkind: Service\nmetadata: {name: h}\n"
                  "spec: {clusterIP: None}\n");
  xs_registry_free(reg);
}

static void test_load_port_rules(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n"
               "  ports:\n  - {name: http, port: \"eighty\"}\n",
               XS_EMANIFEST,
               "spec.ports[0].port: Invalid type: expected integer, got "
               "string \"eighty\"",
               6, 24);
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n"
               "  ports:\n  - {name: http, port: 70000}\n",
               XS_EMANIFEST,
               "spec.ports[0].port: Invalid value: 70000: must be between 1 "
               "and 65535, inclusive",
               6, 24);
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n"
               "  ports:\n  - {name: http, port: 80}\n  - {port: 81}\n",
               XS_EMANIFEST, "spec.ports[1].name: Required value", 7, 5);
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n"
               "  ports:\n  - {name: http, port: 80}\n"
               "  - {name: http, port: 81}\n",
               XS_EMANIFEST, "spec.ports[1].name: Duplicate value: \"http\"", 7,
               12);
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n"
               "  ports:\n  - {port: 80, protocol: ICMP}\n",
               XS_EMANIFEST,
               "spec.ports[0].protocol: Unsupported value: \"ICMP\": supported "
               "values: \"SCTP\", \"TCP\", \"UDP\"",
               6, 26);
}

static void test_load_unknown_type_and_bad_cluster_ip(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec: {type: Foo}\n",
               XS_EMANIFEST,
               "spec.type: Unsupported value: \"Foo\": supported values: "
               "\"ClusterIP\", \"ExternalName\", \"LoadBalancer\", "
               "\"NodePort\"",
               4, 14);
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  clusterIP: 10.0.0.300\n  ports: [{port: 80}]\n",
               XS_EMANIFEST,
               "spec.clusterIPs[0]: Invalid value: \"10.0.0.300\": must be a "
               "valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
               5, 14);
}

static void test_load_missing_name_and_kind(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {}\n", XS_EMANIFEST,
               "metadata.name: Required value: name or generateName is "
               "required",
               3, 11);
  expect_error("apiVersion: v1\nmetadata: {name: a}\n", XS_EMANIFEST,
               "Object 'Kind' is missing", 1, 1);
}

static void test_load_kinds_lists_and_defaults(void **s) {
  xs_registry *reg = expect_ok(
      "apiVersion: v1\nkind: List\nitems:\n"
      "- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n"
      "  spec: {type: ExternalName, externalName: a.example.com}\n"
      "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n"
      "---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
      "---\n"
      "---\n"
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: staging}\n"
      "---\n"
      "apiVersion: v1\nkind: ServiceList\nitems:\n"
      "- apiVersion: v1\n  kind: Service\n  metadata: {name: b, namespace: "
      "dev}\n  spec: {type: NodePort, clusterIP: 10.0.0.9, ports: [{port: "
      "80}]}\n");
  xs_snapshot *snap = xs_registry_snapshot(reg);
  (void)s;
  assert_int_equal(xs_registry_service_count(reg), 2);
  assert_int_equal(xs_registry_skipped_count(reg), 2);
  assert_non_null(xs_snapshot_find(snap, "default", 7, "a", 1));
  assert_int_equal(xs_snapshot_find(snap, "dev", 3, "b", 1)->type,
                   XS_SVC_CLUSTER_IP);
  assert_true(xs_snapshot_has_namespace(snap, "staging", 7));
  xs_snapshot_unref(snap);
  xs_registry_free(reg);
}

static void test_load_json_input(void **s) {
  xs_registry *reg = expect_ok(
      "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": "
      "{\"name\": \"j\", \"namespace\": \"prod\"}, \"spec\": {\"type\": "
      "\"ClusterIP\", \"clusterIPs\": [\"10.0.0.1\", \"fd00::1\"], "
      "\"ports\": [{\"name\": \"http\", \"port\": 80}]}}");
  xs_snapshot *snap = xs_registry_snapshot(reg);
  const xs_service *svc = xs_snapshot_find(snap, "prod", 4, "j", 1);
  (void)s;
  assert_int_equal(svc->nips, 2);
  assert_int_equal(svc->ports[0].port, 80);
  xs_snapshot_unref(snap);
  xs_registry_free(reg);
}

static void test_load_endpoint_slices_and_endpoints(void **s) {
  xs_registry *reg = expect_ok(
      "apiVersion: v1\nkind: Service\nmetadata: {name: h, namespace: p}\n"
      "spec: {clusterIP: None}\n---\n"
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
      "metadata:\n  name: h-1\n  namespace: p\n  labels:\n"
      "    kubernetes.io/service-name: h\n"
      "endpoints:\n- addresses: [10.1.0.1]\n  hostname: pet-0\n"
      "- addresses: [10.1.0.2]\n  conditions: {ready: false}\n---\n"
      "apiVersion: v1\nkind: Service\nmetadata: {name: e, namespace: p}\n"
      "spec: {clusterIP: None}\n---\n"
      "apiVersion: v1\nkind: Endpoints\nmetadata: {name: e, namespace: p}\n"
      "subsets:\n- addresses: [{ip: 10.2.0.1, hostname: web-0}]\n"
      "  notReadyAddresses: [{ip: 10.2.0.2}]\n");
  xs_snapshot *snap = xs_registry_snapshot(reg);
  const xs_service *h = xs_snapshot_find(snap, "p", 1, "h", 1);
  const xs_service *e = xs_snapshot_find(snap, "p", 1, "e", 1);
  (void)s;
  assert_int_equal(h->type, XS_SVC_HEADLESS);
  assert_int_equal(h->nendpoints, 2);
  assert_string_equal(h->endpoints[0].hostname, "pet-0");
  assert_int_equal(h->endpoints[0].ready, 1);
  assert_int_equal(h->endpoints[1].ready, 0);
  assert_int_equal(e->nendpoints, 2);
  assert_string_equal(e->endpoints[0].hostname, "web-0");
  assert_int_equal(e->endpoints[1].ready, 0);
  xs_snapshot_unref(snap);
  xs_registry_free(reg);
}

static void test_load_duplicate_service_names_first_position(void **s) {
  (void)s;
  expect_error(EXT("a", "x.example.com") "---\n" EXT("a", "y.example.com"),
               XS_EEXIST,
               "services \"a\" already exists in namespace \"prod\" (first "
               "defined at test.yaml:1:1)",
               13, 9);
}

static void test_load_all_or_nothing_reports_every_error(void **s) {
  (void)s;
  expect_error(
      EXT("good", "x.example.com") "---\n" EXT(
          "Bad", "x.example.com") "---\n" EXT("worse_", "x.example.com"),
      XS_EMANIFEST, NULL, 13, 9);
  assert_int_equal(ndiags, 2);
}

static void test_load_hostile_yaml_fails_cleanly(void **s) {
  char *deep, *big;
  size_t i;
  clock_t start;
  (void)s;
  /* billion laughs: must fail fast on the alias limits, not expand */
  start = clock();
  expect_error("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
               "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
               "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
               "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
               "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
               "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
               "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
               XS_ELIMIT, NULL, 0, 0);
  assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 1.0);
  /* deep nesting */
  deep = malloc(20000);
  for (i = 0; i < 10000; i++)
    deep[i] = '[';
  deep[i] = '\0';
  expect_error(deep, XS_ELIMIT, "nesting deeper than 64 levels", 1, 65);
  free(deep);
  /* a huge scalar is fine within the file limit */
  big = malloc(2u << 20);
  strcpy(big, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: ");
  memset(big + strlen(big), 'x', 1u << 20);
  big[strlen("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: ") +
      (1u << 20)] = '\0';
  xs_registry_free(expect_ok(big));
  free(big);
  /* non-UTF-8, tabs, duplicate keys, unknown alias, wrong shapes */
  expect_error("apiVersion: v1\nkind: \xff\xfe\n", XS_EMANIFEST, NULL, 0, 0);
  expect_error("apiVersion: v1\n\tkind: Service\n", XS_EMANIFEST, NULL, 2, 1);
  expect_error("apiVersion: v1\nkind: Service\nkind: Service\n", XS_EMANIFEST,
               "duplicate key \"kind\"", 3, 1);
  expect_error("a: *nope\n", XS_EMANIFEST, "YAML: unknown alias \"*nope\"", 1,
               4);
  expect_error("- 1\n- 2\n", XS_EMANIFEST,
               "expected a Kubernetes object (a mapping), got array", 1, 1);
  expect_error("apiVersion: v1\nkind: Service\nmetadata: [a]\n", XS_EMANIFEST,
               "metadata: Invalid type: expected object, got array", 3, 11);
}

static void test_load_empty_input_is_an_empty_registry(void **s) {
  xs_registry *reg = expect_ok("");
  (void)s;
  assert_int_equal(xs_registry_service_count(reg), 0);
  xs_registry_free(reg);
  reg = expect_ok("---\n...\n---\n# only a comment\n");
  xs_registry_free(reg);
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  FILE *f;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_load_directory_sorted_and_all_or_nothing(void **s) {
  char dir[] = "/tmp/xsvc-load-XXXXXX";
  xs_registry *reg = NULL;
  xs_error err;
  char cmd[600];
  (void)s;
  assert_non_null(mkdtemp(dir));
  write_file(dir, "b.yaml", EXT("b", "b.example.com"));
  write_file(dir, "a.yml", EXT("a", "a.example.com"));
  write_file(dir, "c.json",
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":"
             "{\"name\":\"c\"}}");
  write_file(dir, "notes.txt", "not a manifest");
  write_file(dir, ".hidden.yaml", "::: not yaml");
  assert_int_equal(xs_registry_load(dir, &reg, &err), XS_OK);
  assert_int_equal(xs_registry_service_count(reg), 2);
  xs_registry_free(reg);
  /* a duplicate in a later file names the file read first */
  write_file(dir, "d.yaml", EXT("a", "z.example.com"));
  reg = NULL;
  assert_int_equal(xs_registry_load(dir, &reg, &err), XS_EEXIST);
  assert_null(reg);
  assert_non_null(strstr(err.file, "/d.yaml"));
  assert_non_null(strstr(err.message, "/a.yml:1:1"));
  assert_int_equal(xs_registry_load("/nonexistent/xsvc", &reg, &err), XS_EIO);
  assert_null(reg);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* Load yaml with opts (diag included); expect st and, when non-NULL,
 * exactly msg. */
static void expect_with(const xs_load_options *opts, const char *yaml,
                        xs_status st, const char *msg) {
  xs_registry *reg = NULL;
  xs_error err;
  memset(&err, 0, sizeof(err));
  assert_int_equal(xs_registry_load_buffer(yaml, strlen(yaml), "test.yaml",
                                           opts, &reg, &err),
                   st);
  if (st == XS_OK) {
    assert_non_null(reg);
    xs_registry_free(reg);
    return;
  }
  assert_null(reg);
  if (msg != NULL)
    assert_string_equal(err.message, msg);
}

/* A directory with n empty manifest files; the caller removes it. */
static void make_files(char *dir, size_t n) {
  size_t i;
  assert_non_null(mkdtemp(dir));
  for (i = 0; i < n; i++) {
    char path[600];
    int fd;
    snprintf(path, sizeof(path), "%s/f%06zu.yaml", dir, i);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
  }
}

static void remove_dir(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* An object of a kind the loader skips, to carry YAML of any shape. */
#define CM "apiVersion: v1\nkind: ConfigMap\n"

/* Every loader limit, tightened per load (xs_load_options.max_*) to a
 * small number: at the limit the load succeeds, one past it is refused
 * with XS_ELIMIT and a message naming the limit in force, and nothing is
 * loaded. The same code runs at the default bounds (see below). */
static void test_load_limits_tightened_per_load_one_past_refused(void **s) {
  char dir[] = "/tmp/xsvc-limits-XXXXXX", path[600];
  const char *paths[1];
  xs_load_options o;
  xs_registry *reg = NULL;
  xs_error err;
  (void)s;
  xs_load_options_init(&o);
  o.max_documents = 3;
  expect_with(&o, "---\n---\n---\n", XS_OK, NULL);
  expect_with(&o, "---\n---\n---\n---\n", XS_ELIMIT, "more than 3 documents");

  xs_load_options_init(&o);
  o.max_depth = 3; /* the object, data, a list */
  expect_with(&o, CM "data: {b: [1]}\n", XS_OK, NULL);
  expect_with(&o, CM "data: {b: [[1]]}\n", XS_ELIMIT,
              "nesting deeper than 3 levels");

  xs_load_options_init(&o);
  o.max_alias_events = 2;
  expect_with(&o, CM "a: &x 1\nb: [*x, *x]\n", XS_OK, NULL);
  expect_with(&o, CM "a: &x 1\nb: [*x, *x, *x]\n", XS_ELIMIT,
              "too many alias uses in one document (limit 2)");

  xs_load_options_init(&o);
  o.max_alias_expansion = 6; /* nodes the aliases add: [1, 2, 3] is 4 */
  expect_with(&o, CM "a: &x [1, 2]\nb: [*x, *x]\n", XS_OK, NULL);
  expect_with(&o, CM "a: &x [1, 2, 3]\nb: [*x, *x]\n", XS_ELIMIT,
              "aliases expand the document by more than 6 nodes (limit "
              "max_alias_expansion)");

  xs_load_options_init(&o);
  o.max_file_size = 8;
  expect_with(&o, "---\n---\n", XS_OK, NULL);
  expect_with(&o, "---\n---\n\n", XS_ELIMIT, "file is larger than 8 bytes");

  xs_load_options_init(&o);
  o.max_files = 2;
  make_files(dir, 3);
  paths[0] = dir;
  assert_int_equal(xs_registry_load_paths(paths, 1, &o, &reg, &err), XS_ELIMIT);
  assert_null(reg);
  assert_string_equal(err.message, "more than 2 manifest files");
  snprintf(path, sizeof(path), "%s/f000000.yaml", dir); /* now exactly */
  assert_int_equal(unlink(path), 0);
  assert_int_equal(xs_registry_load_paths(paths, 1, &o, &reg, &err), XS_OK);
  xs_registry_free(reg);
  reg = NULL;
  /* a file on disk over max_file_size, refused before it is read */
  xs_load_options_init(&o);
  o.max_file_size = 8;
  snprintf(path, sizeof(path), "%s/f000001.yaml", dir);
  {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("---\n---\n\n", f);
    fclose(f);
  }
  paths[0] = path;
  assert_int_equal(xs_registry_load_paths(paths, 1, &o, &reg, &err), XS_ELIMIT);
  assert_null(reg);
  assert_string_equal(err.message, "file is larger than 8 bytes");
  remove_dir(dir);
}

/* A limit can only be tightened: above its bound is XS_EINVAL, with a
 * message. 0 is the bound. */
static void test_load_limit_above_its_bound_einval(void **s) {
  xs_load_options o;
  xs_registry *reg = NULL;
  xs_error err;
  (void)s;
  xs_load_options_init(&o);
  assert_int_equal(o.max_documents, 0);
  assert_int_equal(o.max_files, 0);
  o.max_documents = XS_MAX_DOCUMENTS + 1;
  assert_int_equal(xs_registry_load_buffer("", 0, NULL, &o, &reg, &err),
                   XS_EINVAL);
  assert_null(reg);
  assert_string_equal(err.message,
                      "max_documents 1000001 is above XS_MAX_DOCUMENTS "
                      "(1000000): a load can only tighten it");
  xs_load_options_init(&o);
  o.max_depth = XS_MAX_DEPTH + 1;
  assert_int_equal(xs_registry_load_buffer("", 0, NULL, &o, &reg, &err),
                   XS_EINVAL);
  assert_string_equal(err.message, "max_depth 65 is above XS_MAX_DEPTH (64): "
                                   "a load can only tighten it");
  xs_load_options_init(&o);
  o.max_documents = XS_MAX_DOCUMENTS; /* the bound itself is fine */
  o.max_files = XS_MAX_FILES;
  assert_int_equal(xs_registry_load_buffer("", 0, NULL, &o, &reg, &err), XS_OK);
  xs_registry_free(reg);
}

/* xs_load_options grows at the end: the function a 0.1.0 binary calls
 * never writes past 0.1.0's struct, and a struct that short (struct_size)
 * gets the default limits whatever lies after it. */
static void test_load_options_from_an_older_header(void **s) {
  const size_t v1 =
      offsetof(xs_load_options, allow_insecure_permissions) + sizeof(int);
  union {
    xs_load_options o;
    unsigned char bytes[sizeof(xs_load_options) + 16];
  } u;
  xs_registry *reg = NULL;
  xs_error err;
  size_t i;
  (void)s;
  memset(&u, 0xa5, sizeof(u));
  (xs_load_options_init)(&u.o); /* the function, as a 0.1.0 binary calls it */
  assert_int_equal(u.o.struct_size, v1);
  assert_string_equal(u.o.default_namespace, "default");
  for (i = v1; i < sizeof(u.bytes); i++)
    assert_int_equal(u.bytes[i], 0xa5); /* the caller's, untouched */
  /* 0xa5a5... in max_*: past struct_size, so not read */
  u.o.allow_insecure_permissions = 0;
  assert_int_equal(
      xs_registry_load_buffer("---\n---\n", 8, NULL, &u.o, &reg, &err), XS_OK);
  xs_registry_free(reg);
  /* the sized form writes exactly the size it is given */
  memset(&u, 0xa5, sizeof(u));
  xs_load_options_init_size(&u.o, v1);
  assert_int_equal(u.o.struct_size, v1);
  for (i = v1; i < sizeof(u.bytes); i++)
    assert_int_equal(u.bytes[i], 0xa5);
  xs_load_options_init(&u.o); /* the macro: this header's size */
  assert_int_equal(u.o.struct_size, sizeof(xs_load_options));
  assert_int_equal(u.o.max_file_size, 0);
}

/* The default bounds are the limits a load runs with when nothing is
 * tightened (all six, through the loader), and the document bound is
 * loaded for real once: 1,000,000 empty documents pass and one more is
 * refused (4 MB in memory, about a second natively). The 100,001-file
 * directory is not built: the file count is the same code with a
 * smaller number (the test above). */
static void test_load_default_limits_are_the_documented_bounds(void **s) {
  xs_load_options lim;
  xs_loader *l;
  xs_error err;
  size_t i, n = (size_t)XS_MAX_DOCUMENTS + 1;
  char *docs;
  (void)s;
  assert_int_equal(xs_loader_new(NULL, &l, &err), XS_OK);
  xs_loader_limits_get(l, &lim);
  xs_loader_free(l);
  assert_int_equal(lim.max_file_size, XS_MAX_FILE_SIZE);
  assert_int_equal(lim.max_depth, XS_MAX_DEPTH);
  assert_int_equal(lim.max_documents, XS_MAX_DOCUMENTS);
  assert_int_equal(lim.max_alias_events, XS_MAX_ALIAS_EVENTS);
  assert_int_equal(lim.max_alias_expansion, XS_MAX_ALIAS_EXPANSION);
  assert_int_equal(lim.max_files, XS_MAX_FILES);
  if (XS_TEST_SANITIZER[0] != '\0' || xs_test_under_valgrind())
    XS_SKIP("a million documents are loaded in the plain build only; here "
            "the same limit is checked with small numbers");
  docs = malloc(n * 4 + 1);
  assert_non_null(docs);
  for (i = 0; i < n; i++)
    memcpy(docs + i * 4, "---\n", 4);
  docs[n * 4] = '\0';
  expect_error(docs, XS_ELIMIT, "more than 1000000 documents", 0, 0);
  docs[(n - 1) * 4] = '\0'; /* exactly the limit */
  xs_registry_free(expect_ok(docs));
  free(docs);
}

/* Manifests others can write are refused (whoever can write one can
 * repoint an alias), files and given directories alike, unless the caller
 * opts out. */
static void test_load_insecure_permissions_refused(void **s) {
  char dir[] = "/tmp/xsvc-perm-XXXXXX", path[600], cmd[600];
  xs_registry *reg = NULL;
  xs_error err;
  xs_load_options opts;
  const char *paths[1];
  (void)s;
  assert_non_null(mkdtemp(dir));
  paths[0] = path;
  write_file(dir, "a.yaml", EXT("a", "a.example.com"));
  snprintf(path, sizeof(path), "%s/a.yaml", dir);
  assert_int_equal(chmod(path, 0664), 0);
  assert_int_equal(xs_registry_load(path, &reg, &err), XS_EPOLICY);
  assert_null(reg);
  assert_string_equal(err.file, path);
  assert_string_equal(err.message,
                      "file is writable by group (mode 0664): whoever can "
                      "write it can repoint an alias; remove that permission "
                      "(chmod go-w) or allow insecure permissions");
  assert_int_equal(xs_registry_load(dir, &reg, &err),
                   XS_EPOLICY); /* in a dir */
  assert_null(reg);
  xs_load_options_init(&opts);
  opts.allow_insecure_permissions = 1;
  assert_int_equal(xs_registry_load_paths(paths, 1, &opts, &reg, &err), XS_OK);
  xs_registry_free(reg);
  reg = NULL;
  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(xs_registry_load(dir, &reg, &err), XS_OK);
  xs_registry_free(reg);
  reg = NULL;
  assert_int_equal(chmod(dir, 0757), 0);
  assert_int_equal(xs_registry_load(dir, &reg, &err), XS_EPOLICY);
  assert_string_equal(err.file, dir);
  assert_non_null(strstr(err.message, " is writable by others (mode 0757)"));
  /* sticky: others may add entries (which fail the owner check), not
   * replace ours */
  assert_int_equal(chmod(dir, 01777), 0);
  assert_int_equal(xs_registry_load(dir, &reg, &err), XS_OK);
  xs_registry_free(reg);
  reg = NULL;
  assert_int_equal(chmod(dir, 0755), 0);
  assert_int_equal(xs_registry_load(dir, &reg, &err), XS_OK);
  xs_registry_free(reg);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* A temporary tree for the path checks, below the sticky /tmp:
 * top (0755) / mid (mode) / a.yaml (0644). top and mid receive the paths;
 * file the manifest's. */
static void perm_tree(char *top, char *mid, size_t midsize, char *file,
                      size_t filesize, mode_t mode) {
  assert_non_null(mkdtemp(top));
  assert_int_equal(chmod(top, 0755), 0);
  snprintf(mid, midsize, "%s/mid", top);
  assert_int_equal(mkdir(mid, 0755), 0);
  write_file(mid, "a.yaml", EXT("a", "a.example.com"));
  snprintf(file, filesize, "%s/a.yaml", mid);
  assert_int_equal(chmod(file, 0644), 0);
  assert_int_equal(chmod(mid, mode), 0);
}

static void remove_tree(const char *top) {
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
  assert_int_equal(system(cmd), 0);
}

/* The directories above a manifest count, not only the file and the
 * directory named: a 0644 file in a directory others may write is
 * refused, the offending directory named, through every way of naming the
 * file (absolute, relative, the directory) and the opt-out still works. */
static void test_load_writable_directory_above_file_refused(void **s) {
  char top[] = "/tmp/xsvc-perm-XXXXXX", mid[200], file[400], sub[300];
  char want[900], cwd[4096];
  xs_registry *reg = NULL;
  xs_error err;
  xs_load_options opts;
  const char *paths[1];
  (void)s;
  perm_tree(top, mid, sizeof(mid), file, sizeof(file), 0777);
  snprintf(want, sizeof(want),
           "directory %s is writable by others (mode 0777): whoever can "
           "write it can repoint an alias; remove that permission (chmod "
           "go-w) or allow insecure permissions",
           mid);
  assert_int_equal(xs_registry_load(file, &reg, &err), XS_EPOLICY);
  assert_null(reg);
  assert_string_equal(err.file, file);
  assert_string_equal(err.message, want);
  assert_int_equal(xs_registry_load(mid, &reg, &err), XS_EPOLICY);
  assert_string_equal(err.message, want);
  /* relative to the working directory: its path is checked too */
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir(mid), 0);
  assert_int_equal(xs_registry_load("a.yaml", &reg, &err), XS_EPOLICY);
  assert_string_equal(err.message, want);
  assert_int_equal(chdir(cwd), 0);
  /* group-writable, two levels up */
  assert_int_equal(chmod(mid, 0775), 0);
  snprintf(sub, sizeof(sub), "%s/sub", mid);
  assert_int_equal(mkdir(sub, 0755), 0);
  write_file(sub, "b.yaml", EXT("b", "b.example.com"));
  snprintf(file, sizeof(file), "%s/b.yaml", sub);
  assert_int_equal(chmod(file, 0644), 0);
  assert_int_equal(chmod(sub, 0755), 0);
  assert_int_equal(xs_registry_load(sub, &reg, &err), XS_EPOLICY);
  assert_non_null(strstr(err.message, " is writable by group (mode 0775)"));
  assert_non_null(strstr(err.message, mid));
  xs_load_options_init(&opts);
  opts.allow_insecure_permissions = 1;
  paths[0] = file;
  assert_int_equal(xs_registry_load_paths(paths, 1, &opts, &reg, &err), XS_OK);
  xs_registry_free(reg);
  reg = NULL;
  assert_int_equal(chmod(mid, 0755), 0);
  assert_int_equal(xs_registry_load(sub, &reg, &err), XS_OK);
  xs_registry_free(reg);
  remove_tree(top);
}

/* A sticky directory others may write (as /tmp, mode 1777) above or as
 * the directory named is fine. */
static void test_load_sticky_directory_above_file_accepted(void **s) {
  char top[] = "/tmp/xsvc-perm-XXXXXX", mid[600], file[600];
  xs_registry *reg = NULL;
  xs_error err;
  (void)s;
  perm_tree(top, mid, sizeof(mid), file, sizeof(file), 01777);
  assert_int_equal(xs_registry_load(file, &reg, &err), XS_OK);
  assert_int_equal(xs_registry_service_count(reg), 1);
  xs_registry_free(reg);
  reg = NULL;
  assert_int_equal(xs_registry_load(mid, &reg, &err), XS_OK);
  assert_int_equal(xs_registry_service_count(reg), 1);
  xs_registry_free(reg);
  remove_tree(top);
}

#define NOBODY 65534

/* Only root and the user loading may own a manifest or a directory above
 * it; in a sticky directory, that is what keeps others' files out. */
static void test_load_owned_by_another_user_refused(void **s) {
  char top[] = "/tmp/xsvc-perm-XXXXXX", mid[600], file[600], want[900];
  xs_registry *reg = NULL;
  xs_error err;
  (void)s;
  if (geteuid() != 0) {
    print_message("not root: cannot chown a file to another user\n");
    skip();
  }
  perm_tree(top, mid, sizeof(mid), file, sizeof(file), 0755);
  assert_int_equal(chown(file, NOBODY, NOBODY), 0);
  assert_int_equal(xs_registry_load(file, &reg, &err), XS_EPOLICY);
  assert_null(reg);
  assert_string_equal(err.file, file);
  assert_string_equal(err.message,
                      "file is owned by uid 65534, neither root nor the user "
                      "loading it (uid 0): its owner can repoint an alias; "
                      "change the owner or allow insecure permissions");
  /* put there by another user in a sticky directory */
  assert_int_equal(chmod(mid, 01777), 0);
  assert_int_equal(xs_registry_load(mid, &reg, &err), XS_EPOLICY);
  assert_string_equal(err.file, file);
  /* a directory above owned by another user */
  assert_int_equal(chown(file, 0, 0), 0);
  assert_int_equal(chmod(mid, 0755), 0);
  assert_int_equal(chown(mid, NOBODY, NOBODY), 0);
  snprintf(want, sizeof(want),
           "directory %s is owned by uid 65534, neither root nor the user "
           "loading it (uid 0): its owner can repoint an alias; change the "
           "owner or allow insecure permissions",
           mid);
  assert_int_equal(xs_registry_load(file, &reg, &err), XS_EPOLICY);
  assert_string_equal(err.message, want);
  assert_int_equal(chown(mid, 0, 0), 0);
  assert_int_equal(xs_registry_load(file, &reg, &err), XS_OK);
  xs_registry_free(reg);
  remove_tree(top);
}

/* Symbolic links are followed as the kernel follows them and checked
 * where they lead: a ConfigMap volume (a.yaml -> ..data/a.yaml, ..data ->
 * ..2026_01_01) loads; a link into a directory others may write is
 * refused, naming that directory; a link another user owns is refused. */
static void test_load_symlinks_checked_where_they_lead(void **s) {
  char top[] = "/tmp/xsvc-perm-XXXXXX", mid[600], file[600];
  char cm[100], ver[200], link[300], want[900];
  xs_registry *reg = NULL;
  xs_error err;
  (void)s;
  perm_tree(top, mid, sizeof(mid), file, sizeof(file), 0755);
  snprintf(cm, sizeof(cm), "%s/config", top);
  assert_int_equal(mkdir(cm, 0755), 0);
  assert_int_equal(chmod(cm, 0755), 0);
  snprintf(ver, sizeof(ver), "%s/..2026_01_01", cm);
  assert_int_equal(mkdir(ver, 0755), 0);
  assert_int_equal(chmod(ver, 0755), 0);
  write_file(ver, "c.yaml", EXT("c", "c.example.com"));
  snprintf(link, sizeof(link), "%s/c.yaml", ver);
  assert_int_equal(chmod(link, 0644), 0);
  snprintf(link, sizeof(link), "%s/..data", cm);
  assert_int_equal(symlink("..2026_01_01", link), 0);
  snprintf(link, sizeof(link), "%s/c.yaml", cm);
  assert_int_equal(symlink("..data/c.yaml", link), 0);
  assert_int_equal(xs_registry_load(cm, &reg, &err), XS_OK);
  assert_int_equal(xs_registry_service_count(reg), 1);
  xs_registry_free(reg);
  reg = NULL;
  assert_int_equal(xs_registry_load(link, &reg, &err), XS_OK);
  xs_registry_free(reg);
  reg = NULL;
  /* a link to a manifest in a directory others may write, and a
   * directory reached through ".." after a link */
  snprintf(link, sizeof(link), "%s/a.yaml", cm);
  assert_int_equal(symlink(file, link), 0);
  assert_int_equal(chmod(mid, 0777), 0);
  snprintf(want, sizeof(want),
           "directory %s is writable by others (mode 0777): whoever can "
           "write it can repoint an alias; remove that permission (chmod "
           "go-w) or allow insecure permissions",
           mid);
  assert_int_equal(xs_registry_load(cm, &reg, &err), XS_EPOLICY);
  assert_string_equal(err.file, link);
  assert_string_equal(err.message, want);
  snprintf(file, sizeof(file), "%s/..data/../../mid/a.yaml", cm);
  assert_int_equal(xs_registry_load(file, &reg, &err), XS_EPOLICY);
  assert_string_equal(err.message, want);
  assert_int_equal(chmod(mid, 0755), 0);
  assert_int_equal(xs_registry_load(file, &reg, &err), XS_OK);
  xs_registry_free(reg);
  reg = NULL;
  if (geteuid() == 0) {
    assert_int_equal(lchown(link, NOBODY, NOBODY), 0);
    assert_int_equal(xs_registry_load(cm, &reg, &err), XS_EPOLICY);
    assert_non_null(strstr(err.message, "symbolic link "));
    assert_non_null(strstr(err.message, " is owned by uid 65534"));
  }
  remove_tree(top);
}

static void test_load_bad_arguments(void **s) {
  xs_registry *reg = NULL;
  xs_error err;
  xs_load_options opts;
  (void)s;
  assert_int_equal(xs_registry_load(NULL, &reg, &err), XS_EINVAL);
  assert_int_equal(xs_registry_load_buffer(NULL, 3, NULL, NULL, &reg, &err),
                   XS_EINVAL);
  xs_load_options_init(&opts);
  opts.default_namespace = "Bad";
  assert_int_equal(xs_registry_load_buffer("", 0, NULL, &opts, &reg, &err),
                   XS_EINVAL);
  assert_null(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_external_name_service_ok),
      cmocka_unit_test(test_load_uppercase_name_rejected_with_api_message),
      cmocka_unit_test(test_load_name_starting_with_digit_rejected),
      cmocka_unit_test(test_load_name_of_64_chars_rejected),
      cmocka_unit_test(test_load_uppercase_namespace_rejected),
      cmocka_unit_test(test_load_external_name_rules),
      cmocka_unit_test(test_load_ip_like_external_name_accepted_with_warning),
      cmocka_unit_test(test_load_externalname_too_long_or_long_label),
      cmocka_unit_test(test_load_external_forbids_cluster_ip_and_families),
      cmocka_unit_test(test_load_cluster_ip_needs_ports_external_does_not),
      cmocka_unit_test(test_load_port_rules),
      cmocka_unit_test(test_load_unknown_type_and_bad_cluster_ip),
      cmocka_unit_test(test_load_missing_name_and_kind),
      cmocka_unit_test(test_load_kinds_lists_and_defaults),
      cmocka_unit_test(test_load_json_input),
      cmocka_unit_test(test_load_endpoint_slices_and_endpoints),
      cmocka_unit_test(test_load_duplicate_service_names_first_position),
      cmocka_unit_test(test_load_all_or_nothing_reports_every_error),
      cmocka_unit_test(test_load_hostile_yaml_fails_cleanly),
      cmocka_unit_test(test_load_empty_input_is_an_empty_registry),
      cmocka_unit_test(test_load_directory_sorted_and_all_or_nothing),
      cmocka_unit_test(test_load_limits_tightened_per_load_one_past_refused),
      cmocka_unit_test(test_load_limit_above_its_bound_einval),
      cmocka_unit_test(test_load_options_from_an_older_header),
      cmocka_unit_test(test_load_default_limits_are_the_documented_bounds),
      cmocka_unit_test(test_load_insecure_permissions_refused),
      cmocka_unit_test(test_load_writable_directory_above_file_refused),
      cmocka_unit_test(test_load_sticky_directory_above_file_accepted),
      cmocka_unit_test(test_load_owned_by_another_user_refused),
      cmocka_unit_test(test_load_symlinks_checked_where_they_lead),
      cmocka_unit_test(test_load_bad_arguments),
  };
  return XS_RUN_GROUP(tests, NULL, NULL);
}
