/* Upstream DNS through c-ares: A/AAAA queries for absolute names, replies
 * parsed into chain, addresses and TTLs. Driven either by the engine thread
 * (xs_upstream_start and the poll primitives) or blocking
 * (xs_upstream_query, for tests and tools). */
#ifndef XS_UPSTREAM_H
#define XS_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "names.h"
#include "validate.h"
#include "xsvc.h"

#define XS_UPSTREAM_MAX_ADDRS 64
#define XS_UPSTREAM_MAX_SERVERS 8

typedef struct xs_upstream_link {
  char name[XS_NAME_BUF]; /* absolute, trailing dot, as in the reply */
  char target[XS_NAME_BUF];
  uint32_t ttl;
} xs_upstream_link;

typedef struct xs_upstream_addr {
  xs_addr addr;
  uint32_t ttl;
} xs_upstream_addr;

/* The outcome of one query (one name, one type). */
typedef struct xs_upstream_answer {
  /* XS_OK (>= 1 address), XS_ENOTFOUND (NXDOMAIN), XS_ENODATA (NOERROR, no
   * record of the type), XS_ELOOP (CNAME loop in the reply), XS_ETIMEOUT,
   * XS_ESERVFAIL, XS_EREFUSED, XS_EUPSTREAM (malformed reply, other rcode,
   * no servers). */
  xs_status status;
  size_t nchain; /* CNAMEs followed from the query name, in order */
  xs_upstream_link chain[XS_MAX_CHAIN];
  size_t naddrs; /* records of the asked type owned by the chain's end */
  xs_upstream_addr addrs[XS_UPSTREAM_MAX_ADDRS];
  uint32_t negative_ttl; /* RFC 2308: min(SOA TTL, SOA MINIMUM); 0 if none */
} xs_upstream_answer;

/* An answer that is only a status (no records). */
static inline void xs_upstream_answer_status(xs_upstream_answer *a,
                                             xs_status status) {
  a->status = status;
  a->nchain = a->naddrs = 0;
  a->negative_ttl = 0;
}

typedef struct xs_upstream_cfg {
  const char *servers[XS_UPSTREAM_MAX_SERVERS]; /* "host[:port]", "[v6]:port" */
  size_t nservers;                              /* 0: /etc/resolv.conf */
  int timeout_ms;                               /* per attempt */
  int attempts;
} xs_upstream_cfg;

typedef struct xs_upstream xs_upstream;

/* XS_OK, XS_EINVAL (bad server string: err says which), XS_ENOMEM,
 * XS_EUPSTREAM (c-ares could not initialise). */
xs_status xs_upstream_new(const xs_upstream_cfg *cfg, xs_upstream **out,
                          xs_error *err);
void xs_upstream_free(xs_upstream *u);

/* Runs when a query started by xs_upstream_start completes, on the thread
 * driving the channel; ans is valid during the call only. ans->status is
 * also XS_ENOMEM, or XS_ECANCELLED after xs_upstream_cancel_all. */
typedef void (*xs_upstream_cb)(void *arg, const xs_upstream_answer *ans);

/* Non-blocking use, from one thread (the engine's): start a query, then
 * poll the channel's sockets with its timeout and process them. cb runs
 * exactly once (maybe before this returns) when XS_OK is returned. */
xs_status xs_upstream_start(xs_upstream *u, const char *name, uint16_t qtype,
                            xs_upstream_cb cb, void *arg);
/* A raw reply for xs_upstream_start_raw: status XS_OK with the reply's
 * octets (any rcode the upstream gave), or a failure without a reply
 * (XS_ETIMEOUT, XS_ESERVFAIL / XS_EREFUSED when every server said so,
 * XS_ECANCELLED, XS_ENOMEM, XS_EUPSTREAM) with buf NULL. */
typedef void (*xs_upstream_raw_cb)(void *arg, xs_status status,
                                   const unsigned char *buf, size_t len);
/* The same as xs_upstream_start for any type, handing over the reply as
 * it came (for a server forwarding it). */
xs_status xs_upstream_start_raw(xs_upstream *u, const char *name,
                                uint16_t qtype, xs_upstream_raw_cb cb,
                                void *arg);
struct pollfd;
/* Fill pfd[0..max) with the channel's sockets; returns how many. */
int xs_upstream_pollfds(xs_upstream *u, struct pollfd *pfd, int max);
/* Milliseconds until c-ares's next timeout; -1 when nothing is in flight. */
int xs_upstream_timeout_ms(xs_upstream *u);
/* Process the sockets poll() marked (n = 0: only timeouts). */
void xs_upstream_process(xs_upstream *u, const struct pollfd *pfd, int n);
/* Complete every query in flight with XS_ECANCELLED. */
void xs_upstream_cancel_all(xs_upstream *u);

/* Query name (absolute, trailing dot optional) for A when want4 and AAAA
 * when want6, both in flight at once; blocks until both finish. Thread-safe:
 * calls on one xs_upstream are serialised. Returns XS_OK or XS_ENOMEM /
 * XS_EINVAL; per-type outcomes are in a4->status / a6->status. */
xs_status xs_upstream_query(xs_upstream *u, const char *name, int want4,
                            xs_upstream_answer *a4, int want6,
                            xs_upstream_answer *a6);

/* Parse a DNS reply (pure, for tests and fuzzing): qname/qtype are the
 * question asked. Fills out->status from the rcode and the records. */
void xs_dns_parse_reply(const unsigned char *buf, size_t len, const char *qname,
                        uint16_t qtype, xs_upstream_answer *out);

/* The TCP reply streams (upstream.c follows each connection c-ares opens:
 * a reply's rcode is noted for the query it answers, as for UDP). Exposed
 * for the fuzzer: follow fd, feed it octets as read, forget it (closed). */
void xs_upstream_tcp_follow(xs_upstream *u, int fd);
void xs_upstream_tcp_forget(xs_upstream *u, int fd);
void xs_upstream_tcp_feed(xs_upstream *u, int fd, const unsigned char *d,
                          size_t n);

#endif
