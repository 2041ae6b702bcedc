/* xs_config, xs_resolver and xs_result: the search walk over candidates,
 * in-cluster answers from the registry, external targets through upstream
 * DNS. */
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "names.h"
#include "registry.h"
#include "upstream.h"

#define XS_DEFAULT_NDOTS 5
#define XS_DEFAULT_TTL 5
#define XS_DEFAULT_TIMEOUT_MS 2000
#define XS_DEFAULT_ATTEMPTS 2
#define XS_MAX_TTL 3600
#define XS_MAX_NDOTS 15
#define XS_MAX_TIMEOUT_MS 60000
#define XS_MAX_ATTEMPTS 10
#define XS_SERVER_MAX 300

struct xs_config {
  char ns[64];
  char zone[XS_NAME_BUF];
  int ndots;
  char search[XS_MAX_SEARCH][XS_NAME_BUF];
  size_t nsearch;
  int ttl;
  xs_mode mode;
  int ip_literal;
  char servers[XS_UPSTREAM_MAX_SERVERS][XS_SERVER_MAX];
  size_t nservers;
  int timeout_ms;
  int attempts;
};

struct xs_resolver {
  xs_config cfg;
  xs_answer_cfg acfg;
  xs_search search;
  xs_registry *reg;
  xs_upstream *upstream;
};

typedef struct result_link {
  size_t name, target; /* offsets into text */
  unsigned ttl;
  xs_source source;
} result_link;

typedef struct result_addr {
  int family;
  unsigned char raw[16];
  size_t text;
  unsigned ttl;
  xs_source source;
} result_addr;

struct xs_result {
  xs_status status;
  size_t query, name, target; /* offsets into text */
  size_t candidates[XS_MAX_CANDIDATES];
  size_t ncandidates;
  result_link chain[2 * XS_MAX_CHAIN];
  size_t nchain;
  result_addr *addrs;
  size_t naddrs, cap_addrs;
  unsigned ttl;
  char *text;
  size_t text_used, text_cap;
};

/* ---- config ---------------------------------------------------------------
 */

xs_status xs_config_new(xs_config **out) {
  xs_config *c;
  if (out == NULL)
    return XS_EINVAL;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return XS_ENOMEM;
  strcpy(c->ns, "default");
  strcpy(c->zone, "cluster.local");
  c->ndots = XS_DEFAULT_NDOTS;
  c->ttl = XS_DEFAULT_TTL;
  c->mode = XS_MODE_COREDNS;
  c->timeout_ms = XS_DEFAULT_TIMEOUT_MS;
  c->attempts = XS_DEFAULT_ATTEMPTS;
  *out = c;
  return XS_OK;
}

void xs_config_free(xs_config *cfg) {
  free(cfg);
}

xs_status xs_config_set_namespace(xs_config *cfg, const char *ns) {
  if (cfg == NULL || ns == NULL ||
      !xs_valid_dns1123_label(ns, strlen(ns), "namespace", 1, NULL, 0))
    return XS_EINVAL;
  strcpy(cfg->ns, ns);
  return XS_OK;
}

/* Lowercase copy of a DNS name without its trailing dot. */
static xs_status copy_domain(char *dst, const char *src) {
  size_t len, i;
  if (src == NULL)
    return XS_EINVAL;
  len = strlen(src);
  if (xs_name_check(src, len) != XS_OK)
    return XS_EINVAL;
  if (src[len - 1] == '.')
    len--;
  for (i = 0; i < len; i++)
    dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
  dst[len] = '\0';
  return XS_OK;
}

xs_status xs_config_set_cluster_domain(xs_config *cfg, const char *domain) {
  if (cfg == NULL)
    return XS_EINVAL;
  return copy_domain(cfg->zone, domain);
}

xs_status xs_config_set_ndots(xs_config *cfg, int ndots) {
  if (cfg == NULL || ndots < 0 || ndots > XS_MAX_NDOTS)
    return XS_EINVAL;
  cfg->ndots = ndots;
  return XS_OK;
}

xs_status xs_config_add_search(xs_config *cfg, const char *domain) {
  if (cfg == NULL || cfg->nsearch >= XS_MAX_SEARCH)
    return XS_EINVAL;
  if (copy_domain(cfg->search[cfg->nsearch], domain) != XS_OK)
    return XS_EINVAL;
  cfg->nsearch++;
  return XS_OK;
}

