/* xs_server: a DNS server over the answer function, for tests and for
 * programs that need a cluster DNS on loopback. One thread serves UDP and
 * TCP on one address: the cluster zone from the resolver's registry (as
 * CoreDNS answers it), ExternalName targets and other names' A/AAAA
 * through the resolver (its cache included).
 *
 * Nothing blocks that thread: every socket is non-blocking, and TCP
 * replies go into a buffer per connection that poll drains as the client
 * reads. A client that stops reading stops being read (past TCP_OUT_SOFT
 * octets waiting) and is closed when a reply waits for it longer than the
 * message time, or its replies pile past TCP_OUT_MAX; UDP clients are
 * served all along. (One thread rather than a TCP thread of its own: the
 * reply cache, the borrowed registry snapshot and the queue of deferred
 * answers stay single-threaded, with no lock on the UDP path.) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "dnswire.h"
#include "names.h"
#include "registry.h"
#include "resolver.h"
#include "stats.h"
#include "validate.h"

#define MAX_TCP ((int)XS_SERVER_TCP_MAX)
#define UDP_BATCH 32
#define TCP_OUT_SOFT 16384      /* replies waiting: no more questions read */
#define TCP_OUT_MAX (256 << 10) /* replies waiting: the connection goes */
#define POLL_MS 200             /* the loop looks at the clock this often */
#define RC_WAYS 8               /* reply cache: entries per set */
#define RC_KEY (XS_NAME_BUF + 1 + 5) /* question wire + type, class, flags */
#define CACHE_MIN_TTL 5              /* CoreDNS cache's floor (minttl) */

/* An access-control entry: addresses whose first prefix bits are net's. */
typedef struct acl_entry {
  xs_addr net;
  unsigned prefix;
} acl_entry;

typedef struct tcp_conn {
  int fd;
  unsigned gen; /* bumped at each close: late replies for it are dropped */
  xs_addr from; /* the client (IPv4 also when it came mapped) */
  int eof;      /* the client is done sending: close once replies are out */
  uint8_t buf[2 + XS_DNS_TCP_MAX]; /* what came, not yet answered */
  size_t got;
  unsigned long long idle_ms; /* since: nothing to read or write (now_ms) */
  unsigned long long msg_ms;  /* first octet of the message read; 0: none */
  uint8_t *out;               /* replies: out[sent..len) still to write */
  size_t out_len, out_sent, out_cap;
  size_t head_end;            /* where the reply being written ends */
  unsigned long long head_ms; /* since it is the one being written */
} tcp_conn;

struct pend;

/* A reply kept for a repeated question (see "reply cache" below). */
typedef struct rc_entry {
  uint64_t version;             /* the registry's when it was answered */
  unsigned long long stored_ms; /* timed entries: when */
  unsigned long long used;      /* the server's tick at its last use */
  uint32_t hash, ttl;           /* seconds it was kept for */
  uint16_t key_len, len, cap;   /* cap: room in data for key + reply */
  uint8_t zone_nx;              /* an NXDOMAIN of the cluster zone */
  uint8_t data[];               /* the key, then the reply */
} rc_entry;

/* What a question is looked up by, and the registry version it sees. */
typedef struct rc_key {
  uint8_t k[RC_KEY];
  uint16_t len;
  uint32_t hash;
  uint64_t version;
} rc_key;

struct xs_server {
  xs_resolver *res;
  unsigned cache_ttl;                       /* xs_server_options.cache_ttl */
  unsigned fallthrough;                     /* xs_server_options.fallthrough */
  unsigned idle_ms, message_ms, per_source; /* xs_server_options.tcp_* */
  acl_entry acl[XS_SERVER_ALLOW_MAX];       /* clients answered */
  size_t nacl;
  xs_dns_scrub scrub; /* what forwarded replies may not carry */
  rc_entry **rc;      /* nsets * RC_WAYS; NULL: no reply cache */
  size_t rc_sets;
  unsigned long long rc_tick;
  atomic_ullong cache_hits;
  int udp, tcp, wake;
  unsigned port;
  char address[64];
  pthread_t thread;
  atomic_int stop;
  tcp_conn conns[MAX_TCP];
  atomic_ullong queries, answered, nxdomain, refused, formerr, truncated;
  atomic_ullong rcodes[16], types[XS_SERVER_TYPES];
  /* queries waiting for the resolver, and those it has answered */
  pthread_mutex_t plock;
  pthread_cond_t pcond;
  struct pend *outstanding, *done;
  uint8_t out[2 + XS_DNS_TCP_MAX]; /* TCP replies */
  uint8_t udp_in[UDP_BATCH][XS_DNS_UDP_MAX];
  uint8_t udp_out[UDP_BATCH][XS_DNS_EDNS_SIZE];
};

/* ---- answers ---------------------------------------------------------------
 */

/* Where a reply goes: a UDP client, or a TCP connection (by slot and the
 * generation it had, so a reply for a client that left is dropped). */
typedef struct dest {
  int udp;
  int refused; /* a client access control does not let in */
  struct sockaddr_storage to;
  socklen_t tolen;
  int conn;
  unsigned gen;
} dest;

/* A query waiting for the resolver (an ExternalName target to chase, or a
 * name to forward); answered by the server thread when it completes. */
struct pend {
  struct pend *next, *prev;
  xs_server *s;
  xs_dns_query q;
  dest d;
  int chase; /* 1: a (the registry answer) gets the target's records */
  int raw;   /* 1: forwarded as it is (not A/AAAA); reply[0..rlen) */
  uint8_t *reply;
  size_t rlen;
  xs_answer a; /* chase: the registry answer; forward: built on reply */
  unsigned long long id;
  xs_status st;
  xs_result *r;
  rc_key key; /* the question's, for the reply cache */
};

/* ---- reply cache -----------------------------------------------------------
 * With the cache option (CoreDNS's cache plugin) every NOERROR and NXDOMAIN
 * reply is kept for its normalised TTL and served with the TTLs counted
 * down, in sets of RC_WAYS (the least recently used goes). The key is the
 * question exactly as it came (so the client's spelling is kept), its type
 * and class and the flags a reply echoes; a hit also needs the registry
 * version it was answered from, so a registry change is seen on the next
 * query. Only the server thread touches it. (Keeping registry answers
 * without the option saved no measurable time: bench/RESULTS.md.) */

static unsigned long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (unsigned long long)ts.tv_sec * 1000u +
         (unsigned long long)ts.tv_nsec / 1000000u;
}

