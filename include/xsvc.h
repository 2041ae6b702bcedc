/*
 * xsvc: Kubernetes ExternalName resolution in-process.
 *
 * This is the only public header. Every function states who owns each
 * pointer, which statuses it returns, whether it blocks and which threads may
 * call it. Anything not declared here is private and may change at any time.
 *
 * Conventions:
 *  - Every fallible function returns an xs_status; XS_OK is 0.
 *  - Output parameters are written only on success (XS_OK), except xs_error,
 *    which is filled on failure when the caller passes one (it may be NULL).
 *  - Strings are NUL-terminated UTF-8/ASCII. Strings returned by accessors are
 *    owned by the object they were read from and live as long as it does.
 *  - Objects ending in *_new or *_load are released with the matching *_free;
 *    every *_free accepts NULL.
 */
#ifndef XSVC_H
#define XSVC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(XSVC_STATICLIB)
#define XS_EXTERN
#elif defined(XSVC_BUILDING_LIBRARY) && defined(__GNUC__)
#define XS_EXTERN __attribute__((visibility("default")))
#else
#define XS_EXTERN
#endif

/* ---- Version ------------------------------------------------------------ */

#define XSVC_VERSION_MAJOR 0
#define XSVC_VERSION_MINOR 1
#define XSVC_VERSION_PATCH 0
/** The version as one number, 0xMMmmpp: comparable with >=. */
#define XSVC_VERSION                                                           \
  ((XSVC_VERSION_MAJOR << 16) | (XSVC_VERSION_MINOR << 8) | XSVC_VERSION_PATCH)
#define XSVC_VERSION_STRING "0.1.0"

/** The library's version string at run time ("0.1.0"); static storage.
 *  Any thread. */
XS_EXTERN const char *xs_version(void);
/** The library's XSVC_VERSION at run time. Any thread. */
XS_EXTERN unsigned xs_version_number(void);

/* ---- Status and errors ----------------------------------------------------
 */

typedef enum xs_status {
  XS_OK = 0,
  XS_EINVAL,      /* an argument or option is invalid (NULL, out of range) */
  XS_ENOMEM,      /* out of memory */
  XS_EIO,         /* a file or directory could not be read */
  XS_EMANIFEST,   /* a manifest is invalid (syntax, schema or validation) */
  XS_ELIMIT,      /* a limit was reached: a manifest's size/depth/count/
                   * aliases, a policy list, requests in flight */
  XS_EEXIST,      /* the (namespace, name) is already in the registry */
  XS_ENOTFOUND,   /* no such name (NXDOMAIN) or no such registry entry */
  XS_ENODATA,     /* the name exists but has no records of that family */
  XS_ELOOP,       /* a CNAME loop, or a chain longer than XS_MAX_CHAIN */
  XS_ETIMEOUT,    /* upstream DNS did not answer in time (xs_connect: no
                   * connection within its timeout) */
  XS_ESERVFAIL,   /* upstream DNS answered SERVFAIL */
  XS_EREFUSED,    /* upstream DNS answered REFUSED or refused the connection */
  XS_EUPSTREAM,   /* another upstream failure (bad reply, no servers, ...) */
  XS_ECANCELLED,  /* the request was cancelled */
  XS_EPOLICY,     /* refused by the resolver's policy */
  XS_EBADNAME,    /* the query name is not a valid DNS name */
  XS_ECONNECT,    /* xs_connect: every address refused or failed */
  XS_STATUS_COUNT /* number of statuses; not a status */
} xs_status;

/** A short English description of status, e.g. "name not found"; static
 *  storage, never NULL (unknown values give "unknown status"). Any thread. */
XS_EXTERN const char *xs_strerror(xs_status status);
/** A stable lowercase identifier for status, as `xsvc resolve --json`
 *  prints it: "ok", "nxdomain", "nodata", "loop", "timeout", "servfail",
 *  "refused", "cancelled", "policy", or "error" for every other failure.
 *  Static storage. Any thread. */
XS_EXTERN const char *xs_status_name(xs_status status);

#define XS_ERROR_FILE_MAX 1024
#define XS_ERROR_MESSAGE_MAX 1024

/** Where and why something failed. A plain struct the caller allocates
 *  (usually on the stack); the library fills it. `file` is "" when the error
 *  has no file (a buffer load uses the name the caller gave). `line` and
 *  `column` are 1-based; 0 means unknown. `message` is a complete sentence in
 *  the Kubernetes API server's words where one exists, e.g.
 *  `metadata.name: Invalid value: "My-Service": a DNS-1035 label must ...`. */
typedef struct xs_error {
  xs_status status;
  unsigned line;
  unsigned column;
  char file[XS_ERROR_FILE_MAX];
  char message[XS_ERROR_MESSAGE_MAX];
} xs_error;

/* ---- Limits (documented bounds; inputs beyond them are refused) ---------- */

#define XS_MAX_FILE_SIZE (64u * 1024u * 1024u) /* bytes per manifest file */
#define XS_MAX_DEPTH 64                        /* YAML nesting depth */
#define XS_MAX_DOCUMENTS 1000000u              /* documents per load */
#define XS_MAX_ALIAS_EVENTS 10000u             /* alias uses per document */
/* nodes that alias uses may add to one document when expanded: a "billion
 * laughs" document fails at once with XS_ELIMIT */
#define XS_MAX_ALIAS_EXPANSION 100000u
#define XS_MAX_FILES 100000u /* files per directory load */
/* (a load may tighten each of the six above: xs_load_options.max_*) */
#define XS_MAX_CHAIN 10 /* CNAME links followed */
#define XS_MAX_NAME 253 /* DNS name, no trailing dot */
/* Other bounds, each with its setter or function, and what happens there
 * (tests/unit/test_limits.c checks every one):
 *  - DNS label: 63 octets; a longer query label is XS_EBADNAME, a longer
 *    externalName label is refused (XS_EMANIFEST at load, XS_EINVAL from
 *    xs_registry_add_external).
 *  - Services per registry: no count limit beyond the loader's (documents,
 *    files, bytes per file) and memory: XS_ENOMEM, all or nothing.
 *  - Upstream servers: 8 (xs_config_add_server: XS_EINVAL past it); search
 *    domains: 32 (xs_config_add_search: XS_EINVAL); allowed targets 32 and
 *    denied ranges 64 (XS_ELIMIT past them).
 *  - Cache entries: xs_config_set_cache_size, at most 10,000,000 (XS_EINVAL
 *    past it); a full cache evicts (CLOCK), it never refuses an answer.
 *    Result memo: 1,048,576 slots.
 *  - Pending requests: XS_DEFAULT_MAX_PENDING asynchronous requests in
 *    flight per resolver (xs_config_set_max_pending, 1..XS_MAX_PENDING);
 *    one more is refused with XS_ELIMIT (no callback). Each waiting request
 *    costs about 20 KiB until it completes; answers the result memo gives
 *    complete at once and do not count. Identical questions share one
 *    upstream query, and the engine watches at most 16 upstream sockets at
 *    once (c-ares queues the rest).
 *  - Fairness: each round the engine starts every question a blocked
 *    caller waits for (xs_resolve, xs_connect), then at most
 *    XS_ASYNC_BATCH asynchronous ones in the order asked; so at most
 *    XS_ASYNC_BATCH other questions are started between a blocking call
 *    queuing its question and sending it, however many are pending.
 *  - Server: 16 TCP connections at once (a 17th is closed at once, the
 *    client retries), each closed after 2 s idle or a reply it does not
 *    read within 500 ms; one TCP message at most 65,535 octets; a UDP
 *    reply at most the client's EDNS0 size (512 without EDNS0, 4,096 at
 *    most), else truncated (TC set). Reply cache: XS_SERVER_REPLY_CACHE_MAX.
 */

/* ---- Registry -------------------------------------------------------------
 */

/** A namespace-scoped set of Services (and their endpoints and namespaces).
 *
 *  Thread-safety: all registry functions may be called from any thread at
 *  any time. Readers (resolvers) see an immutable snapshot: a change is
 *  published atomically and never observed half-applied; a failed change
 *  leaves the registry exactly as it was. */
