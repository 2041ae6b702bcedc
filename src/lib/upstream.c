/* Upstream DNS through c-ares 1.18: ares_query for A/AAAA, driven by a
 * blocking poll() loop over ares_getsock / ares_process_fd / ares_timeout,
 * and our own bounds-checked reply parser (1.18 has no record API that
 * exposes the CNAME chain with TTLs or the negative-answer SOA). */
#include "upstream.h"

#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry.h"

#define XS_DNS_HEADER 12
#define XS_MAX_POINTERS 64

struct xs_upstream {
  pthread_mutex_t lock;
  ares_channel channel;
};

typedef struct pending {
  xs_upstream_answer *out;
  const char *qname;
  uint16_t qtype;
  int done;
} pending;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = ARES_SUCCESS;

static void library_init(void) {
  init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* "host", "host:port", "[v6]", "[v6]:port", bare "v6" -> c-ares CSV entry. */
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
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
      colon = NULL; /* a bare IPv6 address */
    }
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
  if (port != NULL) {
    char *end;
    errno = 0;
    p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || errno != 0 || p < 1 || p > 65535)
      return 0;
  }
  if (a.family == 6)
    snprintf(out, size, "[%s]:%ld", host, p);
  else
    snprintf(out, size, "%s:%ld", host, p);
  return 1;
}

xs_status xs_upstream_new(const xs_upstream_cfg *cfg, xs_upstream **out,
                          xs_error *err) {
  struct ares_options opts;
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  char csv[XS_UPSTREAM_MAX_SERVERS * 80];
  size_t i, used = 0;
  xs_upstream *u;
  int rc;

  pthread_once(&init_once, library_init);
  if (init_status != ARES_SUCCESS) {
    xs_error_set(err, XS_EUPSTREAM, NULL, 0, 0, "c-ares: %s",
                 ares_strerror(init_status));
    return XS_EUPSTREAM;
  }
  csv[0] = '\0';
  for (i = 0; i < cfg->nservers; i++) {
    char one[96];
    if (cfg->servers[i] == NULL ||
        !server_to_csv(cfg->servers[i], one, sizeof(one))) {
      xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                   "invalid DNS server \"%s\": expected an IP address with an "
                   "optional port (HOST[:PORT] or [IPv6]:PORT)",
                   cfg->servers[i] != NULL ? cfg->servers[i] : "");
      return XS_EINVAL;
    }
    used += (size_t)snprintf(csv + used, sizeof(csv) - used, "%s%s",
                             used ? "," : "", one);
  }
  u = calloc(1, sizeof(*u));
  if (u == NULL)
    return XS_ENOMEM;
  memset(&opts, 0, sizeof(opts));
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
  opts.timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
  opts.tries = cfg->attempts > 0 ? cfg->attempts : 2;
  rc = ares_init_options(&u->channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    free(u);
    xs_error_set(err, XS_EUPSTREAM, NULL, 0, 0, "c-ares: %s",
                 ares_strerror(rc));
    return XS_EUPSTREAM;
  }
  if (cfg->nservers > 0 &&
      (rc = ares_set_servers_ports_csv(u->channel, csv)) != ARES_SUCCESS) {
    ares_destroy(u->channel);
    free(u);
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "c-ares: %s", ares_strerror(rc));
    return XS_EINVAL;
  }
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

/* ---- reply parsing --------------------------------------------------------
 */

