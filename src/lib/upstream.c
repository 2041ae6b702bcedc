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

/* TCP connections followed at once (c-ares opens one per server) and the
 * octets of each reply kept: enough for the header and any question. */
#define TCP_TRACKED (2 * XS_UPSTREAM_MAX_SERVERS)
#define TCP_PEEK (DNS_HEADER + XS_NAME_BUF + 4)

/* The reply stream of one TCP connection, followed so that the rcode of
 * a reply read over TCP is noted as a UDP one's is: two length octets,
 * then the message, again and again. */
typedef struct tcp_stream {
  int fd;          /* -1: slot free */
  size_t lgot;     /* length octets read (0..2) */
  size_t len, got; /* the current message's length, octets read */
  unsigned char lenb[2];
  unsigned char msg[TCP_PEEK];
} tcp_stream;

/* One query in flight. */
typedef struct pending {
  struct pending *prev, *next; /* u->inflight */
  xs_upstream *u;
  char qname[XS_NAME_BUF]; /* as asked, for the parser and note_reply */
  uint16_t qtype;
  int failed_rcode; /* last SERVFAIL/NOTIMP/REFUSED read for it, or -1 */
  xs_upstream_cb cb;
  xs_upstream_raw_cb raw_cb; /* instead of cb: the reply as it came */
  void *arg;
} pending;

struct xs_upstream {
  pthread_mutex_t lock; /* xs_upstream_query: one blocking caller at a time */
  ares_channel channel;
  pending *inflight;          /* queries started and not completed */
  xs_upstream_answer scratch; /* the answer handed to a callback */
  tcp_stream tcp[TCP_TRACKED];
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
  size_t off = DNS_HEADER;
  int rcode;
  uint16_t qtype;
  pending *p;
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
  for (p = u->inflight; p != NULL; p = p->next)
    if (p->qtype == qtype && name_eq(name, p->qname))
      p->failed_rcode = rcode;
}

static tcp_stream *tcp_find(xs_upstream *u, int fd) {
  size_t i;
  for (i = 0; i < TCP_TRACKED; i++)
    if (u->tcp[i].fd == fd)
      return &u->tcp[i];
  return NULL;
}

void xs_upstream_tcp_follow(xs_upstream *u, int fd) {
  tcp_stream *t = tcp_find(u, -1);
  if (t != NULL) {
    memset(t, 0, sizeof(*t));
    t->fd = fd;
  }
}

void xs_upstream_tcp_feed(xs_upstream *u, int fd, const unsigned char *d,
                          size_t n) {
  tcp_stream *t = tcp_find(u, fd);
  if (t == NULL)
    return; /* more connections than slots: statuses as c-ares gives them */
  while (n > 0) {
    size_t take;
    if (t->lgot < 2) {
      t->lenb[t->lgot++] = *d++;
      n--;
      if (t->lgot == 2) {
        t->len = (size_t)(t->lenb[0] << 8 | t->lenb[1]);
        t->got = 0;
      }
      continue;
    }
    take = t->len - t->got < n ? t->len - t->got : n;
    if (t->got < TCP_PEEK)
      memcpy(t->msg + t->got, d,
             take < TCP_PEEK - t->got ? take : TCP_PEEK - t->got);
    t->got += take;
    d += take;
    n -= take;
    if (t->got == t->len) {
      note_reply(u, t->msg, t->len < TCP_PEEK ? t->len : TCP_PEEK);
      t->lgot = 0;
    }
  }
}