typedef struct xs_registry xs_registry;

/** Diagnostic callback for loads: called once per error and per warning, in
 *  file order, on the loading thread. `diag` is valid only during the call;
 *  `is_warning` is 1 for warnings (e.g. an externalName that looks like an IP
 *  address, or an alias to localhost), 0 for errors. */
typedef void (*xs_diag_fn)(const xs_error *diag, int is_warning, void *arg);

/** Options for a load; a NULL pointer means all defaults. A plain struct:
 *  initialise it with xs_load_options_init() so fields added later get their
 *  defaults. Fields are only ever added at the end; the library reads only
 *  the fields struct_size covers, so a caller built against an older header
 *  gets the defaults for the rest. */
typedef struct xs_load_options {
  unsigned struct_size;          /* set by xs_load_options_init */
  const char *default_namespace; /* for objects without one; "default" */
  xs_diag_fn diag;               /* optional: every error and warning */
  void *diag_arg;
  /* 0 (default): a manifest is refused (XS_EPOLICY) unless only root and
   * the user loading it (the effective uid) can change it: the file, and
   * every directory and symbolic link on its resolved path up to /, must
   * be owned by root or that user, and no directory may be writable by
   * group or others unless it is sticky (as /tmp). Whoever can change a
   * manifest can repoint an alias. 1: load them anyway. */
  int allow_insecure_permissions;
  /* Tighter limits for this load (added after 0.1.0): 0 (the default) is the
   * bound in the limits block above; a value above that bound is
   * XS_EINVAL. Past a limit the load fails with XS_ELIMIT, as at the
   * default bound, and the message names the value in force. */
  size_t max_file_size;         /* bytes per file: XS_MAX_FILE_SIZE */
  unsigned max_depth;           /* YAML nesting: XS_MAX_DEPTH */
  unsigned max_documents;       /* per load: XS_MAX_DOCUMENTS */
  unsigned max_alias_events;    /* per document: XS_MAX_ALIAS_EVENTS */
  unsigned max_alias_expansion; /* per document: XS_MAX_ALIAS_EXPANSION */
  unsigned max_files;           /* per directory: XS_MAX_FILES */
} xs_load_options;

/** Fill opts[0..size) with defaults, size being sizeof(xs_load_options) as
 *  the caller was compiled (the xs_load_options_init macro passes it): the
 *  library never writes past it. Any thread. */
XS_EXTERN void xs_load_options_init_size(xs_load_options *opts, size_t size);
/** Fill opts with defaults. Through the macro below (C and C++ callers):
 *  xs_load_options_init_size with sizeof(*opts). The function itself, for
 *  binaries built against 0.1 and for FFI bindings that call it by name,
 *  fills only 0.1's fields (struct_size up to allow_insecure_permissions),
 *  so a structure of that size is never overrun. Any thread. */
XS_EXTERN void xs_load_options_init(xs_load_options *opts);
#define xs_load_options_init(opts)                                             \
  xs_load_options_init_size((opts), sizeof(*(opts)))

/** Load Kubernetes manifests into a new registry.
 *
 *  paths: npaths files or directories. A directory contributes its regular
 *  files ending in .yaml, .yml or .json (not recursive, hidden files skipped),
 *  read in byte-wise sorted order. Files may hold several YAML documents and
 *  `kind: List` / `*List` objects. Kinds read: v1 Service, v1 Endpoints,
 *  discovery.k8s.io/v1 EndpointSlice, v1 Namespace; other kinds are skipped
 *  and counted (xs_registry_skipped_count). Validation is the API server's
 *  (same messages) plus xsvc's stricter rules (DNS labels <= 63 octets).
 *
 *  All or nothing: on any error *out is untouched, no registry exists, err
 *  (if non-NULL) describes the first error, and opts->diag saw them all.
 *
 *  Permissions, as OpenSSH's StrictModes (unless
 *  opts->allow_insecure_permissions): each path is followed as the kernel
 *  follows it, one component at a time from / (a relative path from the
 *  working directory's resolved path), and every directory a name is
 *  looked up in, every symbolic link followed (a ConfigMap's
 *  x.yaml -> ..data/x.yaml, ..data -> ..2026_01_01) and each manifest file
 *  read (each file of a directory too) must be owned by root or the
 *  effective uid; files must not be writable by group or others, nor
 *  directories unless sticky. Otherwise XS_EPOLICY, with err->file the
 *  manifest and err->message naming the offending directory or link and
 *  why, e.g. "directory /srv/manifests is writable by others (mode 0777):
 *  ..." or "file is owned by uid 1001, neither root nor the user loading it
 *  (uid 0): ..."; a path whose permissions cannot be checked (a component
 *  that cannot be read) is refused the same way.
 *
 *  Returns XS_OK, XS_EINVAL, XS_ENOMEM, XS_EIO, XS_EMANIFEST, XS_ELIMIT,
 *  XS_EPOLICY (permissions) or XS_EEXIST (duplicate namespace/name). Blocks on
 * file I/O. Any thread. On success the caller owns *out (xs_registry_free). */
XS_EXTERN xs_status xs_registry_load_paths(const char *const *paths,
                                           size_t npaths,
                                           const xs_load_options *opts,
                                           xs_registry **out, xs_error *err);

/** xs_registry_load_paths with one path and default options. */
XS_EXTERN xs_status xs_registry_load(const char *path, xs_registry **out,
                                     xs_error *err);

/** Load from memory: data[0..len) is YAML or JSON; `name` is used as the
 *  file in errors (may be NULL: "<buffer>"). The caller keeps ownership of
 *  data and name. Same semantics and statuses as xs_registry_load_paths. */
XS_EXTERN xs_status xs_registry_load_buffer(const char *data, size_t len,
                                            const char *name,
                                            const xs_load_options *opts,
                                            xs_registry **out, xs_error *err);

/** A new empty registry, for building a cluster in code. Caller owns *out. */
XS_EXTERN xs_status xs_registry_new(xs_registry **out);

/** Release the caller's reference. Resolvers using the registry keep their
 *  own reference; memory goes when the last one is released. A thread that
 *  resolved through a registry keeps the snapshot it used last (one per
 *  thread, whatever the registry) until its next resolution or its exit.
 *  NULL is fine. */
XS_EXTERN void xs_registry_free(xs_registry *reg);

/** Number of Services / objects skipped at load (other kinds). Any thread. */
XS_EXTERN size_t xs_registry_service_count(const xs_registry *reg);
XS_EXTERN size_t xs_registry_skipped_count(const xs_registry *reg);

/* Building in code. Each call validates exactly as the loader does (err gets
 * the API server's message with file ""), changes nothing on failure, and
 * publishes the change atomically on success. A Service's namespace is
 * created implicitly. Strings are copied. Any thread. */

/** Declare a namespace (so `<ns>.svc.<zone>` is NODATA, not NXDOMAIN). */
XS_EXTERN xs_status xs_registry_add_namespace(xs_registry *reg, const char *ns,
                                              xs_error *err);
/** Add an ExternalName Service ns/name -> external_name. XS_EEXIST if
 *  ns/name exists. */
XS_EXTERN xs_status xs_registry_add_external(xs_registry *reg, const char *ns,
                                             const char *name,
                                             const char *external_name,
                                             xs_error *err);
/** Repoint an existing ExternalName Service. XS_ENOTFOUND if there is no
 *  ExternalName Service ns/name. */
XS_EXTERN xs_status xs_registry_set_external(xs_registry *reg, const char *ns,
                                             const char *name,
                                             const char *external_name,
                                             xs_error *err);
/** Add a ClusterIP Service with nips (1 or 2, one per family) addresses. */
XS_EXTERN xs_status xs_registry_add_cluster_ip(xs_registry *reg, const char *ns,
                                               const char *name,
                                               const char *const *ips,
                                               size_t nips, xs_error *err);
/** Add a headless Service (clusterIP: None). */
XS_EXTERN xs_status xs_registry_add_headless(xs_registry *reg, const char *ns,
                                             const char *name, xs_error *err);
