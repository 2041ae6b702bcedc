/* libxsvc-preload.so: cluster Service names for programs that cannot be
 * pointed at a DNS server (curl, psql, getent, a JVM).
 *
 *   LD_PRELOAD=libxsvc-preload.so XSVC_MANIFESTS=manifests/ \
 *   XSVC_NAMESPACE=prod curl http://my-service/
 *
 * getaddrinfo, gethostbyname, gethostbyname2, gethostbyname_r,
 * gethostbyname2_r and getnameinfo are answered for cluster names from the
 * manifests, walking the pod's search list as xs_resolve does: ClusterIP
 * and endpoint addresses come from the registry; an ExternalName's target
 * is handed to the real libc function as an absolute name (with its
 * trailing dot, so libc applies no search list of its own: in a pod,
 * CoreDNS resolves the target as it is, never below the pod's search
 * domains). Every address, from the registry or from libc, then passes the
 * address policy of xs_resolve (xs_resolver_check_address): denied ones
 * are left out, and when none is left the lookup fails as "not found":
 * getaddrinfo returns EAI_NONAME; gethostbyname_r and gethostbyname2_r
 * return 0 with *result NULL and *h_errnop HOST_NOT_FOUND; gethostbyname
 * and gethostbyname2 return NULL with h_errno HOST_NOT_FOUND (errno is
 * left as libc left it). The first refusal is reported once on stderr.
 * Every other name, and every call when the configuration is missing or
 * wrong, goes to libc unchanged; a configuration problem is reported once
 * on stderr.
 *
 * Environment, read with secure_getenv (a set-user-ID or set-group-ID
 * program sees none of it, so it passes everything to libc):
 * XSVC_MANIFESTS (paths separated by ':'), XSVC_NAMESPACE (default
 * "default"), XSVC_CLUSTER_DOMAIN (default "cluster.local"), XSVC_NDOTS
 * (default 5), XSVC_DENY and XSVC_ALLOW (address ranges separated by ','
 * or spaces, "10.0.0.0/8,::1": XSVC_DENY adds denied ranges as
 * xs_config_add_denied_range, XSVC_ALLOW lifts denials as
 * xs_config_allow_range, the most specific range holding an address
 * deciding), XSVC_QUIET (set: no stderr report).
 *
 * The policy lives in an xs_resolver created on the first lookup; it is
 * only asked about addresses and never sends a query, but it owns an idle
 * engine thread (as every resolver does) for the life of the process. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xsvc.h"

/* The registry walk below still reads private headers (a later change
 * moves it onto the public API); the policy uses only xsvc.h. */
#include "answer.h"
#include "names.h"
#include "registry.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_ADDRS 64
#define MAX_PATHS 32

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);
typedef int (*gni_fn)(const struct sockaddr *, socklen_t, char *, socklen_t,
                      char *, socklen_t, int);
typedef struct hostent *(*ghbn_fn)(const char *);
typedef struct hostent *(*ghbn2_fn)(const char *, int);
typedef int (*ghbn_r_fn)(const char *, struct hostent *, char *, size_t,
                         struct hostent **, int *);
typedef int (*ghbn2_r_fn)(const char *, int, struct hostent *, char *, size_t,
                          struct hostent **, int *);

static struct {
  gai_fn getaddrinfo;
  gni_fn getnameinfo;
  ghbn_fn gethostbyname;
  ghbn2_fn gethostbyname2;
  ghbn_r_fn gethostbyname_r;
  ghbn2_r_fn gethostbyname2_r;
  xs_registry *reg;    /* NULL: pass everything through */
  xs_resolver *policy; /* non-NULL whenever reg is */
  xs_search search;
  xs_answer_cfg acfg;
  char zone[XS_NAME_BUF];
} g;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int policy_reported;

