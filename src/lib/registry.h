/* Registry internals: immutable, refcounted snapshots of Services keyed by
 * (namespace, name), built by one thread through the builder functions and
 * read by any number of threads afterwards. */
#ifndef XS_REGISTRY_H
#define XS_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "validate.h"
#include "xsvc.h"

typedef enum xs_svc_type {
  XS_SVC_EXTERNAL = 0,
  XS_SVC_CLUSTER_IP = 1, /* also NodePort / LoadBalancer */
  XS_SVC_HEADLESS = 2
} xs_svc_type;

#define XS_MAX_PORTS 64

typedef enum xs_proto {
  XS_PROTO_TCP = 0,
  XS_PROTO_UDP,
  XS_PROTO_SCTP
} xs_proto;

typedef struct xs_port {
  const char *name; /* NULL for an unnamed port */
  uint16_t port;
  uint8_t proto; /* xs_proto */
} xs_port;

typedef struct xs_endpoint {
  const char *hostname; /* NULL if none */
  xs_addr addr;
  uint8_t ready;
} xs_endpoint;

typedef struct xs_service {
  /* What a lookup reads comes first: one cache line (services are 64-byte
   * aligned, so it never straddles two). */
  _Alignas(64) const char *ns; /* interned: equal namespaces share a pointer */
  const char *name;
  const char *external_name; /* XS_SVC_EXTERNAL: lowercase, no trailing dot */
  const char *external_fqdn; /* the same with the trailing dot (set by add) */
  uint32_t hash;             /* xs_hash_key(ns, name), compared first */
  uint8_t name_len;
  uint8_t ns_len;  /* strlen(ns) */
  uint8_t ext_len; /* strlen(external_name) */
  uint8_t type;    /* xs_svc_type */
  uint8_t ip_like; /* external_name parses as IPv4 */
  uint8_t tolerate_unready;
  uint8_t nips;
  uint16_t nports;
  uint32_t nendpoints;
  xs_port *ports;
  xs_endpoint *endpoints;
  xs_addr ips[2]; /* ClusterIP(s), one per family */
} xs_service;

/* A slot of the services table. The name (the service's first string, its
 * ExternalName strings right after it) is here too, so a probe loads the
 * service and its strings at the same time instead of one after the other. */
typedef struct xs_svc_slot {
  uint32_t hash; /* the service's */
  uint32_t idx1; /* service index + 1; 0 = empty */
  const char *name;
} xs_svc_slot;

typedef struct xs_snapshot {
  atomic_uint refs;
  xs_arena arena;
  xs_service *services; /* nservices, in insertion order */
  size_t nservices;
  size_t cap_services;
  xs_svc_slot *table; /* open addressing, linear probing */
  size_t table_mask;
  const char **namespaces; /* interned namespace strings */
  size_t nnamespaces;
  size_t cap_namespaces;
  uint32_t *ns_table; /* namespace index + 1 */
  size_t ns_table_mask;
  struct xs_pending_ep *pending; /* endpoints waiting for finish */
  size_t npending, cap_pending;
  struct xs_ptr_entry *ptrs; /* reverse index, sorted by address */
  size_t nptrs;
  size_t skipped;  /* objects of other kinds seen at load */
  uint64_t serial; /* unix time of the last change */
  int finished;
} xs_snapshot;

/* Builder. All strings are copied; names must already be validated. */
xs_snapshot *xs_snapshot_new(void);
/* Add a namespace (idempotent). Returns the interned string or NULL (ENOMEM).
 */
const char *xs_snapshot_add_namespace(xs_snapshot *s, const char *ns,
                                      size_t len);
/* Add a service; the fields of svc (strings, ports) are copied. XS_EEXIST
 * if ns/name exists, XS_ENOMEM. On success *out (may be NULL) points at the
 * stored service (valid until the next add). */
xs_status xs_snapshot_add_service(xs_snapshot *s, const xs_service *svc,
                                  xs_service **out);