/** Add a port to Service ns/name. port_name may be NULL (unnamed; only
 *  allowed while the Service has a single port); protocol is "TCP", "UDP" or
 *  "SCTP" (NULL = "TCP"). */
XS_EXTERN xs_status xs_registry_add_port(xs_registry *reg, const char *ns,
                                         const char *name,
                                         const char *port_name, int port,
                                         const char *protocol, xs_error *err);
/** Add an endpoint address (with an optional hostname, NULL for none) to
 *  the non-ExternalName Service ns/name; ready is 0 or 1. */
XS_EXTERN xs_status xs_registry_add_endpoint(xs_registry *reg, const char *ns,
                                             const char *name, const char *ip,
                                             const char *hostname, int ready,
                                             xs_error *err);
/** Make reg hold exactly what from holds now (its current contents; later
 *  changes to either stay separate), in one atomic step: a reload. Readers
 *  of reg (resolvers, servers) see the new contents from their next
 *  lookup; lookups under way finish on the old ones. from is not changed
 *  and is still the caller's to free. XS_OK, XS_EINVAL. Any thread. */
XS_EXTERN xs_status xs_registry_replace(xs_registry *reg, xs_registry *from);
/** Remove Service ns/name and its endpoints. XS_ENOTFOUND if absent. */
XS_EXTERN xs_status xs_registry_remove(xs_registry *reg, const char *ns,
                                       const char *name);

/* ---- Reloading and watching manifests -------------------------------------
 */

#define XS_RELOAD_SUMMARY_MAX 512

/** What a reload did. A plain struct the caller allocates; the library
 *  fills it. */
typedef struct xs_reload_report {
  xs_status status; /* XS_OK, or why the load failed (the registry kept) */
  int published;    /* 1: a new snapshot was published (something changed) */
  size_t services;  /* Services in the registry afterwards */
  size_t added, changed, removed; /* Services, by (namespace, name) */
  /* For a log line: "added ns/a, changed ns/b (-> new.example.com.),
   * removed ns/c", "unchanged", or the error with its position; cut at
   * XS_RELOAD_SUMMARY_MAX - 1 with "...". */
  char summary[XS_RELOAD_SUMMARY_MAX];
  xs_error error; /* status != XS_OK: the first error */
} xs_reload_report;

/** Load paths (as xs_registry_load_paths does, with opts) and, only if the
 *  whole load succeeds, make reg hold the result in one atomic step (as
 *  xs_registry_replace): a failed load never publishes anything and reg
 *  keeps serving what it had. Nothing is published either when the
 *  result equals what reg holds (report->published 0), so resolvers keep
 *  their memoised results. Resolvers and servers reading reg answer from
 *  the new contents from their next lookup; lookups under way finish on
 *  the snapshot they started with. Services are compared by (namespace,
 *  name): type, externalName, cluster IPs, ports and endpoints.
 *
 *  report (may be NULL) is filled either way. Counted in xs_stats
 *  (reloads_ok / reloads_failed) and logged (xs_set_log: XS_LOG_INFO for
 *  a change, XS_LOG_DEBUG when unchanged, XS_LOG_WARNING for a failure).
 *  Returns the load's status (see xs_registry_load_paths) or XS_EINVAL.
 *  Blocks on file I/O. Any thread; reloads of one registry are
 *  serialised with each other and with the building functions. */
XS_EXTERN xs_status xs_registry_reload(xs_registry *reg,
                                       const char *const *paths, size_t npaths,
                                       const xs_load_options *opts,
                                       xs_reload_report *report);

/** A watcher: reloads a registry when its manifest files change. */
typedef struct xs_watch xs_watch;

/** Called after each reload a watcher attempted (report is valid only
 *  during the call), on the watcher's thread. It may read the registry
 *  and resolve, but must not call xs_watch_stop on its own watcher. */
typedef void (*xs_reload_fn)(const xs_reload_report *report, void *arg);

#define XS_WATCH_DEBOUNCE_DEFAULT_MS 50u
#define XS_WATCH_DEBOUNCE_MAX_MS 60000u

/** Watcher options; initialise with xs_watch_options_init so fields added
 *  later get their defaults. */
typedef struct xs_watch_options {
  unsigned struct_size;
  /* Quiet window: a reload starts once no change was seen for this long
   * (a burst of writes is one reload), and at the latest 10 windows after
   * the first change of a burst. 0..XS_WATCH_DEBOUNCE_MAX_MS;
   * default XS_WATCH_DEBOUNCE_DEFAULT_MS. */
  unsigned debounce_ms;
  /* Load options (copied, default_namespace included; NULL: defaults).
   * Its diag callback runs on the watcher's thread. */
  const xs_load_options *load;
  xs_reload_fn on_reload; /* optional */
  void *arg;
} xs_watch_options;

/** Fill opts with defaults. Any thread. */
XS_EXTERN void xs_watch_options_init(xs_watch_options *opts);

/** Watch paths (files or directories, as given to xs_registry_load_paths)
 *  and reload reg from them (xs_registry_reload) whenever they change:
 *  a file written in place or replaced by a rename (editors), files added
 *  to or removed from a watched directory, a directory replaced, and a
 *  Kubernetes ConfigMap or Secret volume update (the `..data` symlink
 *  swapped to a new timestamped directory). Every reload is reported to
 *  opts->on_reload and the log callback; a failed one keeps the registry
 *  as it was. Nothing is loaded at start: load reg first.
 *
 *  Uses inotify on the directories holding the paths (Linux; elsewhere
 *  XS_EINVAL with a message) and one thread per watcher, started here and
 *  stopped by xs_watch_stop. The watcher holds a reference to reg. paths
 *  and opts are copied. XS_OK, XS_EINVAL (bad argument, or a path's
 *  directory cannot be watched: err says which), XS_ENOMEM. Any thread.
 *  On success the caller owns *out (xs_watch_stop). */
XS_EXTERN xs_status xs_watch_start(xs_registry *reg, const char *const *paths,
                                   size_t npaths, const xs_watch_options *opts,
                                   xs_watch **out, xs_error *err);
/** Reloads attempted so far (each reported once). Any thread. */
XS_EXTERN unsigned long long xs_watch_reloads(const xs_watch *watch);
/** Stop watching and free the watcher: a reload under way finishes first,
 *  pending changes are dropped. NULL is a no-op. Not from its callback. */
XS_EXTERN void xs_watch_stop(xs_watch *watch);

/* ---- Configuration --------------------------------------------------------
 */

/** Resolver configuration: an opaque object with setters, defaults matching
 *  a pod in namespace "default" (cluster domain cluster.local, search list
 *  <ns>.svc.<zone> svc.<zone> <zone>, ndots 5, TTL 5 s, upstream servers
 *  from /etc/resolv.conf, timeout 2000 ms, 2 attempts).
 *
 *  Thread-safety: a config is not synchronised; use one from one thread at a
 *  time. xs_resolver_new copies it, so it may be changed or freed after. */
typedef struct xs_config xs_config;

typedef enum xs_mode {
  XS_MODE_COREDNS = 0, /* answers as CoreDNS gives them (default) */
  XS_MODE_STRICT = 1   /* RFC 6604: keep the chain, final rcode */
} xs_mode;

XS_EXTERN xs_status xs_config_new(xs_config **out);
XS_EXTERN void xs_config_free(xs_config *cfg);
/** The client namespace (a DNS-1123 label). XS_EINVAL if invalid. */
XS_EXTERN xs_status xs_config_set_namespace(xs_config *cfg, const char *ns);
/** The cluster domain, e.g. "cluster.local" (a trailing dot is accepted). */
XS_EXTERN xs_status xs_config_set_cluster_domain(xs_config *cfg,
                                                 const char *domain);
/** ndots, 0..15 (as resolv.conf caps it). */
XS_EXTERN xs_status xs_config_set_ndots(xs_config *cfg, int ndots);
/** Append a host search domain after the cluster suffixes (at most 32). */
XS_EXTERN xs_status xs_config_add_search(xs_config *cfg, const char *domain);
/** TTL of records synthesized from the registry, 0..3600 s; out of range is
 *  XS_EINVAL (message as CoreDNS: "ttl must be in range [0, 3600]: N"). */
