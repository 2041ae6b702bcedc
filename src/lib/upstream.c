/* Upstream DNS through c-ares 1.18: ares_query for A/AAAA, driven by a
 * blocking poll() loop over ares_getsock / ares_process_fd / ares_timeout,
 * and our own bounds-checked reply parser (1.18 has no record API that
 * exposes the CNAME chain with TTLs or the negative-answer SOA).
 *
 * c-ares 1.18 does not hand over SERVFAIL, NOTIMP or REFUSED replies: it
 * tries the next server and, once every attempt has failed that way, reports
 * ARES_ECONNREFUSED with no reply. To keep both that failover and a precise
 * status, the channel's sockets go through our own socket functions, which
 * note the rcode of such replies for the queries in flight. */
#include "upstream.h"

#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "registry.h"

#define DNS_HEADER 12
#define DNS_CLASS_IN 1
#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_SOA 6
#define DNS_TYPE_AAAA 28
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_REFUSED 5
/* Compression pointers followed while reading one name: more than a
 * well-formed message can need, few enough to stop a loop at once. */
#define DNS_MAX_POINTERS 64
/* Answer records examined per reply; later ones are ignored. */
#define DNS_MAX_RECORDS 256
/* Default per-attempt timeout and attempts when the config leaves them 0. */
#define UPSTREAM_TIMEOUT_MS 2000
#define UPSTREAM_ATTEMPTS 2

typedef struct pending {
  xs_upstream_answer *out;
  const char *qname;
  uint16_t qtype;
  int done;
  int failed_rcode; /* last SERVFAIL/NOTIMP/REFUSED read for it, or -1 */
  int nomem;        /* c-ares ran out of memory */
} pending;

