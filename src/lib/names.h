/* Query names: normalisation and search-list candidates (K8S-DNS.md 4). */
#ifndef XS_NAMES_H
#define XS_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xsvc.h"

#define XS_MAX_SEARCH 32
/* cluster suffixes (3) + host search domains + the name as-is */
#define XS_MAX_CANDIDATES (3 + XS_MAX_SEARCH + 1)
/* an absolute name with its trailing dot and NUL */
#define XS_NAME_BUF (XS_MAX_NAME + 2)

typedef struct xs_search {
  char domains[3 + XS_MAX_SEARCH][XS_NAME_BUF]; /* lowercase, no dot */
  size_t lens[3 + XS_MAX_SEARCH];
  size_t ndomains;
  int ndots;
} xs_search;

typedef struct xs_candidates {
  char names[XS_MAX_CANDIDATES][XS_NAME_BUF]; /* absolute, trailing dot */
  size_t count;
} xs_candidates;

/* ASCII case-insensitive equality of a[0..n) and b[0..n), octet by octet
 * (DNS names compare this way; no locale). */
static inline int xs_ci_eq_fold(const char *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x != y) {
      if (x >= 'A' && x <= 'Z')
        x = (unsigned char)(x + 32);
      if (y >= 'A' && y <= 'Z')
        y = (unsigned char)(y + 32);
      if (x != y)
        return 0;
    }
  }
  return 1;
}

/* The same, tried first as plain equality in whole (overlapping) words:
 * names usually match in the same spelling. Both must have n readable
 * octets. */
static inline int xs_ci_eq(const char *a, const char *b, size_t n) {
  if (n >= 8) {
    size_t i;
    uint64_t x, y;
    for (i = 0; i + 8 <= n; i += 8) {
      memcpy(&x, a + i, 8);
      memcpy(&y, b + i, 8);
      if (x != y)
        return xs_ci_eq_fold(a, b, n);
    }
    if (i < n) {
      memcpy(&x, a + n - 8, 8);
      memcpy(&y, b + n - 8, 8);
      if (x != y)
        return xs_ci_eq_fold(a, b, n);
    }
    return 1;
  }
  if (n >= 4) {
    uint32_t x0, y0, x1, y1;
    memcpy(&x0, a, 4);
    memcpy(&y0, b, 4);
    memcpy(&x1, a + n - 4, 4);
    memcpy(&y1, b + n - 4, 4);
    if (x0 == y0 && x1 == y1)
      return 1;
  }
  return xs_ci_eq_fold(a, b, n);
}

/* Hash of name[0..len) (any case), eight octets at a time, case-folded by
 * OR-ing 0x20 into every octet: that folds ASCII letters and leaves
 * digits, '-' and '_' alone (enough for DNS names), so names equal under
 * xs_ci_eq hash equal. A short tail is read with overlapping loads, packed
 * the same way for both spellings. Reads only name[0..len). */
static inline uint32_t xs_hash_ci(uint32_t seed, const char *s, size_t len) {
  const uint64_t fold = 0x2020202020202020ull, mul = 0x9e3779b97f4a7c15ull;
  uint64_t h = seed ^ ((uint64_t)len << 32), w;
  size_t total = len;
  while (len >= 8) {
    memcpy(&w, s, 8);
    h = (h ^ (w | fold)) * mul;
    h ^= h >> 29;
    s += 8;
    len -= 8;
  }
  if (len > 0) {
    if (total >= 8) { /* the last 8 octets, minus those already mixed */
      memcpy(&w, s + len - 8, 8);
      w >>= 8 * (8 - len);
    } else if (len >= 4) {
      uint32_t lo, hi;
      memcpy(&lo, s, 4);
      memcpy(&hi, s + len - 4, 4);
      w = lo | (uint64_t)hi << 32;
    } else {
      w = (uint64_t)(unsigned char)s[0] |
          (uint64_t)(unsigned char)s[len / 2] << 8 |
          (uint64_t)(unsigned char)s[len - 1] << 16;
    }
    h = (h ^ (w | fold)) * mul;
    h ^= h >> 29;
  }
  h *= mul;
  return (uint32_t)(h ^ (h >> 32));
}

/* dst[0..len) = src[0..len) with ASCII letters lowercased, then a NUL. */
static inline void xs_lower_copy(char *dst, const char *src, size_t len) {
  size_t i;
  for (i = 0; i < len; i++)
    dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
  dst[len] = '\0';
}

/* The key of a name (cache entries, questions in flight): lowercase,
 * without the trailing dot, into key[XS_NAME_BUF]. Returns its length; 0
 * for an empty name or one longer than XS_MAX_NAME. */
static inline size_t xs_name_key(const char *name, char *key) {
  size_t len = strnlen(name, XS_NAME_BUF);
  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len == 0 || len > XS_MAX_NAME)
    return 0;
  xs_lower_copy(key, name, len);
  return len;
}

/* Check a query name: 1..253 octets without the trailing dot, labels of
 * 1..63 octets, no empty label, printable ASCII without spaces. Returns
 * XS_OK or XS_EBADNAME. */
xs_status xs_name_check(const char *name, size_t len);

/* Build the search list for namespace ns in zone (both validated, zone
 * without trailing dot) plus extra host search domains. */
void xs_search_init(xs_search *s, const char *ns, const char *zone, int ndots);
xs_status xs_search_add(xs_search *s, const char *domain);

/* Candidates one at a time, built only when the walk gets to them. */
typedef struct xs_cand_iter {
  const xs_search *search;
  const char *name; /* the query, valid while iterating */
  size_t bare;      /* its length without a trailing dot */
  size_t as_is;     /* the step at which the name is tried as is */
  size_t step, nsteps;
} xs_cand_iter;

/* Start a walk over name's candidates (order as xs_candidates_build).
 * XS_EBADNAME for an invalid name. s and name must outlive the iterator. */
xs_status xs_cand_start(xs_cand_iter *it, const xs_search *s, const char *name);
/* Write the next candidate (absolute, trailing dot) into buf[XS_NAME_BUF];
 * returns its length, or 0 when there are no more. */
size_t xs_cand_next(xs_cand_iter *it, char *buf);

/* Candidates in the order glibc and Go try them: a trailing dot means the
 * name only; dots >= ndots means as-is first then the suffixes; otherwise
 * the suffixes then as-is. Candidates longer than 253 octets are skipped.
 * XS_EBADNAME for an invalid name. */
xs_status xs_candidates_build(const xs_search *s, const char *name,
                              xs_candidates *out);

/* 1 if name[0..len) (with or without trailing dot) is zone or below it,
 * case-insensitively; zone has no trailing dot. */
static inline int xs_name_in_zone(const char *name, size_t len,
                                  const char *zone, size_t zone_len) {
  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len < zone_len || (len > zone_len && name[len - zone_len - 1] != '.'))
    return 0;
  return xs_ci_eq(name + len - zone_len, zone, zone_len);
}

/* 1 if name[0..len) (trailing dot optional) is in in-addr.arpa or
 * ip6.arpa (any case). */
static inline int xs_name_is_reverse(const char *name, size_t len) {
  return xs_name_in_zone(name, len, "in-addr.arpa", 12) ||
         xs_name_in_zone(name, len, "ip6.arpa", 8);
}

#endif
