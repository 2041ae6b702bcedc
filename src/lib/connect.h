/* xs_connect internals: its settings and the failover memory. */
#ifndef XS_CONNECT_H
#define XS_CONNECT_H

#include <pthread.h>
#include <stdint.h>

#include "validate.h"

#define XS_DEFAULT_ATTEMPT_DELAY_MS 250
#define XS_MIN_ATTEMPT_DELAY_MS 10
#define XS_MAX_ATTEMPT_DELAY_MS 10000
#define XS_RESOLUTION_DELAY_MS 50 /* RFC 8305 section 3 */
#define XS_DEFAULT_FAILOVER_S 30
#define XS_MAX_FAILOVER_S 3600
#define XS_FAILMEM_SLOTS 256

typedef struct xs_connect_cfg {
  int attempt_delay_ms;
  int prefer;          /* 6 (default) or 4: the family tried first */
  int nonblock;        /* the returned socket is O_NONBLOCK */
  unsigned failover_s; /* how long a failed address is tried last; 0: never */
  /* XS_RESOLUTION_DELAY_MS; only tests change it (xs_resolver_set_
   * resolution_delay), to make "within the delay" hold on any machine */
  int resolution_delay_ms;
} xs_connect_cfg;

void xs_connect_cfg_default(xs_connect_cfg *c);

/* Addresses (with their port) that recently refused or timed out. */
typedef struct xs_failmem xs_failmem;
xs_failmem *xs_failmem_new(void);
void xs_failmem_free(xs_failmem *m);
void xs_failmem_note(xs_failmem *m, const xs_addr *a, unsigned port,
                     uint64_t until_ms);
void xs_failmem_forget(xs_failmem *m, const xs_addr *a, unsigned port);
int xs_failmem_recent(xs_failmem *m, const xs_addr *a, unsigned port,
                      uint64_t now_ms);

#endif