xs_status xs_config_set_ttl(xs_config *cfg, int ttl_seconds) {
  if (cfg == NULL || ttl_seconds < 0 || ttl_seconds > XS_MAX_TTL)
    return XS_EINVAL;
  cfg->ttl = ttl_seconds;
  return XS_OK;
}

xs_status xs_config_set_mode(xs_config *cfg, xs_mode mode) {
  if (cfg == NULL || (mode != XS_MODE_COREDNS && mode != XS_MODE_STRICT))
    return XS_EINVAL;
  cfg->mode = mode;
  return XS_OK;
}

xs_status xs_config_set_ip_literal_targets(xs_config *cfg, int on) {
  if (cfg == NULL || (on != 0 && on != 1))
    return XS_EINVAL;
  cfg->ip_literal = on;
  return XS_OK;
}

xs_status xs_config_add_server(xs_config *cfg, const char *server) {
  size_t len;
  if (cfg == NULL || server == NULL || cfg->nservers >= XS_UPSTREAM_MAX_SERVERS)
    return XS_EINVAL;
  len = strlen(server);
  if (len == 0 || len >= XS_SERVER_MAX)
    return XS_EINVAL;
  memcpy(cfg->servers[cfg->nservers++], server, len + 1);
  return XS_OK;
}

xs_status xs_config_set_timeout_ms(xs_config *cfg, int timeout_ms) {
  if (cfg == NULL || timeout_ms < 1 || timeout_ms > XS_MAX_TIMEOUT_MS)
    return XS_EINVAL;
  cfg->timeout_ms = timeout_ms;
  return XS_OK;
}

xs_status xs_config_set_attempts(xs_config *cfg, int attempts) {
  if (cfg == NULL || attempts < 1 || attempts > XS_MAX_ATTEMPTS)
    return XS_EINVAL;
  cfg->attempts = attempts;
  return XS_OK;
}

/* ---- resolver -------------------------------------------------------------
 */

xs_status xs_resolver_new(const xs_config *cfg, xs_registry *reg,
                          xs_resolver **out, xs_error *err) {
  xs_resolver *r;
  xs_upstream_cfg ucfg;
  xs_status st;
  size_t i;
  if (out == NULL) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "out must not be NULL");
    return XS_EINVAL;
  }
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return XS_ENOMEM;
  if (cfg != NULL) {
    r->cfg = *cfg;
  } else {
    xs_config *def;
    if (xs_config_new(&def) != XS_OK) {
      free(r);
      return XS_ENOMEM;
    }
    r->cfg = *def;
    xs_config_free(def);
  }
  r->acfg.zone = r->cfg.zone;
  r->acfg.zone_len = strlen(r->cfg.zone);
  r->acfg.ttl = (uint32_t)r->cfg.ttl;
  r->acfg.mode = r->cfg.mode;
  r->acfg.ip_literal = r->cfg.ip_literal;
  xs_search_init(&r->search, r->cfg.ns, r->cfg.zone, r->cfg.ndots);
  for (i = 0; i < r->cfg.nsearch; i++)
    xs_search_add(&r->search, r->cfg.search[i]);

  memset(&ucfg, 0, sizeof(ucfg));
  for (i = 0; i < r->cfg.nservers; i++)
    ucfg.servers[i] = r->cfg.servers[i];
  ucfg.nservers = r->cfg.nservers;
  ucfg.timeout_ms = r->cfg.timeout_ms;
  ucfg.attempts = r->cfg.attempts;
  st = xs_upstream_new(&ucfg, &r->upstream, err);
  if (st != XS_OK) {
    free(r);
    return st;
  }
  if (reg != NULL) {
    xs_registry_ref(reg);
    r->reg = reg;
  }
  *out = r;
  return XS_OK;
}

void xs_resolver_free(xs_resolver *res) {
  if (res == NULL)
    return;
  xs_upstream_free(res->upstream);
  xs_registry_free(res->reg);
  free(res);
}

/* ---- results --------------------------------------------------------------
 */

