/* The manifest loader: every object kind it reads, the API server's
 * validation messages at the right file:line:column, all-or-nothing loads,
 * directory handling, and hostile YAML (alias bombs, deep nesting, huge
 * scalars, bad UTF-8, tabs, duplicate keys, wrong types). */
#include <fcntl.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "manifest.h"
#include "registry.h"

#define DATA XSVC_TEST_DATA "/manifests"
#define MAX_DIAGS 64

#include "api_messages.h"

/* Every diagnostic of the last load, in order. */
typedef struct diags {
  size_t n, errors, warnings;
  xs_error d[MAX_DIAGS];
  int warning[MAX_DIAGS];
} diags;

static diags D;

static void on_diag(const xs_error *e, int is_warning, void *arg) {
  diags *d = arg;
  if (is_warning)
    d->warnings++;
  else
    d->errors++;
  if (d->n < MAX_DIAGS) {
    d->d[d->n] = *e;
    d->warning[d->n] = is_warning;
    d->n++;
  }
}

static xs_load_options opts_with_diag(void) {
  xs_load_options o;
  xs_load_options_init(&o);
  o.diag = on_diag;
  o.diag_arg = &D;
  memset(&D, 0, sizeof(D));
  return o;
}

/* A sentinel that a failed load must leave in *out. */
static xs_registry *const UNTOUCHED = (xs_registry *)&D;

static xs_status load_text(const char *yaml, xs_registry **reg, xs_error *err) {
  xs_load_options o = opts_with_diag();
  memset(err, 0, sizeof(*err));
  *reg = UNTOUCHED;
  return xs_registry_load_buffer(yaml, strlen(yaml), "t.yaml", &o, reg, err);
}

/* Load yaml that must fail; check the first error and that it was the
 * only diagnostic unless more are expected. */
static void expect_error(const char *yaml, xs_status st, unsigned line,
                         unsigned col, const char *message) {
  xs_registry *reg;
  xs_error err;
  assert_int_equal(load_text(yaml, &reg, &err), st);
  assert_ptr_equal(reg, UNTOUCHED);
  assert_int_equal(err.status, st);
  assert_string_equal(err.file, "t.yaml");
  assert_string_equal(err.message, message);
  assert_int_equal(err.line, line);
  assert_int_equal(err.column, col);
  assert_true(D.errors >= 1);
  assert_string_equal(D.d[0].message, message);
}

static xs_registry *load_ok(const char *yaml) {
  xs_registry *reg;
  xs_error err;
  xs_status st = load_text(yaml, &reg, &err);
  if (st != XS_OK)
    fail_msg("load failed: %u:%u: %s", err.line, err.column, err.message);
  assert_int_equal(D.errors, 0);
  return reg;
}

/* The stored service ns/name, or NULL; the registry keeps it alive. */
static const xs_service *find(xs_registry *reg, const char *ns,
                              const char *name) {
  xs_snapshot *snap = xs_registry_snapshot(reg);
  const xs_service *svc =
      xs_snapshot_find(snap, ns, strlen(ns), name, strlen(name));
  xs_snapshot_unref(snap); /* the registry still holds it */
  return svc;
}

static int has_namespace(xs_registry *reg, const char *ns) {
  xs_snapshot *snap = xs_registry_snapshot(reg);
  int r = xs_snapshot_has_namespace(snap, ns, strlen(ns));
  xs_snapshot_unref(snap);
  return r;
}

#define EXT(name, value)                                                       \
  "apiVersion: v1\n"                                                           \
  "kind: Service\n"                                                            \
  "metadata:\n"                                                                \
  "  name: " name "\n"                                                         \
  "  namespace: prod\n"                                                        \
  "spec:\n"                                                                    \
  "  type: ExternalName\n"                                                     \
  "  externalName: " value "\n"

/* ---- objects and kinds ----------------------------------------------------
 */

static void test_load_external_name_stored_without_trailing_dot(void **s) {
  xs_registry *reg = load_ok(EXT("fq-alias", "my.database.example.com."));
  const xs_service *svc = find(reg, "prod", "fq-alias");
  (void)s;
  assert_non_null(svc);
  assert_int_equal(svc->type, XS_SVC_EXTERNAL);
  assert_string_equal(svc->external_name, "my.database.example.com");
  assert_string_equal(svc->external_fqdn, "my.database.example.com.");
  assert_int_equal(svc->ip_like, 0);
  assert_int_equal(xs_registry_service_count(reg), 1);
  assert_true(has_namespace(reg, "prod"));
  xs_registry_free(reg);
}

static void test_load_missing_namespace_uses_default(void **s) {
  xs_registry *reg = load_ok("apiVersion: v1\nkind: Service\nmetadata:\n"
                             "  name: payments\nspec:\n  type: ExternalName\n"
                             "  externalName: payments.example.com\n");
  (void)s;
  assert_non_null(find(reg, "default", "payments"));
  assert_null(find(reg, "prod", "payments"));
  xs_registry_free(reg);
}

static void test_load_default_namespace_option_used(void **s) {
  const char *y = "apiVersion: v1\nkind: Service\nmetadata:\n  name: p\n"
                  "spec:\n  type: ExternalName\n  externalName: p.example\n";
  xs_load_options o = opts_with_diag();
  xs_registry *reg = NULL;
  xs_error err;
  (void)s;
  o.default_namespace = "team-a";
  assert_int_equal(xs_registry_load_buffer(y, strlen(y), NULL, &o, &reg, &err),
                   XS_OK);
  assert_non_null(find(reg, "team-a", "p"));
  xs_registry_free(reg);
  o.default_namespace = "Bad_NS";
  reg = UNTOUCHED;
  assert_int_equal(xs_registry_load_buffer(y, strlen(y), NULL, &o, &reg, &err),
                   XS_EINVAL);
  assert_ptr_equal(reg, UNTOUCHED);
}

