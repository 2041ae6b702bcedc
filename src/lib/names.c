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
    if (s->lens[k] == len && xs_ci_eq(s->domains[k], d, len))
      return; /* the kubelet omits duplicates */
  s->lens[s->ndomains] = len;
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

xs_status xs_cand_start(xs_cand_iter *it, const xs_search *s,
                        const char *name) {
  size_t len, i, dots = 0;
  it->search = s;
  it->name = name;
  it->step = 0;
  it->nsteps = 0;
  if (name == NULL)
    return XS_EBADNAME;
  len = strlen(name);
  if (xs_name_check(name, len) != XS_OK)
    return XS_EBADNAME;
  it->bare = strip_dot(name, len);
  if (it->bare != len) { /* absolute: never searched */
    it->as_is = 0;
    it->nsteps = 1;
    return XS_OK;
  }
  for (i = 0; i < it->bare; i++)
    dots += name[i] == '.';
  /* dots >= ndots: as-is first; otherwise last */
  it->as_is = (int)dots >= s->ndots ? 0 : s->ndomains;
  it->nsteps = s->ndomains + 1;
  return XS_OK;
}

size_t xs_cand_next(xs_cand_iter *it, char *buf) {
  while (it->step < it->nsteps) {
    size_t step = it->step++, d, alen = it->bare, blen, total;
    if (step == it->as_is) {
      memcpy(buf, it->name, alen);
      buf[alen] = '.';
      buf[alen + 1] = '\0';
      return alen + 1;
    }
    d = step < it->as_is ? step : step - 1;
    blen = it->search->lens[d];
    total = alen + 1 + blen;
    if (total > XS_MAX_NAME)
      continue; /* as Go does: a candidate too long to exist is skipped */
    memcpy(buf, it->name, alen);
    buf[alen] = '.';
    memcpy(buf + alen + 1, it->search->domains[d], blen);
    buf[total] = '.';
    buf[total + 1] = '\0';
    return total + 1;
  }
  return 0;
}

xs_status xs_candidates_build(const xs_search *s, const char *name,
                              xs_candidates *out) {
  xs_cand_iter it;
  out->count = 0;
  if (xs_cand_start(&it, s, name) != XS_OK)
    return XS_EBADNAME;
  while (xs_cand_next(&it, out->names[out->count]) != 0)
    out->count++;
  return XS_OK;
}
