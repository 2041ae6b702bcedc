/* Fuzz target: the policy's parsers (address ranges "addr/prefix" and
 * target suffixes) and its matching. The input is split at the first NUL:
 * the text before is offered as a denied range, as an allowed range and as
 * a suffix; the 17 octets after (if any) are an address (family octet, 16
 * address octets) checked against the ranges. Invariants: a refused text
 * changes nothing; the ranges' texts parse again to themselves; the verdict
 * equals a bit-by-bit reference (most specific range decides, allowed wins
 * ties, embedded IPv4 judged too) and names a range that holds the address
 * or the IPv4 address it carries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static int holds(const xs_range *r, const xs_addr *a) {
  unsigned i;
  if (r->net.family != a->family)
    return 0;
  for (i = 0; i < r->prefix; i++) {
    unsigned bit = 0x80u >> (i % 8);
    if ((r->net.bytes[i / 8] & bit) != (a->bytes[i / 8] & bit))
      return 0;
  }
  return 1;
}

/* 1 if the reference denies a itself (no embedding). */
static int ref_judge(const xs_policy *p, const xs_addr *a) {
  int deny = -1, allow = -1;
  size_t i;
  const xs_range *d;
  for (i = 0; p->defaults && (d = xs_policy_default_range(i)) != NULL; i++)
    if (holds(d, a) && (int)d->prefix > deny)
      deny = (int)d->prefix;
  for (i = 0; i < p->ndenied; i++)
    if (holds(&p->denied[i], a) && (int)p->denied[i].prefix > deny)
      deny = (int)p->denied[i].prefix;
  for (i = 0; i < p->nlifted; i++)
    if (holds(&p->lifted[i], a) && (int)p->lifted[i].prefix > allow)
      allow = (int)p->lifted[i].prefix;
  return deny >= 0 && deny > allow;
}

static int ref_embedded(const xs_addr *a, xs_addr *v4) {
  static const uint8_t z[10] = {0};
  const uint8_t *b = a->bytes;
  int off = -1;
  if (a->family != 6)
    return 0;
  if (memcmp(b, z, 10) == 0 && b[10] == 0xff && b[11] == 0xff)
    off = 12;
  else if (memcmp(b, z, 10) == 0 && b[10] == 0 && b[11] == 0 &&
           !(b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1))
    off = 12;
  else if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
           memcmp(b + 4, z, 8) == 0)
    off = 12;
  else if (b[0] == 0x20 && b[1] == 0x02)
    off = 2;
  if (off < 0)
    return 0;
  memset(v4, 0, sizeof(*v4));
  v4->family = 4;
  memcpy(v4->bytes, b + off, 4);
  return 1;
}

static void check_text(const xs_range *r) {
  xs_policy q;
  xs_policy_init(&q);
  if (xs_policy_deny_range(&q, r->text) != XS_OK ||
      strcmp(q.denied[0].text, r->text) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xs_policy p;
  char text[600], why[XS_POLICY_WHY];
  const uint8_t *nul = memchr(data, 0, size);
  size_t tlen = nul != NULL ? (size_t)(nul - data) : size, before;
  if (tlen >= sizeof(text))
    return 0;
  memcpy(text, data, tlen);
  text[tlen] = '\0';
  xs_policy_init(&p);
  if (size > 0 && (data[0] & 1))
    xs_policy_clear_ranges(&p);
  before = p.ndenied;
  if (xs_policy_deny_range(&p, text) != XS_OK) {
    if (p.ndenied != before)
      abort();
  } else {
    check_text(&p.denied[before]);
  }
  /* offered as an allowed range only sometimes, so denials stay reachable */
  before = p.nlifted;
  if (size > 1 && (data[1] & 1)) {
    if (xs_policy_allow_range(&p, text) != XS_OK) {
      if (p.nlifted != before)
        abort();
    } else {
      check_text(&p.lifted[before]);
    }
  }
  before = p.nallowed;
  if (xs_policy_allow_suffix(&p, text) != XS_OK && p.nallowed != before)
    abort();
  if (p.nallowed > 0 && !xs_policy_target_ok(&p, text, tlen, why) &&
      why[0] == '\0')
    abort();
  if (nul != NULL && size - tlen - 1 >= 17) {
    xs_addr a, v4;
    const xs_range *r;
    int want, inner;
    memset(&a, 0, sizeof(a));
    a.family = (data[tlen + 1] & 1) ? 6 : 4;
    memcpy(a.bytes, data + tlen + 2, a.family == 4 ? 4 : 16);
    inner = ref_embedded(&a, &v4);
    want = ref_judge(&p, &a) || (inner && ref_judge(&p, &v4));
    r = xs_policy_denies(&p, &a);
    if ((r != NULL) != want)
      abort();
    if (r != NULL && !holds(r, &a) && !(inner && holds(r, &v4)))
      abort();
    if (r != NULL) {
      xs_policy_explain(r, &a, why, sizeof(why));
      if (strstr(why, r->text) == NULL)
        abort();
    }
  }
  return 0;
}