struct xs_upstream {
  pthread_mutex_t lock; /* serialises queries: the channel is not shared */
  ares_channel channel;
  pending *inflight[2]; /* the queries being driven, under lock */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = ARES_SUCCESS;

static void library_init(void) {
  init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* ---- reply parsing --------------------------------------------------------
 */

enum { NAME_BAD = 0, NAME_OK = 1, NAME_OPAQUE = 2 };

static uint16_t get16(const unsigned char *p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

/* Octets a host name label can carry as plain text. A label with any other
 * octet (a dot, a backslash, a NUL, a space, a control or non-ASCII octet)
 * cannot be written unambiguously as text, so such a name never matches. */
static int plain_octet(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != '.' && c != '\\';
}

/* Expand the name at *off into out (absolute, trailing dot, spelled as in
 * the message); on success advance *off past the name's bytes at *off.
 * Returns NAME_BAD for a malformed name (out of bounds, reserved label type,
 * pointer loop, longer than 253 octets of text), NAME_OPAQUE for a
 * well-formed name with octets that text cannot carry, else NAME_OK. */
static int read_name(const unsigned char *buf, size_t len, size_t *off,
                     char *out, size_t size) {
  size_t pos = *off, used = 0, end = 0, i;
  int jumps = 0, opaque = 0;
  for (;;) {
    unsigned c;
    if (pos >= len)
      return NAME_BAD;
    c = buf[pos];
    if ((c & 0xc0) == 0xc0) {
      if (pos + 1 >= len || ++jumps > DNS_MAX_POINTERS)
        return NAME_BAD;
      if (end == 0)
        end = pos + 2;
      pos = ((size_t)(c & 0x3f) << 8) | buf[pos + 1];
      continue;
    }
    if ((c & 0xc0) != 0)
      return NAME_BAD; /* 0x40 / 0x80 label types are obsolete or unknown */
    if (c == 0) {
      if (end == 0)
        end = pos + 1;
      break;
    }
    if (pos + 1 + c > len || used + c + 2 > size)
      return NAME_BAD;
    for (i = 0; i < c; i++) {
      unsigned char o = buf[pos + 1 + i];
      if (!plain_octet(o)) {
        opaque = 1;
        o = '?';
      }
      out[used++] = (char)o;
    }
    out[used++] = '.';
    pos += 1 + c;
  }
  if (used == 0)
    out[used++] = '.';
  out[used] = '\0';
  *off = end;
  return opaque ? NAME_OPAQUE : NAME_OK;
}

/* Equal as DNS names: ASCII case-insensitive, trailing dot optional. */
static int name_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 1 && a[la - 1] == '.')
    la--;
  if (lb > 1 && b[lb - 1] == '.')
    lb--;
  return la == lb && xs_ci_eq(a, b, la);
}

static xs_status status_of_rcode(int rcode, size_t naddrs) {
  switch (rcode) {
  case DNS_RCODE_NOERROR:
    return naddrs > 0 ? XS_OK : XS_ENODATA;
  case DNS_RCODE_NXDOMAIN:
    return XS_ENOTFOUND;
  case DNS_RCODE_SERVFAIL:
    return XS_ESERVFAIL;
  case DNS_RCODE_REFUSED:
    return XS_EREFUSED;
  default:
    return XS_EUPSTREAM;
  }
}

typedef struct record {
  size_t owner; /* offset of the owner name */
  size_t rdata;
  uint16_t type, rdlen;
  uint32_t ttl;
} record;

/* The CNAME owned by `current` among the answer records: 1 with its record
 * index, 0 if none, -1 if the reply is unusable (bad or opaque target). */
static int find_cname(const unsigned char *buf, size_t len, const record *recs,
                      size_t nrecs, const char *current, size_t *index,
                      char *target) {
  char owner[XS_NAME_BUF];
  size_t k;
  for (k = 0; k < nrecs; k++) {
    size_t p = recs[k].owner, t = recs[k].rdata;
    if (recs[k].type != DNS_TYPE_CNAME ||
        read_name(buf, len, &p, owner, sizeof(owner)) != NAME_OK ||
        !name_eq(owner, current))
      continue;
    if (read_name(buf, len, &t, target, XS_NAME_BUF) != NAME_OK ||
        t != recs[k].rdata + recs[k].rdlen)
      return -1;
    *index = k;
    return 1;
  }
  return 0;
}

void xs_dns_parse_reply(const unsigned char *buf, size_t len, const char *qname,
                        uint16_t qtype, xs_upstream_answer *out) {
  char name[XS_NAME_BUF], target[XS_NAME_BUF], current[XS_NAME_BUF];
  record recs[DNS_MAX_RECORDS];
  size_t nrecs = 0, off = DNS_HEADER, qlen, k, index;
  uint32_t qd, an, ns, i;
  int rcode, found;

  if (out == NULL)
    return;
  memset(out, 0, sizeof(*out));
  out->status = XS_EUPSTREAM;
  if (buf == NULL || qname == NULL || len < DNS_HEADER ||
      (buf[2] & 0x80) == 0 /* a query, not a reply */)
    return;
  qlen = strlen(qname);
  if (qlen == 0 || qlen >= sizeof(current))
    return;
  rcode = buf[3] & 0x0f;
  qd = get16(buf + 4);
  an = get16(buf + 6);
  ns = get16(buf + 8);
  for (i = 0; i < qd; i++) {
    if (read_name(buf, len, &off, name, sizeof(name)) == NAME_BAD ||
        off + 4 > len)
      return;
    off += 4;
  }
  for (i = 0; i < an + ns; i++) {
    record r;
    uint16_t rclass;
    r.owner = off;
    if (read_name(buf, len, &off, name, sizeof(name)) == NAME_BAD ||
        off + 10 > len)
      return;
    r.type = get16(buf + off);
    rclass = get16(buf + off + 2);
    r.ttl = get32(buf + off + 4);
    if (r.ttl > 0x7fffffffu)
      r.ttl = 0; /* RFC 2181 8: a TTL with the top bit set means zero */
    r.rdlen = get16(buf + off + 8);
    r.rdata = off + 10;
    if (r.rdlen > len - r.rdata)
      return;
    off = r.rdata + r.rdlen;
    if (rclass != DNS_CLASS_IN)
      continue;
    if (i >= an) {
      /* Authority: the SOA gives the negative-cache time (RFC 2308 5). */
      size_t p = r.rdata;
      if (r.type == DNS_TYPE_SOA &&
          read_name(buf, len, &p, name, sizeof(name)) != NAME_BAD &&
          read_name(buf, len, &p, name, sizeof(name)) != NAME_BAD &&
          p + 20 == r.rdata + r.rdlen) {
        uint32_t minimum = get32(buf + p + 16);
        if (minimum > 0x7fffffffu)
          minimum = 0;
        out->negative_ttl = r.ttl < minimum ? r.ttl : minimum;
      }
      continue;
    }
    if ((r.type == DNS_TYPE_CNAME || r.type == qtype) &&
        nrecs < DNS_MAX_RECORDS)
      recs[nrecs++] = r;
  }

  /* Follow CNAMEs from the query name. A target already in the chain (or
   * the query name itself) is a loop; more than XS_MAX_CHAIN links count as
   * one too (xsvc.h). */
  memcpy(current, qname, qlen + 1);
  while ((found = find_cname(buf, len, recs, nrecs, current, &index, target)) !=
         0) {
    xs_upstream_link *link;
    size_t p;
    if (found < 0)
      return;
    p = recs[index].owner;
    if (out->nchain == XS_MAX_CHAIN) {
      out->status = XS_ELOOP;
      return;
    }
    link = &out->chain[out->nchain++];
    read_name(buf, len, &p, link->name, sizeof(link->name));
    memcpy(link->target, target, strlen(target) + 1);
    link->ttl = recs[index].ttl;
    for (k = 0; k < out->nchain; k++)
      if (name_eq(out->chain[k].name, target)) {
        out->status = XS_ELOOP;
        return;
      }
    memcpy(current, target, strlen(target) + 1);
  }

  for (k = 0; k < nrecs && out->naddrs < XS_UPSTREAM_MAX_ADDRS; k++) {
    size_t p = recs[k].owner;
    unsigned want = qtype == DNS_TYPE_A ? 4 : qtype == DNS_TYPE_AAAA ? 16 : 0;
    xs_upstream_addr *a;
    if (recs[k].type != qtype || want == 0 || recs[k].rdlen != want ||
        read_name(buf, len, &p, name, sizeof(name)) != NAME_OK ||
        !name_eq(name, current))
      continue;
    a = &out->addrs[out->naddrs++];
    memset(&a->addr, 0, sizeof(a->addr));
    a->addr.family = want == 4 ? 4 : 6;
    memcpy(a->addr.bytes, buf + recs[k].rdata, want);
    a->ttl = recs[k].ttl;
  }
  out->status = status_of_rcode(rcode, out->naddrs);
}

/* ---- servers --------------------------------------------------------------
 */

/* "host", "host:port", "[v6]", "[v6]:port", bare "v6" -> c-ares CSV entry.
 * The host must be an IP address (no names: resolving the resolver's own
 * servers would need a resolver). */
static int server_to_csv(const char *s, char *out, size_t size) {
  char host[64];
  const char *port = NULL;
  xs_addr a;
  size_t hlen;
  long p = 53;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (end == NULL)
      return 0;
    hlen = (size_t)(end - s - 1);
    if (hlen >= sizeof(host))
      return 0;
    memcpy(host, s + 1, hlen);
    if (end[1] == ':')
      port = end + 2;
    else if (end[1] != '\0')
      return 0;
  } else {
    const char *colon = strchr(s, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL)
      colon = NULL; /* a bare IPv6 address */
    hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
    if (hlen >= sizeof(host))
      return 0;
    memcpy(host, s, hlen);
    if (colon != NULL)
      port = colon + 1;
  }
  host[hlen] = '\0';
  if (!xs_addr_parse(host, hlen, &a))
    return 0;
  if (s[0] == '[' && a.family != 6)
    return 0; /* brackets are for IPv6 only */
  if (port != NULL) {
    char *end;
    if (*port < '0' || *port > '9')
      return 0;
    errno = 0;
    p = strtol(port, &end, 10);
    if (*end != '\0' || errno != 0 || p < 1 || p > 65535)
      return 0;
  }
  if (a.family == 6)
    snprintf(out, size, "[%s]:%ld", host, p);
  else
    snprintf(out, size, "%s:%ld", host, p);
  return 1;
}