static size_t text_add(xs_result *r, const char *s) {
  size_t len = strlen(s) + 1, off;
  if (r->text_cap - r->text_used < len) {
    size_t ncap = r->text_cap ? r->text_cap * 2 : 1024;
    char *n;
    while (ncap - r->text_used < len)
      ncap *= 2;
    n = realloc(r->text, ncap);
    if (n == NULL)
      return (size_t)-1;
    r->text = n;
    r->text_cap = ncap;
  }
  off = r->text_used;
  memcpy(r->text + off, s, len);
  r->text_used += len;
  return off;
}

static xs_status add_link(xs_result *r, const char *name, const char *target,
                          unsigned ttl, xs_source source) {
  result_link *l;
  if (r->nchain >= sizeof(r->chain) / sizeof(r->chain[0]))
    return XS_OK;
  l = &r->chain[r->nchain];
  l->name = text_add(r, name);
  l->target = text_add(r, target);
  if (l->name == (size_t)-1 || l->target == (size_t)-1)
    return XS_ENOMEM;
  l->ttl = ttl;
  l->source = source;
  r->nchain++;
  return XS_OK;
}

static xs_status add_addr(xs_result *r, const xs_addr *a, unsigned ttl,
                          xs_source source) {
  result_addr *ra;
  char buf[64];
  if (r->naddrs == r->cap_addrs) {
    size_t ncap = r->cap_addrs ? r->cap_addrs * 2 : 8;
    result_addr *n = realloc(r->addrs, ncap * sizeof(*n));
    if (n == NULL)
      return XS_ENOMEM;
    r->addrs = n;
    r->cap_addrs = ncap;
  }
  ra = &r->addrs[r->naddrs];
  ra->family = a->family;
  memcpy(ra->raw, a->bytes, 16);
  ra->text = text_add(r, xs_addr_format(a, buf, sizeof(buf)));
  if (ra->text == (size_t)-1)
    return XS_ENOMEM;
  ra->ttl = ttl;
  ra->source = source;
  r->naddrs++;
  return XS_OK;
}

/* What one candidate gave. */
typedef struct outcome {
  xs_status status;
  xs_answer a4, a6; /* registry answers (valid when have4/have6) */
  int have4, have6;
  xs_upstream_answer u4, u6;
  int asked4, asked6;        /* upstream queried for that family */
  const char *upstream_name; /* name sent upstream, or NULL */
} outcome;

static int upstream_error(xs_status s) {
  return s == XS_ETIMEOUT || s == XS_ESERVFAIL || s == XS_EREFUSED ||
         s == XS_EUPSTREAM;
}

/* Merge the per-family statuses as getaddrinfo(AF_UNSPEC) does: any
 * address wins; then an upstream failure; then NODATA, loop, NXDOMAIN. */
static xs_status merge(xs_status s4, xs_status s6) {
  if (s4 == XS_OK || s6 == XS_OK)
    return XS_OK;
  if (upstream_error(s4))
    return s4;
  if (upstream_error(s6))
    return s6;
  if (s4 == XS_ELOOP || s6 == XS_ELOOP)
    return XS_ELOOP;
  if (s4 == XS_ENODATA || s6 == XS_ENODATA)
    return XS_ENODATA;
  return XS_ENOTFOUND;
}

static int has_addr_records(const xs_answer *a, uint16_t type) {
  size_t i;
  for (i = 0; i < a->nanswer; i++)
    if (a->answer[i].type == type)
      return 1;
  return 0;
}