/* Queue an endpoint for service ns/name; attached at finish (endpoints of
 * services that do not exist are dropped then). */
xs_status xs_snapshot_add_endpoint(xs_snapshot *s, const char *ns,
                                   const char *svc_name, const xs_endpoint *ep);
/* Copy every namespace, service and endpoint of src except service
 * skip_ns/skip_name (both NULL: skip none) into a new builder. */
xs_snapshot *xs_snapshot_clone(const xs_snapshot *src, const char *skip_ns,
                               const char *skip_name);
/* Attach endpoints, build the reverse index; the snapshot is then read-only. */
xs_status xs_snapshot_finish(xs_snapshot *s);

void xs_snapshot_ref(xs_snapshot *s);
void xs_snapshot_unref(xs_snapshot *s);

/* Lookups (case-insensitive; ns/name need not be NUL-terminated). */
const xs_service *xs_snapshot_find(const xs_snapshot *s, const char *ns,
                                   size_t ns_len, const char *name,
                                   size_t name_len);
int xs_snapshot_has_namespace(const xs_snapshot *s, const char *ns,
                              size_t ns_len);
/* Reverse lookup for PTR: the service and endpoint (NULL for a ClusterIP)
 * owning addr; returns 0 if none. */
int xs_snapshot_find_addr(const xs_snapshot *s, const xs_addr *addr,
                          const xs_service **svc, const xs_endpoint **ep);

/* The public registry: the current snapshot behind a lock-protected
 * pointer. Writers serialise on write_lock, build a new snapshot off to the
 * side and publish it under lock; readers only take lock to grab a ref. */
struct xs_registry {
  atomic_uint refs;
  uint64_t id;              /* unique per process, never reused */
  _Atomic uint64_t version; /* bumped (under lock) at each publish */
  pthread_mutex_t lock;
  pthread_mutex_t write_lock;
  xs_snapshot *current;
  /* Views (a resolver's, see xs_registry_follow) that publish whatever
   * this registry publishes: a list under write_lock, linked through the
   * views' next_view. */
  struct xs_registry *views;
  struct xs_registry *next_view;
};

/* A new reference to the registry's current snapshot (caller unrefs). */
xs_snapshot *xs_registry_snapshot(xs_registry *reg);
/* The current snapshot for the calling thread, without a reference of the
 * caller's own: the thread keeps one reference to the snapshot it last
 * borrowed (any registry), so the result stays valid until this thread's
 * next borrow. The common path is one atomic load of a line only publishes
 * write: threads do not contend. Take xs_snapshot_ref to keep it longer or
 * hand it to another thread. *version (may be NULL) is the registry version
 * the snapshot was published as: reg->version differs once a newer one is.
 * NULL only on out of memory. */
xs_snapshot *xs_registry_snapshot_borrow(xs_registry *reg, uint64_t *version);
/* Wrap a finished snapshot in a new registry (takes the snapshot's ref). */
xs_status xs_registry_from_snapshot(xs_snapshot *snap, xs_registry **out);
void xs_registry_ref(xs_registry *reg);

/* A resolver reads its registry through a view of its own: a registry
 * that publishes whatever the registry it follows publishes, so that the
 * resolver's pointer (and its borrowing and memo versions) never changes
 * while the registry it reads does (xs_resolver_set_registry).
 * xs_registry_follow makes view follow source (NULL: an empty registry),
 * publishing source's current snapshot in view at once; view must not
 * follow anything. xs_registry_unfollow undoes it: view keeps its last
 * snapshot. Neither takes or drops references. XS_OK, XS_ENOMEM. */
xs_status xs_registry_follow(xs_registry *view, xs_registry *source);
void xs_registry_unfollow(xs_registry *view, xs_registry *source);

/* Fill err (may be NULL). */
void xs_error_set(xs_error *err, xs_status status, const char *file,
                  unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Case-insensitive hash of a namespace/name pair. */
uint32_t xs_hash_key(const char *ns, size_t ns_len, const char *name,
                     size_t name_len);

#endif
