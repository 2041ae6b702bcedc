/* The one answer function: (name, type) -> what cluster DNS says, from a
 * registry snapshot. Used by xs_resolve and (later) the DNS server. */
#ifndef XS_ANSWER_H
#define XS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

enum {
  XS_T_A = 1,
  XS_T_NS = 2,
  XS_T_CNAME = 5,
  XS_T_SOA = 6,
  XS_T_PTR = 12,
  XS_T_MX = 15,
  XS_T_TXT = 16,
  XS_T_AAAA = 28,
  XS_T_SRV = 33,
  XS_T_OPT = 41,
  XS_T_HTTPS = 65,
  XS_T_ANY = 255
};

enum { XS_RCODE_NOERROR = 0, XS_RCODE_SERVFAIL = 2, XS_RCODE_NXDOMAIN = 3 };

#define XS_DNS_VERSION "1.1.0"
#define XS_DNS_VERSION_TTL 28800u

typedef struct xs_answer_cfg {
  const char *zone; /* lowercase, no trailing dot, e.g. "cluster.local" */
  size_t zone_len;
  uint32_t ttl; /* synthesized TTL, 0..3600 */
  xs_mode mode;
  int ip_literal; /* ip-like externalName answers A (kube-dns legacy) */
} xs_answer_cfg;

/* One resource record. Names are absolute with the trailing dot and point
 * into the answer's own storage, the snapshot, or (for an absolute query)
 * the caller's qname: valid while all three live. */
typedef struct xs_rr {
  const char *owner;
  uint16_t type;
  uint32_t ttl;
  xs_addr addr;                    /* A, AAAA */
  const char *target;              /* CNAME, PTR, SRV target; TXT text */
  uint16_t priority, weight, port; /* SRV */
} xs_rr;

#define XS_ANSWER_INLINE_RRS 8
#define XS_ANSWER_INLINE_TEXT 1024

typedef struct xs_answer {
  int rcode;             /* XS_RCODE_*: what a CoreDNS/strict server replies */
  int soa;               /* 1: the negative-answer SOA belongs in AUTHORITY */
  const char *soa_owner; /* zone apex as spelled in the query, with dot;
                          * set when status != XS_OK */
  uint32_t soa_ttl;      /* min(T, 300) */
  uint32_t soa_minimum;  /* T */
  uint64_t soa_serial;   /* time of the last registry change */
  /* The precise outcome, independent of mode, for the library API:
   * XS_OK (records of the type), XS_ENOTFOUND, XS_ENODATA, XS_ELOOP. When
   * the chain leaves the zone, status is XS_OK with no address records and
   * external_target set: the caller chases it upstream. */
  xs_status status;
  const char *external_target; /* absolute with dot, or NULL */
  /* An IP-literal externalName answered as A (ip_literal on): its text,
   * without a dot; else NULL. */
  const char *literal_target;
  /* The full chain of CNAME links (even where CoreDNS mode drops them from
   * answer[]): chain[i] is the CNAME RR. */
  size_t nchain;
  xs_rr chain[XS_MAX_CHAIN];
  xs_rr *answer; /* the ANSWER section as the server would send it */
  size_t nanswer;
  xs_rr *additional;
  size_t nadditional;
  /* storage */
  size_t cap_answer, cap_additional;
  xs_rr inline_rrs[XS_ANSWER_INLINE_RRS];
  char *text;
  size_t text_used, text_cap;
  void *chunks; /* heap text chunks, linked */
  char inline_text[XS_ANSWER_INLINE_TEXT];
} xs_answer;

/* Answer qname (absolute or not: it is taken as absolute; the trailing dot
 * is optional) of type qtype. qname must be a valid name (xs_name_check,
 * or decoded from the wire); only its length is checked here. The caller must
 * first check that the name is in the zone (xs_name_in_zone) or is a reverse
 * name (in-addr.arpa / ip6.arpa); other names get NXDOMAIN. snap may be NULL
 * (empty registry). Returns XS_OK (ans filled; release with xs_answer_free),
 * XS_ENOMEM or XS_EBADNAME. */
xs_status xs_answer_query(const xs_snapshot *snap, const xs_answer_cfg *cfg,
                          const char *qname, size_t qlen, uint16_t qtype,
                          xs_answer *ans);
void xs_answer_free(xs_answer *ans);

/* An empty answer (NXDOMAIN until records are added), for callers that
 * build one themselves (the server's forwarded answers). */
void xs_answer_init(xs_answer *ans, const xs_snapshot *snap,
                    const xs_answer_cfg *cfg);
/* Append an ANSWER record, its names copied into ans (trailing dot added
 * when missing). XS_OK or XS_ENOMEM. */
xs_status xs_answer_add_cname(xs_answer *ans, const char *owner,
                              const char *target, uint32_t ttl);
xs_status xs_answer_add_addr(xs_answer *ans, const char *owner,
                             const xs_addr *addr, uint32_t ttl);

#endif
