/* Fuzz target: the upstream DNS reply parser (xs_dns_parse_reply). The
 * first byte picks the question: bit 0 the type (A or AAAA), the other bits
 * one of the names below (the seed corpus, tests/fuzz/corpus/reply, holds
 * Knot DNS replies to them and crafted hostile ones). The rest is the reply.
 * Besides memory safety, the answer's invariants are checked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"

static const char *const qnames[] = {
    "my.database.example.com.", "alias.example.com.",
    "v4only.example.com.",      "nx.example.com.",
    "loop-a.example.com.",      "www.broken.example.",
    "www.example.org.",         "MY.DATABASE.EXAMPLE.COM",
};

static int absolute_name(const char *s) {
  size_t n = strnlen(s, XS_NAME_BUF);
  return n > 0 && n < XS_NAME_BUF && s[n - 1] == '.';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xs_upstream_answer *a;
  uint16_t qtype;
  size_t i;
  if (size < 1)
    return 0;
  a = malloc(sizeof(*a));
  if (a == NULL)
    return 0;
  qtype = (data[0] & 1) ? 28 : 1;
  xs_dns_parse_reply(
      data + 1, size - 1,
      qnames[(data[0] >> 1) % (sizeof(qnames) / sizeof(*qnames))], qtype, a);
  /* XS_OK exactly when a NOERROR reply gave addresses of the asked type */
  if (a->naddrs > XS_UPSTREAM_MAX_ADDRS || a->nchain > XS_MAX_CHAIN ||
      (unsigned)a->status >= XS_STATUS_COUNT ||
      (a->status == XS_OK && a->naddrs == 0) ||
      (a->status == XS_ENODATA && a->naddrs > 0))
    abort();
  for (i = 0; i < a->nchain; i++)
    if (!absolute_name(a->chain[i].name) || !absolute_name(a->chain[i].target))
      abort();
  for (i = 0; i < a->naddrs; i++)
    if (a->addrs[i].addr.family != (qtype == 1 ? 4 : 6) ||
        a->addrs[i].ttl > 0x7fffffffu)
      abort();
  free(a);
  return 0;
}
