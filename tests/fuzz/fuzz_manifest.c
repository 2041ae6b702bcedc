/* Fuzz target: the manifest loader on arbitrary bytes (YAML, JSON or
 * garbage). Every load must end in XS_OK with a registry or in an error
 * with a message and no registry, within the documented limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

static void count_diag(const xs_error *diag, int is_warning, void *arg) {
  size_t *n = arg;
  (void)is_warning;
  if (diag->message[0] == '\0')
    abort(); /* every diagnostic says something */
  (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xs_load_options opts;
  xs_registry *reg = NULL;
  xs_error err;
  size_t ndiag = 0;
  xs_status st;

  xs_load_options_init(&opts);
  opts.diag = count_diag;
  opts.diag_arg = &ndiag;
  memset(&err, 0, sizeof(err));
  st = xs_registry_load_buffer((const char *)data, size, "fuzz.yaml", &opts,
                               &reg, &err);
  if (st == XS_OK) {
    xs_snapshot *snap;
    size_t i;
    if (reg == NULL)
      abort();
    /* Touch what the loader stored, so bad pointers show up here. */
    snap = xs_registry_snapshot(reg);
    for (i = 0; i < snap->nservices; i++) {
      const xs_service *svc = &snap->services[i];
      if (xs_snapshot_find(snap, svc->ns, strlen(svc->ns), svc->name,
                           strlen(svc->name)) != svc)
        abort();
      if (svc->type == XS_SVC_EXTERNAL &&
          strlen(svc->external_name) > XS_MAX_NAME)
        abort();
    }
    xs_snapshot_unref(snap);
    xs_registry_free(reg);
  } else if (reg != NULL || err.status != st || ndiag == 0 ||
             err.message[0] == '\0') {
    abort();
  }
  return 0;
}