static void test_load_multi_document_with_empty_documents_all_loaded(void **s) {
  xs_registry *reg = load_ok("---\n---\n# only a comment\n---\n" EXT(
      "a", "a.example.com") "---\n" EXT("b", "b.example.com") "...\n---\n");
  (void)s;
  assert_int_equal(xs_registry_service_count(reg), 2);
  assert_non_null(find(reg, "prod", "a"));
  assert_non_null(find(reg, "prod", "b"));
  xs_registry_free(reg);
}

static void test_load_empty_buffer_gives_empty_registry(void **s) {
  xs_registry *reg = load_ok("");
  (void)s;
  assert_int_equal(xs_registry_service_count(reg), 0);
  xs_registry_free(reg);
  reg = load_ok("# nothing but a comment\n");
  assert_int_equal(xs_registry_service_count(reg), 0);
  xs_registry_free(reg);
}

static void
test_load_list_items_loaded_and_typed_list_items_inherit_kind(void **s) {
  xs_registry *reg = load_ok(
      "apiVersion: v1\nkind: List\nitems:\n"
      "- apiVersion: v1\n  kind: Service\n  metadata: {name: a, namespace: x}\n"
      "  spec: {type: ExternalName, externalName: a.example.com}\n"
      "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n"
      "---\n"
      "apiVersion: v1\nkind: ServiceList\nmetadata: {resourceVersion: '1'}\n"
      "items:\n"
      "- metadata: {name: b, namespace: x}\n"
      "  spec: {type: ExternalName, externalName: b.example.com}\n");
  (void)s;
  assert_int_equal(xs_registry_service_count(reg), 2);
  assert_non_null(find(reg, "x", "a"));
  assert_non_null(find(reg, "x", "b"));
  assert_int_equal(xs_registry_skipped_count(reg), 1);
  xs_registry_free(reg);
}

static void test_load_cluster_ip_and_dual_stack_addresses(void **s) {
  xs_registry *reg = load_ok(
      "apiVersion: v1\nkind: Service\nmetadata: {name: one, namespace: p}\n"
      "spec:\n  type: NodePort\n  clusterIP: 10.96.0.20\n"
      "  ports: [{port: 80}]\n"
      "---\n"
      "apiVersion: v1\nkind: Service\nmetadata: {name: two, namespace: p}\n"
      "spec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.21\n"
      "  clusterIPs: [10.96.0.21, 'fd00::21']\n"
      "  ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: "
      "UDP}]\n");
  const xs_service *one = find(reg, "p", "one"), *two = find(reg, "p", "two");
  char buf[64];
  (void)s;
  assert_non_null(one);
  assert_int_equal(one->type, XS_SVC_CLUSTER_IP);
  assert_int_equal(one->nips, 1);
  assert_string_equal(xs_addr_format(&one->ips[0], buf, sizeof(buf)),
                      "10.96.0.20");
  assert_int_equal(one->nports, 1);
  assert_null(one->ports[0].name);
  assert_int_equal(one->ports[0].port, 80);
  assert_int_equal(one->ports[0].proto, XS_PROTO_TCP);
  assert_non_null(two);
  assert_int_equal(two->nips, 2);
  assert_string_equal(xs_addr_format(&two->ips[1], buf, sizeof(buf)),
                      "fd00::21");
  assert_int_equal(two->nports, 2);
  assert_string_equal(two->ports[1].name, "dns");
  assert_int_equal(two->ports[1].proto, XS_PROTO_UDP);
  xs_registry_free(reg);
}

static void test_load_headless_slice_readiness_and_hostnames(void **s) {
  xs_registry *reg = load_ok(
      "apiVersion: v1\nkind: Service\nmetadata: {name: hdls, namespace: p}\n"
      "spec:\n  clusterIP: None\n"
      "---\n"
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
      "metadata:\n  name: hdls-x7k2p\n  namespace: p\n  labels:\n"
      "    kubernetes.io/service-name: hdls\n"
      "addressType: IPv4\n"
      "endpoints:\n"
      "  - addresses: [10.1.0.1]\n    hostname: pet-0\n"
      "    conditions: {ready: true}\n"
      "  - addresses: [10.1.0.2]\n"
      "  - addresses: [10.1.0.3]\n    conditions: {ready: false}\n"
      "---\n"
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
      "metadata: {name: fq, namespace: p, labels: "
      "{kubernetes.io/service-name: hdls}}\n"
      "addressType: FQDN\nendpoints: [{addresses: [db.example.com]}]\n");
  const xs_service *svc = find(reg, "p", "hdls");
  (void)s;
  assert_non_null(svc);
  assert_int_equal(svc->type, XS_SVC_HEADLESS);
  assert_int_equal(svc->nports, 0); /* headless needs no ports */
  assert_int_equal(svc->nendpoints, 3);
  assert_string_equal(svc->endpoints[0].hostname, "pet-0");
  assert_int_equal(svc->endpoints[0].ready, 1);
  assert_null(svc->endpoints[1].hostname);
  assert_int_equal(svc->endpoints[1].ready, 1); /* absent = ready */
  assert_int_equal(svc->endpoints[2].ready, 0);
  assert_int_equal(svc->tolerate_unready, 0);
  xs_registry_free(reg);
}

