/* Resolver internals shared with connect.c. */
#ifndef XS_RESOLVER_H
#define XS_RESOLVER_H

#include "answer.h"
#include "connect.h"
#include "engine.h"
#include "policy.h"
#include "registry.h"
#include "xsvc.h"

/* xs_resolve_start flags */
/* the callback runs where the walk ends (this thread or the engine's) even
 * in XS_DISPATCH_QUEUE mode */
#define XS_START_DIRECT 1u
/* a thread is blocked until the callback runs (xs_connect): the walk's
 * questions go ahead of asynchronous requests (engine.h, Fairness) */
#define XS_START_BLOCKING 2u

/* xs_resolve_async, with XS_START_* flags (0: as xs_resolve_async). */
xs_status xs_resolve_start(xs_resolver *res, const char *name, xs_family family,
                           xs_resolve_cb cb, void *arg,
                           unsigned long long *request, unsigned flags);

/* The TCP port named port_name of the Service whose name answered r (its
 * name in the cluster domain: <service>.<namespace>.svc.<zone>.). XS_OK,
 * XS_ENOTFOUND (no such Service or port; why says which), XS_ENOMEM. */
xs_status xs_resolver_named_port(xs_resolver *res, const xs_result *r,
                                 const char *port_name, unsigned *port,
                                 char *why, size_t whylen);

const xs_connect_cfg *xs_resolver_connect_cfg(const xs_resolver *res);
/* For tests, before any xs_connect on res: RFC 8305's resolution delay
 * (XS_RESOLUTION_DELAY_MS otherwise). */
void xs_resolver_set_resolution_delay(xs_resolver *res, int ms);
const xs_answer_cfg *xs_resolver_answer_cfg(const xs_resolver *res);
/* The resolver's target policy (fixed at xs_resolver_new; any thread). */
const xs_policy *xs_resolver_policy(const xs_resolver *res);
/* A reference to the registry's current snapshot (NULL: no registry). */
xs_snapshot *xs_resolver_snapshot(xs_resolver *res);
/* The same without a reference of the caller's own (see
 * xs_registry_snapshot_borrow: valid until this thread's next borrow), and
 * the registry's version it is (0 with no registry; version may be NULL). */
xs_snapshot *xs_resolver_snapshot_borrow(xs_resolver *res, uint64_t *version);
/* Forward (name, qtype) of any type to the upstream servers and hand the
 * reply over as it came (xs_engine_submit_raw: no cache); cb runs on the
 * engine thread. *id is for xs_resolver_forward_cancel. */
xs_status xs_resolver_forward(xs_resolver *res, const char *name,
                              uint16_t qtype, xs_engine_raw_cb cb, void *arg,
                              unsigned long long *id);
int xs_resolver_forward_cancel(xs_resolver *res, unsigned long long id);
/* 1 if upstream servers were configured explicitly (the server forwards
 * only then: a test's fake DNS must not reach /etc/resolv.conf's). */
int xs_resolver_has_upstream(const xs_resolver *res);
xs_failmem *xs_resolver_failmem(xs_resolver *res);
/* The engine's counters (engine.h), for tests. */
void xs_resolver_engine_stats(xs_resolver *res, xs_engine_stats *out);

#endif
