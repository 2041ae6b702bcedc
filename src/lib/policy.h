/* The resolver's target policy (SSRF guard): which external names an alias
 * may point at, and which addresses a resolution may hand out. Fixed when
 * the resolver is created; read by any number of threads. */
#ifndef XS_POLICY_H
#define XS_POLICY_H

#include <stddef.h>

#include "names.h"
#include "validate.h"

#define XS_POLICY_MAX_SUFFIXES 32
#define XS_POLICY_MAX_RANGES 64
/* room for a refusal's explanation */
#define XS_POLICY_WHY 320

typedef struct xs_range {
  xs_addr net; /* host bits zero */
  unsigned prefix;
  char text[52]; /* as the operator wrote it, normalised: "169.254.0.0/16" */
} xs_range;

typedef struct xs_policy {
  char allowed[XS_POLICY_MAX_SUFFIXES][XS_NAME_BUF]; /* lowercase, no dot */
  size_t allowed_len[XS_POLICY_MAX_SUFFIXES];
  size_t nallowed; /* 0: every target allowed */
  xs_range denied[XS_POLICY_MAX_RANGES];
  size_t ndenied;
} xs_policy;

/* The defaults: every target allowed; link-local addresses denied
 * (169.254.0.0/16 and fe80::/10, where cloud metadata endpoints live). */
void xs_policy_init(xs_policy *p);
/* Allow external targets equal to suffix or below it (a DNS name, trailing
 * dot optional, any case). XS_EINVAL for a bad name, XS_ELIMIT when full. */
xs_status xs_policy_allow_suffix(xs_policy *p, const char *suffix);
/* Deny "addr/prefix" or a bare address (a /32 or /128). XS_EINVAL for bad
 * text or a prefix too long for the family, XS_ELIMIT when full. */
xs_status xs_policy_deny_range(xs_policy *p, const char *cidr);
void xs_policy_clear_ranges(xs_policy *p);

/* 1 if an alias may point at name[0..len) (trailing dot optional). Else 0,
 * with the reason in why[XS_POLICY_WHY]. */
int xs_policy_target_ok(const xs_policy *p, const char *name, size_t len,
                        char *why);
/* The range denying a (IPv4-mapped IPv6 addresses are checked as the IPv4
 * address they carry), or NULL. */
const xs_range *xs_policy_denies(const xs_policy *p, const xs_addr *a);

#endif