static void test_load_endpoints_v1_ready_and_not_ready(void **s) {
  xs_registry *reg = load_ok(
      "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: p}\n"
      "spec: {clusterIP: None}\n"
      "---\n"
      "apiVersion: v1\nkind: Endpoints\nmetadata: {name: db, namespace: p}\n"
      "subsets:\n"
      "- addresses: [{ip: 10.2.0.1, hostname: db-0}]\n"
      "  notReadyAddresses: [{ip: 'fd00::2'}]\n");
  const xs_service *svc = find(reg, "p", "db");
  (void)s;
  assert_non_null(svc);
  assert_int_equal(svc->nendpoints, 2);
  assert_string_equal(svc->endpoints[0].hostname, "db-0");
  assert_int_equal(svc->endpoints[0].ready, 1);
  assert_int_equal(svc->endpoints[1].addr.family, 6);
  assert_int_equal(svc->endpoints[1].ready, 0);
  xs_registry_free(reg);
}

static void test_load_tolerate_unready_annotation_and_publish_flag(void **s) {
  xs_registry *reg = load_ok(
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: p\n"
      "  annotations:\n"
      "    service.alpha.kubernetes.io/tolerate-unready-endpoints: \"true\"\n"
      "spec: {clusterIP: None}\n"
      "---\n"
      "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: p}\n"
      "spec: {clusterIP: None, publishNotReadyAddresses: true}\n"
      "---\n"
      "apiVersion: v1\nkind: Service\nmetadata: {name: c, namespace: p}\n"
      "spec: {clusterIP: None, publishNotReadyAddresses: false}\n");
  (void)s;
  assert_int_equal(find(reg, "p", "a")->tolerate_unready, 1);
  assert_int_equal(find(reg, "p", "b")->tolerate_unready, 1);
  assert_int_equal(find(reg, "p", "c")->tolerate_unready, 0);
  xs_registry_free(reg);
}

static void test_load_namespace_object_declared(void **s) {
  xs_registry *reg =
      load_ok("apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n");
  (void)s;
  assert_true(has_namespace(reg, "dev"));
  assert_false(has_namespace(reg, "prod"));
  assert_int_equal(xs_registry_service_count(reg), 0);
  xs_registry_free(reg);
}

static void test_load_other_kinds_skipped_and_counted(void **s) {
  xs_registry *reg = load_ok(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
      "---\n"
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
      "---\n"
      "apiVersion: v2\nkind: Service\nmetadata: {name: not-v1}\n");
  (void)s;
  assert_int_equal(xs_registry_skipped_count(reg), 3);
  assert_int_equal(xs_registry_service_count(reg), 0);
  xs_registry_free(reg);
}

static void test_load_merge_key_values_visible(void **s) {
  xs_registry *reg =
      load_ok("base: &base\n  type: ExternalName\n  externalName: x.example\n"
              "apiVersion: v1\nkind: Service\nmetadata: {name: m, namespace: "
              "p}\nspec:\n  <<: *base\n  externalName: y.example\n");
  const xs_service *svc = find(reg, "p", "m");
  (void)s;
  assert_non_null(svc);
  assert_int_equal(svc->type, XS_SVC_EXTERNAL);
  assert_string_equal(svc->external_name, "y.example"); /* explicit wins */
  xs_registry_free(reg);
}

/* ---- validation messages and positions ------------------------------------
 */

/* row 63 */
static void test_load_uppercase_name_rejected_at_value_position(void **s) {
  (void)s;
  expect_error(EXT("My-Service", "db.example.com"), XS_EMANIFEST, 4, 9,
               "metadata.name: Invalid value: \"My-Service\": " DNS1035);
}

/* row 64 */
static void test_load_name_starting_with_digit_rejected(void **s) {
  (void)s;
  expect_error(EXT("1db", "db.example.com"), XS_EMANIFEST, 4, 9,
               "metadata.name: Invalid value: \"1db\": " DNS1035);
}

/* row 65 */
static void test_load_64_char_name_rejected(void **s) {
  (void)s;
  expect_error(
      EXT("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "db.example.com"),
      XS_EMANIFEST, 4, 9,
      "metadata.name: Invalid value: "
      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": "
      "must be no more than 63 characters");
}

static void test_load_missing_name_required(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata:\n  namespace: p\n"
               "spec: {type: ExternalName, externalName: a.b}\n",
               XS_EMANIFEST, 4, 3,
               "metadata.name: Required value: name or generateName is "
               "required");
}

/* row 66 */
static void test_load_uppercase_namespace_rejected(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
               "  namespace: Prod\nspec: {type: ExternalName, externalName: "
               "a.b}\n",
               XS_EMANIFEST, 5, 14,
               "metadata.namespace: Invalid value: \"Prod\": " DNS1123_LABEL);
}

static void test_load_dotted_namespace_must_not_contain_dots(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n",
               XS_EMANIFEST, 4, 9,
               "metadata.name: Invalid value: \"a.b\": must not contain dots");
}

/* row 67 */
static void test_load_underscore_external_name_rejected(void **s) {
  (void)s;
  expect_error(EXT("eu-db", "db_eu.example.com"), XS_EMANIFEST, 8, 17,
               "spec.externalName: Invalid value: \"db_eu.example.com\": "
               "" SUBDOMAIN);
}

/* row 68 */
static void test_load_uppercase_external_name_rejected(void **s) {
  (void)s;
  expect_error(EXT("a", "My.Example.com"), XS_EMANIFEST, 8, 17,
               "spec.externalName: Invalid value: \"My.Example.com\": "
               "" SUBDOMAIN);
}

/* row 70 */
static void test_load_two_trailing_dots_rejected(void **s) {
  (void)s;
  expect_error(EXT("a", "example.com.."), XS_EMANIFEST, 8, 17,
               "spec.externalName: Invalid value: \"example.com.\": "
               "" SUBDOMAIN);
}

