/* The resolver's target policy (SSRF guard): which external names an alias
 * may point at, and which addresses a resolution may hand out. Fixed when
 * the resolver is created; read by any number of threads. */
#ifndef XS_POLICY_H
#define XS_POLICY_H

#include <stddef.h>

#include "names.h"
#include "validate.h"

#define XS_POLICY_MAX_SUFFIXES 32
#define XS_POLICY_MAX_RANGES                                                   \
  64 /* per list (denied, allowed); defaults apart                             \
      */
/* room for a refusal's explanation */
#define XS_POLICY_WHY 320

typedef struct xs_range {
  xs_addr net; /* host bits zero */
  unsigned prefix;
  char text[52];      /* normalised: "169.254.0.0/16" */
  const char *reason; /* why a default range is denied; NULL for the user's */
} xs_range;

typedef struct xs_policy {
  char allowed[XS_POLICY_MAX_SUFFIXES][XS_NAME_BUF]; /* lowercase, no dot */
  size_t allowed_len[XS_POLICY_MAX_SUFFIXES];
  size_t nallowed; /* 0: every target allowed */
  int defaults;    /* 1: the default denied ranges apply */
  xs_range denied[XS_POLICY_MAX_RANGES];
  size_t ndenied;
  xs_range lifted[XS_POLICY_MAX_RANGES]; /* xs_config_allow_range */
  size_t nlifted;
} xs_policy;

/* The defaults: every target allowed; the default denied ranges (see
 * xs_policy_default_range) on. */
void xs_policy_init(xs_policy *p);
/* Allow external targets equal to suffix or below it (a DNS name, trailing
 * dot optional, any case). XS_EINVAL for a bad name, XS_ELIMIT when full. */
xs_status xs_policy_allow_suffix(xs_policy *p, const char *suffix);
/* Deny / allow "addr/prefix" or a bare address (a /32 or /128). XS_EINVAL
 * for bad text or a prefix too long for the family, XS_ELIMIT when full. */
xs_status xs_policy_deny_range(xs_policy *p, const char *cidr);
xs_status xs_policy_allow_range(xs_policy *p, const char *cidr);
/* Drop every denied range, the defaults included (allowed ranges stay). */
void xs_policy_clear_ranges(xs_policy *p);
/* The i-th default denied range, or NULL past the last. */
const xs_range *xs_policy_default_range(size_t i);
/* 1 when the policy can deny any address at all. */
int xs_policy_has_ranges(const xs_policy *p);

/* 1 if an alias may point at name[0..len) (trailing dot optional). Else 0,
 * with the reason in why[XS_POLICY_WHY]. */
int xs_policy_target_ok(const xs_policy *p, const char *name, size_t len,
                        char *why);
/* The range denying a, or NULL. The most specific range holding a decides
 * (an allowed range wins a tie); an IPv6 address that carries an IPv4
 * address (mapped, compatible, NAT64, 6to4) is also judged as that IPv4
 * address, and denied when either judgement denies it. */
const xs_range *xs_policy_denies(const xs_policy *p, const xs_addr *a);
/* "address A is in denied range R (reason)" into why[size]. */
void xs_policy_explain(const xs_range *r, const xs_addr *a, char *why,
                       size_t size);

#endif
