/* Query names: normalisation and search-list candidates (K8S-DNS.md 4). */
#ifndef XS_NAMES_H
#define XS_NAMES_H

#include <stddef.h>
#include <string.h>

#include "xsvc.h"

#define XS_MAX_SEARCH 32
/* cluster suffixes (3) + host search domains + the name as-is */
#define XS_MAX_CANDIDATES (3 + XS_MAX_SEARCH + 1)
/* an absolute name with its trailing dot and NUL */
#define XS_NAME_BUF (XS_MAX_NAME + 2)

typedef struct xs_search {
  char domains[3 + XS_MAX_SEARCH][XS_NAME_BUF]; /* lowercase, no dot */
  size_t ndomains;
  int ndots;
} xs_search;

typedef struct xs_candidates {
  char names[XS_MAX_CANDIDATES][XS_NAME_BUF]; /* absolute, trailing dot */
  size_t count;
} xs_candidates;

/* ASCII case-insensitive equality of a[0..n) and b[0..n) (DNS names
 * compare this way; no locale). Both must have n readable octets. */
static inline int xs_ci_eq(const char *a, const char *b, size_t n) {
  size_t i;
  if (memcmp(a, b, n) == 0) /* the common case: same spelling */
    return 1;
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

/* Check a query name: 1..253 octets without the trailing dot, labels of
 * 1..63 octets, no empty label, printable ASCII without spaces. Returns
 * XS_OK or XS_EBADNAME. */
xs_status xs_name_check(const char *name, size_t len);

/* Build the search list for namespace ns in zone (both validated, zone
 * without trailing dot) plus extra host search domains. */
void xs_search_init(xs_search *s, const char *ns, const char *zone, int ndots);
xs_status xs_search_add(xs_search *s, const char *domain);

/* Candidates in the order glibc and Go try them: a trailing dot means the
 * name only; dots >= ndots means as-is first then the suffixes; otherwise
 * the suffixes then as-is. Candidates longer than 253 octets are skipped.
 * XS_EBADNAME for an invalid name. */
xs_status xs_candidates_build(const xs_search *s, const char *name,
                              xs_candidates *out);

/* 1 if name[0..len) (with or without trailing dot) is zone or below it,
 * case-insensitively; zone has no trailing dot. */
int xs_name_in_zone(const char *name, size_t len, const char *zone,
                    size_t zone_len);

#endif