/* row 71 */
static void test_load_ipv4_external_name_accepted_with_warning(void **s) {
  xs_registry *reg = load_ok(EXT("ip-like", "10.1.2.3"));
  const xs_service *svc = find(reg, "prod", "ip-like");
  (void)s;
  assert_non_null(svc);
  assert_int_equal(svc->ip_like, 1);
  assert_int_equal(D.warnings, 1);
  assert_int_equal(D.warning[0], 1);
  assert_int_equal(D.d[0].line, 8);
  assert_int_equal(D.d[0].column, 17);
  assert_string_equal(D.d[0].message,
                      "spec.externalName: \"10.1.2.3\" looks like an IPv4 "
                      "address: CoreDNS answers NXDOMAIN for it (an "
                      "ExternalName must be a DNS name)");
  xs_registry_free(reg);
}

/* row 72 */
static void test_load_ipv6_external_name_rejected(void **s) {
  (void)s;
  expect_error(EXT("a", "\"2001:db8::1\""), XS_EMANIFEST, 8, 17,
               "spec.externalName: Invalid value: \"2001:db8::1\": " SUBDOMAIN);
}

/* row 73 */
static void test_load_254_char_external_name_rejected(void **s) {
  char yaml[1024], name[300], want[600];
  size_t i;
  (void)s;
  for (i = 0; i < 254; i++)
    name[i] = (i % 50 == 49) ? '.' : 'a';
  name[254] = '\0';
  snprintf(yaml, sizeof(yaml), EXT("a", "%s"), name);
  snprintf(want, sizeof(want),
           "spec.externalName: Invalid value: \"%s\": must be no more than "
           "253 characters",
           name);
  expect_error(yaml, XS_EMANIFEST, 8, 17, want);
}

/* row 74 */
static void test_load_64_octet_label_rejected_by_xsvc(void **s) {
  const char *label =
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  char yaml[1024], want[600];
  (void)s;
  snprintf(yaml, sizeof(yaml), EXT("a", "%s.example.com"), label);
  snprintf(want, sizeof(want),
           "spec.externalName: Invalid value: \"%s.example.com\": label "
           "\"%s\" is 64 octets long; DNS labels are at most 63 octets, so no "
           "DNS message can carry this name",
           label, label);
  expect_error(yaml, XS_EMANIFEST, 8, 17, want);
}

/* row 75 */
static void test_load_empty_external_name_required(void **s) {
  (void)s;
  expect_error(EXT("a", ""), XS_EMANIFEST, 7, 3,
               "spec.externalName: Required value");
  expect_error(EXT("a", "\"\""), XS_EMANIFEST, 8, 17,
               "spec.externalName: Required value");
}

/* row 76 */
static void test_load_external_with_cluster_ip_forbidden(void **s) {
  (void)s;
  expect_error(EXT("a", "a.example.com") "  clusterIP: 10.0.0.5\n",
               XS_EMANIFEST, 9, 14,
               "spec.clusterIPs: Forbidden: may not be set for ExternalName "
               "services");
  expect_error(EXT("a", "a.example.com") "  clusterIP: None\n", XS_EMANIFEST, 9,
               14,
               "spec.clusterIPs: Forbidden: may not be set for ExternalName "
               "services");
}

/* row 77 */
static void test_load_external_with_ip_families_forbidden(void **s) {
  (void)s;
  expect_error(EXT("a", "a.example.com") "  ipFamilies: [IPv4]\n", XS_EMANIFEST,
               9, 15,
               "spec.ipFamilies: Forbidden: may not be set for ExternalName "
               "services");
  expect_error(EXT("a", "a.example.com") "  ipFamilyPolicy: SingleStack\n",
               XS_EMANIFEST, 9, 19,
               "spec.ipFamilyPolicy: Forbidden: may not be set for "
               "ExternalName services");
}

/* row 78 */
static void test_load_external_without_ports_accepted(void **s) {
  xs_registry *reg = load_ok(EXT("a", "a.example.com"));
  (void)s;
  assert_int_equal(find(reg, "prod", "a")->nports, 0);
  xs_registry_free(reg);
}

/* row 79 */
static void test_load_localhost_alias_accepted_with_warning(void **s) {
  xs_registry *reg = load_ok(EXT("a", "localhost") "---\n" EXT(
      "b", "api.localhost.") "---\n" EXT("c", "notlocalhost"));
  (void)s;
  assert_int_equal(xs_registry_service_count(reg), 3);
  assert_int_equal(D.warnings, 2);
  assert_int_equal(D.d[0].line, 8);
  assert_non_null(strstr(D.d[0].message, "\"localhost\" points at the local "
                                         "host"));
  assert_non_null(strstr(D.d[1].message, "\"api.localhost.\""));
  xs_registry_free(reg);
}

static void test_load_cluster_ip_without_ports_required(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  clusterIP: 10.0.0.1\n",
               XS_EMANIFEST, 5, 3, "spec.ports: Required value");
}

static void test_load_invalid_cluster_ip_rejected(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  clusterIP: 10.0.0.300\n  ports: [{port: 80}]\n",
               XS_EMANIFEST, 5, 14,
               "spec.clusterIPs[0]: Invalid value: \"10.0.0.300\": must be a "
               "valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  clusterIPs: [10.0.0.1, 10.0.0.2]\n"
               "  ports: [{port: 80}]\n",
               XS_EMANIFEST, 5, 26,
               "spec.clusterIPs[1]: Invalid value: \"10.0.0.2\": may specify "
               "no more than one IP for each IP family");
}