static uint16_t get16(const unsigned char *p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

/* Expand the name at *off into out (absolute, trailing dot); advance *off
 * past it in the message. 0 on a malformed name. */
static int read_name(const unsigned char *buf, size_t len, size_t *off,
                     char *out, size_t size) {
  size_t pos = *off, used = 0, end = 0;
  int jumps = 0;
  for (;;) {
    unsigned c;
    if (pos >= len)
      return 0;
    c = buf[pos];
    if ((c & 0xc0) == 0xc0) {
      if (pos + 1 >= len || ++jumps > XS_MAX_POINTERS)
        return 0;
      if (end == 0)
        end = pos + 2;
      pos = ((c & 0x3f) << 8) | buf[pos + 1];
      continue;
    }
    if ((c & 0xc0) != 0)
      return 0;
    if (c == 0) {
      if (end == 0)
        end = pos + 1;
      break;
    }
    if (pos + 1 + c > len || used + c + 2 > size)
      return 0;
    memcpy(out + used, buf + pos + 1, c);
    used += c;
    out[used++] = '.';
    pos += 1 + c;
  }
  if (used == 0)
    out[used++] = '.';
  out[used] = '\0';
  *off = end;
  return 1;
}

static int name_eq_abs(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 0 && a[la - 1] == '.')
    la--;
  if (lb > 0 && b[lb - 1] == '.')
    lb--;
  return la == lb && strncasecmp(a, b, la) == 0;
}

void xs_dns_parse_reply(const unsigned char *buf, size_t len, const char *qname,
                        uint16_t qtype, xs_upstream_answer *out) {
  char owner[XS_NAME_BUF], target[XS_NAME_BUF], current[XS_NAME_BUF];
  uint16_t qd, an, ns, i;
  size_t off = XS_DNS_HEADER;
  int rcode, progress;
  typedef struct rec {
    size_t owner_off, rdata;
    uint16_t type, rdlen;
    uint32_t ttl;
  } rec;
  rec recs[256];
  size_t nrecs = 0, k;

  memset(out, 0, sizeof(*out));
  out->status = XS_EUPSTREAM;
  if (buf == NULL || len < XS_DNS_HEADER || qname == NULL ||
      strlen(qname) >= sizeof(current))
    return;
  rcode = buf[3] & 0x0f;
  qd = get16(buf + 4);
  an = get16(buf + 6);
  ns = get16(buf + 8);
  for (i = 0; i < qd; i++) {
    if (!read_name(buf, len, &off, owner, sizeof(owner)) || off + 4 > len)
      return;
    off += 4;
  }
  for (i = 0; i < an + ns; i++) {
    rec r;
    r.owner_off = off;
    if (!read_name(buf, len, &off, owner, sizeof(owner)) || off + 10 > len)
      return;
    r.type = get16(buf + off);
    r.ttl = get32(buf + off + 4);
    if (r.ttl > 0x7fffffffu)
      r.ttl = 0; /* RFC 2181 8: treat as zero */
    r.rdlen = get16(buf + off + 8);
    r.rdata = off + 10;
    off = r.rdata + r.rdlen;
    if (off > len)
      return;
    if (i >= an) {
      /* authority: the SOA gives the negative-cache time (RFC 2308 5) */
      if (r.type == 6) {
        size_t p = r.rdata;
        char tmp[XS_NAME_BUF];
        if (read_name(buf, len, &p, tmp, sizeof(tmp)) &&
            read_name(buf, len, &p, tmp, sizeof(tmp)) &&
            p + 20 <= r.rdata + r.rdlen) {
          uint32_t minimum = get32(buf + p + 16);
          out->negative_ttl = r.ttl < minimum ? r.ttl : minimum;
        }
      }
      continue;
    }
    if (nrecs < sizeof(recs) / sizeof(recs[0]))
      recs[nrecs++] = r;
  }
  /* Follow CNAMEs from the query name. */
  snprintf(current, sizeof(current), "%s", qname);
  do {
    progress = 0;
    for (k = 0; k < nrecs; k++) {
      size_t p = recs[k].owner_off, t = recs[k].rdata;
      if (recs[k].type != 5)
        continue;
      if (!read_name(buf, len, &p, owner, sizeof(owner)) ||
          !name_eq_abs(owner, current))
        continue;
      if (!read_name(buf, len, &t, target, sizeof(target)) ||
          t > recs[k].rdata + recs[k].rdlen)
        return;
      for (i = 0; i < out->nchain; i++)
        if (name_eq_abs(out->chain[i].name, target))
          break;
      if (i < out->nchain || name_eq_abs(target, qname) ||
          out->nchain >= XS_MAX_CHAIN) {
        out->status = XS_ELOOP;
        return;
      }
      snprintf(out->chain[out->nchain].name, XS_NAME_BUF, "%s", owner);
      snprintf(out->chain[out->nchain].target, XS_NAME_BUF, "%s", target);
      out->chain[out->nchain].ttl = recs[k].ttl;
      out->nchain++;
      snprintf(current, sizeof(current), "%s", target);
      progress = 1;
      break;
    }
  } while (progress);
  for (k = 0; k < nrecs && out->naddrs < XS_UPSTREAM_MAX_ADDRS; k++) {
    size_t p = recs[k].owner_off;
    xs_upstream_addr *a;
    if (recs[k].type != qtype ||
        recs[k].rdlen != (qtype == 1    ? 4
                          : qtype == 28 ? 16
                                        : 0) ||
        !read_name(buf, len, &p, owner, sizeof(owner)) ||
        !name_eq_abs(owner, current))
      continue;
    a = &out->addrs[out->naddrs++];
    memset(&a->addr, 0, sizeof(a->addr));
    a->addr.family = qtype == 1 ? 4 : 6;
    memcpy(a->addr.bytes, buf + recs[k].rdata, recs[k].rdlen);
    a->ttl = recs[k].ttl;
  }
  switch (rcode) {
  case 0:
    out->status = out->naddrs > 0 ? XS_OK : XS_ENODATA;
    break;
  case 3:
    out->status = XS_ENOTFOUND;
    break;
  case 2:
    out->status = XS_ESERVFAIL;
    break;
  case 5:
    out->status = XS_EREFUSED;
    break;
  default:
    out->status = XS_EUPSTREAM;
    break;
  }
}