XS_EXTERN xs_status xs_config_set_ttl(xs_config *cfg, int ttl_seconds);
XS_EXTERN xs_status xs_config_set_mode(xs_config *cfg, xs_mode mode);
/** Treat an externalName that parses as IPv4 as an address literal (legacy
 *  kube-dns) instead of NXDOMAIN (CoreDNS). 0 or 1; default 0. */
XS_EXTERN xs_status xs_config_set_ip_literal_targets(xs_config *cfg, int on);
/** Add an upstream server "HOST[:PORT]" ("[v6]:port" for IPv6 with a port).
 *  Once any server is added, /etc/resolv.conf is not used. At most 8. */
XS_EXTERN xs_status xs_config_add_server(xs_config *cfg, const char *server);
/** Per-attempt timeout, 1..60000 ms, and attempts per server, 1..10.
 *  c-ares 1.18 tries each server in turn and doubles the timeout every
 *  round after the first: a question nobody answers ends XS_ETIMEOUT after
 *  timeout x servers x (2^attempts - 1) (6 s with the defaults and one
 *  server), having been sent attempts x servers times. */
XS_EXTERN xs_status xs_config_set_timeout_ms(xs_config *cfg, int timeout_ms);
XS_EXTERN xs_status xs_config_set_attempts(xs_config *cfg, int attempts);

/* Cache of upstream answers (registry answers are never cached: a registry
 * change is seen by the next call). Defaults: 10,000 entries, positive TTLs
 * clamped to [0, 3600] s, negative TTLs (RFC 2308, from the SOA) capped at
 * 300 s, serve-stale (RFC 8767) for up to 3600 s past expiry with a 30 s
 * TTL, prefetch on. */

/** Entries kept, 0..10,000,000; 0 disables the cache (every external name
 *  is asked upstream; identical questions in flight are still shared). */
XS_EXTERN xs_status xs_config_set_cache_size(xs_config *cfg, size_t entries);
/** Positive answers are kept for their TTL (the minimum along the CNAME
 *  chain and the address records) clamped to [min_s, max_s]; min_s <= max_s
 *  <= 604800. */
XS_EXTERN xs_status xs_config_set_cache_ttl(xs_config *cfg, unsigned min_s,
                                            unsigned max_s);
/** Cap on the time NXDOMAIN/NODATA answers are kept, 0..86400 s (0: not
 *  cached). Answers without an SOA are not cached. */
XS_EXTERN xs_status xs_config_set_negative_ttl_max(xs_config *cfg,
                                                   unsigned max_s);
/** Serve-stale: when upstream fails (timeout, SERVFAIL, REFUSED, bad reply)
 *  an entry expired less than max_s seconds ago answers instead, with
 *  source XS_SOURCE_STALE and TTL ttl_s. max_s 0..604800 (0 disables);
 *  ttl_s 1..3600. */
XS_EXTERN xs_status xs_config_set_stale(xs_config *cfg, unsigned max_s,
                                        unsigned ttl_s);
/** Prefetch: a cache hit in the last 10% of an entry's lifetime refreshes
 *  it in the background (the hit itself is answered at once). 0 or 1. */
XS_EXTERN xs_status xs_config_set_prefetch(xs_config *cfg, int on);
/** Result memo: xs_resolve and xs_resolve_async keep a copy of the results
 *  they built from the registry and fresh cache entries alone, keyed by the
 *  exact name and family, and answer the same question again with a copy
 *  (xs_resolve_async: its callback run on the calling thread before it
 *  returns, unless in XS_DISPATCH_QUEUE mode, which always queues) for as
 *  long as it is exactly what a new resolution would return: until the
 *  registry changes, a cache entry it used is replaced or evicted, its TTLs
 *  tick down (whole seconds) or its prefetch is due. Answers never differ
 *  with or without it; only the cost does (one hash probe and one copy).
 *  slots 0..1,048,576, rounded up to a power of two; each holds one result
 *  of at most 2 KiB (larger ones are not kept), so the memo uses at most
 *  slots * 2 KiB. Default 1024; 0 disables it. With the cache disabled
 *  there is no memo either. */
XS_EXTERN xs_status xs_config_set_result_memo(xs_config *cfg, size_t slots);

#define XS_DEFAULT_MAX_PENDING 10000u
#define XS_MAX_PENDING 1000000u
/* Asynchronous questions the engine starts per round (see Fairness in the
 * limits block): what a blocking call may wait behind at most. */
#define XS_ASYNC_BATCH 64u
/** Asynchronous requests (xs_resolve_async) a resolver holds in flight at
 *  once, 1..XS_MAX_PENDING (default XS_DEFAULT_MAX_PENDING, about 200 MiB
 *  at worst): one more is refused with XS_ELIMIT until one completes, so a
 *  flood of requests against a slow upstream cannot take all memory. */
XS_EXTERN xs_status xs_config_set_max_pending(xs_config *cfg, size_t requests);

/** A monotonic clock in milliseconds, for tests that move time by hand
 *  (cache expiry, stale windows). NULL restores CLOCK_MONOTONIC. fn is
 *  called from any thread that resolves and must be thread-safe. */
typedef unsigned long long (*xs_clock_ms_fn)(void *arg);
XS_EXTERN xs_status xs_config_set_clock(xs_config *cfg, xs_clock_ms_fn fn,
                                        void *arg);

/* Policy: where aliases may point and which addresses a resolution may hand
 * out. An ExternalName is a pointer that whoever can edit a Service can
 * move (CVE-2021-25740, CVE-2021-32783: an alias to localhost reached an
 * admin port), so the defaults deny what no alias should reach. Checked by
 * xs_resolve, xs_resolve_async and xs_connect on every address of a result,
 * registry addresses included; a refusal is XS_EPOLICY and
 * xs_result_policy() names the rule that fired.
 *
 * Denied by default (each lifted with xs_config_allow_range, all of them
 * with xs_config_clear_denied_ranges):
 *   0.0.0.0/8           unspecified ("this host" on Linux)
 *   127.0.0.0/8, ::1    loopback: local admin ports, sidecars, debuggers
 *   ::/128              unspecified
 *   169.254.0.0/16      link-local: cloud metadata at 169.254.169.254
 *   fe80::/10           IPv6 link-local
 *   fd00:ec2::254       AWS instance metadata over IPv6
 *   100.100.100.200     Alibaba Cloud metadata
 *   168.63.129.16       Azure WireServer
 *   224.0.0.0/4, ff00::/8   multicast
 *   255.255.255.255     broadcast
 * An IPv6 address that carries an IPv4 address is judged as that IPv4
 * address too, and denied when either judgement denies it: IPv4-mapped
 * ::ffff:0:0/96, IPv4-compatible ::/96 (but :: and ::1), NAT64
 * 64:ff9b::/96 and 6to4 2002::/16. Private ranges (10/8, 172.16/12,
 * 192.168/16, fc00::/7) stay allowed: databases behind ExternalNames live
 * there. Deny them with xs_config_add_denied_range where they should not
 * be reached.
 *
 * Tests and demos with loopback upstreams or listeners opt in:
 *   xs_config_allow_range(cfg, "127.0.0.0/8");
 *   xs_config_allow_range(cfg, "::1"); */

/** Allow alias targets equal to suffix or below it (a DNS name, e.g.
 *  "example.com"; up to 32). Once any suffix is set, a chain that starts at
 *  an ExternalName Service is refused (XS_EPOLICY, without asking upstream
 *  where the registry already tells) unless every name it points at is
 *  below an allowed suffix: each ExternalName target in the registry
 *  (in-cluster targets too: allow "svc.cluster.local" to let aliases point
 *  at other Services), each CNAME target upstream adds, and an IP-literal
 *  target (xs_config_set_ip_literal_targets), which is never below a
 *  suffix. Names asked directly (not through an alias) are not affected.
 *  XS_EINVAL for a bad name, XS_ELIMIT past 32. */
XS_EXTERN xs_status xs_config_add_allowed_target(xs_config *cfg,
                                                 const char *suffix);