static void test_load_unknown_type_unsupported_value(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  type: Foo\n  ports: [{port: 80}]\n",
               XS_EMANIFEST, 5, 9,
               "spec.type: Unsupported value: \"Foo\": supported values: "
               "\"ClusterIP\", \"ExternalName\", \"LoadBalancer\", "
               "\"NodePort\"");
  assert_int_equal(D.errors, 1); /* not also checked as an ExternalName */
}

static void test_load_port_string_is_type_error(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  ports:\n  - name: http\n    port: \"eighty\"\n",
               XS_EMANIFEST, 7, 11,
               "spec.ports[0].port: Invalid type: expected integer, got "
               "string \"eighty\"");
}

static void test_load_port_rules_as_api(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  ports: [{port: 0}]\n",
               XS_EMANIFEST, 5, 18,
               "spec.ports[0].port: Invalid value: 0: must be between 1 and "
               "65535, inclusive");
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  ports: [{port: 80, protocol: HTTP}]\n",
               XS_EMANIFEST, 5, 32,
               "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported "
               "values: \"SCTP\", \"TCP\", \"UDP\"");
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  ports: [{name: a, port: 80}, {port: 81}]\n",
               XS_EMANIFEST, 5, 32, "spec.ports[1].name: Required value");
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  ports: [{name: a, port: 80}, {name: a, port: 81}]\n",
               XS_EMANIFEST, 5, 39,
               "spec.ports[1].name: Duplicate value: \"a\"");
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  ports: [{name: Http, port: 80}]\n",
               XS_EMANIFEST, 5, 18,
               "spec.ports[0].name: Invalid value: \"Http\": " DNS1123_LABEL);
}

static void test_load_bad_endpoint_address_rejected(void **s) {
  (void)s;
  expect_error("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
               "metadata: {name: s, labels: {kubernetes.io/service-name: x}}\n"
               "addressType: IPv4\n"
               "endpoints:\n- addresses: [10.0.0.999]\n",
               XS_EMANIFEST, 6, 15,
               "endpoints[0].addresses[0]: Invalid value: \"10.0.0.999\": must "
               "be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
}

static void test_load_missing_kind_or_api_version_error(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nmetadata: {name: a}\n", XS_EMANIFEST, 1, 1,
               "Object 'Kind' is missing");
  expect_error("kind: Service\nmetadata: {name: a}\n", XS_EMANIFEST, 1, 1,
               "Object 'apiVersion' is missing");
  expect_error("- just\n- a list\n", XS_EMANIFEST, 1, 1,
               "expected a Kubernetes object (a mapping), got array");
}

static void test_load_duplicate_service_names_both_positions(void **s) {
  (void)s;
  expect_error(EXT("a", "a.example.com") "---\n" EXT("a", "b.example.com"),
               XS_EEXIST, 13, 9,
               "services \"a\" already exists in namespace \"prod\" (first "
               "defined at t.yaml:1:1)");
}

static void test_load_every_error_reported_first_kept(void **s) {
  xs_registry *reg;
  xs_error err;
  (void)s;
  assert_int_equal(
      load_text(EXT("A", "a.example.com") "---\n" EXT(
                    "b", "b_b.example.com") "---\n" EXT("c", "c.com"),
                &reg, &err),
      XS_EMANIFEST);
  assert_int_equal(D.errors, 2);
  assert_int_equal(err.line, 4);
  assert_int_equal(D.d[1].line, 17);
  assert_ptr_equal(reg, UNTOUCHED);
}

/* ---- YAML-level errors -----------------------------------------------------
 */

static void test_load_yaml_syntax_error_position(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n"
               "  namespace: [prod\nspec:\n  type: ExternalName\n",
               XS_EMANIFEST, 6, 5,
               "YAML: did not find expected ',' or ']' while parsing a flow "
               "sequence");
}

static void test_load_tab_indentation_libyaml_error_passed_through(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata:\n\tname: a\n",
               XS_EMANIFEST, 4, 1,
               "YAML: found character that cannot start any token while "
               "scanning for the next token");
}

static void test_load_non_utf8_rejected_with_position(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata:\n  name: caf\xe9\n",
               XS_EMANIFEST, 4, 12,
               "YAML: incomplete UTF-8 octet sequence (at byte 50)");
  expect_error("apiVersion: v1\nkind: Service\nmetadata:\n  name: caf\xff-x\n",
               XS_EMANIFEST, 4, 12,
               "YAML: invalid leading UTF-8 octet (0xff at byte 50)");
}

static void test_load_duplicate_key_rejected_at_second_key(void **s) {
  (void)s;
  expect_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
               "spec:\n  ports:\n  - port: 80\n    port: 81\n",
               XS_EMANIFEST, 7, 5, "duplicate key \"port\"");
  /* a mapping past the pairwise-check size: found through the table */
  expect_error("data:\n  k0: 0\n  k1: 1\n  k2: 2\n  k3: 3\n  k4: 4\n  k5: 5\n"
               "  k6: 6\n  k7: 7\n  k8: 8\n  k9: 9\n  \"k3\": again\n",
               XS_EMANIFEST, 12, 3, "duplicate key \"k3\"");
}

