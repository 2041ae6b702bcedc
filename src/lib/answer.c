/* The one answer function (K8S-DNS.md 2 and 6): what cluster DNS says for
 * (name, type), computed from a registry snapshot. CoreDNS-compatible by
 * default; RFC 6604 strict as an option. Never talks to the network: an
 * out-of-zone CNAME target is handed back in external_target. */
#include "answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define XS_SOA_TTL_CAP 300u
#define XS_TEXT_CHUNK 4096
#define XS_MAX_QLABELS 5 /* [x].[y].service.namespace.svc */

typedef struct text_chunk {
  struct text_chunk *next;
} text_chunk;

typedef struct label {
  const char *p;
  size_t len;
} label;

typedef struct qctx {
  const xs_snapshot *snap;
  const xs_answer_cfg *cfg;
  xs_answer *ans;
  const char *zone;  /* the zone as spelled in the query, no dot */
  const char *qname; /* bare query name (no dot) */
  size_t qlen;
} qctx;

static char *text_alloc(xs_answer *a, size_t n) {
  char *p;
  if (a->text_cap - a->text_used < n) {
    size_t size = n > XS_TEXT_CHUNK ? n : XS_TEXT_CHUNK;
    text_chunk *c = malloc(sizeof(text_chunk) + size);
    if (c == NULL)
      return NULL;
    c->next = a->chunks;
    a->chunks = c;
    a->text = (char *)(c + 1);
    a->text_used = 0;
    a->text_cap = size;
  }
  p = a->text + a->text_used;
  a->text_used += n;
  return p;
}

/* Join up to 6 parts with '.', add the trailing dot. */
static const char *make_name(xs_answer *a, const label *parts, int n) {
  size_t total = 1, off = 0;
  int i;
  char *p;
  for (i = 0; i < n; i++)
    total += parts[i].len + 1;
  p = text_alloc(a, total);
  if (p == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    memcpy(p + off, parts[i].p, parts[i].len);
    off += parts[i].len;
    p[off++] = '.';
  }
  p[off] = '\0';
  return p;
}

static const char *make_name1(xs_answer *a, const char *s, size_t len) {
  label l;
  l.p = s;
  l.len = len;
  return make_name(a, &l, 1);
}

static xs_rr *push_rr(xs_rr **arr, size_t *n, size_t *cap, xs_rr *inline_arr) {
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 4;
    xs_rr *na;
    if (*arr == inline_arr || *arr == NULL) {
      na = malloc(ncap * sizeof(*na));
      if (na != NULL && *n > 0)
        memcpy(na, *arr, *n * sizeof(*na));
    } else {
      na = realloc(*arr, ncap * sizeof(*na));
    }
    if (na == NULL)
      return NULL;
    *arr = na;
    *cap = ncap;
  }
  memset(&(*arr)[*n], 0, sizeof(xs_rr));
  return &(*arr)[(*n)++];
}

static xs_rr *add_answer(xs_answer *a) {
  return push_rr(&a->answer, &a->nanswer, &a->cap_answer, a->inline_rrs);
}

static xs_rr *add_additional(xs_answer *a) {
  return push_rr(&a->additional, &a->nadditional, &a->cap_additional, NULL);
}

/* A new ANSWER record owner/type/ttl; NULL on out of memory. */
static xs_rr *new_rr(xs_answer *a, const char *owner, uint16_t type,
                     uint32_t ttl) {
  xs_rr *rr = add_answer(a);
  if (rr != NULL) {
    rr->owner = owner;
    rr->type = type;
    rr->ttl = ttl;
  }
  return rr;
}

void xs_answer_init(xs_answer *ans, const xs_snapshot *snap,
                    const xs_answer_cfg *cfg) {
  ans->answer = ans->inline_rrs;
  ans->cap_answer = XS_ANSWER_INLINE_RRS;
  ans->nanswer = 0;
  ans->additional = NULL;
  ans->nadditional = ans->cap_additional = 0;
  ans->text = ans->inline_text;
  ans->text_used = 0;
  ans->text_cap = XS_ANSWER_INLINE_TEXT;
  ans->chunks = NULL;
  ans->nchain = 0;
  ans->external_target = NULL;
  ans->literal_target = NULL;
  ans->soa = 0;
  ans->soa_owner = NULL;
  ans->soa_ttl = cfg->ttl < XS_SOA_TTL_CAP ? cfg->ttl : XS_SOA_TTL_CAP;
  ans->soa_minimum = cfg->ttl;
  ans->soa_serial = snap != NULL ? snap->serial : 0;
  ans->rcode = XS_RCODE_NXDOMAIN;
  ans->status = XS_ENOTFOUND;
}

