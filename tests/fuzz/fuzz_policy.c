/* Fuzz target: the policy's parsers (address ranges "addr/prefix" and
 * target suffixes) and its matching. The input is split at the first NUL:
 * the text before is offered as a range and as a suffix; the 17 octets
 * after (if any) are an address (family octet, 16 address octets) checked
 * against the ranges. Invariants: a refused text changes nothing; a denied
 * address is denied by a range that matches its family (or its IPv4 when
 * mapped); the ranges' texts parse again to themselves. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xs_policy p;
  char text[600], why[XS_POLICY_WHY];
  const uint8_t *nul = memchr(data, 0, size);
  size_t tlen = nul != NULL ? (size_t)(nul - data) : size, before, i;
  xs_addr a;
  const xs_range *r;
  if (tlen >= sizeof(text))
    return 0;
  memcpy(text, data, tlen);
  text[tlen] = '\0';
  xs_policy_init(&p);
  before = p.ndenied;
  if (xs_policy_deny_range(&p, text) != XS_OK) {
    if (p.ndenied != before)
      abort();
  } else {
    xs_policy q;
    memset(&q, 0, sizeof(q));
    if (xs_policy_deny_range(&q, p.denied[before].text) != XS_OK ||
        strcmp(q.denied[0].text, p.denied[before].text) != 0)
      abort();
  }
  before = p.nallowed;
  if (xs_policy_allow_suffix(&p, text) != XS_OK && p.nallowed != before)
    abort();
  if (p.nallowed > 0 && !xs_policy_target_ok(&p, text, tlen, why) &&
      why[0] == '\0')
    abort();
  if (nul != NULL && size - tlen - 1 >= 17) {
    memset(&a, 0, sizeof(a));
    a.family = (data[tlen + 1] & 1) ? 6 : 4;
    memcpy(a.bytes, data + tlen + 2, a.family == 4 ? 4 : 16);
    r = xs_policy_denies(&p, &a);
    for (i = 0; r != NULL && i < p.ndenied; i++)
      if (r == &p.denied[i])
        break;
    if (r != NULL && i == p.ndenied)
      abort();
    if (r != NULL && r->net.family != a.family && a.family != 6)
      abort();
  }
  return 0;
}