static void rc_key_make(const xs_dns_query *q, uint64_t version, rc_key *k) {
  uint32_t h = 2166136261u; /* FNV-1a */
  size_t i, n = q->qwire_len;
  memcpy(k->k, q->qwire, n);
  k->k[n++] = (uint8_t)(q->qtype >> 8);
  k->k[n++] = (uint8_t)q->qtype;
  k->k[n++] = (uint8_t)(q->qclass >> 8);
  k->k[n++] = (uint8_t)q->qclass;
  k->k[n++] = (uint8_t)(q->rd | q->cd << 1 | q->edns << 2 | q->do_bit << 3);
  for (i = 0; i < n; i++)
    h = (h ^ k->k[i]) * 16777619u;
  k->len = (uint16_t)n;
  k->hash = h;
  k->version = version;
}

static int rc_same(const rc_entry *e, const rc_key *k) {
  return e->hash == k->hash && e->key_len == k->len &&
         memcmp(e->data, k->k, k->len) == 0;
}

/* The kept reply to k (with the query's id) into out[0..cap): its length,
 * or 0 when there is none that fits, or it expired. */
static size_t rc_lookup(xs_server *s, const rc_key *k, uint16_t id,
                        uint8_t *out, size_t cap) {
  rc_entry **set = s->rc + (k->hash & (s->rc_sets - 1)) * RC_WAYS;
  int w;
  for (w = 0; w < RC_WAYS; w++) {
    rc_entry *e = set[w];
    unsigned long long age;
    uint32_t left;
    if (e == NULL || !rc_same(e, k) || e->version != k->version)
      continue;
    age = (now_ms() - e->stored_ms) / 1000u;
    if (e->len > cap || age >= e->ttl)
      return 0;
    left = e->ttl - (uint32_t)age;
    memcpy(out, e->data + e->key_len, e->len);
    out[0] = (uint8_t)(id >> 8);
    out[1] = (uint8_t)id;
    if (left != e->ttl)
      (void)xs_dns_ttls(out, e->len, &left, NULL);
    e->used = ++s->rc_tick;
    atomic_fetch_add_explicit(&s->cache_hits, 1, memory_order_relaxed);
    if (e->zone_nx)
      atomic_fetch_add(&s->nxdomain, 1);
    return e->len;
  }
  return 0;
}

/* Keep reply[0..len) for k, ttl seconds. Truncated replies, errors other
 * than NXDOMAIN, and replies over the EDNS size are not kept. */
static void rc_store(xs_server *s, const rc_key *k, const uint8_t *reply,
                     size_t len, uint32_t ttl, int zone) {
  rc_entry **set, *e;
  size_t need = k->len + len;
  int w, pick = -1, rcode = reply[3] & 0x0f;
  if (len > XS_DNS_EDNS_SIZE || (reply[2] & 0x02) != 0 ||
      (rcode != 0 && rcode != XS_RCODE_NXDOMAIN))
    return;
  set = s->rc + (k->hash & (s->rc_sets - 1)) * RC_WAYS;
  for (w = 0; w < RC_WAYS; w++) {
    e = set[w];
    if (e == NULL || rc_same(e, k) || e->version != k->version) {
      pick = w; /* free, the same question, or from an older registry */
      break;
    }
    if (pick < 0 || e->used < set[pick]->used)
      pick = w;
  }
  e = set[pick];
  if (e == NULL || e->cap < need) {
    rc_entry *grown = realloc(e, sizeof(*e) + need);
    if (grown == NULL)
      return; /* e (if any) is still whole: it stays */
    e = grown;
    e->cap = (uint16_t)need;
    set[pick] = e;
  }
  e->version = k->version;
  e->hash = k->hash;
  e->key_len = k->len;
  e->len = (uint16_t)len;
  e->ttl = ttl;
  e->zone_nx = (uint8_t)(zone && rcode == XS_RCODE_NXDOMAIN);
  e->stored_ms = now_ms();
  e->used = ++s->rc_tick;
  memcpy(e->data, k->k, k->len);
  memcpy(e->data + k->len, reply, len);
}

/* With the cache option, every record of reply[0..len) gets one TTL: the
 * smallest in it (for a negative answer, with the SOA's MINIMUM) clamped to
 * [CACHE_MIN_TTL, cache_ttl], as CoreDNS's cache plugin rewrites them.
 * Returns that TTL (0: no cache option). */
static uint32_t normalise(xs_server *s, uint8_t *reply, size_t len) {
  uint32_t lo, ttl;
  int n;
  if (s->cache_ttl == 0 || (n = xs_dns_ttls(reply, len, NULL, &lo)) < 0)
    return 0;
  ttl = n > 0 && lo > CACHE_MIN_TTL ? lo : CACHE_MIN_TTL;
  if (ttl > s->cache_ttl)
    ttl = s->cache_ttl;
  if (n > 0)
    (void)xs_dns_ttls(reply, len, &ttl, NULL);
  return ttl;
}

/* A reply is ready (zone: an answer for the cluster zone): with the cache
 * option, normalise its TTLs and keep it. */
static void reply_ready(xs_server *s, const rc_key *k, uint8_t *reply,
                        size_t len, int zone) {
  uint32_t ttl;
  if (len == 0 || s->cache_ttl == 0)
    return;
  ttl = normalise(s, reply, len);
  if (s->rc != NULL && ttl != 0)
    rc_store(s, k, reply, len, ttl, zone);
}

static void rc_free(xs_server *s) {
  size_t i;
  if (s->rc == NULL)
    return;
  for (i = 0; i < s->rc_sets * RC_WAYS; i++)
    free(s->rc[i]);
  free(s->rc);
  s->rc = NULL;
}

/* 1 if name is in a zone the server answers from its registry (the
 * cluster zone, in-addr.arpa, ip6.arpa). */
static int ours(const xs_server *s, const char *name) {
  size_t len = strlen(name);
  return xs_name_in_zone(name, len, s->scrub.zone, s->scrub.zone_len) ||
         xs_name_is_reverse(name, len);
}

/* The records of a resolution's result, appended to a (owner: the first
 * name when the result has no chain). What upstream said about names in
 * our zones is left out, as from forwarded replies: the chain ends with
 * the link that leads into them (the client asks us for that name next). */
static void append_result(const xs_server *s, xs_answer *a, const xs_result *r,
                          const char *owner) {
  size_t i, links = xs_result_chain_count(r);
  for (i = 0; i < links; i++) {
    const char *name = xs_result_chain_name(r, i);
    if (xs_result_chain_source(r, i) != XS_SOURCE_REGISTRY && ours(s, name))
      break;
    xs_answer_add_cname(a, name, xs_result_chain_target(r, i),
                        xs_result_chain_ttl(r, i));
  }
  if (i < links)
    return;
  if (links > 0)
    owner = xs_result_final_name(r); /* not the TLS target */
  for (i = 0; i < xs_result_address_count(r); i++) {
    xs_addr addr;
    if (xs_result_address_source(r, i) != XS_SOURCE_REGISTRY && ours(s, owner))
      continue;
    addr.family = (uint8_t)xs_result_address_family(r, i);
    memcpy(addr.bytes, xs_result_address_raw(r, i), 16);
    xs_answer_add_addr(a, owner, &addr, xs_result_address_ttl(r, i));
  }
}