/* ---- sockets --------------------------------------------------------------
 * c-ares leaves sockets it did not open itself unconfigured, so these set
 * non-blocking, close-on-exec and TCP_NODELAY as c-ares would. */

/* Note the rcode of a SERVFAIL/NOTIMP/REFUSED reply for the query in flight
 * with the same question. */
static void note_reply(xs_upstream *u, const unsigned char *m, size_t n) {
  char name[XS_NAME_BUF];
  size_t off = DNS_HEADER, i;
  int rcode;
  uint16_t qtype;
  if (n < DNS_HEADER || (m[2] & 0x80) == 0 || get16(m + 4) != 1)
    return;
  rcode = m[3] & 0x0f;
  if (rcode != DNS_RCODE_SERVFAIL && rcode != DNS_RCODE_NOTIMP &&
      rcode != DNS_RCODE_REFUSED)
    return;
  if (read_name(m, n, &off, name, sizeof(name)) != NAME_OK || off + 4 > n ||
      get16(m + off + 2) != DNS_CLASS_IN)
    return;
  qtype = get16(m + off);
  for (i = 0; i < 2; i++) {
    pending *p = u->inflight[i];
    if (p != NULL && !p->done && p->qtype == qtype && name_eq(name, p->qname))
      p->failed_rcode = rcode;
  }
}