static xs_status ask(xs_resolver *res, const xs_snapshot *snap,
                     const char *cand, int want4, int want6, outcome *o) {
  xs_status s4 = XS_ENOTFOUND, s6 = XS_ENOTFOUND, st;
  size_t len = strlen(cand);
  o->status = XS_ENOTFOUND;
  o->have4 = o->have6 = 0;
  o->asked4 = o->asked6 = 0;
  o->upstream_name = NULL;
  if (xs_name_in_zone(cand, len, res->acfg.zone, res->acfg.zone_len)) {
    if (want4) {
      if ((st = xs_answer_query(snap, &res->acfg, cand, len, XS_T_A, &o->a4)) !=
          XS_OK)
        return st;
      o->have4 = 1;
      s4 = o->a4.status;
      if (s4 == XS_OK && o->a4.external_target == NULL &&
          !has_addr_records(&o->a4, XS_T_A))
        s4 = XS_ENODATA;
      o->upstream_name = o->a4.external_target;
    }
    if (want6) {
      if ((st = xs_answer_query(snap, &res->acfg, cand, len, XS_T_AAAA,
                                &o->a6)) != XS_OK)
        return st;
      o->have6 = 1;
      s6 = o->a6.status;
      if (s6 == XS_OK && o->a6.external_target == NULL &&
          !has_addr_records(&o->a6, XS_T_AAAA))
        s6 = XS_ENODATA;
      if (o->upstream_name == NULL)
        o->upstream_name = o->a6.external_target;
    }
  } else {
    o->upstream_name = cand;
  }
  if (o->upstream_name != NULL) {
    int q4 = want4 && (!o->have4 || o->a4.external_target != NULL);
    int q6 = want6 && (!o->have6 || o->a6.external_target != NULL);
    st = xs_upstream_query(res->upstream, o->upstream_name, q4, &o->u4, q6,
                           &o->u6);
    if (st != XS_OK)
      return st;
    o->asked4 = q4;
    o->asked6 = q6;
    if (q4)
      s4 = o->u4.status;
    if (q6)
      s6 = o->u6.status;
  }
  if (!want4)
    s4 = s6;
  if (!want6)
    s6 = s4;
  o->status = merge(s4, s6);
  return XS_OK;
}

static void outcome_free(outcome *o) {
  if (o->have4)
    xs_answer_free(&o->a4);
  if (o->have6)
    xs_answer_free(&o->a6);
  o->have4 = o->have6 = 0;
}

/* How much a failed candidate tells: a loop or a matched alias says more
 * than NODATA, which says more than NXDOMAIN (glibc keeps NODATA too). */
static int weight_of(const outcome *o) {
  size_t chain = (o->have4 ? o->a4.nchain : 0) + (o->have6 ? o->a6.nchain : 0);
  if (o->status == XS_ELOOP)
    return 4;
  if (chain > 0)
    return 3;
  if (o->status == XS_ENODATA)
    return 2;
  return 1;
}

static unsigned min_u(unsigned a, unsigned b) {
  return a < b ? a : b;
}