static void queue_done(struct pend *p);

/* A resolution for p completed (on any thread): queue it for the server
 * thread and wake it. */
static void on_resolved(xs_status st, xs_result *r, void *arg) {
  struct pend *p = arg;
  p->st = st;
  p->r = r;
  queue_done(p);
}

/* A forwarded query's reply came (on the engine thread): keep a copy. */
static void on_forwarded(void *arg, xs_status st, const unsigned char *buf,
                         size_t len) {
  struct pend *p = arg;
  p->st = st;
  if (st == XS_OK) {
    if ((p->reply = malloc(len)) != NULL) {
      memcpy(p->reply, buf, len);
      p->rlen = len;
    } else {
      p->st = XS_ENOMEM;
    }
  }
  queue_done(p);
}

static void queue_done(struct pend *p) {
  xs_server *s = p->s;
  uint64_t one = 1;
  pthread_mutex_lock(&s->plock);
  if (p->prev != NULL) /* off the outstanding list */
    p->prev->next = p->next;
  else
    s->outstanding = p->next;
  if (p->next != NULL)
    p->next->prev = p->prev;
  p->prev = NULL;
  p->next = s->done;
  s->done = p;
  /* Under the lock: once it is released, xs_server_stop may free s. */
  if (write(s->wake, &one, sizeof(one)) < 0) {
    /* the server thread looks at its queue within a poll timeout anyway */
  }
  pthread_cond_broadcast(&s->pcond);
  pthread_mutex_unlock(&s->plock);
}

/* Ask the resolver for name (family of qtype) on behalf of p; the reply is
 * sent when it answers. 0 on success (p now belongs to the queue). */
static int defer(xs_server *s, struct pend *p, const char *name) {
  xs_status st;
  p->s = s;
  p->r = NULL;
  pthread_mutex_lock(&s->plock);
  p->prev = NULL;
  p->next = s->outstanding;
  if (s->outstanding != NULL)
    s->outstanding->prev = p;
  s->outstanding = p;
  pthread_mutex_unlock(&s->plock);
  if (p->raw)
    st = xs_resolver_forward(s->res, name, p->q.qtype, on_forwarded, p, &p->id);
  else
    st = xs_resolve_start(
        s->res, name, p->q.qtype == XS_T_A ? XS_FAMILY_IPV4 : XS_FAMILY_IPV6,
        on_resolved, p, &p->id, 1);
  if (st == XS_OK)
    return 0;
  pthread_mutex_lock(&s->plock); /* not started: take it back */
  if (p->prev != NULL)
    p->prev->next = p->next;
  else
    s->outstanding = p->next;
  if (p->next != NULL)
    p->next->prev = p->prev;
  pthread_mutex_unlock(&s->plock);
  return -1;
}

/* The reply to a completed deferred query into out[0..cap). */
static size_t finish(xs_server *s, struct pend *p, uint8_t *out, size_t cap) {
  const xs_answer_cfg *cfg = xs_resolver_answer_cfg(s->res);
  xs_status st = p->r != NULL ? xs_result_status(p->r) : p->st;
  size_t n;
  if (p->raw) {
    if (st != XS_OK || (n = xs_dns_forward_reply(p->reply, p->rlen, &p->q,
                                                 &s->scrub, out, cap)) == 0)
      return xs_dns_encode_error(&p->q, XS_RCODE_SERVFAIL, out, cap);
    return n;
  }
  if (p->chase) {
    if (st == XS_OK)
      append_result(s, &p->a, p->r, p->a.external_target);
    else if (st == XS_ENOTFOUND && cfg->mode == XS_MODE_STRICT)
      p->a.rcode = XS_RCODE_NXDOMAIN; /* the chain's final rcode (RFC 6604) */
    if (p->a.rcode == XS_RCODE_NXDOMAIN)
      atomic_fetch_add(&s->nxdomain, 1);
    return xs_dns_encode_response(&p->q, p->a.rcode, 1, 0, &p->a, out, cap);
  }
  if (st != XS_OK && st != XS_ENOTFOUND && st != XS_ENODATA)
    return xs_dns_encode_error(&p->q, XS_RCODE_SERVFAIL, out, cap);
  xs_answer_init(&p->a, NULL, cfg);
  if (st == XS_OK)
    append_result(s, &p->a, p->r, p->q.qname);
  n = xs_dns_encode_response(&p->q, st == XS_ENOTFOUND ? XS_RCODE_NXDOMAIN : 0,
                             0, 1, &p->a, out, cap);
  return n;
}

static void pend_free(struct pend *p) {
  free(p->reply);
  xs_answer_free(&p->a);
  xs_result_free(p->r);
  free(p);
}

/* The reply to q into out[0..cap); 0 when it is deferred (d says where it
 * will go) or there is none. */