static void test_load_alias_bomb_fails_fast_with_limit(void **s) {
  const char *bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\","
      "\"lol\"]\n"
      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
      "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
      "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
      "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
      "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
  xs_registry *reg;
  xs_error err;
  xs_loader *l;
  xs_loader_work w;
  (void)s;
  assert_int_equal(load_text(bomb, &reg, &err), XS_ELIMIT);
  assert_ptr_equal(reg, UNTOUCHED);
  assert_int_equal(err.line, 6); /* 9^6 nodes: the first past the limit */
  assert_string_equal(err.message, "aliases expand the document by more than "
                                   "100000 nodes (limit "
                                   "XS_MAX_ALIAS_EXPANSION)");
  /* Fast, counted rather than timed: nothing is expanded, each of the 46
   * aliases read costs one anchor lookup. */
  assert_int_equal(xs_loader_new(NULL, &l, &err), XS_OK);
  assert_int_equal(xs_loader_add_buffer(l, bomb, strlen(bomb), "bomb.yaml"),
                   XS_ELIMIT);
  xs_loader_work_get(l, &w);
  xs_loader_free(l);
  assert_true(w.lookups <= 46);
  assert_true(w.probes <= 4 * 46);
}

static void test_load_too_many_alias_uses_limit(void **s) {
  size_t n = XS_MAX_ALIAS_EVENTS + 1, i;
  char *y = malloc(32 + n * 4);
  char *p = y;
  xs_registry *reg;
  xs_error err;
  (void)s;
  p += sprintf(p, "a: &x 1\nb: [");
  for (i = 0; i < n; i++)
    p += sprintf(p, "*x,");
  strcpy(p, "]\n");
  assert_int_equal(load_text(y, &reg, &err), XS_ELIMIT);
  assert_string_equal(err.message,
                      "too many alias uses in one document (limit 10000)");
  assert_int_equal(err.line, 2);
  free(y);
}

static void test_load_recursive_alias_rejected(void **s) {
  (void)s;
  expect_error("a: &a [1, *a]\n", XS_EMANIFEST, 1, 11,
               "YAML: alias \"*a\" refers to a node that contains it "
               "(recursive data is not supported)");
  expect_error("a: *nope\n", XS_EMANIFEST, 1, 4,
               "YAML: unknown alias \"*nope\"");
}

static void test_load_deep_nesting_limit(void **s) {
  char y[512];
  size_t i;
  (void)s;
  for (i = 0; i < 100; i++)
    y[i] = '[';
  y[100] = '\0';
  expect_error(y, XS_ELIMIT, 1, 65, "nesting deeper than 64 levels");
  for (i = 0; i < 63; i++)
    y[i] = '[';
  for (i = 0; i < 63; i++)
    y[63 + i] = ']';
  y[126] = '\0';
  expect_error(y, XS_EMANIFEST, 1, 1,
               "expected a Kubernetes object (a mapping), got array");
}

static void test_load_huge_scalar_within_file_limit_accepted(void **s) {
  size_t big = 8u * 1024u * 1024u;
  const char *head = "apiVersion: v1\nkind: Service\nmetadata:\n  name: big\n"
                     "  namespace: p\n  annotations:\n    blob: \"";
  const char *tail = "\"\nspec: {type: ExternalName, externalName: a.b}\n";
  size_t hl = strlen(head), tl = strlen(tail);
  char *y = malloc(hl + big + tl + 1);
  xs_registry *reg;
  xs_error err;
  (void)s;
  memcpy(y, head, hl);
  memset(y + hl, 'x', big);
  memcpy(y + hl + big, tail, tl + 1);
  assert_int_equal(load_text(y, &reg, &err), XS_OK);
  assert_non_null(find(reg, "p", "big"));
  xs_registry_free(reg);
  free(y);
}

/* A ConfigMap with nkeys keys in one mapping and nkeys / 3 anchors, of
 * which XS_MAX_ALIAS_EVENTS / 10 are aliased, loaded through the loader
 * itself; what its lookups cost. */
static xs_loader_work wide_document_work(size_t nkeys) {
  size_t nanchors = nkeys / 3, naliases = XS_MAX_ALIAS_EVENTS / 10, i;
  char *y = malloc(nkeys * 16 + nanchors * 24 + naliases * 16 + 64);
  char *p = y;
  xs_loader *l;
  xs_loader_work w;
  xs_snapshot *snap = NULL;
  xs_error err;
  assert_non_null(y);
  p += sprintf(p, "apiVersion: v1\nkind: ConfigMap\ndata:\n");
  for (i = 0; i < nkeys; i++)
    p += sprintf(p, "  k%zu: v\n", i);
  p += sprintf(p, "anchors:\n");
  for (i = 0; i < nanchors; i++)
    p += sprintf(p, "  - &a%zu x\n", i);
  p += sprintf(p, "aliases: [");
  for (i = 0; i < naliases; i++)
    p += sprintf(p, "*a%zu,", i * 7 % nanchors);
  strcpy(p, "]\n");
  assert_int_equal(xs_loader_new(NULL, &l, &err), XS_OK);
  assert_int_equal(xs_loader_add_buffer(l, y, strlen(y), "wide.yaml"), XS_OK);
  xs_loader_work_get(l, &w);
  assert_int_equal(xs_loader_finish(l, &snap, &err), XS_OK);
  xs_snapshot_unref(snap);
  xs_loader_free(l);
  free(y);
  return w;
}

/* Duplicate-key and anchor lookups are hashed, so 4x the keys and anchors
 * cost 4x the steps (pairwise checks would cost 16x). Steps are counted by
 * the loader, not timed: the same on every machine, loaded or not. */
static void test_load_many_keys_and_anchors_linear_work(void **s) {
  xs_loader_work small, large;
  size_t items_small = 30000 + 30000 / 3 + XS_MAX_ALIAS_EVENTS / 10;
  size_t items_large = 120000 + 120000 / 3 + XS_MAX_ALIAS_EVENTS / 10;
  (void)s;
  small = wide_document_work(30000);
  large = wide_document_work(120000);
  /* one lookup per key, anchor and alias; a short probe each */
  assert_true(small.lookups <= items_small);
  assert_true(large.lookups <= items_large);
  assert_true(small.probes <= 4 * items_small);
  assert_true(large.probes <= 4 * items_large);
  /* growing the table moves each entry about once overall */
  assert_true(large.moves <= 2 * items_large);
  assert_true(large.probes + large.moves <= 5 * (small.probes + small.moves));
}