/* A copy of name (absolute or not) with its trailing dot, in a's text. */
static const char *copy_name(xs_answer *a, const char *name) {
  size_t len = strlen(name);
  if (len > 0 && name[len - 1] == '.')
    len--;
  return make_name1(a, name, len);
}

xs_status xs_answer_add_cname(xs_answer *a, const char *owner,
                              const char *target, uint32_t ttl) {
  const char *o = copy_name(a, owner), *t = copy_name(a, target);
  xs_rr *rr;
  if (o == NULL || t == NULL || (rr = new_rr(a, o, XS_T_CNAME, ttl)) == NULL)
    return XS_ENOMEM;
  rr->target = t;
  return XS_OK;
}

xs_status xs_answer_add_addr(xs_answer *a, const char *owner,
                             const xs_addr *addr, uint32_t ttl) {
  const char *o = copy_name(a, owner);
  xs_rr *rr;
  if (o == NULL ||
      (rr = new_rr(a, o, addr->family == 4 ? XS_T_A : XS_T_AAAA, ttl)) == NULL)
    return XS_ENOMEM;
  rr->addr = *addr;
  return XS_OK;
}

void xs_answer_free(xs_answer *a) {
  text_chunk *c = a->chunks;
  while (c != NULL) {
    text_chunk *next = c->next;
    free(c);
    c = next;
  }
  a->chunks = NULL;
  if (a->answer != a->inline_rrs)
    free(a->answer);
  if (a->additional != NULL)
    free(a->additional);
  a->answer = a->inline_rrs;
  a->additional = NULL;
  a->nanswer = a->nadditional = 0;
}

static int label_eq(label l, const char *s) {
  return strlen(s) == l.len && xs_ci_eq(l.p, s, l.len);
}

static label strip_underscore(label l) {
  if (l.len > 0 && l.p[0] == '_') {
    l.p++;
    l.len--;
  }
  return l;
}

/* The hostname CoreDNS gives an endpoint: its hostname, else its address
 * with '.' or ':' replaced by '-'. */
static void endpoint_host(const xs_endpoint *ep, char *buf, size_t size) {
  char *p;
  if (ep->hostname != NULL) {
    snprintf(buf, size, "%s", ep->hostname);
    return;
  }
  xs_addr_format(&ep->addr, buf, size);
  for (p = buf; *p; p++)
    if (*p == '.' || *p == ':')
      *p = '-';
}

static int ep_usable(const xs_service *svc, const xs_endpoint *ep) {
  return ep->ready || svc->tolerate_unready;
}

static int has_ready(const xs_service *svc) {
  uint32_t i;
  for (i = 0; i < svc->nendpoints; i++)
    if (ep_usable(svc, &svc->endpoints[i]))
      return 1;
  return 0;
}

static int family_of(uint16_t qtype) {
  return qtype == XS_T_A ? 4 : qtype == XS_T_AAAA ? 6 : 0;
}

/* "<prefix.>svc.ns.svc.<zone as spelled>." */
static const char *service_fqdn(qctx *c, const xs_service *svc,
                                const char *prefix) {
  label parts[5];
  int n = 0;
  if (prefix != NULL) {
    parts[n].p = prefix;
    parts[n++].len = strlen(prefix);
  }
  parts[n].p = svc->name;
  parts[n++].len = svc->name_len;
  parts[n].p = svc->ns;
  parts[n++].len = strlen(svc->ns);
  parts[n].p = "svc";
  parts[n++].len = 3;
  parts[n].p = c->zone;
  parts[n++].len = c->cfg->zone_len;
  return make_name(c->ans, parts, n);
}