static size_t respond(xs_server *s, const xs_dns_query *q, const dest *d,
                      const rc_key *key, xs_snapshot *snap, uint8_t *out,
                      size_t cap) {
  const xs_answer_cfg *cfg = xs_resolver_answer_cfg(s->res);
  size_t bare = q->qname_len > 1 ? q->qname_len - 1 : 0, n;
  xs_answer *a;
  struct pend *p;
  int in_zone = xs_name_in_zone(q->qname, bare, cfg->zone, cfg->zone_len);
  if (q->qclass != 1 && q->qclass != 255) {
    atomic_fetch_add(&s->refused, 1);
    return xs_dns_encode_error(q, XS_RCODE_REFUSED, out, cap);
  }
  if (!in_zone && !xs_name_is_reverse(q->qname, bare)) {
    /* Not ours: A/AAAA through the resolver (its upstream and cache),
     * other types forwarded as they are; zone transfers are not. */
    if (!xs_resolver_has_upstream(s->res) || q->qtype == 251 ||
        q->qtype == 252 || q->qclass != 1) {
      atomic_fetch_add(&s->refused, 1);
      return xs_dns_encode_error(q, XS_RCODE_REFUSED, out, cap);
    }
    if ((p = calloc(1, sizeof(*p))) == NULL)
      return xs_dns_encode_error(q, XS_RCODE_SERVFAIL, out, cap);
    p->raw = q->qtype != XS_T_A && q->qtype != XS_T_AAAA;
    p->q = *q;
    p->d = *d;
    p->key = *key;
    xs_answer_init(&p->a, NULL, cfg); /* freed by pend_free either way */
    if (defer(s, p, p->q.qname) != 0) {
      pend_free(p);
      return xs_dns_encode_error(q, XS_RCODE_SERVFAIL, out, cap);
    }
    return 0;
  }
  /* The registry answer goes on the heap: a chase keeps it until the
   * target's records come (its names point into itself and into q). */
  if ((p = calloc(1, sizeof(*p))) == NULL)
    return xs_dns_encode_error(q, XS_RCODE_SERVFAIL, out, cap);
  p->q = *q;
  p->d = *d;
  p->key = *key;
  a = &p->a;
  if (xs_answer_query(snap, cfg, p->q.qname, p->q.qname_len, p->q.qtype, a) !=
      XS_OK) {
    free(p);
    return xs_dns_encode_error(q, XS_RCODE_SERVFAIL, out, cap);
  }
  if (a->rcode == XS_RCODE_NXDOMAIN && xs_resolver_has_upstream(s->res) &&
      (s->fallthrough &
       (in_zone ? XS_FALLTHROUGH_CLUSTER : XS_FALLTHROUGH_REVERSE)) != 0 &&
      q->qclass == 1) {
    /* CoreDNS's fallthrough: the name is the next plugin's (forward) */
    p->raw = 1;
    if (defer(s, p, p->q.qname) == 0)
      return 0;
    p->raw = 0; /* could not ask: the NXDOMAIN stands */
  }
  if (a->external_target != NULL &&
      (q->qtype == XS_T_A || q->qtype == XS_T_AAAA) &&
      xs_resolver_has_upstream(s->res)) {
    p->chase = 1;
    if (defer(s, p, a->external_target) == 0)
      return 0;
    p->chase = 0; /* could not ask: the alias alone, as with no upstream */
  }
  if (a->rcode == XS_RCODE_NXDOMAIN)
    atomic_fetch_add(&s->nxdomain, 1);
  n = xs_dns_encode_response(&p->q, a->rcode, 1, 0, a, out, cap);
  pend_free(p);
  return n;
}

static int type_index(uint16_t qtype) {
  switch (qtype) {
  case XS_T_A:
    return XS_SERVER_A;
  case XS_T_AAAA:
    return XS_SERVER_AAAA;
  case XS_T_CNAME:
    return XS_SERVER_CNAME;
  case XS_T_SRV:
    return XS_SERVER_SRV;
  case XS_T_PTR:
    return XS_SERVER_PTR;
  case XS_T_TXT:
    return XS_SERVER_TXT;
  case XS_T_SOA:
    return XS_SERVER_SOA;
  default:
    return XS_SERVER_OTHER;
  }
}

static void count_reply(xs_server *s, const uint8_t *out, size_t n) {
  if (n == 0)
    return;
  if (out[2] & 0x02)
    atomic_fetch_add(&s->truncated, 1);
  atomic_fetch_add(&s->answered, 1);
  atomic_fetch_add(&s->rcodes[out[3] & 0x0f], 1);
  xs_count(XS_C_SERVER_RCODES + (out[3] & 0x0f));
}

/* A whole message in; the reply's length in out (0: none now). */
static size_t handle(xs_server *s, const uint8_t *msg, size_t len, uint8_t *out,
                     size_t cap, const dest *d) {
  int udp = d->udp;
  xs_dns_query q;
  xs_snapshot *snap;
  uint64_t version;
  rc_key key;
  size_t n;
  xs_dns_verdict verdict;
  atomic_fetch_add(&s->queries, 1);
  verdict = xs_dns_decode_query(msg, len, &q);
  if (d->refused) { /* a client not let in: REFUSED, and nothing more */
    if (verdict != XS_DNS_QUERY)
      return 0;
    atomic_fetch_add(&s->refused, 1);
    n = xs_dns_encode_error(&q, XS_RCODE_REFUSED, out,
                            udp && q.udp_size < cap ? q.udp_size : cap);
    count_reply(s, out, n);
    return n;
  }
  switch (verdict) {
  case XS_DNS_DROP:
    return 0;
  case XS_DNS_FORMERR:
    atomic_fetch_add(&s->formerr, 1);
    return xs_dns_encode_error(&q, XS_RCODE_FORMERR, out, cap);
  case XS_DNS_NOTIMP:
    return xs_dns_encode_error(&q, XS_RCODE_NOTIMP, out, cap);
  default:
    break;
  }
  atomic_fetch_add(&s->types[type_index(q.qtype)], 1);
  if (q.edns && q.edns_version != 0)
    return xs_dns_encode_error(&q, 16 /* BADVERS */, out, cap);
  if (udp && q.udp_size < cap)
    cap = q.udp_size;
  version = UINT64_MAX; /* left so when borrowing ran out of memory */
  snap = xs_resolver_snapshot_borrow(s->res, &version); /* no lock */
  if (snap == NULL && version != 0) {
    /* not an empty registry: answering from none would be a false NXDOMAIN */
    n = xs_dns_encode_error(&q, XS_RCODE_SERVFAIL, out, cap);
    count_reply(s, out, n);
    return n;
  }
  if (s->rc != NULL) {
    rc_key_make(&q, version, &key);
    if ((n = rc_lookup(s, &key, q.id, out, cap)) > 0) {
      count_reply(s, out, n);
      return n;
    }
  } else { /* no reply cache: the key is carried along, never read */
    key.len = 0;
    key.hash = 0;
    key.version = version;
  }
  n = respond(s, &q, d, &key, snap, out, cap);
  reply_ready(s, &key, out, n, 1); /* sync: errors, or the registry's */
  count_reply(s, out, n);
  return n;
}

/* ---- sockets ---------------------------------------------------------------
 */

/* A socket address as access control and the per-source bound see it: an
 * IPv4 client mapped into IPv6 (::ffff:a.b.c.d) is that IPv4 address. */
static void peer_of(const struct sockaddr_storage *ss, xs_addr *a) {
  memset(a, 0, sizeof(*a));
  if (ss->ss_family == AF_INET) {
    a->family = 4;
    memcpy(a->bytes, &((const struct sockaddr_in *)ss)->sin_addr, 4);
  } else if (ss->ss_family == AF_INET6) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *b = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
    if (memcmp(b, mapped, 12) == 0) {
      a->family = 4;
      memcpy(a->bytes, b + 12, 4);
    } else {
      a->family = 6;
      memcpy(a->bytes, b, 16);
    }
  }
}