static ares_socket_t sock_open(int domain, int type, int protocol, void *arg) {
  int s = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  (void)arg;
  if (s < 0)
    return ARES_SOCKET_BAD;
  if (type == SOCK_STREAM) {
    int one = 1;
    (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return s;
}

static int sock_close(ares_socket_t s, void *arg) {
  (void)arg;
  return close(s);
}

static int sock_connect(ares_socket_t s, const struct sockaddr *addr,
                        ares_socklen_t addrlen, void *arg) {
  (void)arg;
  return connect(s, addr, addrlen);
}

/* c-ares reads UDP with a source address and TCP without one; only whole
 * UDP datagrams are looked at. */
static ares_ssize_t sock_recvfrom(ares_socket_t s, void *data, size_t size,
                                  int flags, struct sockaddr *from,
                                  ares_socklen_t *fromlen, void *arg) {
  ssize_t n;
  if (from == NULL)
    return recv(s, data, size, flags);
  n = recvfrom(s, data, size, flags, from, fromlen);
  if (n > 0)
    note_reply(arg, data, (size_t)n);
  return n;
}

static ares_ssize_t sock_sendv(ares_socket_t s, const struct iovec *iov,
                               int iovcnt, void *arg) {
  struct msghdr msg;
  ssize_t n;
  (void)arg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = (struct iovec *)iov;
  msg.msg_iovlen = (size_t)iovcnt;
  n = sendmsg(s, &msg, MSG_NOSIGNAL); /* a closed TCP peer: no SIGPIPE */
  /* On a connected UDP socket this is the ICMP error of an earlier
   * datagram (the A query's, when AAAA follows), and this one was not sent.
   * Send it: its own error then reaches c-ares on the read side, which fails
   * over every query on the socket, instead of leaving the earlier query to
   * time out. */
  if (n < 0 && errno == ECONNREFUSED)
    n = sendmsg(s, &msg, MSG_NOSIGNAL);
  return n;
}

static const struct ares_socket_functions socket_functions = {
    sock_open, sock_close, sock_connect, sock_recvfrom, sock_sendv};

/* ---- channel --------------------------------------------------------------
 */

xs_status xs_upstream_new(const xs_upstream_cfg *cfg, xs_upstream **out,
                          xs_error *err) {
  struct ares_options opts;
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  char csv[XS_UPSTREAM_MAX_SERVERS * 80];
  size_t i, used = 0;
  xs_upstream *u;
  int rc;

  if (cfg == NULL || out == NULL) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "%s must not be NULL",
                 cfg == NULL ? "cfg" : "out");
    return XS_EINVAL;
  }
  if (cfg->nservers > XS_UPSTREAM_MAX_SERVERS) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "too many DNS servers: %zu (at most %d)", cfg->nservers,
                 XS_UPSTREAM_MAX_SERVERS);
    return XS_EINVAL;
  }
  if (cfg->timeout_ms < 0 || cfg->attempts < 0) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "invalid DNS timeout %d ms or attempts %d", cfg->timeout_ms,
                 cfg->attempts);
    return XS_EINVAL;
  }
  pthread_once(&init_once, library_init);
  if (init_status != ARES_SUCCESS) {
    xs_error_set(err, XS_EUPSTREAM, NULL, 0, 0, "c-ares: %s",
                 ares_strerror(init_status));
    return XS_EUPSTREAM;
  }
  csv[0] = '\0';
  for (i = 0; i < cfg->nservers; i++) {
    const char *s = cfg->servers[i] != NULL ? cfg->servers[i] : "";
    char one[96], quoted[160];
    if (!server_to_csv(s, one, sizeof(one))) {
      xs_quote(quoted, sizeof(quoted), s, strlen(s));
      xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                   "invalid DNS server %s: expected an IP address with an "
                   "optional port (HOST[:PORT] or [IPv6]:PORT)",
                   quoted);
      return XS_EINVAL;
    }
    used += (size_t)snprintf(csv + used, sizeof(csv) - used, "%s%s",
                             used ? "," : "", one);
  }
  u = calloc(1, sizeof(*u));
  if (u == NULL) {
    xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "out of memory");
    return XS_ENOMEM;
  }
  memset(&opts, 0, sizeof(opts));
  /* Names arrive absolute: no search list, no HOSTALIASES. EDNS0 (c-ares
   * retries without it on FORMERR) so larger replies fit in UDP. */
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
  opts.timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : UPSTREAM_TIMEOUT_MS;
  opts.tries = cfg->attempts > 0 ? cfg->attempts : UPSTREAM_ATTEMPTS;
  rc = ares_init_options(&u->channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    free(u);
    xs_error_set(err, rc == ARES_ENOMEM ? XS_ENOMEM : XS_EUPSTREAM, NULL, 0, 0,
                 "c-ares: %s", ares_strerror(rc));
    return rc == ARES_ENOMEM ? XS_ENOMEM : XS_EUPSTREAM;
  }
  if (cfg->nservers > 0 &&
      (rc = ares_set_servers_ports_csv(u->channel, csv)) != ARES_SUCCESS) {
    ares_destroy(u->channel);
    free(u);
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "c-ares: %s: %s",
                 ares_strerror(rc), csv);
    return XS_EINVAL;
  }
  ares_set_socket_functions(u->channel, &socket_functions, u);
  pthread_mutex_init(&u->lock, NULL);
  *out = u;
  return XS_OK;
}

