/* The resolver's target policy (see policy.h). */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xs_policy_init(xs_policy *p) {
  memset(p, 0, sizeof(*p));
  (void)xs_policy_deny_range(p, "169.254.0.0/16");
  (void)xs_policy_deny_range(p, "fe80::/10");
}

xs_status xs_policy_allow_suffix(xs_policy *p, const char *suffix) {
  size_t len;
  if (p == NULL || suffix == NULL)
    return XS_EINVAL;
  len = strlen(suffix);
  if (len > 0 && suffix[len - 1] == '.')
    len--;
  if (len == 0 || xs_name_check(suffix, len) != XS_OK)
    return XS_EINVAL;
  if (p->nallowed == XS_POLICY_MAX_SUFFIXES)
    return XS_ELIMIT;
  xs_lower_copy(p->allowed[p->nallowed], suffix, len);
  p->allowed_len[p->nallowed++] = len;
  return XS_OK;
}

/* Zero the bits of a past prefix. */
static void mask_to(xs_addr *a, unsigned prefix) {
  unsigned bits = a->family == 4 ? 32 : 128, i;
  for (i = prefix; i < bits; i++)
    a->bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

xs_status xs_policy_deny_range(xs_policy *p, const char *cidr) {
  const char *slash;
  size_t alen;
  unsigned long prefix;
  xs_range r;
  char buf[48];
  if (p == NULL || cidr == NULL)
    return XS_EINVAL;
  slash = strchr(cidr, '/');
  alen = slash != NULL ? (size_t)(slash - cidr) : strlen(cidr);
  memset(&r, 0, sizeof(r));
  if (!xs_addr_parse(cidr, alen, &r.net))
    return XS_EINVAL;
  prefix = r.net.family == 4 ? 32 : 128;
  if (slash != NULL) {
    char *end;
    if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
      return XS_EINVAL;
    prefix = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || prefix > (r.net.family == 4 ? 32u : 128u))
      return XS_EINVAL;
  }
  if (p->ndenied == XS_POLICY_MAX_RANGES)
    return XS_ELIMIT;
  r.prefix = (unsigned)prefix;
  mask_to(&r.net, r.prefix);
  xs_addr_format(&r.net, buf, sizeof(buf));
  snprintf(r.text, sizeof(r.text), "%s/%u", buf, r.prefix);
  p->denied[p->ndenied++] = r;
  return XS_OK;
}

void xs_policy_clear_ranges(xs_policy *p) {
  p->ndenied = 0;
}

int xs_policy_target_ok(const xs_policy *p, const char *name, size_t len,
                        char *why) {
  size_t i, n;
  if (p->nallowed == 0)
    return 1;
  for (i = 0; i < p->nallowed; i++)
    if (xs_name_in_zone(name, len, p->allowed[i], p->allowed_len[i]))
      return 1;
  n = len > 0 && name[len - 1] == '.' ? len - 1 : len;
  snprintf(why, XS_POLICY_WHY,
           "target %.*s. is not below an allowed suffix (%s%s)", (int)n, name,
           p->allowed[0], p->nallowed > 1 ? ", ..." : "");
  return 0;
}

static int in_range(const xs_range *r, const xs_addr *a) {
  unsigned full = r->prefix / 8, rest = r->prefix % 8;
  if (a->family != r->net.family || memcmp(a->bytes, r->net.bytes, full) != 0)
    return 0;
  return rest == 0 || ((a->bytes[full] ^ r->net.bytes[full]) &
                       (uint8_t)(0xff00u >> rest)) == 0;
}

const xs_range *xs_policy_denies(const xs_policy *p, const xs_addr *a) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  xs_addr v4;
  size_t i;
  int is_mapped = a->family == 6 && memcmp(a->bytes, mapped, 12) == 0;
  if (is_mapped) {
    memset(&v4, 0, sizeof(v4));
    v4.family = 4;
    memcpy(v4.bytes, a->bytes + 12, 4);
  }
  for (i = 0; i < p->ndenied; i++)
    if (in_range(&p->denied[i], a) ||
        (is_mapped && in_range(&p->denied[i], &v4)))
      return &p->denied[i];
  return NULL;
}