/* Copy a candidate's outcome into the result. */
static xs_status fill(xs_result *r, const char *cand, const outcome *o) {
  const xs_answer *reg = o->have4 ? &o->a4 : o->have6 ? &o->a6 : NULL;
  const xs_upstream_answer *up = NULL;
  const char *target = cand;
  unsigned ttl = (unsigned)-1;
  size_t i;
  xs_status st;
  char tbuf[XS_NAME_BUF];

  r->status = o->status;
  r->name = text_add(r, cand);
  if (r->name == (size_t)-1)
    return XS_ENOMEM;
  if (reg != NULL)
    for (i = 0; i < reg->nchain; i++) {
      const xs_rr *l = &reg->chain[i];
      if ((st = add_link(r, l->owner, l->target, l->ttl, XS_SOURCE_REGISTRY)) !=
          XS_OK)
        return st;
      ttl = min_u(ttl, l->ttl);
      target = l->target;
    }
  if (o->asked4 && (o->u4.nchain > 0 || !o->asked6 || o->u6.nchain == 0))
    up = &o->u4;
  else if (o->asked6)
    up = &o->u6;
  if (up != NULL)
    for (i = 0; i < up->nchain; i++) {
      if ((st = add_link(r, up->chain[i].name, up->chain[i].target,
                         up->chain[i].ttl, XS_SOURCE_UPSTREAM)) != XS_OK)
        return st;
      ttl = min_u(ttl, up->chain[i].ttl);
      target = up->chain[i].target;
    }
  /* Registry addresses (in-zone final records), then upstream ones. */
  for (i = 0; o->have4 && i < o->a4.nanswer; i++)
    if (o->a4.answer[i].type == XS_T_A) {
      if ((st = add_addr(r, &o->a4.answer[i].addr, o->a4.answer[i].ttl,
                         XS_SOURCE_REGISTRY)) != XS_OK)
        return st;
      ttl = min_u(ttl, o->a4.answer[i].ttl);
      target = o->a4.answer[i].owner;
    }
  for (i = 0; o->asked4 && i < o->u4.naddrs; i++) {
    if ((st = add_addr(r, &o->u4.addrs[i].addr, o->u4.addrs[i].ttl,
                       XS_SOURCE_UPSTREAM)) != XS_OK)
      return st;
    ttl = min_u(ttl, o->u4.addrs[i].ttl);
  }
  for (i = 0; o->have6 && i < o->a6.nanswer; i++)
    if (o->a6.answer[i].type == XS_T_AAAA) {
      if ((st = add_addr(r, &o->a6.answer[i].addr, o->a6.answer[i].ttl,
                         XS_SOURCE_REGISTRY)) != XS_OK)
        return st;
      ttl = min_u(ttl, o->a6.answer[i].ttl);
      target = o->a6.answer[i].owner;
    }
  for (i = 0; o->asked6 && i < o->u6.naddrs; i++) {
    if ((st = add_addr(r, &o->u6.addrs[i].addr, o->u6.addrs[i].ttl,
                       XS_SOURCE_UPSTREAM)) != XS_OK)
      return st;
    ttl = min_u(ttl, o->u6.addrs[i].ttl);
  }
  if (r->naddrs == 0) {
    /* Negative: the negative-cache time, if anyone said it. */
    unsigned neg = (unsigned)-1;
    if (o->asked4 && o->u4.negative_ttl)
      neg = min_u(neg, o->u4.negative_ttl);
    if (o->asked6 && o->u6.negative_ttl)
      neg = min_u(neg, o->u6.negative_ttl);
    if (up == NULL && reg != NULL)
      neg = min_u(neg, reg->soa_ttl);
    ttl = min_u(ttl, neg);
  }
  r->ttl = ttl == (unsigned)-1 ? 0 : ttl;
  /* Names from upstream may lack the trailing dot; keep one form. */
  i = strlen(target);
  if (i > 0 && target[i - 1] != '.' && i + 2 <= sizeof(tbuf)) {
    memcpy(tbuf, target, i);
    tbuf[i] = '.';
    tbuf[i + 1] = '\0';
    target = tbuf;
  }
  r->target = text_add(r, target);
  return r->target == (size_t)-1 ? XS_ENOMEM : XS_OK;
}

xs_status xs_resolve(xs_resolver *res, const char *name, xs_family family,
                     xs_result **out) {
  xs_result *r;
  xs_cand_iter it;
  char *cand = NULL, *best_name = NULL; /* two XS_NAME_BUF buffers */
  size_t cand_len;
  xs_snapshot *snap = NULL;
  outcome *cur = NULL, *best = NULL;
  int want4, want6, best_weight = 0;
  size_t i;
  xs_status st = XS_OK;

  if (res == NULL || name == NULL || out == NULL ||
      (family != XS_FAMILY_ANY && family != XS_FAMILY_IPV4 &&
       family != XS_FAMILY_IPV6))
    return XS_EINVAL;
  want4 = family != XS_FAMILY_IPV6;
  want6 = family != XS_FAMILY_IPV4;
  r = calloc(1, sizeof(*r));
  cand = malloc(2 * XS_NAME_BUF);
  best_name = cand + XS_NAME_BUF;
  cur = malloc(sizeof(*cur));
  best = malloc(sizeof(*best));
  if (r == NULL || cand == NULL || cur == NULL || best == NULL) {
    st = XS_ENOMEM;
    goto fail;
  }
  cur->have4 = cur->have6 = best->have4 = best->have6 = 0;
  r->query = text_add(r, name);
  r->name = r->target = text_add(r, "");
  if (r->query == (size_t)-1 || r->name == (size_t)-1) {
    st = XS_ENOMEM;
    goto fail;
  }
  if (xs_cand_start(&it, &res->search, name) != XS_OK) {
    r->status = XS_EBADNAME;
    goto done;
  }
  snap = res->reg != NULL ? xs_registry_snapshot(res->reg) : NULL;
  r->status = XS_ENOTFOUND;
  for (i = 0; (cand_len = xs_cand_next(&it, cand)) != 0; i++) {
    int w, stop;
    outcome *tmp;
    r->candidates[r->ncandidates] = text_add(r, cand);
    if (r->candidates[r->ncandidates] == (size_t)-1) {
      st = XS_ENOMEM;
      goto fail;
    }
    r->ncandidates++;
    if ((st = ask(res, snap, cand, want4, want6, cur)) != XS_OK)
      goto fail;
    /* An upstream failure ends the walk (as glibc stops on REFUSED) but
     * does not hide an earlier candidate that matched an alias or looped. */
    stop = cur->status == XS_OK || upstream_error(cur->status);
    w = cur->status == XS_OK          ? 100
        : upstream_error(cur->status) ? 3
                                      : weight_of(cur);
    if (w > best_weight) {
      outcome_free(best);
      tmp = best;
      best = cur;
      cur = tmp;
      best_weight = w;
      memcpy(best_name, cand, cand_len + 1);
    } else {
      outcome_free(cur);
    }
    /* The walk goes on past NXDOMAIN, NODATA and loops (glibc, Go) and
     * stops at an answer or an upstream failure. */
    if (stop)
      break;
  }
  if (best_weight > 0 && (st = fill(r, best_name, best)) != XS_OK)
    goto fail;
done:
  outcome_free(best);
  outcome_free(cur);
  xs_snapshot_unref(snap);
  free(cand);
  free(cur);
  free(best);
  *out = r;
  return r->status;
fail:
  if (best != NULL)
    outcome_free(best);
  if (cur != NULL)
    outcome_free(cur);
  xs_snapshot_unref(snap);
  xs_result_free(r);
  free(cand);
  free(cur);
  free(best);
  return st;
}