/** Deny addresses in "addr/prefix" (or one address), IPv4 or IPv6, e.g.
 *  "10.0.0.0/8", "192.0.2.1", "fc00::/7"; up to 64 besides the defaults.
 *  Denied addresses are left out of results; when every address of an
 *  answer is denied the status is XS_EPOLICY. XS_EINVAL for bad text,
 *  XS_ELIMIT past 64. */
XS_EXTERN xs_status xs_config_add_denied_range(xs_config *cfg,
                                               const char *cidr);
/** Allow addresses in "addr/prefix" (or one address) that a denied range,
 *  a default or one added, would refuse; up to 64. The most specific range
 *  holding an address decides, and an allowed range wins over a denied one
 *  of the same length: allowing "127.0.0.0/8" lifts the loopback default,
 *  denying "127.0.0.53" on top of it refuses that one address again.
 *  XS_EINVAL for bad text, XS_ELIMIT past 64. */
XS_EXTERN xs_status xs_config_allow_range(xs_config *cfg, const char *cidr);
/** Remove every denied range, the defaults included (allowed ranges stay,
 *  with nothing left to lift). */
XS_EXTERN xs_status xs_config_clear_denied_ranges(xs_config *cfg);

/* xs_connect settings (Happy Eyeballs v2, RFC 8305). */

/** Connection-attempt delay: a new address is tried every ms milliseconds
 *  while earlier attempts are still pending (and at once when one fails).
 *  10..10000; default 250. */
XS_EXTERN xs_status xs_config_set_connect_attempt_delay(xs_config *cfg, int ms);
/** The family tried first: XS_FAMILY_IPV6 (6, the default, as RFC 6724) or
 *  XS_FAMILY_IPV4 (4). Addresses then alternate between the families. */
XS_EXTERN xs_status xs_config_set_connect_prefer(xs_config *cfg, int family);
/** 1: xs_connect returns its socket with O_NONBLOCK set; 0 (default):
 *  blocking. The socket is close-on-exec either way. */
XS_EXTERN xs_status xs_config_set_connect_nonblock(xs_config *cfg, int on);
/** Failover memory: an address (with its port) that refused a connection
 *  or left an attempt unanswered for a whole attempt delay is tried after
 *  every other address for this many seconds, 0..3600 (0: never); default
 *  30. Shared by all threads using the resolver. */
XS_EXTERN xs_status xs_config_set_failover_memory(xs_config *cfg,
                                                  unsigned seconds);

/** Where asynchronous completions run (see xs_resolve_async). */
typedef enum xs_dispatch {
  /* On the resolver's engine thread (or, when no upstream query was needed,
   * on the thread that called xs_resolve_async, before it returns).
   * Callbacks must not block. The default. */
  XS_DISPATCH_ENGINE = 0,
  /* Queued: xs_resolver_fd() becomes readable and xs_resolver_dispatch()
   * runs them on the caller's thread. For event loops (epoll, libuv,
   * asyncio). */
  XS_DISPATCH_QUEUE = 1
} xs_dispatch;
XS_EXTERN xs_status xs_config_set_dispatch(xs_config *cfg, xs_dispatch mode);

/* ---- Resolver and results ------------------------------------------------ */

/** A resolver: one client namespace's view of a registry plus upstream DNS,
 *  with a cache of upstream answers and one engine thread that owns the
 *  c-ares channel (started by xs_resolver_new, stopped by xs_resolver_free).
 *
 *  Thread-safety: xs_resolve, xs_resolve_async and xs_resolve_cancel may be
 *  called from many threads at once. Registry answers and cache hits are
 *  computed on the calling thread without locks shared across threads
 *  beyond a cache shard's read lock (a result-memo hit takes no lock at
 *  all and writes nothing shared); misses go to the engine, and identical
 *  questions in flight share one upstream query. xs_resolver_dispatch must
 *  not run on two threads at once.
 *
 *  fork(): the engine thread does not exist in the child. A child must not
 *  use (or free) a resolver created before the fork, except through
 *  xs_resolver_check_address; create a new one. */
typedef struct xs_resolver xs_resolver;
/** The outcome of one resolution; immutable, owned by the caller. */
typedef struct xs_result xs_result;

typedef enum xs_family {
  XS_FAMILY_ANY = 0, /* A and AAAA, as getaddrinfo(AF_UNSPEC) */
  XS_FAMILY_IPV4 = 4,
  XS_FAMILY_IPV6 = 6
} xs_family;

typedef enum xs_source {
  XS_SOURCE_REGISTRY = 0, /* synthesized from the registry */
  XS_SOURCE_UPSTREAM = 1, /* fetched from upstream DNS for this call */
  XS_SOURCE_CACHE = 2,    /* served from the cache, fresh */
  XS_SOURCE_STALE = 3     /* served from the cache after expiry */
} xs_source;

/** Create a resolver. cfg may be NULL (defaults); it is copied. reg may be
 *  NULL (no cluster names: every in-zone name is NXDOMAIN); the resolver
 *  takes its own reference. XS_EINVAL for an invalid config (err says why),
 *  XS_EUPSTREAM if no upstream server could be configured or the engine
 *  thread could not start, XS_ENOMEM. Reads /etc/resolv.conf when no server
 *  was set. Starts the resolver's engine thread (stopped by
 *  xs_resolver_free) and allocates its cache. Any thread. */
XS_EXTERN xs_status xs_resolver_new(const xs_config *cfg, xs_registry *reg,
                                    xs_resolver **out, xs_error *err);
/** Destroy a resolver. Requests still in flight complete first, each
 *  callback exactly once with XS_ECANCELLED (in XS_DISPATCH_QUEUE mode on
 *  the calling thread, before this returns). No blocking xs_resolve may be
 *  in progress and no call may start after; must not be called from a
 *  callback. NULL is a no-op. */
XS_EXTERN void xs_resolver_free(xs_resolver *res);

/** Make the resolver read reg (NULL: no cluster names) from its next
 *  lookup on, in one atomic step; it takes its own reference to reg and
 *  drops the one to the registry it read before. Lookups under way finish
 *  on the snapshot they started with; memoised results of the old
 *  registry are never served again. Changes published to reg later
 *  (building functions, xs_registry_replace, xs_registry_reload, a
 *  watcher) are seen as usual. XS_OK, XS_EINVAL (res NULL), XS_ENOMEM.
 *  Does not block on lookups. Any thread; not from a callback in
 *  XS_DISPATCH_ENGINE mode. */
XS_EXTERN xs_status xs_resolver_set_registry(xs_resolver *res,
                                             xs_registry *reg);

/** Resolve name as a pod in the resolver's namespace would: search list and
 *  ndots (a trailing dot disables the search), in-cluster answers from the
 *  registry (never sent upstream), CNAME chains followed, and the external
 *  target's A and/or AAAA fetched from upstream DNS.
 *
 *  Always stores a result in *out (even on failure, unless XS_EINVAL or
 *  XS_ENOMEM) so the caller can see the candidates and the chain; the caller
 *  frees it. Returns the result's status: XS_OK (at least one address),
 *  XS_ENOTFOUND, XS_ENODATA, XS_ELOOP, XS_EBADNAME, XS_ETIMEOUT,
 *  XS_ESERVFAIL, XS_EREFUSED, XS_EUPSTREAM, XS_EINVAL, XS_ENOMEM.
 *  External names are answered from the cache when fresh there (no upstream
 *  traffic; sources XS_SOURCE_CACHE, or XS_SOURCE_STALE when upstream
 *  failed and an expired entry was served), else asked upstream (identical
 *  questions in flight share one query). Blocks for up to timeout x servers
 *  x (2^attempts - 1) per upstream query (xs_config_set_attempts), plus
 *  the wait for its turn in the engine: its questions go ahead of every
 *  pending asynchronous request, behind at most XS_ASYNC_BATCH of them
 *  (limits block, Fairness); a cache hit does not block and allocates only
 *  the result. A question repeated while nothing it depends on has
 *  changed is answered with a copy of the earlier result (the result memo,
 *  see xs_config_set_result_memo): the same result a new resolution would
 *  give. Any thread (not from a callback in XS_DISPATCH_ENGINE
 *  mode, which runs on the engine thread it would wait for). */
