/*
 * The binding's C side: one call per resolution. xsgo_resolve starts the
 * resolution and, when the answer is there at once (registry, cache, memo),
 * copies everything Go needs into the caller's buffer and frees the result
 * before it returns; otherwise it hands back the call to wait for. Private
 * to the Go package; uses only include/xsvc.h.
 */
#ifndef XSVC_GO_HELPER_H
#define XSVC_GO_HELPER_H

#include <stddef.h>
#include <stdint.h>
#include <xsvc.h>

/* What to copy out of a result. */
enum {
  XSGO_ANSWER = 0, /* everything an Answer holds */
  XSGO_HOSTS = 1   /* the policy text and the addresses as text */
};

/* xsgo_resolve / xsgo_finish outcomes. */
enum {
  XSGO_DONE = 0,    /* the answer is in the buffer; nothing left to free */
  XSGO_PENDING = 1, /* wait for xsgoDone(call), then xsgo_finish(call) */
  XSGO_SHORT = 2,   /* the buffer is too small: head.len bytes are needed;
                     * xsgo_finish(call) with a larger one */
  XSGO_REFUSED = 3  /* xs_resolve_async refused (head.status); nothing to
                     * free */
};

/* One resolution in flight. Allocated by xsgo_resolve, freed by
 * xsgo_finish once its result has been copied out (or discarded). */
typedef struct xsgo_call {
  int state;                  /* 0 running, 1 Go waits, 2 completed */
  xs_status status;           /* set by the callback */
  xs_result *result;          /* set by the callback; may be NULL */
  unsigned long long request; /* for xs_resolve_cancel */
} xsgo_call;

/* The start of the caller's buffer. In: nothing (the name follows the
 * head). Out: status, and the bytes written (DONE) or needed (SHORT). */
typedef struct xsgo_head {
  uint32_t status;
  uint32_t len;
  xsgo_call *call; /* PENDING, SHORT */
} xsgo_head;

/* Resolve the namelen bytes that follow the head in buf (cap bytes in all)
 * with the xs_resolver res: asynchronously when async is 1 (cancellable),
 * else with the blocking xs_resolve. The buffer is overwritten with the
 * answer. (res is a void *: Go boxes a pointer to an incomplete C type
 * into an allocation when it checks the call's pointers.) */
int xsgo_resolve(void *res, int family, int mode, int async, void *buf,
                 size_t cap, size_t namelen);

/* Copy call's result into buf as xsgo_resolve would; on XSGO_DONE the
 * result and call are freed. cap 0 discards the result: always DONE. */
int xsgo_finish(xsgo_call *call, int mode, void *buf, size_t cap);

#endif
