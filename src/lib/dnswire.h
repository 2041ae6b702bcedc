/* DNS messages for the server: decode a query, encode a response from an
 * xs_answer (name compression, EDNS0, truncation). Pure functions on
 * buffers; no allocation. */
#ifndef XS_DNSWIRE_H
#define XS_DNSWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "names.h"

#define XS_DNS_HEADER 12
#define XS_DNS_UDP_MIN 512  /* without EDNS0 */
#define XS_DNS_UDP_MAX 4096 /* the largest UDP query we read */
#define XS_DNS_TCP_MAX 65535
/* Advertised, and the largest UDP reply we send whatever size a client
 * asks for (DNS flag day 2020: no fragments, no amplification past it). */
#define XS_DNS_EDNS_SIZE XS_SERVER_UDP_MAX

enum { XS_RCODE_FORMERR = 1, XS_RCODE_NOTIMP = 4, XS_RCODE_REFUSED = 5 };

/* What a query decodes to. */
typedef enum xs_dns_verdict {
  XS_DNS_QUERY = 0, /* a standard query: answer it */
  XS_DNS_DROP,      /* not worth a reply (a response, or no whole header) */
  XS_DNS_FORMERR,   /* reply FORMERR (id and opcode known) */
  XS_DNS_NOTIMP     /* reply NOTIMP: an opcode other than QUERY */
} xs_dns_verdict;

typedef struct xs_dns_query {
  uint16_t id;
  uint16_t flags; /* the query's header flags word */
  int opcode;
  int rd, cd;
  char qname[XS_NAME_BUF]; /* as sent (case kept), with the trailing dot */
  size_t qname_len;
  uint8_t qwire[XS_NAME_BUF + 1]; /* the same in wire form, as it came */
  size_t qwire_len;
  uint16_t qtype, qclass;
  int edns;          /* an OPT record came with it */
  int edns_version;  /* its version (only 0 is understood) */
  uint16_t udp_size; /* what a UDP reply may fill: 512..XS_DNS_EDNS_SIZE */
  int do_bit;
} xs_dns_query;

/* Decode buf[0..len). On XS_DNS_QUERY every field is set; on FORMERR and
 * NOTIMP id, flags and opcode are (and the question when it decoded). */
xs_dns_verdict xs_dns_decode_query(const uint8_t *buf, size_t len,
                                   xs_dns_query *q);

/* The response to q with rcode into out[0..cap): header (QR, AA when aa,
 * RD copied, RA when ra), the question (when q has one), then the answer,
 * authority (the negative SOA of a, when a->soa) and additional sections of
 * a (may be NULL), and an OPT record when q had one. Names are compressed
 * (case-insensitively, as miekg/dns does). SOA data: MNAME ns.dns.<zone>,
 * RNAME hostmaster.<zone>, the registry's serial, 7200 1800 86400, MINIMUM
 * the synthesized TTL, <zone> as the SOA's owner is spelled. When the
 * records do not fit in cap, the reply is cut after the question (and OPT)
 * with TC set, so clients retry over TCP. Returns the length written (cap
 * must be at least 512). */
size_t xs_dns_encode_response(const xs_dns_query *q, int rcode, int aa, int ra,
                              const xs_answer *a, uint8_t *out, size_t cap);

/* A bare error response (FORMERR, NOTIMP, SERVFAIL, REFUSED) echoing the
 * question when q has one (qname_len > 0). */
size_t xs_dns_encode_error(const xs_dns_query *q, int rcode, uint8_t *out,
                           size_t cap);

struct xs_policy;

/* What a forwarded reply may not carry (xs_dns_forward_reply). */
typedef struct xs_dns_scrub {
  /* A and AAAA records with an address it denies go (from every section),
   * and so do SVCB/HTTPS records with such an address hint; NULL: none. */
  const struct xs_policy *policy;
  /* Records owned by names in these zones go (the server answers them from
   * its registry: an upstream's word on them is out of bailiwick), except
   * those owned by the question's name (a fallthrough question is the
   * upstream's to answer). zone: the cluster zone, no trailing dot (NULL or
   * zone_len 0: none); reverse: 1 for in-addr.arpa and ip6.arpa. */
  const char *zone;
  size_t zone_len;
  int reverse;
} xs_dns_scrub;

/* An upstream server's reply up[0..uplen) to the question of q, made the
 * reply to q into out[0..cap): q's id, RD and CD, the question as q spelled
 * it, RA set, the upstream's AA, AD and rcode, its answer, authority and
 * additional records (its OPT, and anything after it, dropped; so is what
 * scrub (may be NULL) says, with the counts to match and AD cleared), then
 * an OPT of our own when q had one. Records go out as they came when none
 * is dropped; otherwise each is written anew, its names decompressed and
 * compressed again. When that does not fit in cap: the header and question
 * only, with TC. 0 when up is not a reply to q's question or does not parse
 * (a record's name with a pointer that does not lead back, rdata names
 * that overrun their record) (the caller answers SERVFAIL). */
size_t xs_dns_forward_reply(const uint8_t *up, size_t uplen,
                            const xs_dns_query *q, const xs_dns_scrub *scrub,
                            uint8_t *out, size_t cap);

/* The TTLs of msg[0..len)'s records (OPT excluded). With set non-NULL
 * every one becomes *set. *min gets the smallest (for an answer without
 * answer records, also the MINIMUM of the SOA in its authority section, as
 * RFC 2308 caches it), or UINT32_MAX when there are no records. Returns the
 * number of records, or -1 when msg does not parse. */
int xs_dns_ttls(uint8_t *msg, size_t len, const uint32_t *set, uint32_t *min);

#endif