void xs_result_free(xs_result *result) {
  if (result == NULL)
    return;
  free(result->addrs);
  free(result->text);
  free(result);
}

xs_status xs_result_status(const xs_result *r) {
  return r != NULL ? r->status : XS_EINVAL;
}

#define TEXT(r, off) ((r)->text + (off))

const char *xs_result_query(const xs_result *r) {
  return r != NULL ? TEXT(r, r->query) : "";
}
const char *xs_result_name(const xs_result *r) {
  return r != NULL ? TEXT(r, r->name) : "";
}
const char *xs_result_target(const xs_result *r) {
  return r != NULL ? TEXT(r, r->target) : "";
}
size_t xs_result_candidate_count(const xs_result *r) {
  return r != NULL ? r->ncandidates : 0;
}
const char *xs_result_candidate(const xs_result *r, size_t i) {
  return r != NULL && i < r->ncandidates ? TEXT(r, r->candidates[i]) : NULL;
}
size_t xs_result_chain_count(const xs_result *r) {
  return r != NULL ? r->nchain : 0;
}
const char *xs_result_chain_name(const xs_result *r, size_t i) {
  return r != NULL && i < r->nchain ? TEXT(r, r->chain[i].name) : NULL;
}
const char *xs_result_chain_target(const xs_result *r, size_t i) {
  return r != NULL && i < r->nchain ? TEXT(r, r->chain[i].target) : NULL;
}
unsigned xs_result_chain_ttl(const xs_result *r, size_t i) {
  return r != NULL && i < r->nchain ? r->chain[i].ttl : 0;
}
xs_source xs_result_chain_source(const xs_result *r, size_t i) {
  return r != NULL && i < r->nchain ? r->chain[i].source : XS_SOURCE_REGISTRY;
}
size_t xs_result_address_count(const xs_result *r) {
  return r != NULL ? r->naddrs : 0;
}
int xs_result_address_family(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? r->addrs[i].family : 0;
}
const unsigned char *xs_result_address_raw(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? r->addrs[i].raw : NULL;
}
const char *xs_result_address_text(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? TEXT(r, r->addrs[i].text) : NULL;
}
unsigned xs_result_address_ttl(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? r->addrs[i].ttl : 0;
}
xs_source xs_result_address_source(const xs_result *r, size_t i) {
  return r != NULL && i < r->naddrs ? r->addrs[i].source : XS_SOURCE_REGISTRY;
}
unsigned xs_result_ttl(const xs_result *r) {
  return r != NULL ? r->ttl : 0;
}