static xs_status add_addr(qctx *c, const char *owner, const xs_addr *addr,
                          int additional) {
  xs_rr *rr = additional ? add_additional(c->ans) : add_answer(c->ans);
  if (rr == NULL)
    return XS_ENOMEM;
  rr->owner = owner;
  rr->type = addr->family == 4 ? XS_T_A : XS_T_AAAA;
  rr->ttl = c->cfg->ttl;
  rr->addr = *addr;
  return XS_OK;
}

static xs_status add_srv(qctx *c, const char *owner, const xs_port *port,
                         const char *target, uint16_t weight) {
  xs_rr *rr = new_rr(c->ans, owner, XS_T_SRV, c->cfg->ttl);
  if (rr == NULL)
    return XS_ENOMEM;
  rr->priority = 0;
  rr->weight = weight;
  rr->port = port->port;
  rr->target = target;
  return XS_OK;
}

static int port_matches(const xs_port *p, const label *port_l,
                        const label *proto_l) {
  static const char *const protos[] = {"tcp", "udp", "sctp"};
  if (port_l == NULL)
    return 1;
  if (p->name == NULL || !label_eq(*port_l, p->name))
    return 0;
  return p->proto < 3 && label_eq(*proto_l, protos[p->proto]);
}

/* SRV for a ClusterIP or headless service; port_l/proto_l NULL = all. */
static xs_status answer_srv(qctx *c, const char *owner, const xs_service *svc,
                            const label *port_l, const label *proto_l) {
  uint16_t i, nmatch = 0, weight;
  uint32_t k, nready = 0;
  xs_status st;
  for (i = 0; i < svc->nports; i++)
    nmatch += port_matches(&svc->ports[i], port_l, proto_l);
  if (svc->type == XS_SVC_HEADLESS)
    for (k = 0; k < svc->nendpoints; k++)
      nready += ep_usable(svc, &svc->endpoints[k]);
  else
    nready = 1;
  if (nmatch == 0 || nready == 0)
    return XS_ENODATA;
  weight = (uint16_t)(100 / (nmatch * nready) ? 100 / (nmatch * nready) : 1);
  if (svc->type != XS_SVC_HEADLESS) {
    const char *target = service_fqdn(c, svc, NULL);
    if (target == NULL)
      return XS_ENOMEM;
    for (i = 0; i < svc->nports; i++)
      if (port_matches(&svc->ports[i], port_l, proto_l) &&
          (st = add_srv(c, owner, &svc->ports[i], target, weight)) != XS_OK)
        return st;
    for (k = 0; k < svc->nips; k++)
      if ((st = add_addr(c, target, &svc->ips[k], 1)) != XS_OK)
        return st;
    return XS_OK;
  }
  for (k = 0; k < svc->nendpoints; k++) {
    const xs_endpoint *ep = &svc->endpoints[k];
    char host[64];
    const char *target;
    if (!ep_usable(svc, ep))
      continue;
    endpoint_host(ep, host, sizeof(host));
    target = service_fqdn(c, svc, host);
    if (target == NULL)
      return XS_ENOMEM;
    for (i = 0; i < svc->nports; i++)
      if (port_matches(&svc->ports[i], port_l, proto_l) &&
          (st = add_srv(c, owner, &svc->ports[i], target, weight)) != XS_OK)
        return st;
    if ((st = add_addr(c, target, &ep->addr, 1)) != XS_OK)
      return st;
  }
  return XS_OK;
}

/* A/AAAA of a ClusterIP or headless service (all endpoints, or only those
 * named host when host != NULL). */
static xs_status answer_addrs(qctx *c, const char *owner, const xs_service *svc,
                              uint16_t qtype, const label *host) {
  int fam = family_of(qtype), found = 0;
  uint32_t k;
  xs_status st;
  if (svc->type == XS_SVC_CLUSTER_IP && host == NULL) {
    for (k = 0; k < svc->nips; k++)
      if (svc->ips[k].family == fam) {
        if ((st = add_addr(c, owner, &svc->ips[k], 0)) != XS_OK)
          return st;
        found = 1;
      }
    return found ? XS_OK : XS_ENODATA;
  }
  for (k = 0; k < svc->nendpoints; k++) {
    const xs_endpoint *ep = &svc->endpoints[k];
    char name[64];
    if (!ep_usable(svc, ep))
      continue;
    if (host != NULL) {
      endpoint_host(ep, name, sizeof(name));
      if (!label_eq(*host, name))
        continue;
    }
    if (found == 0)
      found = 1; /* the name exists */
    if (ep->addr.family == fam) {
      if ((st = add_addr(c, owner, &ep->addr, 0)) != XS_OK)
        return st;
      found = 2;
    }
  }
  if (found == 0)
    return XS_ENOTFOUND;
  return found == 2 ? XS_OK : XS_ENODATA;
}