/* 1 if the first prefix bits of a and b are the same. */
static int same_prefix(const uint8_t *a, const uint8_t *b, unsigned prefix) {
  unsigned whole = prefix / 8, rest = prefix % 8;
  if (memcmp(a, b, whole) != 0)
    return 0;
  return rest == 0 || ((a[whole] ^ b[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

/* 1 if access control lets a client in. */
static int allowed(const xs_server *s, const xs_addr *a) {
  size_t i;
  for (i = 0; i < s->nacl; i++)
    if (s->acl[i].net.family == a->family &&
        same_prefix(s->acl[i].net.bytes, a->bytes, s->acl[i].prefix))
      return 1;
  return 0;
}

/* "ADDRESS[/PREFIX]" into e (host bits cleared). 0 if it does not parse. */
static int acl_parse(const char *text, acl_entry *e) {
  const char *slash = strchr(text, '/');
  size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
  unsigned bits, i;
  memset(e, 0, sizeof(*e));
  if (!xs_addr_parse(text, alen, &e->net))
    return 0;
  bits = e->net.family == 4 ? 32 : 128;
  e->prefix = bits;
  if (slash != NULL) {
    char *end;
    unsigned long v;
    if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
      return 0;
    v = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || v > bits)
      return 0;
    e->prefix = (unsigned)v;
  }
  for (i = e->prefix; i < bits; i++)
    e->net.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
  return 1;
}

/* Datagrams are read and answered in batches (recvmmsg/sendmmsg): one
 * system call for many queries, which is most of the cost here. */
static int serve_udp(xs_server *s) {
  struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
  struct iovec iin[UDP_BATCH], iout[UDP_BATCH];
  struct sockaddr_storage from[UDP_BATCH];
  int n, i, nout = 0;
  for (i = 0; i < UDP_BATCH; i++) {
    iin[i].iov_base = s->udp_in[i];
    iin[i].iov_len = sizeof(s->udp_in[i]);
    memset(&in[i], 0, sizeof(in[i]));
    in[i].msg_hdr.msg_iov = &iin[i];
    in[i].msg_hdr.msg_iovlen = 1;
    in[i].msg_hdr.msg_name = &from[i];
    in[i].msg_hdr.msg_namelen = sizeof(from[i]);
  }
  n = recvmmsg(s->udp, in, UDP_BATCH, MSG_DONTWAIT, NULL);
  for (i = 0; i < n; i++) {
    dest d;
    xs_addr a;
    size_t len;
    peer_of(&from[i], &a);
    d.udp = 1;
    d.refused = !allowed(s, &a);
    d.to = from[i];
    d.tolen = in[i].msg_hdr.msg_namelen;
    d.conn = -1;
    d.gen = 0;
    len = handle(s, s->udp_in[i], in[i].msg_len, s->udp_out[nout],
                 sizeof(s->udp_out[nout]), &d);
    if (len == 0)
      continue;
    iout[nout].iov_base = s->udp_out[nout];
    iout[nout].iov_len = len;
    memset(&out[nout], 0, sizeof(out[nout]));
    out[nout].msg_hdr.msg_iov = &iout[nout];
    out[nout].msg_hdr.msg_iovlen = 1;
    out[nout].msg_hdr.msg_name = &from[i];
    out[nout].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
    nout++;
  }
  for (i = 0; i < nout;) { /* a full socket buffer drops the rest */
    int sent = sendmmsg(s->udp, out + i, (unsigned)(nout - i), MSG_DONTWAIT);
    if (sent <= 0)
      break;
    i += sent;
  }
  return n;
}

static void tcp_close(tcp_conn *c) {
  close(c->fd);
  c->fd = -1;
  c->gen++;
  c->got = c->out_len = c->out_sent = c->head_end = 0;
  c->eof = 0;
}

/* Octets of replies c still has to take. */
static size_t tcp_waiting(const tcp_conn *c) {
  return c->out_len - c->out_sent;
}

/* When c goes unless something happens first (now_ms), see
 * xs_server_options: a reply not taken, a message not whole, or idle. */
static unsigned long long tcp_deadline(const xs_server *s, const tcp_conn *c) {
  unsigned long long at = c->idle_ms + s->idle_ms;
  if (tcp_waiting(c) > 0 || c->msg_ms != 0)
    at = ~0ull;
  if (tcp_waiting(c) > 0 && c->head_ms + s->message_ms < at)
    at = c->head_ms + s->message_ms;
  if (c->msg_ms != 0 && c->msg_ms + s->message_ms < at)
    at = c->msg_ms + s->message_ms;
  return at;
}

/* Write what c's client will take now. 0, or -1 when c was closed. */
static int tcp_flush(tcp_conn *c) {
  while (c->out_sent < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (w <= 0) {
      tcp_close(c);
      return -1;
    }
    c->out_sent += (size_t)w;
    while (c->out_sent >= c->head_end && c->head_end < c->out_len) {
      /* the next reply is the one being written now */
      c->head_end +=
          2 + (size_t)(c->out[c->head_end] << 8 | c->out[c->head_end + 1]);
      c->head_ms = now_ms();
    }
  }
  c->out_len = c->out_sent = c->head_end = 0;
  c->idle_ms = now_ms();
  return 0;
}

/* A length-prefixed reply of len octets (in s->out + 2) queued for c and
 * written as far as the client takes it. 0, or -1 when c was closed (its
 * replies piled past TCP_OUT_MAX, or no memory for them). */
static int tcp_send(xs_server *s, tcp_conn *c, size_t len) {
  size_t need = len + 2;
  s->out[0] = (uint8_t)(len >> 8);
  s->out[1] = (uint8_t)len;
  if (c->out_sent > 0) { /* what was written makes room */
    memmove(c->out, c->out + c->out_sent, c->out_len - c->out_sent);
    c->out_len -= c->out_sent;
    c->head_end -= c->out_sent;
    c->out_sent = 0;
  }
  if (c->out_len + need > TCP_OUT_MAX) {
    tcp_close(c);
    return -1;
  }
  if (c->out_len + need > c->out_cap) {
    size_t cap = c->out_cap > 0 ? c->out_cap : 4096;
    uint8_t *grown;
    while (cap < c->out_len + need)
      cap *= 2;
    if ((grown = realloc(c->out, cap)) == NULL) {
      tcp_close(c);
      return -1;
    }
    c->out = grown;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, s->out, need);
  if (c->out_len == 0) {
    c->head_end = need;
    c->head_ms = now_ms();
  }
  c->out_len += need;
  return tcp_flush(c);
}

/* 1 if c holds a whole message not yet answered. */
static int tcp_whole(const tcp_conn *c) {
  return c->got >= 2 && c->got >= 2 + (size_t)(c->buf[0] << 8 | c->buf[1]);
}

/* A client done sending goes once its replies are out and nothing it sent
 * is left to answer (a message in part will never be whole). */
static void tcp_settle(tcp_conn *c) {
  if (c->fd >= 0 && c->eof && tcp_waiting(c) == 0 && !tcp_whole(c))
    tcp_close(c);
}

/* Answer the whole messages c holds, as long as its client takes the
 * replies (fewer than TCP_OUT_SOFT octets waiting); a message in part
 * starts its clock. */
static void tcp_answer(xs_server *s, tcp_conn *c) {
  size_t off = 0;
  dest d;
  d.udp = 0;
  d.refused = 0;
  d.tolen = 0;
  d.conn = (int)(c - s->conns);
  while (c->fd >= 0 && c->got - off >= 2 && tcp_waiting(c) < TCP_OUT_SOFT) {
    size_t mlen = (size_t)(c->buf[off] << 8 | c->buf[off + 1]), len;
    if (c->got - off < 2 + mlen)
      break;
    d.gen = c->gen;
    len = handle(s, c->buf + off + 2, mlen, s->out + 2, XS_DNS_TCP_MAX, &d);
    off += 2 + mlen;
    c->msg_ms = 0;
    c->idle_ms = now_ms();
    if (len > 0 && tcp_send(s, c, len) != 0)
      return;
  }
  if (c->fd < 0)
    return;
  if (off > 0) {
    memmove(c->buf, c->buf + off, c->got - off);
    c->got -= off;
  }
  if (c->got > 0 && c->msg_ms == 0 && !tcp_whole(c))
    c->msg_ms = now_ms(); /* a message begun */
  tcp_settle(c);
}

/* 1 while c's questions are read: its client takes its replies. */
static int tcp_reading(const tcp_conn *c) {
  return !c->eof && tcp_waiting(c) < TCP_OUT_SOFT;
}

/* Octets from a TCP client, answered as far as they make whole messages. */
static void tcp_read(xs_server *s, tcp_conn *c) {
  size_t room = sizeof(c->buf) - c->got;
  ssize_t n;
  if (!tcp_reading(c) || room == 0)
    return;
  n = recv(c->fd, c->buf + c->got, room, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n < 0) {
    tcp_close(c);
    return;
  }
  if (n == 0)
    c->eof = 1; /* its replies still go out */
  c->got += (size_t)n;
  tcp_answer(s, c);
}

/* Replies for the queries the resolver has answered meanwhile. */
static void send_done(xs_server *s) {
  struct pend *list, *p;
  uint64_t v;
  if (read(s->wake, &v, sizeof(v)) < 0) {
    /* nothing signalled: the list may still have entries */
  }
  pthread_mutex_lock(&s->plock);
  list = s->done;
  s->done = NULL;
  pthread_mutex_unlock(&s->plock);
  while ((p = list) != NULL) {
    size_t cap = p->d.udp ? p->q.udp_size : XS_DNS_TCP_MAX;
    size_t len = finish(s, p, s->out + 2, cap);
    list = p->next;
    reply_ready(s, &p->key, s->out + 2, len, p->chase);
    count_reply(s, s->out + 2, len);
    if (len > 0 && p->d.udp) {
      (void)sendto(s->udp, s->out + 2, len, MSG_DONTWAIT,
                   (struct sockaddr *)&p->d.to, p->d.tolen);
    } else if (len > 0) {
      tcp_conn *c = &s->conns[p->d.conn];
      if (c->fd >= 0 && c->gen == p->d.gen)
        (void)tcp_send(s, c, len);
    }
    pend_free(p);
  }
}

/* A new TCP client: let in (when access control allows it, it holds
 * fewer than per_source connections, and a slot is free) or closed. 0
 * when there was none waiting. */
static int tcp_accept(xs_server *s) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  xs_addr a;
  int fd = accept4(s->tcp, (struct sockaddr *)&ss, &sl,
                   SOCK_CLOEXEC | SOCK_NONBLOCK),
      i, free_slot = -1;
  unsigned same = 0;
  if (fd < 0)
    return 0;
  peer_of(&ss, &a);
  for (i = 0; i < MAX_TCP; i++) {
    const tcp_conn *c = &s->conns[i];
    if (c->fd < 0) {
      if (free_slot < 0)
        free_slot = i;
    } else if (c->from.family == a.family &&
               same_prefix(c->from.bytes, a.bytes, a.family == 4 ? 32 : 64)) {
      same++;
    }
  }
  if (!allowed(s, &a) || same >= s->per_source || free_slot < 0) {
    close(fd); /* refused, or busy: the client retries */
    return 1;
  }
  s->conns[free_slot].fd = fd;
  s->conns[free_slot].from = a;
  s->conns[free_slot].got = 0;
  s->conns[free_slot].eof = 0;
  s->conns[free_slot].msg_ms = 0;
  s->conns[free_slot].idle_ms = now_ms();
  return 1;
}

static void *server_run(void *arg) {
  xs_server *s = arg;
  while (!atomic_load(&s->stop)) {
    struct pollfd p[3 + MAX_TCP];
    int idx[MAX_TCP], np = 3, i, rc, wait;
    unsigned gen[MAX_TCP];
    unsigned long long now = now_ms(), next = now + POLL_MS;
    p[0].fd = s->wake;
    p[1].fd = s->udp;
    p[2].fd = s->tcp;
    for (i = 0; i < 3; i++)
      p[i].events = POLLIN;
    for (i = 0; i < MAX_TCP; i++) {
      tcp_conn *c = &s->conns[i];
      unsigned long long at;
      if (c->fd >= 0 && tcp_whole(c) && tcp_waiting(c) < TCP_OUT_SOFT)
        tcp_answer(s, c); /* what waited for the client to read */
      tcp_settle(c);
      if (c->fd < 0)
        continue;
      /* by the clock: a busy UDP side must not keep slow or silent
       * connections in their slots */
      if ((at = tcp_deadline(s, c)) <= now) {
        tcp_close(c);
        continue;
      }
      if (at < next)
        next = at;
      idx[np - 3] = i;
      gen[np - 3] = c->gen;
      p[np].fd = c->fd;
      p[np++].events = (short)((tcp_reading(c) ? POLLIN : 0) |
                               (tcp_waiting(c) > 0 ? POLLOUT : 0));
    }
    for (i = 0; i < np; i++)
      p[i].revents = 0;
    wait = (int)(next - now);
    rc = poll(p, (nfds_t)np, wait);
    if (rc < 0 && errno != EINTR)
      break;
    if (rc <= 0)
      continue;
    if (p[0].revents & POLLIN)
      send_done(s);
    if (p[1].revents & POLLIN) { /* while batches come full, no poll */
      int rounds = 0;
      while (serve_udp(s) == UDP_BATCH && ++rounds < 16)
        ;
    }
    for (i = 3; i < np; i++) {
      tcp_conn *c = &s->conns[idx[i - 3]];
      if (c->fd < 0 || c->gen != gen[i - 3])
        continue; /* closed meanwhile (its slot may be another's now) */
      if ((p[i].revents & POLLOUT) && tcp_flush(c) != 0)
        continue;
      if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (tcp_reading(c))
          tcp_read(s, c);
        else if (p[i].revents & (POLLHUP | POLLERR))
          tcp_close(c);
      }
      if (c->fd >= 0 && tcp_whole(c) && tcp_waiting(c) < TCP_OUT_SOFT)
        tcp_answer(s, c);
      tcp_settle(c);
    }
    if (p[2].revents & POLLIN) {
      int k; /* a burst is let in (or turned away) at once */
      for (k = 0; k < MAX_TCP && tcp_accept(s); k++)
        ;
    }
  }
  return NULL;
}

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss,
                        socklen_t *len) {
  char host[64];
  const char *colon, *port_s;
  char *end;
  unsigned long port;
  size_t hl;
  memset(ss, 0, sizeof(*ss));
  if (listen[0] == '[') {
    const char *close_b = strchr(listen, ']');
    if (close_b == NULL || close_b[1] != ':')
      return 0;
    hl = (size_t)(close_b - listen - 1);
    if (hl >= sizeof(host))
      return 0;
    memcpy(host, listen + 1, hl);
    port_s = close_b + 2;
  } else {
    colon = strrchr(listen, ':');
    if (colon == NULL || (hl = (size_t)(colon - listen)) >= sizeof(host) ||
        memchr(listen, ':', hl) != NULL)
      return 0; /* an IPv6 address needs its brackets */
    memcpy(host, listen, hl);
    port_s = colon + 1;
  }
  host[hl] = '\0';
  port = strtoul(port_s, &end, 10);
  if (*port_s == '\0' || *end != '\0' || port > 65535)
    return 0;
  if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof(*a);
    return 1;
  }
  if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    *len = sizeof(*a);
    return 1;
  }
  return 0;
}

