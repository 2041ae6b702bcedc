/* Query names and the search list, as glibc and Go walk it (K8S-DNS.md 4). */
#include "names.h"

#include <stdio.h>
#include <string.h>

static size_t strip_dot(const char *name, size_t len) {
  return (len > 0 && name[len - 1] == '.') ? len - 1 : len;
}

xs_status xs_name_check(const char *name, size_t len) {
  const char *p, *end;
  unsigned bad = 0;
  size_t i;
  if (name == NULL)
    return XS_EBADNAME;
  len = strip_dot(name, len);
  if (len == 0 || len > XS_MAX_NAME)
    return XS_EBADNAME;
  /* Two cheap passes (both vectorise): no control, space or non-ASCII
   * octets; then label lengths from the dots. */
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    bad |= (unsigned)(c <= 0x20) | (unsigned)(c >= 0x7f);
  }
  if (bad)
    return XS_EBADNAME;
  for (p = name, end = name + len;;) {
    const char *dot = memchr(p, '.', (size_t)(end - p));
    const char *stop = dot != NULL ? dot : end;
    if (stop == p || stop - p > 63)
      return XS_EBADNAME;
    if (dot == NULL)
      return XS_OK;
    p = dot + 1;
  }
}

static void add_domain(xs_search *s, const char *d, size_t len) {
  size_t i, k;
  char *dst;
  for (k = 0; k < s->ndomains; k++)
    if (strlen(s->domains[k]) == len && xs_ci_eq(s->domains[k], d, len))
      return; /* the kubelet omits duplicates */
  dst = s->domains[s->ndomains++];
  for (i = 0; i < len; i++)
    dst[i] = (char)((d[i] >= 'A' && d[i] <= 'Z') ? d[i] + 32 : d[i]);
  dst[len] = '\0';
}

void xs_search_init(xs_search *s, const char *ns, const char *zone, int ndots) {
  char buf[XS_NAME_BUF * 2];
  int n;
  s->ndomains = 0;
  s->ndots = ndots;
  n = snprintf(buf, sizeof(buf), "%s.svc.%s", ns, zone);
  if (n > 0 && (size_t)n <= XS_MAX_NAME)
    add_domain(s, buf, (size_t)n);
  n = snprintf(buf, sizeof(buf), "svc.%s", zone);
  if (n > 0 && (size_t)n <= XS_MAX_NAME)
    add_domain(s, buf, (size_t)n);
  add_domain(s, zone, strlen(zone));
}

xs_status xs_search_add(xs_search *s, const char *domain) {
  size_t len;
  if (domain == NULL)
    return XS_EINVAL;
  len = strlen(domain);
  if (xs_name_check(domain, len) != XS_OK)
    return XS_EINVAL;
  if (s->ndomains >= sizeof(s->domains) / sizeof(s->domains[0]))
    return XS_EINVAL;
  add_domain(s, domain, strip_dot(domain, len));
  return XS_OK;
}

static void push(xs_candidates *out, const char *a, size_t alen, const char *b,
                 size_t blen) {
  char *dst;
  size_t total = alen + (blen ? 1 + blen : 0);
  if (total > XS_MAX_NAME)
    return; /* as Go does: a candidate too long to exist is skipped */
  dst = out->names[out->count++];
  memcpy(dst, a, alen);
  if (blen) {
    dst[alen] = '.';
    memcpy(dst + alen + 1, b, blen);
  }
  dst[total] = '.';
  dst[total + 1] = '\0';
}

xs_status xs_candidates_build(const xs_search *s, const char *name,
                              xs_candidates *out) {
  size_t len, bare, i, dots = 0;
  out->count = 0;
  if (name == NULL)
    return XS_EBADNAME;
  len = strlen(name);
  if (xs_name_check(name, len) != XS_OK)
    return XS_EBADNAME;
  bare = strip_dot(name, len);
  if (bare != len) { /* absolute: never searched */
    push(out, name, bare, NULL, 0);
    return XS_OK;
  }
  for (i = 0; i < bare; i++)
    dots += name[i] == '.';
  if ((int)dots >= s->ndots)
    push(out, name, bare, NULL, 0);
  for (i = 0; i < s->ndomains; i++)
    push(out, name, bare, s->domains[i], strlen(s->domains[i]));
  if ((int)dots < s->ndots)
    push(out, name, bare, NULL, 0);
  return XS_OK;
}

int xs_name_in_zone(const char *name, size_t len, const char *zone,
                    size_t zone_len) {
  len = strip_dot(name, len);
  if (len < zone_len)
    return 0;
  if (!xs_ci_eq(name + len - zone_len, zone, zone_len))
    return 0;
  return len == zone_len || name[len - zone_len - 1] == '.';
}