static int endpoint_exists(const xs_service *svc, const label *host) {
  uint32_t k;
  for (k = 0; k < svc->nendpoints; k++) {
    char name[64];
    if (!ep_usable(svc, &svc->endpoints[k]))
      continue;
    endpoint_host(&svc->endpoints[k], name, sizeof(name));
    if (label_eq(*host, name))
      return 1;
  }
  return 0;
}

static int in_chain(const xs_answer *a, const char *name, size_t len) {
  size_t i;
  for (i = 0; i < a->nchain; i++) {
    const char *o = a->chain[i].owner;
    if (strlen(o) == len + 1 && xs_ci_eq(o, name, len))
      return 1;
  }
  return 0;
}

/* A CNAME link owner -> target, TTL T: always in the chain the library
 * reports (while it has room), and in ANSWER when in_answer. */
static xs_status add_link(qctx *c, const char *owner, const char *target,
                          int in_answer) {
  xs_answer *a = c->ans;
  xs_rr *link;
  if (in_answer) {
    xs_rr *rr = new_rr(a, owner, XS_T_CNAME, c->cfg->ttl);
    if (rr == NULL)
      return XS_ENOMEM;
    rr->target = target;
  }
  if (a->nchain < XS_MAX_CHAIN) {
    link = &a->chain[a->nchain++];
    link->owner = owner;
    link->type = XS_T_CNAME;
    link->ttl = c->cfg->ttl;
    link->target = target;
  }
  return XS_OK;
}

static xs_status lookup(qctx *c, const char *owner, const char *name,
                        size_t len, uint16_t qtype, int *chased);

/* An ExternalName service at owner (name[0..len)). */
static xs_status answer_external(qctx *c, const char *owner, const char *name,
                                 size_t len, const xs_service *svc,
                                 uint16_t qtype, int *chased) {
  xs_answer *a = c->ans;
  size_t tlen = svc->ext_len, mark;
  const char *target;
  xs_status st;
  int strict = c->cfg->mode == XS_MODE_STRICT, sub_chased = 0;

  if (svc->ip_like) {
    xs_addr addr;
    if (!c->cfg->ip_literal)
      return XS_ENOTFOUND; /* CoreDNS skips the service: NXDOMAIN */
    if (qtype != XS_T_A)
      return XS_ENODATA;
    xs_addr_parse(svc->external_name, tlen, &addr);
    a->literal_target = svc->external_name;
    return add_addr(c, owner, &addr, 0);
  }
  if (qtype != XS_T_CNAME && !strict && qtype != XS_T_A && qtype != XS_T_AAAA)
    return XS_ENODATA; /* CoreDNS: SRV/TXT/MX/SOA/other give NODATA */
  target = svc->external_fqdn;
  if (qtype == XS_T_CNAME) /* never chased */
    return add_link(c, owner, target, 1);
  /* Loop guards: a target equal to (or below) the name, or already in the
   * chain, or a chain at its length limit. */
  if (a->nchain >= XS_MAX_CHAIN)
    return XS_ELOOP;
  if (xs_name_in_zone(svc->external_name, tlen, name, len) ||
      in_chain(a, svc->external_name, tlen)) {
    /* The library shows the link that closes the loop; DNS answers drop it. */
    add_link(c, owner, target, 0);
    return XS_ELOOP;
  }
  mark = a->nanswer;
  if ((st = add_link(c, owner, target, 1)) != XS_OK)
    return st;
  if (!xs_name_in_zone(svc->external_name, tlen, c->cfg->zone,
                       c->cfg->zone_len)) {
    a->external_target = target;
    return XS_OK;
  }
  st = lookup(c, target, svc->external_name, tlen, qtype, &sub_chased);
  *chased = 1;
  if (st == XS_ENOMEM)
    return st;
  if (st != XS_OK && !strict)
    a->nanswer = mark; /* CoreDNS adds the CNAME only if the target had data */
  return st;
}

