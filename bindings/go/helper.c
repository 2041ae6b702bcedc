/* cgo's generated files are built with the same CFLAGS and would fail
 * these two; this file is held to the project's full set (CMakeLists.txt
 * XSVC_WARNINGS). */
#pragma GCC diagnostic error "-Wstrict-prototypes"
#pragma GCC diagnostic error "-Wmissing-prototypes"

#include "helper.h"

#include <stdlib.h>
#include <string.h>

#include "_cgo_export.h"

#define XSGO_NAME_MAX 1024 /* longer names are refused in Go */

typedef struct packer {
  unsigned char *p;
  size_t cap, len;
} packer;

static void put(packer *w, const void *data, size_t n) {
  if (w->len + n <= w->cap)
    memcpy(w->p + w->len, data, n);
  w->len += n;
}

static void put_u8(packer *w, unsigned v) {
  unsigned char b = (unsigned char)v;
  put(w, &b, 1);
}

static void put_u16(packer *w, size_t v) {
  unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
  put(w, b, 2);
}

static void put_u32(packer *w, unsigned v) {
  unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                        (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
  put(w, b, 4);
}

/* Strings from the library are DNS names, addresses or short sentences:
 * well below 64 KiB. */
static void put_str(packer *w, const char *s) {
  size_t n = s != NULL ? strlen(s) : 0;
  if (n > 0xffff)
    n = 0xffff;
  put_u16(w, n);
  put(w, s, n);
}

/* The layout Go's reader (answer.go) expects, little-endian. */
static size_t pack(const xs_result *r, int mode, unsigned char *p, size_t cap) {
  packer w = {p, cap, 0};
  size_t i, n;
  if (r == NULL)
    return 0;
  if (mode == XSGO_HOSTS) {
    put_str(&w, xs_result_policy(r));
    n = xs_result_address_count(r);
    put_u16(&w, n);
    for (i = 0; i < n; i++)
      put_str(&w, xs_result_address_text(r, i));
    return w.len;
  }
  put_u32(&w, xs_result_ttl(r));
  put_str(&w, xs_result_query(r));
  put_str(&w, xs_result_name(r));
  put_str(&w, xs_result_target(r));
  put_str(&w, xs_result_final_name(r));
  put_str(&w, xs_result_policy(r));
  n = xs_result_candidate_count(r);
  put_u16(&w, n);
  for (i = 0; i < n; i++)
    put_str(&w, xs_result_candidate(r, i));
  n = xs_result_chain_count(r);
  put_u16(&w, n);
  for (i = 0; i < n; i++) {
    put_str(&w, xs_result_chain_name(r, i));
    put_str(&w, xs_result_chain_target(r, i));
    put_u32(&w, xs_result_chain_ttl(r, i));
    put_u8(&w, (unsigned)xs_result_chain_source(r, i));
  }
  n = xs_result_address_count(r);
  put_u16(&w, n);
  for (i = 0; i < n; i++) {
    int family = xs_result_address_family(r, i);
    put_u8(&w, (unsigned)family);
    put(&w, xs_result_address_raw(r, i), family == 6 ? 16 : 4);
    put_u32(&w, xs_result_address_ttl(r, i));
    put_u8(&w, (unsigned)xs_result_address_source(r, i));
  }
  return w.len;
}

/* Copies r into buf after the head; DONE if it fit, else SHORT. */
static int copy_out(xs_status status, const xs_result *r, int mode, void *buf,
                    size_t cap) {
  xsgo_head *head = buf;
  size_t room = cap - sizeof(*head);
  size_t n = pack(r, mode, (unsigned char *)buf + sizeof(*head), room);
  head->status = (uint32_t)status;
  head->len = (uint32_t)n;
  return n <= room ? XSGO_DONE : XSGO_SHORT;
}

/* The resolution's callback: exactly once per accepted request. Completing
 * before xsgo_resolve has returned (state 0 -> 2) leaves the result to it;
 * after (state 1) Go is told. */
static void on_done(xs_status status, xs_result *result, void *arg) {
  xsgo_call *call = arg;
  int running = 0;
  call->status = status;
  call->result = result;
  if (__atomic_compare_exchange_n(&call->state, &running, 2, 0,
                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    return;
  xsgoDone(call);
}

int xsgo_finish(xsgo_call *call, int mode, void *buf, size_t cap) {
  if (cap > 0 &&
      copy_out(call->status, call->result, mode, buf, cap) == XSGO_SHORT) {
    ((xsgo_head *)buf)->call = call;
    return XSGO_SHORT;
  }
  xs_result_free(call->result);
  free(call);
  return XSGO_DONE;
}

int xsgo_resolve(void *resolver, int family, int mode, int async, void *buf,
                 size_t cap, size_t namelen) {
  xs_resolver *res = resolver;
  xsgo_head *head = buf;
  char name[XSGO_NAME_MAX + 1];
  xsgo_call *call;
  xs_status st;
  int running = 0;
  if (namelen > XSGO_NAME_MAX || cap < sizeof(*head) + namelen) {
    head->status = XS_EINVAL;
    return XSGO_REFUSED;
  }
  memcpy(name, (char *)buf + sizeof(*head), namelen);
  name[namelen] = '\0';
  if (!async) {
    xs_result *r = NULL;
    int rc;
    st = xs_resolve(res, name, (xs_family)family, &r);
    rc = copy_out(st, r, mode, buf, cap);
    if (rc == XSGO_DONE) {
      xs_result_free(r);
      return XSGO_DONE;
    }
    if ((call = malloc(sizeof(*call))) == NULL) {
      xs_result_free(r);
      head->status = XS_ENOMEM;
      return XSGO_REFUSED;
    }
    call->state = 2;
    call->status = st;
    call->result = r;
    call->request = 0;
    head->call = call;
    return XSGO_SHORT;
  }
  if ((call = malloc(sizeof(*call))) == NULL) {
    head->status = XS_ENOMEM;
    return XSGO_REFUSED;
  }
  call->state = 0;
  call->status = XS_OK;
  call->result = NULL;
  call->request = 0;
  st = xs_resolve_async(res, name, (xs_family)family, on_done, call,
                        &call->request);
  if (st != XS_OK) {
    free(call);
    head->status = (uint32_t)st;
    return XSGO_REFUSED;
  }
  if (__atomic_compare_exchange_n(&call->state, &running, 1, 0,
                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    head->call = call;
    return XSGO_PENDING;
  }
  return xsgo_finish(call, mode, buf, cap);
}