static void test_load_bad_endpoint_hostname_rejected_with_path(void **s) {
  (void)s;
  expect_error(
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
      "metadata: {name: s, labels: {kubernetes.io/service-name: x}}\n"
      "addressType: IPv4\n"
      "endpoints:\n- addresses: [10.0.0.1]\n  hostname: Pet_0\n",
      XS_EMANIFEST, 7, 13,
      "endpoints[0].hostname: Invalid value: \"Pet_0\": " DNS1123_LABEL);
}

/* ---- files and directories ------------------------------------------------
 */

static xs_status load_paths(const char *const *paths, size_t n,
                            xs_registry **reg, xs_error *err) {
  xs_load_options o = opts_with_diag();
  memset(err, 0, sizeof(*err));
  *reg = UNTOUCHED;
  return xs_registry_load_paths(paths, n, &o, reg, err);
}

static void
test_load_directory_reads_yaml_yml_json_only_not_hidden_or_nested(void **s) {
  const char *p = DATA "/cluster";
  xs_registry *reg;
  xs_error err;
  const xs_service *j;
  (void)s;
  assert_int_equal(load_paths(&p, 1, &reg, &err), XS_OK);
  assert_int_equal(D.errors, 0);
  assert_int_equal(xs_registry_service_count(reg), 3);
  assert_true(has_namespace(reg, "dev"));
  j = find(reg, "dev", "from-json");
  assert_non_null(j);
  assert_string_equal(j->external_name, "json.example.com");
  assert_int_equal(find(reg, "prod", "my-service")->ports[0].port, 5432);
  xs_registry_free(reg);
}

static void test_load_directory_files_in_bytewise_sorted_order(void **s) {
  const char *p = DATA "/order/";
  xs_registry *reg;
  xs_error err;
  (void)s;
  assert_int_equal(load_paths(&p, 1, &reg, &err), XS_EMANIFEST);
  assert_int_equal(D.errors, 4);
  assert_string_equal(D.d[0].file, DATA "/order/10.yml");
  assert_string_equal(D.d[1].file, DATA "/order/B.yaml");
  assert_string_equal(D.d[2].file, DATA "/order/a.yaml");
  assert_string_equal(D.d[3].file, DATA "/order/b.yaml");
  assert_string_equal(err.file, DATA "/order/10.yml");
  assert_int_equal(err.line, 4);
  assert_int_equal(err.column, 9);
}

static void test_load_directory_with_one_bad_file_loads_nothing(void **s) {
  const char *p = DATA "/partial";
  xs_registry *reg;
  xs_error err;
  (void)s;
  assert_int_equal(load_paths(&p, 1, &reg, &err), XS_EMANIFEST);
  assert_ptr_equal(reg, UNTOUCHED);
  assert_string_equal(err.file, DATA "/partial/b-bad.yaml");
  assert_int_equal(err.line, 8);
  assert_int_equal(err.column, 17);
}

static void test_load_json_list_file(void **s) {
  const char *p = DATA "/json/list.json";
  xs_registry *reg;
  xs_error err;
  const xs_service *api;
  (void)s;
  assert_int_equal(load_paths(&p, 1, &reg, &err), XS_OK);
  api = find(reg, "prod", "api");
  assert_non_null(api);
  assert_int_equal(api->nips, 2);
  assert_int_equal(api->nports, 2);
  assert_string_equal(find(reg, "prod", "escaped")->external_name,
                      "db.example.com");
  xs_registry_free(reg);
}

static void test_load_several_paths_duplicate_across_files(void **s) {
  const char *p[] = {DATA "/cluster/b-services.yaml",
                     DATA "/cluster/b-services.yaml"};
  xs_registry *reg;
  xs_error err;
  (void)s;
  assert_int_equal(load_paths(p, 2, &reg, &err), XS_EEXIST);
  assert_int_equal(err.line, 5);
  assert_string_equal(err.message,
                      "services \"my-service\" already exists in namespace "
                      "\"prod\" (first defined at " DATA
                      "/cluster/b-services.yaml:2:1)");
}

static void test_load_missing_path_io_error(void **s) {
  const char *p = DATA "/no-such-file.yaml";
  xs_registry *reg;
  xs_error err;
  (void)s;
  assert_int_equal(load_paths(&p, 1, &reg, &err), XS_EIO);
  assert_ptr_equal(reg, UNTOUCHED);
  assert_string_equal(err.file, p);
  assert_int_equal(err.line, 0);
  assert_string_equal(err.message, "cannot read: No such file or directory");
  assert_int_equal(D.errors, 1);
}

static void test_load_file_over_size_limit_refused_before_reading(void **s) {
  char path[] = "/tmp/xsvc-test-big-XXXXXX";
  int fd = mkstemp(path);
  const char *p = path;
  xs_registry *reg;
  xs_error err;
  (void)s;
  assert_true(fd >= 0);
  /* sparse: nothing is written, fstat reports the size */
  assert_int_equal(ftruncate(fd, (off_t)XS_MAX_FILE_SIZE + 1), 0);
  close(fd);
  assert_int_equal(load_paths(&p, 1, &reg, &err), XS_ELIMIT);
  assert_string_equal(err.message, "file is larger than 67108864 bytes");
  unlink(path);
}

