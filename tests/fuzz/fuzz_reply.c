/* Fuzz target: the upstream DNS reply parser. The first byte picks the
 * question type; the rest is the reply. */
#include <stdint.h>
#include <stdlib.h>

#include "upstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xs_upstream_answer *a;
  if (size < 1)
    return 0;
  a = malloc(sizeof(*a));
  if (a == NULL)
    return 0;
  xs_dns_parse_reply(data + 1, size - 1, "my.database.example.com.",
                     (data[0] & 1) ? 28 : 1, a);
  if (a->naddrs > XS_UPSTREAM_MAX_ADDRS || a->nchain > XS_MAX_CHAIN)
    abort();
  free(a);
  return 0;
}
