/* Fuzz target: query names through the search list and the answer function
 * for every record type, against a small fixture registry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "names.h"
#include "registry.h"

static xs_registry *reg;

static void fixture(void) {
  const char *ip[] = {"10.96.0.20", "fd00::20"};
  xs_registry_new(&reg);
  xs_registry_add_external(reg, "prod", "my-service", "my.database.example.com",
                           NULL);
  xs_registry_add_external(reg, "prod", "chain",
                           "my-service.prod.svc.cluster.local", NULL);
  xs_registry_add_external(reg, "prod", "loop-a",
                           "loop-b.prod.svc.cluster.local", NULL);
  xs_registry_add_external(reg, "prod", "loop-b",
                           "loop-a.prod.svc.cluster.local", NULL);
  xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 2, NULL);
  xs_registry_add_port(reg, "prod", "backend", "http", 80, "TCP", NULL);
  xs_registry_add_headless(reg, "prod", "hdls", NULL);
  xs_registry_add_port(reg, "prod", "hdls", "http", 80, "TCP", NULL);
  xs_registry_add_endpoint(reg, "prod", "hdls", "10.1.0.1", "pet-0", 1, NULL);
  xs_registry_add_endpoint(reg, "prod", "hdls", "fd00::1", NULL, 1, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint16_t types[] = {XS_T_A,   XS_T_AAAA, XS_T_CNAME, XS_T_SRV,
                                   XS_T_PTR, XS_T_TXT,  XS_T_SOA,   XS_T_ANY};
  xs_answer_cfg cfg;
  xs_search search;
  xs_candidates *cands;
  xs_snapshot *snap;
  char *name;
  size_t i, t;
  if (reg == NULL)
    fixture();
  if (size == 0 || size > 600)
    return 0;
  name = malloc(size + 1);
  cands = malloc(sizeof(*cands));
  if (name == NULL || cands == NULL) {
    free(name);
    free(cands);
    return 0;
  }
  memcpy(name, data + 1, size - 1);
  name[size - 1] = '\0';
  cfg.zone = "cluster.local";
  cfg.zone_len = 13;
  cfg.ttl = 5;
  cfg.mode = (data[0] & 1) ? XS_MODE_STRICT : XS_MODE_COREDNS;
  cfg.ip_literal = (data[0] >> 1) & 1;
  xs_search_init(&search, "prod", "cluster.local", data[0] % 16);
  snap = xs_registry_snapshot(reg);
  if (xs_candidates_build(&search, name, cands) == XS_OK) {
    for (i = 0; i < cands->count; i++)
      for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        xs_answer a;
        const char *c = cands->names[i];
        if (xs_answer_query(snap, &cfg, c, strlen(c), types[t], &a) == XS_OK)
          xs_answer_free(&a);
      }
  } else if (xs_name_check(name, strlen(name)) == XS_OK) {
    abort(); /* the search list and the check must agree */
  }
  xs_snapshot_unref(snap);
  free(name);
  free(cands);
  return 0;
}