static unsigned port_of(const struct sockaddr_storage *ss) {
  return ss->ss_family == AF_INET
             ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
             : ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

void xs_server_options_init(xs_server_options *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->cache_ttl = 0;
  opts->reply_cache = XS_SERVER_REPLY_CACHE_DEFAULT;
  opts->allow_from = NULL;
  opts->allow_count = 0;
  opts->tcp_idle_ms = XS_SERVER_TCP_IDLE_MS_DEFAULT;
  opts->tcp_message_ms = XS_SERVER_TCP_MESSAGE_MS_DEFAULT;
  opts->tcp_per_source = XS_SERVER_TCP_PER_SOURCE_DEFAULT;
}

/* The access control and TCP bounds of o into s (defaults for zeros).
 * XS_OK or XS_EINVAL (err says why). */
static xs_status take_limits(xs_server *s, const xs_server_options *o,
                             xs_error *err) {
  static const char *const loopback[] = {"127.0.0.0/8", "::1"};
  const char *const *list = o->allow_count > 0 ? o->allow_from : loopback;
  size_t n = o->allow_count > 0 ? o->allow_count : 2, i;
  if (o->allow_count > 0 && o->allow_from == NULL) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "allow_from is NULL");
    return XS_EINVAL;
  }
  if (n > XS_SERVER_ALLOW_MAX) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "at most %u allow-from entries: %zu", XS_SERVER_ALLOW_MAX, n);
    return XS_EINVAL;
  }
  for (i = 0; i < n; i++)
    if (list[i] == NULL || !acl_parse(list[i], &s->acl[i])) {
      xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                   "invalid allow-from \"%s\" (ADDRESS or ADDRESS/PREFIX)",
                   list[i] != NULL ? list[i] : "");
      return XS_EINVAL;
    }
  s->nacl = n;
  s->idle_ms =
      o->tcp_idle_ms > 0 ? o->tcp_idle_ms : XS_SERVER_TCP_IDLE_MS_DEFAULT;
  s->message_ms = o->tcp_message_ms > 0 ? o->tcp_message_ms
                                        : XS_SERVER_TCP_MESSAGE_MS_DEFAULT;
  s->per_source = o->tcp_per_source > 0 ? o->tcp_per_source
                                        : XS_SERVER_TCP_PER_SOURCE_DEFAULT;
  if (s->idle_ms > XS_SERVER_TCP_TIMEOUT_MAX_MS ||
      s->message_ms > XS_SERVER_TCP_TIMEOUT_MAX_MS) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "TCP times must be in range [1, %u] ms: %u, %u",
                 XS_SERVER_TCP_TIMEOUT_MAX_MS, s->idle_ms, s->message_ms);
    return XS_EINVAL;
  }
  if (s->per_source > XS_SERVER_TCP_MAX) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "TCP connections per source must be in range [1, %u]: %u",
                 XS_SERVER_TCP_MAX, s->per_source);
    return XS_EINVAL;
  }
  return XS_OK;
}