static void report(const char *fmt, const char *arg) {
  if (secure_getenv("XSVC_QUIET") != NULL)
    return;
  fputs("xsvc-preload: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs(" (cluster names are not resolved; everything else is)\n", stderr);
}

/* The first address the policy refuses, once per process: a program that
 * cannot reach a service should say why somewhere. */
static void report_denied(const char *name, const char *why) {
  if (secure_getenv("XSVC_QUIET") != NULL ||
      atomic_exchange(&policy_reported, 1) != 0)
    return;
  fprintf(stderr,
          "xsvc-preload: %s: %s (left out; later refusals are not "
          "reported)\n",
          name, why);
}

/* Apply each range of list (separated by ',' or blanks) with add. 0, or -1
 * after reporting which range failed. */
static int add_ranges(xs_config *cfg, const char *var,
                      xs_status (*add)(xs_config *, const char *)) {
  const char *list = secure_getenv(var);
  char *copy, *save = NULL, *p;
  int rc = 0;
  if (list == NULL)
    return 0;
  if ((copy = strdup(list)) == NULL)
    return -1;
  for (p = strtok_r(copy, ", \t", &save); p != NULL;
       p = strtok_r(NULL, ", \t", &save))
    if (add(cfg, p) != XS_OK) {
      char what[128];
      snprintf(what, sizeof(what), "%s: %.60s", var, p);
      report("invalid address range in %s", what);
      rc = -1;
      break;
    }
  free(copy);
  return rc;
}

/* The resolver whose address policy the shim applies: defaults plus
 * XSVC_DENY and XSVC_ALLOW. It is never asked to resolve: one fixed
 * upstream it never uses keeps c-ares from reading the system's resolver
 * configuration inside every program the shim is loaded into. */
static xs_resolver *new_policy(void) {
  xs_config *cfg = NULL;
  xs_resolver *res = NULL;
  xs_error err;
  if (xs_config_new(&cfg) != XS_OK)
    return NULL;
  if (xs_config_set_cache_size(cfg, 0) != XS_OK ||
      xs_config_add_server(cfg, "127.0.0.1:9") != XS_OK ||
      add_ranges(cfg, "XSVC_DENY", xs_config_add_denied_range) != 0 ||
      add_ranges(cfg, "XSVC_ALLOW", xs_config_allow_range) != 0)
    goto done;
  if (xs_resolver_new(cfg, NULL, &res, &err) != XS_OK) {
    report("cannot create the address policy: %s", err.message);
    res = NULL;
  }
done:
  xs_config_free(cfg);
  return res;
}

/* 1 if the policy lets family (4 or 6) raw through; else 0, reported. */
static int allowed(const char *name, int family, const void *raw) {
  char why[320];
  if (xs_resolver_check_address(g.policy, family, raw, why, sizeof(why)) ==
      XS_OK)
    return 1;
  report_denied(name, why);
  return 0;
}

static void init(void) {
  const char *manifests = secure_getenv("XSVC_MANIFESTS");
  const char *ns = secure_getenv("XSVC_NAMESPACE");
  const char *zone = secure_getenv("XSVC_CLUSTER_DOMAIN");
  const char *ndots_s = secure_getenv("XSVC_NDOTS");
  char *copy, *save = NULL, *p;
  const char *paths[MAX_PATHS];
  size_t npaths = 0, zl;
  int ndots = 5;
  xs_error err;
  g.getaddrinfo = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  g.getnameinfo = (gni_fn)dlsym(RTLD_NEXT, "getnameinfo");
  g.gethostbyname = (ghbn_fn)dlsym(RTLD_NEXT, "gethostbyname");
  g.gethostbyname2 = (ghbn2_fn)dlsym(RTLD_NEXT, "gethostbyname2");
  g.gethostbyname_r = (ghbn_r_fn)dlsym(RTLD_NEXT, "gethostbyname_r");
  g.gethostbyname2_r = (ghbn2_r_fn)dlsym(RTLD_NEXT, "gethostbyname2_r");
  if (manifests == NULL || manifests[0] == '\0')
    return; /* not configured: a plain pass-through */
  if (ns == NULL || ns[0] == '\0')
    ns = "default";
  if (zone == NULL || zone[0] == '\0')
    zone = "cluster.local";
  if (ndots_s != NULL) {
    char *end;
    long v = strtol(ndots_s, &end, 10);
    if (*end != '\0' || v < 0 || v > 15) {
      report("XSVC_NDOTS=%s is not 0..15", ndots_s);
      return;
    }
    ndots = (int)v;
  }
  zl = strlen(zone);
  if (zl > 0 && zone[zl - 1] == '.')
    zl--;
  if (zl == 0 || zl >= sizeof(g.zone) || xs_name_check(zone, zl) != XS_OK ||
      !xs_valid_dns1123_label(ns, strlen(ns), "namespace", 1, NULL, 0)) {
    report("invalid XSVC_NAMESPACE or XSVC_CLUSTER_DOMAIN (%s)", ns);
    return;
  }
  xs_lower_copy(g.zone, zone, zl);
  if ((copy = strdup(manifests)) == NULL)
    return;
  for (p = strtok_r(copy, ":", &save); p != NULL && npaths < MAX_PATHS;
       p = strtok_r(NULL, ":", &save))
    paths[npaths++] = p;
  if (xs_registry_load_paths(paths, npaths, NULL, &g.reg, &err) != XS_OK) {
    char where[sizeof(err.file) + sizeof(err.message) + 32];
    snprintf(where, sizeof(where), "%s:%u:%u: %s", err.file, err.line,
             err.column, err.message);
    report("cannot load XSVC_MANIFESTS: %s", where);
    g.reg = NULL;
  }
  free(copy);
  if (g.reg == NULL)
    return;
  if ((g.policy = new_policy()) == NULL) {
    /* no policy, no cluster names: never hand out unchecked addresses */
    xs_registry_free(g.reg);
    g.reg = NULL;
    return;
  }
  xs_search_init(&g.search, ns, g.zone, ndots);
  g.acfg.zone = g.zone;
  g.acfg.zone_len = zl;
  g.acfg.ttl = 5;
  g.acfg.mode = XS_MODE_COREDNS;
  g.acfg.ip_literal = 0;
}

/* What a cluster name is: addresses from the registry, an external target
 * to hand to libc, or nothing (not a cluster name: pass it through). */
typedef struct lookup {
  xs_addr addrs[MAX_ADDRS];
  size_t naddrs;
  size_t denied;            /* registry addresses the policy left out */
  char target[XS_NAME_BUF]; /* external target, absolute (trailing dot) */
  char canon[XS_NAME_BUF];  /* the candidate that answered, no dot */
  int found;                /* 1: a cluster name (addresses or target) */
} lookup;

static void add_addrs(lookup *l, const xs_answer *a, uint16_t type,
                      const char *name) {
  size_t i;
  for (i = 0; i < a->nanswer && l->naddrs < MAX_ADDRS; i++) {
    const xs_addr *x = &a->answer[i].addr;
    if (a->answer[i].type != type)
      continue;
    if (allowed(name, x->family, x->bytes))
      l->addrs[l->naddrs++] = *x;
    else
      l->denied++;
  }
}

/* dst = src with exactly one trailing dot: libc then looks it up as it is,
 * with no search domain appended (XS_NAME_BUF holds 253 octets + dot). */
static void absolute(char *dst, const char *src) {
  size_t n = strlen(src);
  if (n > 0 && src[n - 1] == '.')
    n--;
  if (n > XS_MAX_NAME)
    n = XS_MAX_NAME;
  memcpy(dst, src, n);
  dst[n] = '.';
  dst[n + 1] = '\0';
}

static void strip_dot(char *dst, const char *src) {
  size_t n = strlen(src);
  if (n > 0 && src[n - 1] == '.')
    n--;
  if (n >= XS_NAME_BUF)
    n = XS_NAME_BUF - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* Walk the candidates of name inside the cluster domain; family 0 both. */
static void resolve(const char *name, int family, lookup *l) {
  xs_cand_iter it;
  char cand[XS_NAME_BUF];
  size_t len;
  xs_snapshot *snap;
  memset(l, 0, sizeof(*l));
  pthread_once(&once, init);
  if (g.reg == NULL || name == NULL ||
      xs_cand_start(&it, &g.search, name) != XS_OK)
    return;
  snap = xs_registry_snapshot(g.reg);
  while ((len = xs_cand_next(&it, cand)) != 0) {
    xs_answer a4, a6;
    int ok4 = 0, ok6 = 0;
    if (!xs_name_in_zone(cand, len, g.acfg.zone, g.acfg.zone_len))
      continue; /* outside the cluster: libc's business */
    if (xs_answer_query(snap, &g.acfg, cand, len, XS_T_A, &a4) != XS_OK)
      break;
    if (xs_answer_query(snap, &g.acfg, cand, len, XS_T_AAAA, &a6) != XS_OK) {
      xs_answer_free(&a4);
      break;
    }
    ok4 = a4.status == XS_OK;
    ok6 = a6.status == XS_OK;
    if (ok4 || ok6 || a4.nchain > 0) {
      l->found = 1;
      strip_dot(l->canon, cand);
      if (a4.external_target != NULL)
        absolute(l->target, a4.external_target);
      else if (a6.external_target != NULL)
        absolute(l->target, a6.external_target);
      if (family != AF_INET6)
        add_addrs(l, &a4, XS_T_A, name);
      if (family != AF_INET)
        add_addrs(l, &a6, XS_T_AAAA, name);
    }
    xs_answer_free(&a4);
    xs_answer_free(&a6);
    if (l->found)
      break;
  }
  xs_snapshot_unref(snap);
}

/* ---- getaddrinfo
 * -------------------------------------------------------------- */

/* One addrinfo with its sockaddr in the same block, as glibc's
 * freeaddrinfo expects (it frees ai_canonname and the addrinfo only). */
static struct addrinfo *new_ai(const xs_addr *a, const struct addrinfo *tmpl) {
  struct {
    struct addrinfo ai;
    struct sockaddr_storage ss;
  } *b = calloc(1, sizeof(*b));
  if (b == NULL)
    return NULL;
  b->ai = *tmpl;
  b->ai.ai_next = NULL;
  b->ai.ai_canonname = NULL;
  b->ai.ai_addr = (struct sockaddr *)&b->ss;
  if (a->family == 4) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&b->ss;
    s4->sin_family = AF_INET;
    s4->sin_port = ((const struct sockaddr_in *)tmpl->ai_addr)->sin_port;
    memcpy(&s4->sin_addr, a->bytes, 4);
    b->ai.ai_family = AF_INET;
    b->ai.ai_addrlen = sizeof(*s4);
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&b->ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = ((const struct sockaddr_in *)tmpl->ai_addr)->sin_port;
    memcpy(&s6->sin6_addr, a->bytes, 16);
    b->ai.ai_family = AF_INET6;
    b->ai.ai_addrlen = sizeof(*s6);
  }
  return &b->ai;
}

/* Leave out of *res the addresses the policy denies; the canonical name
 * stays on the first entry. 0, or EAI_NONAME (and *res freed) when none
 * is left. */
static int filter_ai(const char *node, struct addrinfo **res) {
  struct addrinfo **link = res, *ai;
  char *canon;
  if (*res == NULL)
    return EAI_NONAME;
  canon = (*res)->ai_canonname;
  (*res)->ai_canonname = NULL;
  while ((ai = *link) != NULL) {
    const void *raw = NULL;
    int family = 0;
    if (ai->ai_family == AF_INET && ai->ai_addr != NULL) {
      family = 4;
      raw = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
    } else if (ai->ai_family == AF_INET6 && ai->ai_addr != NULL) {
      family = 6;
      raw =
          &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
    }
    if (family == 0 || allowed(node, family, raw)) {
      link = &ai->ai_next;
      continue;
    }
    *link = ai->ai_next;
    ai->ai_next = NULL;
    freeaddrinfo(ai);
  }
  if (*res == NULL) {
    free(canon);
    return EAI_NONAME;
  }
  (*res)->ai_canonname = canon;
  return 0;
}

EXPORT int getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res) {
  lookup l;
  struct addrinfo h, *ports = NULL, *p, *head = NULL, **tail = &head;
  int family = hints != NULL ? hints->ai_family : AF_UNSPEC, rc;
  size_t i;
  pthread_once(&once, init);
  if (g.getaddrinfo == NULL)
    return EAI_SYSTEM;
  if (node == NULL || g.reg == NULL ||
      (hints != NULL && (hints->ai_flags & AI_NUMERICHOST)) ||
      (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
    return g.getaddrinfo(node, service, hints, res);
  resolve(node, family, &l);
  if (!l.found)
    return g.getaddrinfo(node, service, hints, res);
  if (l.target[0] != '\0') {
    /* An alias: libc resolves its target; the canonical name is it. */
    if ((rc = g.getaddrinfo(l.target, service, hints, res)) != 0)
      return rc;
    return filter_ai(node, res);
  }
  if (l.naddrs == 0)
    return l.denied > 0 ? EAI_NONAME : EAI_NODATA;
  /* The service and socket types as libc would expand them, for a
   * numeric address; then one entry per address and expansion. */
  memset(&h, 0, sizeof(h));
  if (hints != NULL) {
    h.ai_socktype = hints->ai_socktype;
    h.ai_protocol = hints->ai_protocol;
    h.ai_flags = hints->ai_flags & AI_NUMERICSERV;
  }
  h.ai_family = AF_INET;
  h.ai_flags |= AI_NUMERICHOST;
  if ((rc = g.getaddrinfo("127.0.0.1", service, &h, &ports)) != 0)
    return rc;
  for (i = 0; i < l.naddrs; i++)
    for (p = ports; p != NULL; p = p->ai_next) {
      struct addrinfo *ai = new_ai(&l.addrs[i], p);
      if (ai == NULL) {
        freeaddrinfo(ports);
        freeaddrinfo(head);
        return EAI_MEMORY;
      }
      if (head == NULL && hints != NULL && (hints->ai_flags & AI_CANONNAME))
        ai->ai_canonname = strdup(l.canon);
      *tail = ai;
      tail = &ai->ai_next;
    }
  freeaddrinfo(ports);
  *res = head;
  return 0;
}

/* ---- gethostbyname*
 * ------------------------------------------------------------ */

/* Fill he (buffers in buf) with l's addresses of family af. 0, ERANGE. */
static int fill_hostent(const lookup *l, int af, struct hostent *he, char *buf,
                        size_t buflen) {
  size_t alen = af == AF_INET ? 4 : 16, n = 0, i, need;
  char **addrs, **aliases, *name, *data;
  for (i = 0; i < l->naddrs; i++)
    n += l->addrs[i].family == (af == AF_INET ? 4 : 6);
  need = (n + 1) * sizeof(char *) + sizeof(char *) + n * alen +
         strlen(l->canon) + 1 + sizeof(char *);
  if (need > buflen)
    return ERANGE;
  addrs = (char **)(void *)(((uintptr_t)buf + sizeof(char *) - 1) &
                            ~(uintptr_t)(sizeof(char *) - 1));
  aliases = addrs + n + 1;
  data = (char *)(aliases + 1);
  aliases[0] = NULL;
  for (i = 0, n = 0; i < l->naddrs; i++)
    if (l->addrs[i].family == (af == AF_INET ? 4 : 6)) {
      addrs[n++] = data;
      memcpy(data, l->addrs[i].bytes, alen);
      data += alen;
    }
  addrs[n] = NULL;
  name = data;
  strcpy(name, l->canon);
  he->h_name = name;
  he->h_aliases = aliases;
  he->h_addrtype = af;
  he->h_length = (int)alen;
  he->h_addr_list = addrs;
  return 0;
}

/* Leave out of (*result)->h_addr_list the addresses the policy denies;
 * when none is left, *result = NULL and HOST_NOT_FOUND, as libc reports a
 * name that does not exist. */
static void filter_hostent(const char *name, struct hostent **result,
                           int *h_errnop) {
  struct hostent *he = *result;
  int family = he->h_addrtype == AF_INET ? 4 : 6;
  size_t i, kept = 0;
  if ((he->h_addrtype != AF_INET && he->h_addrtype != AF_INET6) ||
      he->h_length != (family == 4 ? 4 : 16))
    return;
  for (i = 0; he->h_addr_list[i] != NULL; i++)
    if (allowed(name, family, he->h_addr_list[i]))
      he->h_addr_list[kept++] = he->h_addr_list[i];
  he->h_addr_list[kept] = NULL;
  if (kept == 0) {
    *result = NULL;
    if (h_errnop != NULL)
      *h_errnop = HOST_NOT_FOUND;
  }
}

EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret,
                            char *buf, size_t buflen, struct hostent **result,
                            int *h_errnop) {
  lookup l;
  int rc;
  pthread_once(&once, init);
  if (g.gethostbyname2_r == NULL)
    return ENOSYS;
  if (g.reg == NULL || (af != AF_INET && af != AF_INET6))
    return g.gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
  resolve(name, af, &l);
  if (!l.found)
    return g.gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
  if (l.target[0] != '\0') {
    rc = g.gethostbyname2_r(l.target, af, ret, buf, buflen, result, h_errnop);
    if (rc == 0 && *result != NULL)
      filter_hostent(name, result, h_errnop);
    return rc;
  }
  *result = NULL;
  if (l.naddrs == 0 && l.denied > 0) {
    if (h_errnop != NULL)
      *h_errnop = HOST_NOT_FOUND;
    return 0;
  }
  if ((rc = fill_hostent(&l, af, ret, buf, buflen)) != 0) {
    if (h_errnop != NULL)
      *h_errnop = NETDB_INTERNAL;
    return rc;
  }
  if (ret->h_addr_list[0] == NULL) { /* a cluster name, not this family */
    if (h_errnop != NULL)
      *h_errnop = NO_DATA;
    return 0;
  }
  *result = ret;
  return 0;
}

EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf,
                           size_t buflen, struct hostent **result,
                           int *h_errnop) {
  return gethostbyname2_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

/* The non-reentrant forms: one result per thread, as glibc keeps one. */
static __thread struct hostent tls_he;
static __thread char tls_buf[2048];

EXPORT struct hostent *gethostbyname2(const char *name, int af) {
  struct hostent *r = NULL;
  int err = 0;
  pthread_once(&once, init);
  if (g.reg == NULL && g.gethostbyname2 != NULL)
    return g.gethostbyname2(name, af);
  if (gethostbyname2_r(name, af, &tls_he, tls_buf, sizeof(tls_buf), &r, &err) !=
          0 ||
      r == NULL) {
    h_errno = err != 0 ? err : HOST_NOT_FOUND;
    return NULL;
  }
  return r;
}

EXPORT struct hostent *gethostbyname(const char *name) {
  return gethostbyname2(name, AF_INET);
}

/* ---- getnameinfo
 * ----------------------------------------------------------------- */

/* The PTR name of a (as the cluster DNS answers it), without the dot, in
 * out[0..size); 0 when the registry has none. */
static int ptr_name(const xs_addr *a, char *out, size_t size) {
  static const char hex[] = "0123456789abcdef";
  char q[80];
  size_t n = 0;
  int i, found = 0;
  xs_snapshot *snap;
  xs_answer ans;
  if (a->family == 4) {
    n = (size_t)snprintf(q, sizeof(q), "%u.%u.%u.%u.in-addr.arpa.", a->bytes[3],
                         a->bytes[2], a->bytes[1], a->bytes[0]);
  } else {
    for (i = 15; i >= 0; i--) {
      q[n++] = hex[a->bytes[i] & 15];
      q[n++] = '.';
      q[n++] = hex[a->bytes[i] >> 4];
      q[n++] = '.';
    }
    memcpy(q + n, "ip6.arpa.", 10);
    n += 9;
  }
  snap = xs_registry_snapshot(g.reg);
  if (xs_answer_query(snap, &g.acfg, q, n, XS_T_PTR, &ans) == XS_OK) {
    if (ans.status == XS_OK && ans.nanswer > 0 &&
        strlen(ans.answer[0].target) <= size) {
      strip_dot(out, ans.answer[0].target);
      found = 1;
    }
    xs_answer_free(&ans);
  }
  xs_snapshot_unref(snap);
  return found;
}

EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                       socklen_t hostlen, char *serv, socklen_t servlen,
                       int flags) {
  xs_addr a;
  char name[XS_NAME_BUF];
  pthread_once(&once, init);
  if (g.getnameinfo == NULL)
    return EAI_SYSTEM;
  if (g.reg == NULL || host == NULL || hostlen == 0 ||
      (flags & NI_NUMERICHOST) || sa == NULL)
    return g.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  memset(&a, 0, sizeof(a));
  if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
    a.family = 4;
    memcpy(a.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6 &&
             salen >= sizeof(struct sockaddr_in6)) {
    a.family = 6;
    memcpy(a.bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  } else {
    return g.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  }
  if (!ptr_name(&a, name, sizeof(name)))
    return g.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  if (strlen(name) >= hostlen)
    return EAI_OVERFLOW;
  strcpy(host, name);
  if (serv != NULL && servlen > 0)
    return g.getnameinfo(sa, salen, NULL, 0, serv, servlen, flags);
  return 0;
}