void xs_upstream_free(xs_upstream *u) {
  if (u == NULL)
    return;
  ares_destroy(u->channel);
  pthread_mutex_destroy(&u->lock);
  free(u);
}

/* ---- queries --------------------------------------------------------------
 */

/* For outcomes without a reply to parse. ARES_ECONNREFUSED is c-ares 1.18's
 * "no server gave a usable answer": a socket error (ICMP port unreachable),
 * or SERVFAIL/NOTIMP/REFUSED from each; note_reply tells which. */
static xs_status map_ares(int status) {
  switch (status) {
  case ARES_ENOTFOUND:
    return XS_ENOTFOUND;
  case ARES_ENODATA:
    return XS_ENODATA;
  case ARES_ETIMEOUT:
    return XS_ETIMEOUT;
  case ARES_ESERVFAIL:
    return XS_ESERVFAIL;
  case ARES_EREFUSED:
  case ARES_ECONNREFUSED:
    return XS_EREFUSED;
  default:
    /* ARES_SUCCESS without a reply, ARES_ECANCELLED (poll() failed),
     * ARES_ENOMEM (xs_upstream_query then returns XS_ENOMEM), ... */
    return XS_EUPSTREAM;
  }
}

static void on_reply(void *arg, int status, int timeouts, unsigned char *abuf,
                     int alen) {
  pending *p = arg;
  (void)timeouts;
  if (abuf != NULL && alen > 0) {
    /* Success, and with qcallback's rcode mapping also NXDOMAIN, NODATA,
     * SERVFAIL, REFUSED, FORMERR, NOTIMP: the reply says it exactly. */
    xs_dns_parse_reply(abuf, (size_t)alen, p->qname, p->qtype, p->out);
  } else {
    memset(p->out, 0, sizeof(*p->out));
    if (status == ARES_ECONNREFUSED && p->failed_rcode >= 0)
      p->out->status = status_of_rcode(p->failed_rcode, 0);
    else
      p->out->status = map_ares(status);
    p->nomem = status == ARES_ENOMEM;
  }
  p->done = 1;
}