XS_EXTERN xs_status xs_resolve(xs_resolver *res, const char *name,
                               xs_family family, xs_result **out);

/** What xs_connect connected to, or why it could not. */
typedef struct xs_connect_info {
  int family;          /* 4 or 6 */
  char address[46];    /* the peer's address, as text */
  unsigned port;       /* the port connected to (a named port resolved) */
  char target[254];    /* the name for TLS SNI, the certificate check and
                        * the HTTP Host header: xs_result_target without
                        * the trailing dot (the registry's ExternalName or
                        * the name asked, never an upstream CNAME's
                        * target); "" when no address resolved */
  unsigned attempts;   /* connection attempts started */
  unsigned elapsed_ms; /* resolution and connection */
  int error;           /* XS_ECONNECT: errno of the last failed attempt */
  char message[256];   /* on failure: what went wrong, for a human */
} xs_connect_info;

/** Resolve name (as xs_resolve does, both families at once) and open a TCP
 *  connection to it the way RFC 8305 describes: when the non-preferred
 *  family answers first, up to 50 ms for the other; addresses alternating
 *  by family; a new attempt every attempt delay while earlier ones are
 *  pending (at once when one fails); the first connection wins and every
 *  other socket is closed. Addresses in the failover memory go last. The
 *  resolver's policy applies (denied addresses are never tried).
 *
 *  port: 1..65535, or 0 to take it from name: "name:5432", or
 *  "name:pg" for the port named pg in the Service's spec.ports (TCP).
 *  timeout_ms (> 0) bounds the whole call. On XS_OK *fd is a connected,
 *  close-on-exec socket (blocking unless xs_config_set_connect_nonblock)
 *  the caller closes; otherwise *fd is -1. info (may be NULL) is filled
 *  either way. Returns XS_OK, XS_EINVAL, XS_ETIMEOUT, XS_ECONNECT (every
 *  address failed; info->error has the errno), XS_EPOLICY, or a resolution
 *  failure (XS_ENOTFOUND, XS_ENODATA, XS_ESERVFAIL, ...; a named port that
 *  does not exist is XS_ENOTFOUND). Blocks; any thread (not from a
 *  callback in XS_DISPATCH_ENGINE mode). */
XS_EXTERN xs_status xs_connect(xs_resolver *res, const char *name,
                               unsigned port, int timeout_ms, int *fd,
                               xs_connect_info *info);

/** Completion of xs_resolve_async: status is xs_result_status(result), or
 *  XS_ECANCELLED / XS_ENOMEM with result NULL. The callee owns result
 *  (xs_result_free). Runs exactly once per accepted request. */
typedef void (*xs_resolve_cb)(xs_status status, xs_result *result, void *arg);

/** Resolve as xs_resolve does, without blocking. On XS_OK the request is
 *  accepted and cb will run exactly once (see xs_dispatch for where; with
 *  XS_DISPATCH_ENGINE it may run before this returns when the answer needs
 *  no upstream query); *request (if non-NULL) names it for
 *  xs_resolve_cancel. Questions that need upstream are started in the
 *  order asked, XS_ASYNC_BATCH per engine round, each round after the
 *  questions of blocking calls (xs_resolve, xs_connect): a flood of
 *  asynchronous requests delays a blocking call by one batch at most, and
 *  a blocking call delays them by one round at most. XS_EINVAL (NULL
 * resolver/name/cb, bad family), XS_ELIMIT (xs_config_set_max_pending requests
 * already in flight) or XS_ENOMEM: cb never runs. An invalid name is accepted
 * and completes with XS_EBADNAME. Any thread, also from a callback. */
XS_EXTERN xs_status xs_resolve_async(xs_resolver *res, const char *name,
                                     xs_family family, xs_resolve_cb cb,
                                     void *arg, unsigned long long *request);

/** Cancel a request: its callback runs with XS_ECANCELLED (soon, and not
 *  inside this call). XS_OK if it was still pending, XS_ENOTFOUND if it has
 *  completed (or is completing) or is unknown. Any thread. */
XS_EXTERN xs_status xs_resolve_cancel(xs_resolver *res,
                                      unsigned long long request);

/** XS_DISPATCH_QUEUE: a file descriptor that is readable while completions
 *  wait for xs_resolver_dispatch (poll it for POLLIN; never read or close
 *  it). -1 in XS_DISPATCH_ENGINE mode. Any thread. */
XS_EXTERN int xs_resolver_fd(const xs_resolver *res);

/** XS_DISPATCH_QUEUE: run the queued callbacks on this thread; returns how
 *  many ran (0 if none, or in XS_DISPATCH_ENGINE mode). Callbacks may start
 *  new requests. One thread at a time. */
XS_EXTERN size_t xs_resolver_dispatch(xs_resolver *res);

/** Ask the resolver's address policy about one address learned elsewhere
 *  (from the system's resolver, a config file, a peer): the same check
 *  xs_resolve and xs_connect apply to the addresses they hand out (the
 *  denied ranges; IPv4-mapped IPv6 addresses are checked as IPv4).
 *  family 4 with raw[0..4), or 6 with raw[0..16), network byte order;
 *  raw is read during the call only. Returns XS_OK (allowed), XS_EPOLICY
 *  (denied; why, when non-NULL, receives the sentence xs_result_policy
 *  would give, such as "address 127.0.0.1 is in denied range 127.0.0.0/8
 *  (loopback)", truncated to why_len including the NUL; 320 octets always
 *  suffice) or XS_EINVAL (res or raw
 *  NULL, family not 4 or 6). why, when non-NULL and why_len > 0, is ""
 *  unless XS_EPOLICY. Does not block, sends nothing, reads only the
 *  configuration the resolver was created with. Any thread, also from a
 *  callback, and also in a child after fork() (the one call allowed on a
 *  resolver created before the fork). */
XS_EXTERN xs_status xs_resolver_check_address(const xs_resolver *res,
                                              int family,
                                              const unsigned char *raw,
                                              char *why, size_t why_len);

XS_EXTERN void xs_result_free(xs_result *result);
XS_EXTERN xs_status xs_result_status(const xs_result *result);
/** The query as given. */
XS_EXTERN const char *xs_result_query(const xs_result *result);
/** The candidate that answered (absolute, with the trailing dot); on failure
 *  the candidate whose answer decided the status; "" if none was tried. */
XS_EXTERN const char *xs_result_name(const xs_result *result);
/** Every absolute candidate tried, in order. */
XS_EXTERN size_t xs_result_candidate_count(const xs_result *result);
XS_EXTERN const char *xs_result_candidate(const xs_result *result, size_t i);

/** The CNAME chain of the answering candidate, one entry per link, in order.
 *  name/target are absolute with the trailing dot. */
XS_EXTERN size_t xs_result_chain_count(const xs_result *result);
XS_EXTERN const char *xs_result_chain_name(const xs_result *result, size_t i);
XS_EXTERN const char *xs_result_chain_target(const xs_result *result, size_t i);
XS_EXTERN unsigned xs_result_chain_ttl(const xs_result *result, size_t i);
XS_EXTERN xs_source xs_result_chain_source(const xs_result *result, size_t i);
/** Why the policy refused the answer (status XS_EPOLICY), e.g. "address
 *  169.254.169.254 is in denied range 169.254.0.0/16" or "target
 *  evil.example. is not below an allowed suffix (example.com)"; "" when it
 *  did not. */
