/* Query names and the search list, as glibc and Go walk it (K8S-DNS.md 4). */
#include "names.h"

#include <stdio.h>
#include <string.h>

static size_t strip_dot(const char *name, size_t len) {
  return (len > 0 && name[len - 1] == '.') ? len - 1 : len;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#define LOWS 0x7f7f7f7f7f7f7f7full

/* 0x80 in each octet of w equal to 0, nothing elsewhere (no borrows). */
static uint64_t zero_octets(uint64_t w) {
  return ~(((w & LOWS) + LOWS) | w | LOWS);
}

/* 0x80 in each octet that is a control, space, DEL or non-ASCII. */
static uint64_t bad_octets(uint64_t w) {
  uint64_t low7 = w & LOWS;
  uint64_t below21 = ~(low7 + 0x5f * ONES) & ~w & HIGHS; /* < 0x21 */
  uint64_t is7f = (low7 + ONES) & ~w & HIGHS;            /* == 0x7f */
  return (w & HIGHS) | below21 | is7f;
}

/* One pass, eight octets at a time: octet classes and label lengths (from
 * the dots' positions). Counts the dots for the search walk. */
static xs_status check_name(const char *name, size_t len, size_t *dots) {
  size_t base, last = (size_t)-1, ndots = 0;
  if (name == NULL)
    return XS_EBADNAME;
  len = strip_dot(name, len);
  if (len == 0 || len > XS_MAX_NAME)
    return XS_EBADNAME;
  for (base = 0; base < len; base += 8) {
    uint64_t w, bad, dotm;
    size_t n = len - base < 8 ? len - base : 8;
    if (n == 8) {
      memcpy(&w, name + base, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    } else if (len >= 8) {
      /* the tail: the last eight octets, those already checked shifted
       * out and replaced by a harmless letter */
      memcpy(&w, name + len - 8, 8);
      w >>= 8 * (8 - n);
      w |= ('a' * ONES) << (8 * n);
#endif
    } else { /* a short name, padded with a harmless letter */
      unsigned char buf[8];
      memset(buf, 'a', sizeof(buf));
      memcpy(buf, name + base, n);
      memcpy(&w, buf, 8);
    }
    bad = bad_octets(w);
    if (bad != 0)
      return XS_EBADNAME;
    dotm = zero_octets(w ^ (0x2e * ONES));
    while (dotm != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      size_t pos = base + (size_t)__builtin_ctzll(dotm) / 8;
#else
      size_t pos = base + (size_t)__builtin_clzll(dotm) / 8;
#endif
      size_t label = pos - last - 1;
      if (label == 0 || label > 63)
        return XS_EBADNAME;
      last = pos;
      ndots++;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      dotm &= dotm - 1;
#else
      dotm &= ~(HIGHS & (0x8000000000000000ull >> ((pos - base) * 8)));
#endif
    }
  }
  if (len - last - 1 == 0 || len - last - 1 > 63)
    return XS_EBADNAME;
  if (dots != NULL)
    *dots = ndots;
  return XS_OK;
}

xs_status xs_name_check(const char *name, size_t len) {
  return check_name(name, len, NULL);
}

static void add_domain(xs_search *s, const char *d, size_t len) {
  size_t k;
  char *dst;
  for (k = 0; k < s->ndomains; k++)
    if (s->lens[k] == len && xs_ci_eq(s->domains[k], d, len))
      return; /* the kubelet omits duplicates */
  s->lens[s->ndomains] = len;
  dst = s->domains[s->ndomains++];
  xs_lower_copy(dst, d, len);
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
  size_t len, dots = 0;
  it->search = s;
  it->name = name;
  it->step = 0;
  it->nsteps = 0;
  if (name == NULL)
    return XS_EBADNAME;
  len = strlen(name);
  if (check_name(name, len, &dots) != XS_OK)
    return XS_EBADNAME;
  it->bare = strip_dot(name, len);
  if (it->bare != len) { /* absolute: never searched */
    it->as_is = 0;
    it->nsteps = 1;
    return XS_OK;
  }
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