/* Milliseconds until c-ares's next timeout, rounded up so a poll() that
 * returns does not spin before the deadline. */
static int next_timeout_ms(ares_channel ch) {
  struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
  long ms;
  if (tvp == NULL)
    return 1000;
  ms = (long)tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000;
  return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

static void drive(ares_channel ch, pending *a, pending *b) {
  while (!(a->done && b->done)) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0, i, rc;
    for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
      short ev = 0;
      /* c-ares's macros shift a signed 1 into the sign bit for i = 15 */
      if (((unsigned)bits >> i) & 1u)
        ev |= POLLIN;
      if (((unsigned)bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u)
        ev |= POLLOUT;
      if (ev == 0)
        continue;
      pfd[n].fd = socks[i];
      pfd[n].events = ev;
      pfd[n].revents = 0;
      n++;
    }
    rc = poll(pfd, (nfds_t)n, next_timeout_ms(ch));
    if (rc < 0 && errno != EINTR)
      break;
    if (rc <= 0) {
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
      continue;
    }
    for (i = 0; i < n; i++) {
      ares_socket_t r = (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
                            ? pfd[i].fd
                            : ARES_SOCKET_BAD;
      ares_socket_t w =
          (pfd[i].revents & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD;
      if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD)
        ares_process_fd(ch, r, w);
    }
  }
}

static void pending_init(pending *p, xs_upstream_answer *out, const char *qname,
                         uint16_t qtype, int wanted) {
  memset(p, 0, sizeof(*p));
  p->out = out;
  p->qname = qname;
  p->qtype = qtype;
  p->done = !wanted;
  p->failed_rcode = -1;
}

xs_status xs_upstream_query(xs_upstream *u, const char *name, int want4,
                            xs_upstream_answer *a4, int want6,
                            xs_upstream_answer *a6) {
  char qname[XS_NAME_BUF];
  pending p4, p6;
  size_t len;
  if (u == NULL || name == NULL || (want4 && a4 == NULL) ||
      (want6 && a6 == NULL))
    return XS_EINVAL;
  len = strlen(name);
  if (len == 0 || len >= sizeof(qname))
    return XS_EINVAL;
  memcpy(qname, name, len + 1);
  if (len > 1 && qname[len - 1] == '.')
    qname[len - 1] = '\0'; /* c-ares wants the name without the root dot */
  pending_init(&p4, a4, name, DNS_TYPE_A, want4);
  pending_init(&p6, a6, name, DNS_TYPE_AAAA, want6);
  pthread_mutex_lock(&u->lock);
  u->inflight[0] = &p4;
  u->inflight[1] = &p6;
  if (want4)
    ares_query(u->channel, qname, DNS_CLASS_IN, DNS_TYPE_A, on_reply, &p4);
  if (want6)
    ares_query(u->channel, qname, DNS_CLASS_IN, DNS_TYPE_AAAA, on_reply, &p6);
  drive(u->channel, &p4, &p6);
  if (!(p4.done && p6.done))
    ares_cancel(u->channel); /* completes both through on_reply */
  u->inflight[0] = u->inflight[1] = NULL;
  pthread_mutex_unlock(&u->lock);
  return p4.nomem || p6.nomem ? XS_ENOMEM : XS_OK;
}