static ares_socket_t sock_open(int domain, int type, int protocol, void *arg) {
  xs_upstream *u = arg;
  int s = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (s < 0)
    return ARES_SOCKET_BAD;
  if (type == SOCK_STREAM) {
    int one = 1;
    (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    xs_upstream_tcp_follow(u, s);
  }
  return s;
}

void xs_upstream_tcp_forget(xs_upstream *u, int fd) {
  tcp_stream *t = tcp_find(u, fd);
  if (t != NULL && fd != -1)
    t->fd = -1;
}

static int sock_close(ares_socket_t s, void *arg) {
  xs_upstream_tcp_forget(arg, s);
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
  if (from == NULL) {
    n = recv(s, data, size, flags);
    if (n > 0)
      xs_upstream_tcp_feed(arg, s, data, (size_t)n);
    return n;
  }
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
    xs_status st = rc == ARES_ENOMEM ? XS_ENOMEM : XS_EINVAL;
    ares_destroy(u->channel);
    free(u);
    xs_error_set(err, st, NULL, 0, 0, "c-ares: %s: %s", ares_strerror(rc), csv);
    return st;
  }
  for (i = 0; i < TCP_TRACKED; i++)
    u->tcp[i].fd = -1;
  ares_set_socket_functions(u->channel, &socket_functions, u);
  pthread_mutex_init(&u->lock, NULL);
  u->inflight = NULL;
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

/* What a query that ended without a reply to read comes to. */
static xs_status failure_status(const pending *p, int status) {
  return status == ARES_ECONNREFUSED && p->failed_rcode >= 0
             ? status_of_rcode(p->failed_rcode, 0)
         : status == ARES_ENOMEM ? XS_ENOMEM
         : status == ARES_ECANCELLED || status == ARES_EDESTRUCTION
             ? XS_ECANCELLED
             : map_ares(status);
}

static void on_reply(void *arg, int status, int timeouts, unsigned char *abuf,
                     int alen) {
  pending *p = arg;
  xs_upstream *u = p->u;
  xs_upstream_answer *out = &u->scratch;
  int got = abuf != NULL && alen > 0;
  (void)timeouts;
  if (p->prev != NULL)
    p->prev->next = p->next;
  else
    u->inflight = p->next;
  if (p->next != NULL)
    p->next->prev = p->prev;
  if (p->raw_cb != NULL) {
    p->raw_cb(p->arg, got ? XS_OK : failure_status(p, status),
              got ? abuf : NULL, got ? (size_t)alen : 0);
  } else {
    if (got) /* Success, and with qcallback's rcode mapping also NXDOMAIN,
              * NODATA, SERVFAIL, REFUSED, FORMERR, NOTIMP: the reply says
              * it exactly. */
      xs_dns_parse_reply(abuf, (size_t)alen, p->qname, p->qtype, out);
    else
      xs_upstream_answer_status(out, failure_status(p, status));
    p->cb(p->arg, out);
  }
  free(p);
}

static xs_status start(xs_upstream *u, const char *name, uint16_t qtype,
                       xs_upstream_cb cb, xs_upstream_raw_cb raw_cb,
                       void *arg) {
  char qname[XS_NAME_BUF];
  size_t len;
  pending *p;
  if (u == NULL || name == NULL || (cb == NULL && raw_cb == NULL))
    return XS_EINVAL;
  len = strlen(name);
  if (len == 0 || len >= sizeof(qname))
    return XS_EINVAL;
  if ((p = malloc(sizeof(*p))) == NULL)
    return XS_ENOMEM;
  memcpy(p->qname, name, len + 1);
  memcpy(qname, name, len + 1);
  if (len > 1 && qname[len - 1] == '.')
    qname[len - 1] = '\0'; /* c-ares wants the name without the root dot */
  p->u = u;
  p->qtype = qtype;
  p->failed_rcode = -1;
  p->cb = cb;
  p->raw_cb = raw_cb;
  p->arg = arg;
  p->prev = NULL;
  p->next = u->inflight;
  if (u->inflight != NULL)
    u->inflight->prev = p;
  u->inflight = p;
  /* may complete at once (through on_reply) */
  ares_query(u->channel, qname, DNS_CLASS_IN, qtype, on_reply, p);
  return XS_OK;
}

xs_status xs_upstream_start(xs_upstream *u, const char *name, uint16_t qtype,
                            xs_upstream_cb cb, void *arg) {
  return cb != NULL ? start(u, name, qtype, cb, NULL, arg) : XS_EINVAL;
}

xs_status xs_upstream_start_raw(xs_upstream *u, const char *name,
                                uint16_t qtype, xs_upstream_raw_cb cb,
                                void *arg) {
  return cb != NULL ? start(u, name, qtype, NULL, cb, arg) : XS_EINVAL;
}

int xs_upstream_timeout_ms(xs_upstream *u) {
  struct timeval tv, *tvp = ares_timeout(u->channel, NULL, &tv);
  long ms;
  if (tvp == NULL)
    return -1;
  /* rounded up so a poll() that returns does not spin before the deadline */
  ms = (long)tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000;
  return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

int xs_upstream_pollfds(xs_upstream *u, struct pollfd *pfd, int max) {
  ares_socket_t socks[ARES_GETSOCK_MAXNUM];
  int bits = ares_getsock(u->channel, socks, ARES_GETSOCK_MAXNUM), n = 0, i;
  for (i = 0; i < ARES_GETSOCK_MAXNUM && n < max; i++) {
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
  return n;
}

void xs_upstream_process(xs_upstream *u, const struct pollfd *pfd, int n) {
  int i, any = 0;
  for (i = 0; i < n; i++) {
    ares_socket_t r = (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
                          ? pfd[i].fd
                          : ARES_SOCKET_BAD;
    ares_socket_t w = (pfd[i].revents & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD;
    if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) {
      ares_process_fd(u->channel, r, w);
      any = 1;
    }
  }
  if (!any) /* timeouts */
    ares_process_fd(u->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

void xs_upstream_cancel_all(xs_upstream *u) {
  ares_cancel(u->channel); /* completes every query, XS_ECANCELLED */
}

/* ---- the blocking query ---------------------------------------------------
 */

typedef struct waiter {
  xs_upstream_answer *out;
  int done, nomem;
} waiter;

static void on_answer(void *arg, const xs_upstream_answer *ans) {
  waiter *w = arg;
  xs_status st = ans->status;
  memcpy(w->out, ans, sizeof(*ans));
  if (st == XS_ENOMEM) {
    w->nomem = 1;
    w->out->status = XS_EUPSTREAM;
  } else if (st == XS_ECANCELLED) {
    w->out->status = XS_EUPSTREAM; /* poll() failed */
  }
  w->done = 1;
}

static void drive(xs_upstream *u, waiter *a, waiter *b) {
  while (!(a->done && b->done)) {
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    int n = xs_upstream_pollfds(u, pfd, ARES_GETSOCK_MAXNUM), rc;
    int ms = xs_upstream_timeout_ms(u);
    rc = poll(pfd, (nfds_t)n, ms < 0 ? 1000 : ms);
    if (rc < 0 && errno != EINTR)
      break;
    xs_upstream_process(u, pfd, rc > 0 ? n : 0);
  }
}

xs_status xs_upstream_query(xs_upstream *u, const char *name, int want4,
                            xs_upstream_answer *a4, int want6,
                            xs_upstream_answer *a6) {
  waiter w4, w6;
  xs_status st = XS_OK;
  size_t len;
  if (u == NULL || name == NULL || (want4 && a4 == NULL) ||
      (want6 && a6 == NULL))
    return XS_EINVAL;
  len = strlen(name);
  if (len == 0 || len >= XS_NAME_BUF)
    return XS_EINVAL;
  memset(&w4, 0, sizeof(w4));
  memset(&w6, 0, sizeof(w6));
  w4.out = a4;
  w6.out = a6;
  w4.done = !want4;
  w6.done = !want6;
  pthread_mutex_lock(&u->lock);
  if (want4 &&
      (st = xs_upstream_start(u, name, DNS_TYPE_A, on_answer, &w4)) != XS_OK)
    w4.done = 1;
  if (st == XS_OK && want6 &&
      (st = xs_upstream_start(u, name, DNS_TYPE_AAAA, on_answer, &w6)) != XS_OK)
    w6.done = 1;
  drive(u, &w4, &w6);
  if (!(w4.done && w6.done))
    ares_cancel(u->channel); /* completes both through on_reply */
  pthread_mutex_unlock(&u->lock);
  if (st != XS_OK)
    return st;
  return w4.nomem || w6.nomem ? XS_ENOMEM : XS_OK;
}
