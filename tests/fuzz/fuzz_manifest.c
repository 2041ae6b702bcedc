/* Fuzz target: the manifest loader on arbitrary bytes (YAML or JSON). */
#include <stdint.h>

#include "xsvc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xs_registry *reg = NULL;
  xs_error err;
  if (xs_registry_load_buffer((const char *)data, size, "fuzz", NULL, &reg,
                              &err) == XS_OK)
    xs_registry_free(reg);
  return 0;
}