/* ---- queries --------------------------------------------------------------
 */

static xs_status map_ares(int status) {
  switch (status) {
  case ARES_SUCCESS:
    return XS_OK;
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
  case ARES_ENOMEM:
    return XS_ENOMEM;
  case ARES_ECANCELLED:
  case ARES_EDESTRUCTION:
    return XS_ECANCELLED;
  default:
    return XS_EUPSTREAM;
  }
}

static void on_reply(void *arg, int status, int timeouts, unsigned char *abuf,
                     int alen) {
  pending *p = arg;
  (void)timeouts;
  if (abuf != NULL && alen > 0 &&
      (status == ARES_SUCCESS || status == ARES_ENOTFOUND ||
       status == ARES_ENODATA || status == ARES_ESERVFAIL ||
       status == ARES_EREFUSED)) {
    xs_dns_parse_reply(abuf, (size_t)alen, p->qname, p->qtype, p->out);
  } else {
    memset(p->out, 0, sizeof(*p->out));
    p->out->status = map_ares(status);
    if (p->out->status == XS_OK)
      p->out->status = XS_EUPSTREAM; /* success without a reply */
  }
  p->done = 1;
}

static void drive(ares_channel ch, pending *a, pending *b) {
  while (!(a->done && b->done)) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    struct timeval tv, *tvp;
    int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0, i, rc;
    int timeout_ms;
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
    tvp = ares_timeout(ch, NULL, &tv);
    timeout_ms =
        tvp == NULL ? 1000 : (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
    if (timeout_ms < 0)
      timeout_ms = 0;
    rc = poll(pfd, (nfds_t)n, timeout_ms);
    if (rc < 0 && errno != EINTR)
      break;
    if (rc <= 0) {
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
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
  memset(&p4, 0, sizeof(p4));
  memset(&p6, 0, sizeof(p6));
  p4.out = a4;
  p4.qname = name;
  p4.qtype = 1;
  p4.done = !want4;
  p6.out = a6;
  p6.qname = name;
  p6.qtype = 28;
  p6.done = !want6;
  pthread_mutex_lock(&u->lock);
  if (want4)
    ares_query(u->channel, qname, 1 /* IN */, 1 /* A */, on_reply, &p4);
  if (want6)
    ares_query(u->channel, qname, 1, 28 /* AAAA */, on_reply, &p6);
  drive(u->channel, &p4, &p6);
  if (!(p4.done && p6.done))
    ares_cancel(u->channel); /* completes both through on_reply */
  pthread_mutex_unlock(&u->lock);
  return XS_OK;
}