xs_status xs_server_start(xs_resolver *res, const char *where, xs_server **out,
                          xs_error *err) {
  return xs_server_start_opts(res, where, NULL, out, err);
}

xs_status xs_server_start_opts(xs_resolver *res, const char *where,
                               const xs_server_options *opts, xs_server **out,
                               xs_error *err) {
  struct sockaddr_storage ss;
  socklen_t len;
  xs_server *s;
  xs_server_options o;
  int one = 1, rcvbuf = 4 << 20, tries, i;
  if (out != NULL)
    *out = NULL;
  if (opts != NULL)
    o = *opts;
  else
    xs_server_options_init(&o);
  if (res == NULL || where == NULL || out == NULL ||
      !parse_listen(where, &ss, &len)) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "invalid listen address \"%s\" (HOST:PORT, [V6]:PORT)",
                 where != NULL ? where : "");
    return XS_EINVAL;
  }
  if (o.cache_ttl > XS_SERVER_CACHE_TTL_MAX) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "cache TTL must be in range [0, %u]: %u",
                 XS_SERVER_CACHE_TTL_MAX, o.cache_ttl);
    return XS_EINVAL;
  }
  if ((o.fallthrough & ~(unsigned)XS_FALLTHROUGH_ALL) != 0) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "unknown fallthrough bits: %#x",
                 o.fallthrough);
    return XS_EINVAL;
  }
  if (o.reply_cache > XS_SERVER_REPLY_CACHE_MAX) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "reply cache must be at most %u entries: %zu",
                 XS_SERVER_REPLY_CACHE_MAX, o.reply_cache);
    return XS_EINVAL;
  }
  if ((s = calloc(1, sizeof(*s))) == NULL)
    return XS_ENOMEM;
  if (take_limits(s, &o, err) != XS_OK) {
    free(s);
    return XS_EINVAL;
  }
  s->res = res;
  s->cache_ttl = o.cache_ttl;
  s->fallthrough = o.fallthrough;
  s->scrub.policy = xs_resolver_policy(res);
  s->scrub.zone = xs_resolver_answer_cfg(res)->zone;
  s->scrub.zone_len = xs_resolver_answer_cfg(res)->zone_len;
  s->scrub.reverse = 1;
  if (o.cache_ttl > 0 && o.reply_cache > 0) { /* sets: a power of two */
    s->rc_sets = 1;
    while (s->rc_sets * RC_WAYS < o.reply_cache)
      s->rc_sets <<= 1;
    if ((s->rc = calloc(s->rc_sets * RC_WAYS, sizeof(*s->rc))) == NULL) {
      free(s);
      return XS_ENOMEM;
    }
  }
  s->udp = s->tcp = s->wake = -1;
  pthread_mutex_init(&s->plock, NULL);
  pthread_cond_init(&s->pcond, NULL);
  for (i = 0; i < MAX_TCP; i++)
    s->conns[i].fd = -1;
  /* The same port on UDP and TCP; port 0 picks one free on both. */
  for (tries = 0; tries < 50; tries++) {
    struct sockaddr_storage bound = ss;
    socklen_t blen = len;
    s->udp = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    s->tcp =
        socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->udp < 0 || s->tcp < 0)
      break;
    (void)setsockopt(s->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    (void)setsockopt(s->udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (bind(s->udp, (struct sockaddr *)&bound, blen) == 0 &&
        getsockname(s->udp, (struct sockaddr *)&bound, &blen) == 0 &&
        bind(s->tcp, (struct sockaddr *)&bound, blen) == 0 &&
        listen(s->tcp, 64) == 0) {
      s->port = port_of(&bound);
      break;
    }
    close(s->udp);
    close(s->tcp);
    s->udp = s->tcp = -1;
    if (port_of(&ss) != 0)
      break; /* a fixed port: no second try */
  }
  if (s->udp < 0 || s->tcp < 0 ||
      (s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
    xs_error_set(err, XS_EIO, NULL, 0, 0, "cannot listen on %s: %s", where,
                 strerror(errno));
    if (s->udp >= 0)
      close(s->udp);
    if (s->tcp >= 0)
      close(s->tcp);
    rc_free(s);
    free(s);
    return XS_EIO;
  }
  if (ss.ss_family == AF_INET6)
    snprintf(s->address, sizeof(s->address), "[%.*s]:%u",
             (int)(strchr(where, ']') - where - 1), where + 1, s->port);
  else
    snprintf(s->address, sizeof(s->address), "%.*s:%u",
             (int)(strrchr(where, ':') - where), where, s->port);
  atomic_init(&s->stop, 0);
  if (pthread_create(&s->thread, NULL, server_run, s) != 0) {
    close(s->udp);
    close(s->tcp);
    close(s->wake);
    rc_free(s);
    free(s);
    xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "cannot start the server thread");
    return XS_ENOMEM;
  }
  xs_log(XS_LOG_INFO, "server listening on %s (UDP and TCP)", s->address);
  *out = s;
  return XS_OK;
}