static void test_load_fifo_path_refused_without_blocking(void **s) {
  char dir[] = "/tmp/xsvc-test-fifo-XXXXXX", path[64];
  const char *p = path;
  xs_registry *reg;
  xs_error err;
  (void)s;
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/pipe.yaml", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  assert_int_equal(load_paths(&p, 1, &reg, &err), XS_EIO);
  assert_string_equal(err.message, "cannot read: not a regular file");
  assert_string_equal(err.file, path);
  unlink(path);
  rmdir(dir);
}

static void test_load_bad_arguments_einval(void **s) {
  xs_registry *reg = UNTOUCHED;
  xs_error err;
  (void)s;
  assert_int_equal(xs_registry_load_paths(NULL, 1, NULL, &reg, &err),
                   XS_EINVAL);
  assert_int_equal(xs_registry_load_buffer(NULL, 3, NULL, NULL, &reg, &err),
                   XS_EINVAL);
  assert_int_equal(xs_registry_load_buffer("", 0, NULL, NULL, NULL, &err),
                   XS_EINVAL);
  assert_ptr_equal(reg, UNTOUCHED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_external_name_stored_without_trailing_dot),
      cmocka_unit_test(test_load_missing_namespace_uses_default),
      cmocka_unit_test(test_load_default_namespace_option_used),
      cmocka_unit_test(
          test_load_multi_document_with_empty_documents_all_loaded),
      cmocka_unit_test(test_load_empty_buffer_gives_empty_registry),
      cmocka_unit_test(
          test_load_list_items_loaded_and_typed_list_items_inherit_kind),
      cmocka_unit_test(test_load_cluster_ip_and_dual_stack_addresses),
      cmocka_unit_test(test_load_headless_slice_readiness_and_hostnames),
      cmocka_unit_test(test_load_endpoints_v1_ready_and_not_ready),
      cmocka_unit_test(test_load_tolerate_unready_annotation_and_publish_flag),
      cmocka_unit_test(test_load_namespace_object_declared),
      cmocka_unit_test(test_load_other_kinds_skipped_and_counted),
      cmocka_unit_test(test_load_merge_key_values_visible),
      cmocka_unit_test(test_load_uppercase_name_rejected_at_value_position),
      cmocka_unit_test(test_load_name_starting_with_digit_rejected),
      cmocka_unit_test(test_load_64_char_name_rejected),
      cmocka_unit_test(test_load_missing_name_required),
      cmocka_unit_test(test_load_uppercase_namespace_rejected),
      cmocka_unit_test(test_load_dotted_namespace_must_not_contain_dots),
      cmocka_unit_test(test_load_underscore_external_name_rejected),
      cmocka_unit_test(test_load_uppercase_external_name_rejected),
      cmocka_unit_test(test_load_two_trailing_dots_rejected),
      cmocka_unit_test(test_load_ipv4_external_name_accepted_with_warning),
      cmocka_unit_test(test_load_ipv6_external_name_rejected),
      cmocka_unit_test(test_load_254_char_external_name_rejected),
      cmocka_unit_test(test_load_64_octet_label_rejected_by_xsvc),
      cmocka_unit_test(test_load_empty_external_name_required),
      cmocka_unit_test(test_load_external_with_cluster_ip_forbidden),
      cmocka_unit_test(test_load_external_with_ip_families_forbidden),
      cmocka_unit_test(test_load_external_without_ports_accepted),
      cmocka_unit_test(test_load_localhost_alias_accepted_with_warning),
      cmocka_unit_test(test_load_cluster_ip_without_ports_required),
      cmocka_unit_test(test_load_invalid_cluster_ip_rejected),
      cmocka_unit_test(test_load_unknown_type_unsupported_value),
      cmocka_unit_test(test_load_port_string_is_type_error),
      cmocka_unit_test(test_load_port_rules_as_api),
      cmocka_unit_test(test_load_bad_endpoint_address_rejected),
      cmocka_unit_test(test_load_missing_kind_or_api_version_error),
      cmocka_unit_test(test_load_duplicate_service_names_both_positions),
      cmocka_unit_test(test_load_every_error_reported_first_kept),
      cmocka_unit_test(test_load_yaml_syntax_error_position),
      cmocka_unit_test(test_load_tab_indentation_libyaml_error_passed_through),
      cmocka_unit_test(test_load_non_utf8_rejected_with_position),
      cmocka_unit_test(test_load_duplicate_key_rejected_at_second_key),
      cmocka_unit_test(test_load_alias_bomb_fails_fast_with_limit),
      cmocka_unit_test(test_load_too_many_alias_uses_limit),
      cmocka_unit_test(test_load_recursive_alias_rejected),
      cmocka_unit_test(test_load_deep_nesting_limit),
      cmocka_unit_test(test_load_huge_scalar_within_file_limit_accepted),
      cmocka_unit_test(test_load_many_keys_and_anchors_linear_work),
      cmocka_unit_test(test_load_bad_endpoint_hostname_rejected_with_path),
      cmocka_unit_test(
          test_load_directory_reads_yaml_yml_json_only_not_hidden_or_nested),
      cmocka_unit_test(test_load_directory_files_in_bytewise_sorted_order),
      cmocka_unit_test(test_load_directory_with_one_bad_file_loads_nothing),
      cmocka_unit_test(test_load_json_list_file),
      cmocka_unit_test(test_load_several_paths_duplicate_across_files),
      cmocka_unit_test(test_load_missing_path_io_error),
      cmocka_unit_test(test_load_file_over_size_limit_refused_before_reading),
      cmocka_unit_test(test_load_fifo_path_refused_without_blocking),
      cmocka_unit_test(test_load_bad_arguments_einval),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
