/* The resolver's target policy (see policy.h). */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V4(a, b, c, d)                                                         \
  {                                                                            \
    4, {                                                                       \
      a, b, c, d                                                               \
    }                                                                          \
  }
#define V6(...)                                                                \
  {                                                                            \
    6, {                                                                       \
      __VA_ARGS__                                                              \
    }                                                                          \
  }

/* Denied unless lifted: what no alias should reach. Private ranges
 * (10/8, 172.16/12, 192.168/16, fc00::/7) are not here: databases behind
 * ExternalNames live there. */
static const xs_range defaults[] = {
    {V4(0, 0, 0, 0), 8, "0.0.0.0/8", "unspecified, 'this host'"},
    {V4(127, 0, 0, 0), 8, "127.0.0.0/8", "loopback"},
    {V4(169, 254, 0, 0), 16, "169.254.0.0/16",
     "link-local, cloud metadata 169.254.169.254"},
    {V4(100, 100, 100, 200), 32, "100.100.100.200/32",
     "Alibaba Cloud metadata"},
    {V4(168, 63, 129, 16), 32, "168.63.129.16/32", "Azure WireServer"},
    {V4(224, 0, 0, 0), 4, "224.0.0.0/4", "multicast"},
    {V4(255, 255, 255, 255), 32, "255.255.255.255/32", "broadcast"},
    {V6(0), 128, "::/128", "unspecified"},
    {V6(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 128, "::1/128",
     "loopback"},
    {V6(0xfe, 0x80), 10, "fe80::/10", "link-local"},
    {V6(0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54), 128,
     "fd00:ec2::254/128", "AWS instance metadata over IPv6"},
    {V6(0xff), 8, "ff00::/8", "multicast"},
};
#define NDEFAULTS (sizeof(defaults) / sizeof(defaults[0]))

const xs_range *xs_policy_default_range(size_t i) {
  return i < NDEFAULTS ? &defaults[i] : NULL;
}

void xs_policy_init(xs_policy *p) {
  memset(p, 0, sizeof(*p));
  p->defaults = 1;
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

static xs_status parse_range(const char *cidr, xs_range *r) {
  const char *slash;
  size_t alen;
  unsigned long prefix;
  char buf[48];
  if (cidr == NULL)
    return XS_EINVAL;
  slash = strchr(cidr, '/');
  alen = slash != NULL ? (size_t)(slash - cidr) : strlen(cidr);
  memset(r, 0, sizeof(*r));
  if (!xs_addr_parse(cidr, alen, &r->net))
    return XS_EINVAL;
  prefix = r->net.family == 4 ? 32 : 128;
  if (slash != NULL) {
    char *end;
    if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
      return XS_EINVAL;
    prefix = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || prefix > (r->net.family == 4 ? 32u : 128u))
      return XS_EINVAL;
  }
  r->prefix = (unsigned)prefix;
  mask_to(&r->net, r->prefix);
  xs_addr_format(&r->net, buf, sizeof(buf));
  snprintf(r->text, sizeof(r->text), "%s/%u", buf, r->prefix);
  return XS_OK;
}

xs_status xs_policy_deny_range(xs_policy *p, const char *cidr) {
  xs_range r;
  if (p == NULL || parse_range(cidr, &r) != XS_OK)
    return XS_EINVAL;
  if (p->ndenied == XS_POLICY_MAX_RANGES)
    return XS_ELIMIT;
  p->denied[p->ndenied++] = r;
  return XS_OK;
}

xs_status xs_policy_allow_range(xs_policy *p, const char *cidr) {
  xs_range r;
  if (p == NULL || parse_range(cidr, &r) != XS_OK)
    return XS_EINVAL;
  if (p->nlifted == XS_POLICY_MAX_RANGES)
    return XS_ELIMIT;
  p->lifted[p->nlifted++] = r;
  return XS_OK;
}

void xs_policy_clear_ranges(xs_policy *p) {
  p->ndenied = 0;
  p->defaults = 0;
}

int xs_policy_has_ranges(const xs_policy *p) {
  return p->defaults || p->ndenied > 0;
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

/* The most specific range of list[0..n) holding a, if more specific than
 * *best_prefix (or as specific, when ties win). */
static const xs_range *best_of(const xs_range *list, size_t n, const xs_addr *a,
                               int *best_prefix, int ties) {
  const xs_range *best = NULL;
  size_t i;
  for (i = 0; i < n; i++)
    if (in_range(&list[i], a) &&
        ((int)list[i].prefix > *best_prefix ||
         (ties && (int)list[i].prefix == *best_prefix))) {
      best = &list[i];
      *best_prefix = (int)list[i].prefix;
    }
  return best;
}

/* One judgement of one address: the deciding denied range, or NULL. */
static const xs_range *judge(const xs_policy *p, const xs_addr *a) {
  const xs_range *deny = NULL, *r;
  int prefix = -1;
  if (p->defaults)
    deny = best_of(defaults, NDEFAULTS, a, &prefix, 0);
  r = best_of(p->denied, p->ndenied, a, &prefix, 0);
  if (r != NULL)
    deny = r;
  if (deny == NULL)
    return NULL;
  /* an allowed range as specific as the denial lifts it */
  return best_of(p->lifted, p->nlifted, a, &prefix, 1) != NULL ? NULL : deny;
}

/* The IPv4 address an IPv6 address carries, if it is of a form that does:
 * mapped ::ffff:0:0/96, compatible ::/96 (but :: and ::1, IPv6's own),
 * NAT64's well-known 64:ff9b::/96 (RFC 6052), 6to4 2002::/16 (RFC 3056,
 * the IPv4 address in bits 16..47). */
static int embedded_v4(const xs_addr *a, xs_addr *v4) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t zero[12] = {0};
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
  const uint8_t *b = a->bytes;
  const uint8_t *src = NULL;
  if (a->family != 6)
    return 0;
  if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
    src = b + 12;
  else if (memcmp(b, zero, 12) == 0)
    src = (b[12] | b[13] | b[14]) == 0 && b[15] <= 1 ? NULL : b + 12;
  else if (b[0] == 0x20 && b[1] == 0x02)
    src = b + 2;
  if (src == NULL)
    return 0;
  memset(v4, 0, sizeof(*v4));
  v4->family = 4;
  memcpy(v4->bytes, src, 4);
  return 1;
}

const xs_range *xs_policy_denies(const xs_policy *p, const xs_addr *a) {
  const xs_range *r = judge(p, a);
  xs_addr v4;
  if (r == NULL && embedded_v4(a, &v4))
    r = judge(p, &v4);
  return r;
}

void xs_policy_explain(const xs_range *r, const xs_addr *a, char *why,
                       size_t size) {
  char text[48], inner[48] = "";
  xs_addr v4;
  xs_addr_format(a, text, sizeof(text));
  if (a->family == 6 && r->net.family == 4 && embedded_v4(a, &v4)) {
    memcpy(inner, " (IPv4 ", 7);
    xs_addr_format(&v4, inner + 7, sizeof(inner) - 8);
    strcat(inner, ")");
  }
  snprintf(why, size, "address %s%s is in denied range %s%s%s%s", text, inner,
           r->text, r->reason != NULL ? " (" : "",
           r->reason != NULL ? r->reason : "", r->reason != NULL ? ")" : "");
}