unsigned xs_server_port(const xs_server *s) {
  return s != NULL ? s->port : 0;
}

const char *xs_server_address(const xs_server *s) {
  return s != NULL ? s->address : "";
}

void xs_server_stats(const xs_server *s, xs_server_counts *out) {
  int i;
  memset(out, 0, sizeof(*out));
  if (s == NULL)
    return;
  out->queries = atomic_load(&((xs_server *)(uintptr_t)s)->queries);
  out->answered = atomic_load(&((xs_server *)(uintptr_t)s)->answered);
  out->nxdomain = atomic_load(&((xs_server *)(uintptr_t)s)->nxdomain);
  out->refused = atomic_load(&((xs_server *)(uintptr_t)s)->refused);
  out->formerr = atomic_load(&((xs_server *)(uintptr_t)s)->formerr);
  out->truncated = atomic_load(&((xs_server *)(uintptr_t)s)->truncated);
  out->cache_hits = atomic_load(&((xs_server *)(uintptr_t)s)->cache_hits);
  for (i = 0; i < 16; i++)
    out->rcodes[i] = atomic_load(&((xs_server *)(uintptr_t)s)->rcodes[i]);
  for (i = 0; i < XS_SERVER_TYPES; i++)
    out->types[i] = atomic_load(&((xs_server *)(uintptr_t)s)->types[i]);
}

void xs_server_stop(xs_server *s) {
  uint64_t one = 1;
  int i;
  if (s == NULL)
    return;
  xs_log(XS_LOG_INFO, "server on %s stopping", s->address);
  atomic_store(&s->stop, 1);
  if (write(s->wake, &one, sizeof(one)) < 0) {
    /* the thread still sees stop within one poll timeout */
  }
  pthread_join(s->thread, NULL);
  /* Resolutions still running are cancelled; their callbacks run before
   * the queue goes. */
  pthread_mutex_lock(&s->plock);
  while (s->outstanding != NULL) {
    struct pend *head = s->outstanding; /* freed only by this thread */
    unsigned long long id = head->id;
    int raw = head->raw;
    pthread_mutex_unlock(&s->plock);
    if (raw)
      xs_resolver_forward_cancel(s->res, id);
    else
      xs_resolve_cancel(s->res, id);
    pthread_mutex_lock(&s->plock);
    while (s->outstanding == head)
      pthread_cond_wait(&s->pcond, &s->plock);
  }
  pthread_mutex_unlock(&s->plock);
  while (s->done != NULL) {
    struct pend *p = s->done;
    s->done = p->next;
    pend_free(p);
  }
  pthread_mutex_destroy(&s->plock);
  pthread_cond_destroy(&s->pcond);
  for (i = 0; i < MAX_TCP; i++) {
    if (s->conns[i].fd >= 0)
      close(s->conns[i].fd);
    free(s->conns[i].out);
  }
  close(s->udp);
  close(s->tcp);
  close(s->wake);
  rc_free(s);
  free(s);
}