XS_EXTERN const char *xs_result_policy(const xs_result *r);
/** The name to check the peer against: TLS SNI, the certificate's
 *  reference identity (RFC 6125) and the HTTP Host header (without the
 *  trailing dot). Absolute, with the trailing dot. It is a name the
 *  registry or the caller gave, never one learned from upstream DNS:
 *  - an ExternalName Service, also reached through in-cluster aliases: its
 *    externalName as the registry holds it (the first name of the chain
 *    outside the cluster domain), whatever upstream CNAMEs follow it;
 *  - a name outside the cluster domain: the answering candidate (the name
 *    asked, absolute, as spelled), whatever upstream CNAMEs follow it;
 *  - a ClusterIP or headless Service (also through aliases), and an
 *    IP-like externalName answered as an address
 *    (xs_config_set_ip_literal_targets): the in-cluster name the
 *    registry's addresses are at, e.g. "web.prod.svc.cluster.local." or
 *    "pet-0.pets.prod.svc.cluster.local.".
 *  Upstream CNAMEs carry no authority without DNSSEC (RFC 7525 6.1: names
 *  learned from DNS are not reference identities), and services behind
 *  one (load balancers, managed databases) present certificates for the
 *  name asked, not the CNAME's target. On failure the same rule over what
 *  was found (e.g. the refused externalName of XS_EPOLICY); "" if no
 *  candidate was tried. Owned by the result. (It used to be the chain's
 *  final name, now xs_result_final_name: CHANGELOG.md, Security.) */
XS_EXTERN const char *xs_result_target(const xs_result *result);
/** For diagnostics and DNS answers, not for TLS: the name the addresses
 *  belong to, i.e. the last target of the whole chain (upstream CNAMEs
 *  included; the load balancer's name behind a database's CNAME), or the
 *  answering candidate when there is no chain. Equal to xs_result_target
 *  when nothing upstream was a CNAME. Absolute, with the trailing dot; ""
 *  if no candidate was tried. Owned by the result. */
XS_EXTERN const char *xs_result_final_name(const xs_result *result);

/** Addresses: IPv4 first in answer order, then IPv6. family is 4 or 6;
 *  raw points to 4 or 16 network-order bytes; text is the printable form. */
XS_EXTERN size_t xs_result_address_count(const xs_result *result);
XS_EXTERN int xs_result_address_family(const xs_result *result, size_t i);
XS_EXTERN const unsigned char *xs_result_address_raw(const xs_result *result,
                                                     size_t i);
XS_EXTERN const char *xs_result_address_text(const xs_result *result, size_t i);
XS_EXTERN unsigned xs_result_address_ttl(const xs_result *result, size_t i);
XS_EXTERN xs_source xs_result_address_source(const xs_result *result, size_t i);
/** Minimum TTL over the chain and the addresses (the answer's effective
 *  TTL); for negative results the negative TTL; 0 if unknown. */
XS_EXTERN unsigned xs_result_ttl(const xs_result *result);

/** "registry", "upstream", "cache" or "stale". Static storage. */
XS_EXTERN const char *xs_source_name(xs_source source);

/* ---- DNS server ------------------------------------------------------------
 */

/** A DNS server on one address (UDP and TCP, one thread) answering as a
 *  cluster's CoreDNS would, from the resolver's registry and settings: the
 *  cluster zone authoritatively (AA), the reverse zones for ClusterIPs and
 *  endpoints, ExternalName targets chased like CoreDNS (CNAME + the
 *  target's records, fetched through the resolver and its cache), and other
 *  names forwarded (RA set): A/AAAA through the resolver and its cache,
 *  other types as they are (the upstream's reply, with the client's id,
 *  question spelling and EDNS0 size; zone transfers REFUSED). Forwarding, and
 *  chasing, only happen when the resolver was given servers explicitly
 *  (xs_config_add_server): a test's fake cluster DNS never reaches
 *  /etc/resolv.conf's; otherwise names outside the zones are REFUSED.
 *  Registry changes are served from the next query on. */
typedef struct xs_server xs_server;

/* xs_server_counts.types[] indices */
enum {
  XS_SERVER_A,
  XS_SERVER_AAAA,
  XS_SERVER_CNAME,
  XS_SERVER_SRV,
  XS_SERVER_PTR,
  XS_SERVER_TXT,
  XS_SERVER_SOA,
  XS_SERVER_OTHER,
  XS_SERVER_TYPES
};

typedef struct xs_server_counts {
  unsigned long long queries;    /* messages read */
  unsigned long long answered;   /* replies sent to queries */
  unsigned long long nxdomain;   /* in-zone NXDOMAIN answers */
  unsigned long long refused;    /* names not served */
  unsigned long long formerr;    /* malformed queries answered FORMERR */
  unsigned long long truncated;  /* UDP replies cut with TC set */
  unsigned long long cache_hits; /* replies served from the reply cache */
  unsigned long long rcodes[16]; /* replies by rcode */
  unsigned long long types[XS_SERVER_TYPES]; /* queries by type */
} xs_server_counts;

#define XS_SERVER_CACHE_TTL_MAX 86400u
/* xs_server_options.fallthrough: where an NXDOMAIN from the registry is
 * passed on to the upstream servers instead, as CoreDNS's `fallthrough
 * [ZONES]` passes it to the next plugin (kubeadm's Corefile has
 * `fallthrough in-addr.arpa ip6.arpa`). NODATA is never passed on. */
#define XS_FALLTHROUGH_CLUSTER 1u /* the cluster zone */
#define XS_FALLTHROUGH_REVERSE 2u /* in-addr.arpa and ip6.arpa */
#define XS_FALLTHROUGH_ALL 3u
#define XS_SERVER_REPLY_CACHE_DEFAULT 16384u
#define XS_SERVER_REPLY_CACHE_MAX (1u << 24)
/* The largest UDP reply: what the server advertises in its OPT record
 * (DNS flag day 2020); a client asking for more gets at most this, and a
 * reply that does not fit is truncated (TC set, the client retries over
 * TCP). Without EDNS0: 512. */
#define XS_SERVER_UDP_MAX 1232u
/* TCP connections served at once (a server-wide table). */
#define XS_SERVER_TCP_MAX 16u
/* xs_server_options.tcp_per_source: connections one client may hold. */
#define XS_SERVER_TCP_PER_SOURCE_DEFAULT 4u
/* xs_server_options.tcp_idle_ms and tcp_message_ms (milliseconds). */
#define XS_SERVER_TCP_IDLE_MS_DEFAULT 2000u
#define XS_SERVER_TCP_MESSAGE_MS_DEFAULT 1000u
#define XS_SERVER_TCP_TIMEOUT_MAX_MS 600000u
/* xs_server_options.allow_from: entries at most. */
#define XS_SERVER_ALLOW_MAX 64u

/** How a server answers beyond the resolver's settings. Set with
 *  xs_server_options_init, then change fields; later versions may add
 *  fields at the end (init sets them). */