static xs_status lookup_reverse(qctx *c, const char *owner, const char *name,
                                size_t len, int v6, uint16_t qtype) {
  label labels[32];
  size_t nl = 0, i = 0, start = 0, want = v6 ? 32 : 4;
  size_t suffix = v6 ? 9 : 13; /* "ip6.arpa" / "in-addr.arpa" + dot */
  xs_addr addr;
  const xs_service *svc;
  const xs_endpoint *ep;
  xs_rr *rr;
  const char *target;
  if (len <= suffix)
    return XS_ENOTFOUND;
  len -= suffix;
  for (i = 0; i <= len; i++)
    if (i == len || name[i] == '.') {
      if (nl == want)
        return XS_ENOTFOUND;
      labels[nl].p = name + start;
      labels[nl++].len = i - start;
      start = i + 1;
    }
  if (nl != want)
    return XS_ENOTFOUND;
  memset(&addr, 0, sizeof(addr));
  addr.family = v6 ? 6 : 4;
  for (i = 0; i < nl; i++) {
    const label *l = &labels[nl - 1 - i];
    if (v6) {
      unsigned char ch = (unsigned char)l->p[0], v;
      if (l->len != 1)
        return XS_ENOTFOUND;
      if (ch >= '0' && ch <= '9')
        v = (unsigned char)(ch - '0');
      else if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
        v = (unsigned char)((ch | 32) - 'a' + 10);
      else
        return XS_ENOTFOUND;
      addr.bytes[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
    } else {
      unsigned v = 0;
      size_t k;
      if (l->len == 0 || l->len > 3 || (l->len > 1 && l->p[0] == '0'))
        return XS_ENOTFOUND;
      for (k = 0; k < l->len; k++) {
        if (l->p[k] < '0' || l->p[k] > '9')
          return XS_ENOTFOUND;
        v = v * 10 + (unsigned)(l->p[k] - '0');
      }
      if (v > 255)
        return XS_ENOTFOUND;
      addr.bytes[i] = (uint8_t)v;
    }
  }
  if (!xs_snapshot_find_addr(c->snap, &addr, &svc, &ep))
    return XS_ENOTFOUND;
  if (qtype != XS_T_PTR)
    return XS_ENODATA;
  {
    /* PTR targets use the configured zone spelling (the query's zone is
     * the arpa tree). */
    qctx cz = *c;
    char host[64];
    cz.zone = c->cfg->zone;
    if (ep != NULL)
      endpoint_host(ep, host, sizeof(host));
    target = service_fqdn(&cz, svc, ep != NULL ? host : NULL);
  }
  if (target == NULL ||
      (rr = new_rr(c->ans, owner, XS_T_PTR, c->cfg->ttl)) == NULL)
    return XS_ENOMEM;
  rr->target = target;
  return XS_OK;
}

/* Take the label that ends at name[*end) (exclusive), moving *end left
 * past its dot; *more becomes 0 once the leftmost label is taken. Returns 0
 * when no label is left. */
static int take_label(const char *name, size_t *end, int *more, label *out) {
  size_t i = *end;
  if (!*more)
    return 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* Eight octets at a time: mark the octets equal to '.' exactly (no
   * borrow between octets), take the highest. */
  while (i >= 8) {
    uint64_t w, t;
    memcpy(&w, name + i - 8, 8);
    w ^= 0x2e2e2e2e2e2e2e2eull;
    t = (w & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full;
    t = ~(t | w | 0x7f7f7f7f7f7f7f7full);
    if (t != 0) {
      i = i - 8 + (size_t)(63 - __builtin_clzll(t)) / 8 + 1;
      goto found;
    }
    i -= 8;
  }
#endif
  while (i > 0 && name[i - 1] != '.')
    i--;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
found:
#endif
  out->p = name + i;
  out->len = *end - i;
  if (i == 0)
    *more = 0;
  else
    *end = i - 1;
  return 1;
}

/* One in-zone name. Returns XS_OK (records added, or external_target set),
 * XS_ENOTFOUND, XS_ENODATA, XS_ELOOP or XS_ENOMEM. *chased is set when the
 * outcome is that of a CNAME target rather than of the name itself. */
static xs_status lookup(qctx *c, const char *owner, const char *name,
                        size_t len, uint16_t qtype, int *chased) {
  const xs_answer_cfg *cfg = c->cfg;
  label labels[XS_MAX_QLABELS];
  size_t nl = 0, rest_len, end;
  int more = 1;
  const xs_service *svc;
  label svc_l, ns_l;

  if (len == cfg->zone_len) { /* the apex */
    if (qtype == XS_T_SOA) {
      xs_rr *rr = new_rr(c->ans, owner, XS_T_SOA, c->ans->soa_ttl);
      if (rr == NULL)
        return XS_ENOMEM;
      return XS_OK;
    }
    return XS_ENODATA;
  }
  rest_len = len - cfg->zone_len - 1;
  /* Labels left of the zone are taken right to left, only as far as the
   * answer needs: most candidates of a search walk fail on the first
   * service probe, before their leftmost labels matter. */
  end = rest_len;
  take_label(name, &end, &more, &labels[nl++]);
  if (label_eq(labels[0], "svc"))
    goto svc;
  if (!more && label_eq(labels[0], "dns-version")) {
    xs_rr *rr;
    if (qtype != XS_T_TXT)
      return XS_ENOTFOUND; /* as CoreDNS: not under svc/pod */
    if ((rr = new_rr(c->ans, owner, XS_T_TXT, XS_DNS_VERSION_TTL)) == NULL)
      return XS_ENOMEM;
    rr->target = XS_DNS_VERSION;
    return XS_OK;
  }
  if (label_eq(labels[0], "pod"))
    return more ? XS_ENOTFOUND : XS_ENODATA; /* pods disabled */
  return XS_ENOTFOUND;
svc:
  if (!take_label(name, &end, &more, &ns_l))
    return XS_ENODATA;
  if (!take_label(name, &end, &more, &svc_l))
    return xs_snapshot_has_namespace(c->snap, ns_l.p, ns_l.len) ? XS_ENODATA
                                                                : XS_ENOTFOUND;
  /* A service implies its namespace: no separate namespace probe. */
  svc = xs_snapshot_find(c->snap, ns_l.p, ns_l.len, svc_l.p, svc_l.len);
  if (svc == NULL)
    return XS_ENOTFOUND;
  labels[nl++] = ns_l;
  labels[nl++] = svc_l;
  while (more) {
    if (nl == XS_MAX_QLABELS)
      return XS_ENOTFOUND; /* too many labels for any record */
    take_label(name, &end, &more, &labels[nl++]);
  }
  if (nl == 3) {
    if (svc->type == XS_SVC_EXTERNAL)
      return answer_external(c, owner, name, len, svc, qtype, chased);
    if (svc->type == XS_SVC_HEADLESS && !has_ready(svc))
      return XS_ENOTFOUND; /* no ready endpoints: NXDOMAIN for any type */
    if (qtype == XS_T_A || qtype == XS_T_AAAA)
      return answer_addrs(c, owner, svc, qtype, NULL);
    if (qtype == XS_T_SRV)
      return answer_srv(c, owner, svc, NULL, NULL);
    return XS_ENODATA;
  }
  if (svc->type == XS_SVC_EXTERNAL)
    return XS_ENOTFOUND; /* no endpoints or ports below an alias */
  if (nl == 4) {         /* endpoint.service.ns.svc */
    if (qtype == XS_T_A || qtype == XS_T_AAAA)
      return answer_addrs(c, owner, svc, qtype, &labels[3]);
    return endpoint_exists(svc, &labels[3]) ? XS_ENODATA : XS_ENOTFOUND;
  }
  { /* _port._proto.service.ns.svc */
    label port_l = strip_underscore(labels[4]);
    label proto_l = strip_underscore(labels[3]);
    uint16_t k;
    int any = 0;
    for (k = 0; k < svc->nports; k++)
      any |= port_matches(&svc->ports[k], &port_l, &proto_l);
    if (!any || (svc->type == XS_SVC_HEADLESS && !has_ready(svc)))
      return XS_ENOTFOUND;
    if (qtype == XS_T_SRV)
      return answer_srv(c, owner, svc, &port_l, &proto_l);
    if (qtype == XS_T_A || qtype == XS_T_AAAA)
      return answer_addrs(c, owner, svc, qtype, NULL);
    return XS_ENODATA;
  }
}

static int ends_with(const char *name, size_t len, const char *suffix,
                     size_t *at) {
  size_t sl = strlen(suffix);
  if (len < sl || !xs_ci_eq(name + len - sl, suffix, sl))
    return 0;
  if (len > sl && name[len - sl - 1] != '.')
    return 0;
  *at = len - sl;
  return 1;
}

xs_status xs_answer_query(const xs_snapshot *snap, const xs_answer_cfg *cfg,
                          const char *qname, size_t qlen, uint16_t qtype,
                          xs_answer *ans) {
  qctx c;
  const char *owner;
  size_t bare = qlen, at = 0;
  xs_status st;
  int chased = 0, reverse = 0;
  static const xs_snapshot empty = {0};

  xs_answer_init(ans, snap, cfg);

  /* Full syntax checks are the caller's (xs_name_check, or the wire
   * decoder); here only what the code below relies on. */
  if (qname == NULL || qlen == 0 || qlen > XS_MAX_NAME + 1 ||
      (qlen == 1 && qname[0] == '.'))
    return XS_EBADNAME;
  if (snap == NULL)
    snap = &empty;
  if (qname[qlen - 1] == '.')
    bare--;
  c.snap = snap;
  c.cfg = cfg;
  c.ans = ans;
  c.qname = qname;
  c.qlen = bare;
  /* The owner keeps the query's spelling; an absolute query is used as is
   * (answers then point into qname: see answer.h). */
  owner = bare != qlen ? qname : make_name1(ans, qname, bare);
  if (owner == NULL)
    return XS_ENOMEM;

  if (xs_name_in_zone(qname, bare, cfg->zone, cfg->zone_len)) {
    at = bare - cfg->zone_len;
    c.zone = qname + at;
    st = lookup(&c, owner, qname, bare, qtype, &chased);
  } else if (ends_with(qname, bare, "in-addr.arpa", &at) ||
             (reverse = ends_with(qname, bare, "ip6.arpa", &at)) != 0) {
    c.zone = qname + at;
    st = lookup_reverse(&c, owner, qname, bare, reverse, qtype);
  } else {
    ans->status = XS_ENOTFOUND;
    ans->rcode = XS_RCODE_NXDOMAIN;
    return XS_OK; /* not ours: the caller should not have asked */
  }
  if (st == XS_ENOMEM) {
    xs_answer_free(ans);
    return st;
  }
  ans->status = st;
  if (st != XS_OK) {
    /* An absolute query already spells the apex with its dot. */
    ans->soa_owner = bare != qlen ? c.zone : make_name1(ans, c.zone, bare - at);
    if (ans->soa_owner == NULL) {
      xs_answer_free(ans);
      return XS_ENOMEM;
    }
  }
  switch (st) {
  case XS_OK:
    ans->rcode = XS_RCODE_NOERROR;
    break;
  case XS_ENODATA:
    ans->rcode = XS_RCODE_NOERROR;
    ans->soa = 1;
    break;
  case XS_ENOTFOUND:
    /* CoreDNS answers NOERROR when only the CNAME target is missing. */
    ans->rcode = chased && cfg->mode == XS_MODE_COREDNS ? XS_RCODE_NOERROR
                                                        : XS_RCODE_NXDOMAIN;
    ans->soa = 1;
    break;
  default: /* XS_ELOOP */
    if (cfg->mode == XS_MODE_COREDNS) {
      ans->rcode = XS_RCODE_NOERROR;
      ans->soa = 1;
    } else {
      ans->rcode = XS_RCODE_SERVFAIL;
    }
    break;
  }
  return XS_OK;
}