typedef struct xs_server_options {
  /* CoreDNS's `cache N` in front of the kubernetes plugin (kubeadm's and
   * the coredns/deployment Corefile have `cache 30`): every reply's
   * records carry one TTL, the smallest among them (for a negative answer,
   * with the SOA's MINIMUM) clamped to [5, cache_ttl], and the reply is
   * kept that long, later hits showing the TTL counted down (K8S-DNS.md
   * section 2.7; conformance row 4). A registry change is still seen on the
   * next query. 0 (the default): no cache plugin, TTLs as answered
   * (the registry's for cluster names, the resolver cache's remaining TTL
   * for fetched records). 0..XS_SERVER_CACHE_TTL_MAX seconds. */
  unsigned cache_ttl;
  /* With cache_ttl: how many replies are kept for the countdown
   * (XS_SERVER_REPLY_CACHE_DEFAULT; 0: none, every reply answered anew but
   * still normalised; at most XS_SERVER_REPLY_CACHE_MAX). Memory: a pointer
   * per entry up front, then about 60 bytes plus the question and the reply
   * per entry used. Unused without cache_ttl. */
  size_t reply_cache;
  /* XS_FALLTHROUGH_* bits (0, the default: the registry's NXDOMAIN is the
   * answer). Needs upstream servers (xs_config_add_server). */
  unsigned fallthrough;
  /* Which clients are answered, as unbound's access-control: allow_count
   * entries "ADDRESS/PREFIX" or a bare address ("10.0.0.0/8",
   * "2001:db8::/32", "192.0.2.7"; host bits past the prefix are ignored;
   * "0.0.0.0/0" and "::/0" allow every client of a family). An IPv4 client
   * reaching an IPv6 socket (::ffff:a.b.c.d) is matched as IPv4. NULL or
   * allow_count 0 (the default): loopback clients only (127.0.0.0/8 and
   * ::1), wherever the server listens. A list replaces that default (name
   * the loopback ranges to keep them). Others get REFUSED over UDP (no
   * more octets than they sent, plus our OPT) and their TCP connections
   * are closed as soon as they are accepted, before any octet is read. At
   * most XS_SERVER_ALLOW_MAX entries (XS_EINVAL past it, or for an entry
   * that does not parse; err names it). The strings are read during
   * xs_server_start_opts only. */
  const char *const *allow_from;
  size_t allow_count;
  /* TCP (RFC 7766): a connection with nothing to read or write is closed
   * after tcp_idle_ms; a message must arrive whole within tcp_message_ms
   * of its first octet, and each reply must be taken by the client within
   * tcp_message_ms of reaching the head of what it has to read, else the
   * connection is closed (a client trickling octets, or one that stops
   * reading, holds a slot that long at most). One client address (an
   * IPv4 address, an IPv6 /64) holds at most tcp_per_source of the
   * XS_SERVER_TCP_MAX connections; one more is closed at once. 0 in any
   * of them: its default (XS_SERVER_TCP_IDLE_MS_DEFAULT,
   * XS_SERVER_TCP_MESSAGE_MS_DEFAULT, XS_SERVER_TCP_PER_SOURCE_DEFAULT);
   * times at most XS_SERVER_TCP_TIMEOUT_MAX_MS, tcp_per_source at most
   * XS_SERVER_TCP_MAX (XS_EINVAL past them). */
  unsigned tcp_idle_ms;
  unsigned tcp_message_ms;
  unsigned tcp_per_source;
} xs_server_options;

/** Defaults: no cache plugin (reply_cache XS_SERVER_REPLY_CACHE_DEFAULT for
 *  when one is set), no fallthrough, loopback clients only, and the TCP
 *  bounds XS_SERVER_TCP_IDLE_MS_DEFAULT, XS_SERVER_TCP_MESSAGE_MS_DEFAULT and
 *  XS_SERVER_TCP_PER_SOURCE_DEFAULT. */
XS_EXTERN void xs_server_options_init(xs_server_options *opts);

/** Start serving on listen: "127.0.0.1:5353", "[::1]:0" (port 0: a free
 *  port, the same on UDP and TCP). res must outlive the server. opts may be
 *  NULL (defaults); it is copied. XS_OK, XS_EINVAL (bad address or option;
 *  err says why), XS_EIO (cannot bind), XS_ENOMEM. *out is NULL on failure.
 *  Any thread. */
XS_EXTERN xs_status xs_server_start_opts(xs_resolver *res, const char *listen,
                                         const xs_server_options *opts,
                                         xs_server **out, xs_error *err);
/** xs_server_start_opts with the default options. */
XS_EXTERN xs_status xs_server_start(xs_resolver *res, const char *listen,
                                    xs_server **out, xs_error *err);
/** The port it listens on (UDP and TCP). */
XS_EXTERN unsigned xs_server_port(const xs_server *server);
/** "HOST:PORT" it listens on, e.g. "127.0.0.1:40123" or "[::1]:40123". */
XS_EXTERN const char *xs_server_address(const xs_server *server);
/** Counters so far (thread-safe). */
XS_EXTERN void xs_server_stats(const xs_server *server, xs_server_counts *out);
/** Stop serving and free the server (NULL: no-op). Queries being answered
 *  finish first. */
XS_EXTERN void xs_server_stop(xs_server *server);

/* ---- Statistics and log ------------------------------------------------ */

/* Process-wide: every resolver, engine, server, reload and watcher of the
 * process adds to one set of counters (each thread counts in a block of
 * its own; nothing shared is written on the lookup path). */

#define XS_STATS_MAX_BUCKETS 16
#define XS_STATS_MAX_STATUSES 32

/** A latency histogram, Prometheus style. */
typedef struct xs_histogram {
  size_t nbuckets;                 /* the last is +Inf */
  double le[XS_STATS_MAX_BUCKETS]; /* upper bounds, seconds */
  unsigned long long cumulative[XS_STATS_MAX_BUCKETS]; /* observations <= le */
  unsigned long long count;                            /* = cumulative[last] */
  double sum;                                          /* seconds */
} xs_histogram;

/** Counters since the process started (or since the library was loaded).
 *  Fields may be added at the end; xs_stats_get fills the size given. */
typedef struct xs_stats {
  /* resolutions by final status (index: xs_status), whichever call made
   * them: xs_resolve, xs_resolve_async, xs_connect, the server's */
  unsigned long long lookups[XS_STATS_MAX_STATUSES];
  unsigned long long memo_hits;        /* answered from the result memo */
  unsigned long long cache_hits;       /* cache reads with a fresh entry */
  unsigned long long cache_misses;     /* cache reads without one */
  unsigned long long cache_stale;      /* expired entries served (RFC 8767) */
  unsigned long long cache_prefetches; /* refreshes started by a hit */
  unsigned long long upstream_queries; /* questions sent upstream */
  unsigned long long upstream_timeouts;
  unsigned long long upstream_servfail;
  unsigned long long upstream_failures; /* other failures (REFUSED, ...) */
  unsigned long long policy_refusals;   /* resolutions ending XS_EPOLICY */
  unsigned long long reloads_ok, reloads_failed; /* xs_registry_reload */
  unsigned long long server_responses[16];       /* server replies by rcode */
  /* resolutions answered on the calling thread (memo, cache, registry);
   * one in 64 per thread is timed, so count is about lookups / 64 */
  xs_histogram hit_latency;
  xs_histogram upstream_latency; /* every upstream question */
} xs_stats;

/** Sum the counters into out[0..size) (size: sizeof(xs_stats) as the
 *  caller was compiled). Counts from threads still running are read
 *  without stopping them: each counter is exact as of some moment during
 *  the call. XS_OK, XS_EINVAL (out NULL or size 0). Takes a mutex that
 *  lookups never take. Any thread. */
XS_EXTERN xs_status xs_stats_get(xs_stats *out, size_t size);

/** Write the counters in the Prometheus text exposition format (version
 *  0.0.4: serve it as `text/plain; version=0.0.4`): metric families
 *  xsvc_* with # HELP and # TYPE lines, counters ending _total, the two
 *  latency histograms with cumulative le buckets, _sum and _count. Like
 *  snprintf: writes at most size octets including the NUL (buf may be
 *  NULL when size is 0) and returns the length of the whole text, so a
 *  return >= size means it was cut. Any thread. */
XS_EXTERN size_t xs_stats_prometheus(char *buf, size_t size);

/** Counting on (1, the default) or off (0) for the whole process; off
 *  saves the few nanoseconds it costs a lookup. Any thread. */
XS_EXTERN void xs_stats_set_enabled(int on);

typedef enum xs_log_level {
  XS_LOG_DEBUG = 0,
  XS_LOG_INFO = 1,
  XS_LOG_WARNING = 2,
  XS_LOG_ERROR = 3
} xs_log_level;

/** A log message: one line without a newline, valid only during the call.
 *  Called on whichever library thread had the event (a watcher's, an
 *  engine's, a server's, a reloading caller's), possibly on several at
 *  once: it must be thread-safe and must not block for long. */
typedef void (*xs_log_fn)(xs_log_level level, const char *message, void *arg);

/** Send the library's events at min_level and above to fn (NULL: none, the
 *  default; the library never prints). Events: reloads (applied, unchanged
 *  at debug, failed as a warning), watcher trouble (a directory gone, a
 *  reload retried), server start and stop, upstream failures (debug).
 *  A call already under way on another thread may still reach the
 *  previous fn after this returns. Any thread. */
XS_EXTERN void xs_set_log(xs_log_fn fn, void *arg, xs_log_level min_level);
/** "debug", "info", "warning", "error". Static storage. Any thread. */
XS_EXTERN const char *xs_log_level_name(xs_log_level level);

#ifdef __cplusplus
}
#endif
#endif /* XSVC_H */
