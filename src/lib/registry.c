/* Registry snapshots (immutable once finished) and the public registry
 * handle with its in-code building API. */
#include "registry.h"

#include "names.h"
#include "stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct xs_pending_ep {
  const char *ns; /* interned */
  const char *svc;
  xs_endpoint ep;
} xs_pending_ep;

typedef struct xs_ptr_entry {
  xs_addr addr;
  uint32_t svc;
  int32_t ep; /* -1: the service's ClusterIP */
} xs_ptr_entry;

void xs_error_set(xs_error *err, xs_status status, const char *file,
                  unsigned line, unsigned column, const char *fmt, ...) {
  va_list ap;
  if (err == NULL)
    return;
  err->status = status;
  err->line = line;
  err->column = column;
  snprintf(err->file, sizeof(err->file), "%s", file != NULL ? file : "");
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  va_end(ap);
}

uint32_t xs_hash_key(const char *ns, size_t ns_len, const char *name,
                     size_t name_len) {
  return xs_hash_ci(xs_hash_ci(2166136261u, ns, ns_len), name, name_len);
}

static int name_eq(const char *stored, const char *s, size_t len) {
  return strlen(stored) == len && xs_ci_eq(stored, s, len);
}

/* ---- snapshot builder ---------------------------------------------------- */

xs_snapshot *xs_snapshot_new(void) {
  xs_snapshot *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  atomic_init(&s->refs, 1);
  xs_arena_init(&s->arena);
  return s;
}

static int table_grow(uint32_t **table, size_t *mask, size_t count,
                      uint32_t (*hash_of)(const xs_snapshot *, uint32_t),
                      const xs_snapshot *s) {
  size_t size = *table == NULL ? 0 : *mask + 1;
  size_t nsize, i;
  uint32_t *nt;
  if (size != 0 && (count + 1) * 2 <= size)
    return 0;
  nsize = size == 0 ? 16 : size * 2;
  while ((count + 1) * 2 > nsize)
    nsize *= 2;
  nt = calloc(nsize, sizeof(*nt));
  if (nt == NULL)
    return -1;
  for (i = 0; i < size; i++) {
    uint32_t v = (*table)[i];
    size_t j;
    if (v == 0)
      continue;
    j = hash_of(s, v - 1) & (nsize - 1);
    while (nt[j] != 0)
      j = (j + 1) & (nsize - 1);
    nt[j] = v;
  }
  free(*table);
  *table = nt;
  *mask = nsize - 1;
  return 0;
}

static uint32_t ns_hash_of(const xs_snapshot *s, uint32_t i) {
  const char *ns = s->namespaces[i];
  return xs_hash_ci(2166136261u, ns, strlen(ns));
}

/* The services array with room for cap (64-byte aligned, as its records
 * are: realloc would not keep that). */
static int services_resize(xs_snapshot *s, size_t cap) {
  xs_service *n = aligned_alloc(_Alignof(xs_service), cap * sizeof(*n));
  if (n == NULL)
    return -1;
  if (s->nservices > 0)
    memcpy(n, s->services, s->nservices * sizeof(*n));
  free(s->services);
  s->services = n;
  s->cap_services = cap;
  return 0;
}

/* The services table (see xs_svc_slot): a probe compares hashes without
 * reading any service, and growing never reads the services at all. */
static int svc_table_grow(xs_snapshot *s) {
  size_t size = s->table == NULL ? 0 : s->table_mask + 1;
  size_t nsize, i;
  xs_svc_slot *nt;
  if (size != 0 && (s->nservices + 1) * 2 <= size)
    return 0;
  nsize = size == 0 ? 16 : size * 2;
  while ((s->nservices + 1) * 2 > nsize)
    nsize *= 2;
  if ((nt = calloc(nsize, sizeof(*nt))) == NULL)
    return -1;
  for (i = 0; i < size; i++) {
    size_t j;
    if (s->table[i].idx1 == 0)
      continue;
    j = s->table[i].hash & (nsize - 1);
    while (nt[j].idx1 != 0)
      j = (j + 1) & (nsize - 1);
    nt[j] = s->table[i];
  }
  free(s->table);
  s->table = nt;
  s->table_mask = nsize - 1;
  return 0;
}

static const char *find_namespace(const xs_snapshot *s, const char *ns,
                                  size_t len) {
  size_t j;
  if (s == NULL || s->ns_table == NULL)
    return NULL;
  j = xs_hash_ci(2166136261u, ns, len) & s->ns_table_mask;
  while (s->ns_table[j] != 0) {
    const char *cand = s->namespaces[s->ns_table[j] - 1];
    if (name_eq(cand, ns, len))
      return cand;
    j = (j + 1) & s->ns_table_mask;
  }
  return NULL;
}

const char *xs_snapshot_add_namespace(xs_snapshot *s, const char *ns,
                                      size_t len) {
  const char *found = find_namespace(s, ns, len);
  char *copy;
  size_t j;
  if (found != NULL)
    return found;
  if (table_grow(&s->ns_table, &s->ns_table_mask, s->nnamespaces, ns_hash_of,
                 s) != 0)
    return NULL;
  if (s->nnamespaces == s->cap_namespaces) {
    size_t ncap = s->cap_namespaces ? s->cap_namespaces * 2 : 8;
    const char **n = realloc(s->namespaces, ncap * sizeof(*n));
    if (n == NULL)
      return NULL;
    s->namespaces = n;
    s->cap_namespaces = ncap;
  }
  copy = xs_arena_strndup(&s->arena, ns, len);
  if (copy == NULL)
    return NULL;
  s->namespaces[s->nnamespaces] = copy;
  j = xs_hash_ci(2166136261u, ns, len) & s->ns_table_mask;
  while (s->ns_table[j] != 0)
    j = (j + 1) & s->ns_table_mask;
  s->ns_table[j] = (uint32_t)++s->nnamespaces;
  return copy;
}

static size_t find_service_index(const xs_snapshot *s, const char *ns,
                                 size_t ns_len, const char *name,
                                 size_t name_len) {
  size_t j;
  uint32_t h;
  const xs_svc_slot *t;
  if (s == NULL || s->table == NULL)
    return (size_t)-1;
  h = xs_hash_key(ns, ns_len, name, name_len);
  j = h & s->table_mask;
  for (; (t = &s->table[j])->idx1 != 0; j = (j + 1) & s->table_mask) {
    const xs_service *svc;
    if (t->hash != h)
      continue;
    svc = &s->services[t->idx1 - 1];
    if (svc->name_len == name_len && svc->ns_len == ns_len &&
        xs_ci_eq(t->name, name, name_len) && xs_ci_eq(svc->ns, ns, ns_len))
      return t->idx1 - 1;
  }
  return (size_t)-1;
}

xs_status xs_snapshot_add_service(xs_snapshot *s, const xs_service *svc,
                                  xs_service **out) {
  size_t ns_len = strlen(svc->ns), name_len = strlen(svc->name), j;
  xs_service *dst;
  const char *ns;
  if (name_len > 255)
    return XS_EINVAL;
  if (find_service_index(s, svc->ns, ns_len, svc->name, name_len) != (size_t)-1)
    return XS_EEXIST;
  ns = xs_snapshot_add_namespace(s, svc->ns, ns_len);
  if (ns == NULL)
    return XS_ENOMEM;
  if (svc_table_grow(s) != 0)
    return XS_ENOMEM;
  if (s->nservices == s->cap_services) {
    if (services_resize(s, s->cap_services ? s->cap_services * 2 : 16) != 0)
      return XS_ENOMEM;
  }
  dst = &s->services[s->nservices];
  *dst = *svc;
  if (ns_len > 255)
    return XS_EINVAL;
  dst->ns = ns;
  dst->ns_len = (uint8_t)ns_len;
  dst->name_len = (uint8_t)name_len;
  dst->hash = xs_hash_key(ns, ns_len, svc->name, name_len);
  dst->endpoints = NULL;
  dst->nendpoints = 0;
  dst->external_fqdn = NULL;
  dst->ext_len = 0;
  {
    /* One block, on one cache line when it fits: "name\0" and, for an
     * ExternalName, "ext.\0ext\0" (answers point at the first, lookups
     * use the second): a lookup reads them together. */
    size_t elen = svc->external_name != NULL ? strlen(svc->external_name) : 0;
    size_t size =
        name_len + 1 + (svc->external_name != NULL ? 2 * elen + 3 : 0);
    char *p;
    if (elen > XS_MAX_NAME)
      return XS_EINVAL;
    if ((p = xs_arena_alloc_line(&s->arena, size)) == NULL)
      return XS_ENOMEM;
    memcpy(p, svc->name, name_len);
    p[name_len] = '\0';
    dst->name = p;
    if (svc->external_name != NULL) {
      char *fqdn = p + name_len + 1;
      memcpy(fqdn, svc->external_name, elen);
      fqdn[elen] = '.';
      fqdn[elen + 1] = '\0';
      memcpy(fqdn + elen + 2, svc->external_name, elen + 1);
      dst->external_fqdn = fqdn;
      dst->external_name = fqdn + elen + 2;
      dst->ext_len = (uint8_t)elen;
    }
  }
  if (svc->nports > 0) {
    uint16_t i;
    dst->ports = xs_arena_alloc(&s->arena, svc->nports * sizeof(xs_port));
    if (dst->ports == NULL)
      return XS_ENOMEM;
    for (i = 0; i < svc->nports; i++) {
      dst->ports[i] = svc->ports[i];
      if (svc->ports[i].name != NULL) {
        dst->ports[i].name = xs_arena_strndup(&s->arena, svc->ports[i].name,
                                              strlen(svc->ports[i].name));
        if (dst->ports[i].name == NULL)
          return XS_ENOMEM;
      }
    }
  } else {
    dst->ports = NULL;
  }
  j = dst->hash & s->table_mask;
  while (s->table[j].idx1 != 0)
    j = (j + 1) & s->table_mask;
  s->table[j].hash = dst->hash;
  s->table[j].idx1 = (uint32_t)++s->nservices;
  s->table[j].name = dst->name;
  if (out != NULL)
    *out = dst;
  return XS_OK;
}

xs_status xs_snapshot_add_endpoint(xs_snapshot *s, const char *ns,
                                   const char *svc_name,
                                   const xs_endpoint *ep) {
  xs_pending_ep *p;
  const char *ins = xs_snapshot_add_namespace(s, ns, strlen(ns));
  if (ins == NULL)
    return XS_ENOMEM;
  if (s->npending == s->cap_pending) {
    size_t ncap = s->cap_pending ? s->cap_pending * 2 : 16;
    xs_pending_ep *n = realloc(s->pending, ncap * sizeof(*n));
    if (n == NULL)
      return XS_ENOMEM;
    s->pending = n;
    s->cap_pending = ncap;
  }
  p = &s->pending[s->npending];
  p->ns = ins;
  p->svc = xs_arena_strndup(&s->arena, svc_name, strlen(svc_name));
  p->ep = *ep;
  if (p->svc == NULL)
    return XS_ENOMEM;
  if (ep->hostname != NULL) {
    p->ep.hostname =
        xs_arena_strndup(&s->arena, ep->hostname, strlen(ep->hostname));
    if (p->ep.hostname == NULL)
      return XS_ENOMEM;
  }
  s->npending++;
  return XS_OK;
}

xs_snapshot *xs_snapshot_clone(const xs_snapshot *src, const char *skip_ns,
                               const char *skip_name) {
  xs_snapshot *s = xs_snapshot_new();
  size_t i;
  if (s == NULL)
    return NULL;
  for (i = 0; i < src->nnamespaces; i++)
    if (xs_snapshot_add_namespace(s, src->namespaces[i],
                                  strlen(src->namespaces[i])) == NULL)
      goto fail;
  for (i = 0; i < src->nservices; i++) {
    const xs_service *svc = &src->services[i];
    uint32_t k;
    /* A skipped service's endpoints stay pending: they attach to a
     * replacement added under the same name, or are dropped at finish. */
    if (!(skip_ns != NULL && strcmp(svc->ns, skip_ns) == 0 &&
          strcmp(svc->name, skip_name) == 0) &&
        xs_snapshot_add_service(s, svc, NULL) != XS_OK)
      goto fail;
    for (k = 0; k < svc->nendpoints; k++)
      if (xs_snapshot_add_endpoint(s, svc->ns, svc->name, &svc->endpoints[k]) !=
          XS_OK)
        goto fail;
  }
  s->skipped = src->skipped;
  return s;
fail:
  xs_snapshot_unref(s);
  return NULL;
}

static int cmp_ptr(const void *a, const void *b) {
  const xs_ptr_entry *x = a, *y = b;
  if (x->addr.family != y->addr.family)
    return x->addr.family < y->addr.family ? -1 : 1;
  return memcmp(x->addr.bytes, y->addr.bytes, 16);
}

/* Keys are (service index << 32 | pending index): sorting groups endpoints
 * by service and keeps each service's endpoints in the order they came. */
static int cmp_pending(const void *a, const void *b) {
  const size_t *x = a, *y = b;
  return (*x > *y) - (*x < *y);
}

xs_status xs_snapshot_finish(xs_snapshot *s) {
  size_t i, nptrs = 0;
  size_t *keys = NULL;
  xs_status st = XS_ENOMEM;

  if (s->npending > 0) {
    keys = malloc(s->npending * sizeof(*keys));
    if (keys == NULL)
      goto done;
  }
  for (i = 0; i < s->npending; i++) {
    const xs_pending_ep *p = &s->pending[i];
    size_t idx =
        find_service_index(s, p->ns, strlen(p->ns), p->svc, strlen(p->svc));
    if (idx == (size_t)-1 || s->services[idx].type == XS_SVC_EXTERNAL)
      idx = (size_t)0xffffffffu;
    keys[i] = ((size_t)idx << 32) | i;
  }
  if (s->npending > 0)
    qsort(keys, s->npending, sizeof(*keys), cmp_pending);
  for (i = 0; i < s->npending;) {
    size_t idx = keys[i] >> 32, j = i, k;
    xs_service *svc;
    if (idx == 0xffffffffu)
      break;
    while (j < s->npending && (keys[j] >> 32) == idx)
      j++;
    svc = &s->services[idx];
    svc->endpoints = xs_arena_alloc(&s->arena, (j - i) * sizeof(xs_endpoint));
    if (svc->endpoints == NULL)
      goto done;
    for (k = i; k < j; k++)
      svc->endpoints[svc->nendpoints++] = s->pending[keys[k] & 0xffffffffu].ep;
    i = j;
  }
  free(s->pending);
  s->pending = NULL;
  s->npending = s->cap_pending = 0;

  for (i = 0; i < s->nservices; i++) {
    const xs_service *svc = &s->services[i];
    nptrs += svc->nips;
    nptrs += svc->nendpoints;
  }
  if (nptrs > 0) {
    s->ptrs = malloc(nptrs * sizeof(*s->ptrs));
    if (s->ptrs == NULL)
      goto done;
  }
  for (i = 0; i < s->nservices; i++) {
    const xs_service *svc = &s->services[i];
    uint32_t k;
    for (k = 0; k < svc->nips; k++) {
      xs_ptr_entry *e = &s->ptrs[s->nptrs++];
      memset(e, 0, sizeof(*e));
      e->addr = svc->ips[k];
      e->svc = (uint32_t)i;
      e->ep = -1;
    }
    for (k = 0; k < svc->nendpoints; k++) {
      xs_ptr_entry *e;
      if (!svc->endpoints[k].ready && !svc->tolerate_unready)
        continue;
      e = &s->ptrs[s->nptrs++];
      memset(e, 0, sizeof(*e));
      e->addr = svc->endpoints[k].addr;
      e->svc = (uint32_t)i;
      e->ep = (int32_t)k;
    }
  }
  if (s->nptrs > 1)
    qsort(s->ptrs, s->nptrs, sizeof(*s->ptrs), cmp_ptr);
  if (s->nservices > 0 && s->nservices < s->cap_services)
    (void)services_resize(s, s->nservices); /* on failure: keeps the room */
  s->serial = (uint64_t)time(NULL);
  s->finished = 1;
  st = XS_OK;
done:
  free(keys);
  return st;
}

void xs_snapshot_ref(xs_snapshot *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void xs_snapshot_unref(xs_snapshot *s) {
  if (s == NULL)
    return;
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
    return;
  xs_arena_free(&s->arena);
  free(s->services);
  free(s->table);
  free(s->namespaces);
  free(s->ns_table);
  free(s->pending);
  free(s->ptrs);
  free(s);
}

const xs_service *xs_snapshot_find(const xs_snapshot *s, const char *ns,
                                   size_t ns_len, const char *name,
                                   size_t name_len) {
  size_t idx = find_service_index(s, ns, ns_len, name, name_len);
  return idx == (size_t)-1 ? NULL : &s->services[idx];
}

int xs_snapshot_has_namespace(const xs_snapshot *s, const char *ns,
                              size_t ns_len) {
  return find_namespace(s, ns, ns_len) != NULL;
}

int xs_snapshot_find_addr(const xs_snapshot *s, const xs_addr *addr,
                          const xs_service **svc, const xs_endpoint **ep) {
  size_t lo = 0, hi;
  xs_ptr_entry key;
  if (s == NULL)
    return 0;
  hi = s->nptrs;
  memset(&key, 0, sizeof(key));
  key.addr = *addr;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = cmp_ptr(&key, &s->ptrs[mid]);
    if (c == 0) {
      const xs_ptr_entry *e = &s->ptrs[mid];
      *svc = &s->services[e->svc];
      *ep = e->ep < 0 ? NULL : &(*svc)->endpoints[e->ep];
      return 1;
    }
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return 0;
}

/* ---- public registry ------------------------------------------------------
 */

static _Atomic uint64_t next_registry_id = 1;

xs_status xs_registry_from_snapshot(xs_snapshot *snap, xs_registry **out) {
  xs_registry *reg = calloc(1, sizeof(*reg));
  if (reg == NULL)
    return XS_ENOMEM;
  atomic_init(&reg->refs, 1);
  reg->id = atomic_fetch_add(&next_registry_id, 1);
  atomic_init(&reg->version, 1);
  pthread_mutex_init(&reg->lock, NULL);
  pthread_mutex_init(&reg->write_lock, NULL);
  reg->current = snap;
  *out = reg;
  return XS_OK;
}

xs_status xs_registry_new(xs_registry **out) {
  xs_snapshot *snap;
  xs_status st;
  if (out == NULL)
    return XS_EINVAL;
  snap = xs_snapshot_new();
  if (snap == NULL)
    return XS_ENOMEM;
  st = xs_snapshot_finish(snap);
  if (st == XS_OK)
    st = xs_registry_from_snapshot(snap, out);
  if (st != XS_OK)
    xs_snapshot_unref(snap);
  return st;
}

void xs_registry_ref(xs_registry *reg) {
  atomic_fetch_add_explicit(&reg->refs, 1, memory_order_relaxed);
}

void xs_registry_free(xs_registry *reg) {
  if (reg == NULL)
    return;
  if (atomic_fetch_sub_explicit(&reg->refs, 1, memory_order_acq_rel) != 1)
    return;
  xs_snapshot_unref(reg->current);
  pthread_mutex_destroy(&reg->lock);
  pthread_mutex_destroy(&reg->write_lock);
  free(reg);
}

xs_snapshot *xs_registry_snapshot(xs_registry *reg) {
  xs_snapshot *s;
  pthread_mutex_lock(&reg->lock);
  s = reg->current;
  xs_snapshot_ref(s);
  pthread_mutex_unlock(&reg->lock);
  return s;
}

/* Each thread's borrowed snapshot: which registry version it is, and the
 * reference the thread holds (released at its next borrow or its exit). */
typedef struct borrowed {
  uint64_t registry_id, version;
  xs_snapshot *snap;
} borrowed;

static pthread_key_t borrow_key;
static pthread_once_t borrow_once = PTHREAD_ONCE_INIT;
static int borrow_key_ok;
static _Thread_local borrowed *thread_borrow;

static void borrow_release(void *p) {
  borrowed *b = p;
  xs_snapshot_unref(b->snap);
  free(b);
}

static void borrow_init(void) {
  borrow_key_ok = pthread_key_create(&borrow_key, borrow_release) == 0;
}

xs_snapshot *xs_registry_snapshot_borrow(xs_registry *reg, uint64_t *version) {
  borrowed *b = thread_borrow;
  xs_snapshot *s, *old;
  uint64_t v = atomic_load_explicit(&reg->version, memory_order_acquire);
  if (b != NULL && b->registry_id == reg->id && b->version == v) {
    if (version != NULL)
      *version = v;
    return b->snap;
  }
  if (b == NULL) {
    pthread_once(&borrow_once, borrow_init);
    if (!borrow_key_ok || (b = calloc(1, sizeof(*b))) == NULL)
      return NULL;
    if (pthread_setspecific(borrow_key, b) != 0) {
      free(b);
      return NULL;
    }
    thread_borrow = b;
  }
  pthread_mutex_lock(&reg->lock);
  s = reg->current;
  xs_snapshot_ref(s);
  v = atomic_load_explicit(&reg->version, memory_order_relaxed);
  pthread_mutex_unlock(&reg->lock);
  old = b->snap;
  b->snap = s;
  b->registry_id = reg->id;
  b->version = v;
  xs_snapshot_unref(old);
  if (version != NULL)
    *version = v;
  return s;
}

size_t xs_registry_service_count(const xs_registry *reg) {
  size_t n;
  if (reg == NULL)
    return 0;
  pthread_mutex_lock((pthread_mutex_t *)&reg->lock);
  n = reg->current->nservices;
  pthread_mutex_unlock((pthread_mutex_t *)&reg->lock);
  return n;
}

size_t xs_registry_skipped_count(const xs_registry *reg) {
  size_t n;
  if (reg == NULL)
    return 0;
  pthread_mutex_lock((pthread_mutex_t *)&reg->lock);
  n = reg->current->skipped;
  pthread_mutex_unlock((pthread_mutex_t *)&reg->lock);
  return n;
}

/* Make next (its reference taken) reg's current snapshot and every
 * following view's. Caller holds reg->write_lock. */
static void publish(xs_registry *reg, xs_snapshot *next) {
  xs_snapshot *old;
  xs_registry *v;
  pthread_mutex_lock(&reg->lock);
  old = reg->current;
  reg->current = next;
  atomic_fetch_add_explicit(&reg->version, 1, memory_order_release);
  pthread_mutex_unlock(&reg->lock);
  for (v = reg->views; v != NULL; v = v->next_view) {
    xs_snapshot_ref(next);
    pthread_mutex_lock(&v->write_lock);
    publish(v, next);
    pthread_mutex_unlock(&v->write_lock);
  }
  xs_snapshot_unref(old);
}

/* A change to the registry: copy the current snapshot (minus one service
 * when replacing or removing), let apply() modify the copy, finish and
 * publish it. Nothing is published when apply fails. */
typedef xs_status (*change_fn)(xs_snapshot *next, const xs_snapshot *cur,
                               void *arg, xs_error *err);

static xs_status registry_change(xs_registry *reg, const char *skip_ns,
                                 const char *skip_name, change_fn apply,
                                 void *arg, xs_error *err) {
  xs_snapshot *next;
  xs_status st;
  pthread_mutex_lock(&reg->write_lock);
  next = xs_snapshot_clone(reg->current, skip_ns, skip_name);
  if (next == NULL) {
    st = XS_ENOMEM;
    xs_error_set(err, st, NULL, 0, 0, "out of memory");
    goto done;
  }
  st = apply(next, reg->current, arg, err);
  if (st == XS_OK)
    st = xs_snapshot_finish(next);
  if (st != XS_OK) {
    xs_snapshot_unref(next);
    goto done;
  }
  publish(reg, next);
done:
  pthread_mutex_unlock(&reg->write_lock);
  return st;
}

xs_status xs_registry_replace(xs_registry *reg, xs_registry *from) {
  xs_snapshot *next;
  if (reg == NULL || from == NULL)
    return XS_EINVAL;
  if (reg == from)
    return XS_OK;
  next = xs_registry_snapshot(from); /* immutable: shared, not copied */
  pthread_mutex_lock(&reg->write_lock);
  publish(reg, next);
  pthread_mutex_unlock(&reg->write_lock);
  return XS_OK;
}

xs_status xs_registry_follow(xs_registry *view, xs_registry *source) {
  xs_snapshot *snap;
  if (source == NULL) {
    if ((snap = xs_snapshot_new()) == NULL)
      return XS_ENOMEM;
    if (xs_snapshot_finish(snap) != XS_OK) {
      xs_snapshot_unref(snap);
      return XS_ENOMEM;
    }
    pthread_mutex_lock(&view->write_lock);
    publish(view, snap);
    pthread_mutex_unlock(&view->write_lock);
    return XS_OK;
  }
  /* Under source's write lock: no publish of source can fall between
   * taking its snapshot and joining its views. */
  pthread_mutex_lock(&source->write_lock);
  snap = xs_registry_snapshot(source);
  pthread_mutex_lock(&view->write_lock);
  publish(view, snap);
  pthread_mutex_unlock(&view->write_lock);
  view->next_view = source->views;
  source->views = view;
  pthread_mutex_unlock(&source->write_lock);
  return XS_OK;
}

void xs_registry_unfollow(xs_registry *view, xs_registry *source) {
  xs_registry **pp;
  if (source == NULL)
    return;
  pthread_mutex_lock(&source->write_lock);
  for (pp = &source->views; *pp != NULL; pp = &(*pp)->next_view)
    if (*pp == view) {
      *pp = view->next_view;
      break;
    }
  view->next_view = NULL;
  pthread_mutex_unlock(&source->write_lock);
}

/* ---- reload ---------------------------------------------------------------
 */

static int str_same(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

static int addr_same(const xs_addr *a, const xs_addr *b) {
  return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

/* Everything an answer is made of. */
static int service_same(const xs_service *a, const xs_service *b) {
  uint32_t i;
  if (a->type != b->type || a->ip_like != b->ip_like ||
      a->tolerate_unready != b->tolerate_unready || a->nips != b->nips ||
      a->nports != b->nports || a->nendpoints != b->nendpoints ||
      !str_same(a->external_name, b->external_name))
    return 0;
  for (i = 0; i < a->nips; i++)
    if (!addr_same(&a->ips[i], &b->ips[i]))
      return 0;
  for (i = 0; i < a->nports; i++)
    if (a->ports[i].port != b->ports[i].port ||
        a->ports[i].proto != b->ports[i].proto ||
        !str_same(a->ports[i].name, b->ports[i].name))
      return 0;
  for (i = 0; i < a->nendpoints; i++)
    if (a->endpoints[i].ready != b->endpoints[i].ready ||
        !addr_same(&a->endpoints[i].addr, &b->endpoints[i].addr) ||
        !str_same(a->endpoints[i].hostname, b->endpoints[i].hostname))
      return 0;
  return 1;
}

typedef struct summary {
  char *buf;
  size_t cap, len;
  int cut;
} summary;

static void summary_add(summary *sm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void summary_add(summary *sm, const char *fmt, ...) {
  char item[XS_RELOAD_SUMMARY_MAX];
  va_list ap;
  size_t n;
  if (sm->cut)
    return;
  va_start(ap, fmt);
  vsnprintf(item, sizeof(item), fmt, ap);
  va_end(ap);
  n = strlen(item) + (sm->len > 0 ? 2 : 0);
  if (sm->len + n + 4 >= sm->cap) { /* room for ", ..." */
    snprintf(sm->buf + sm->len, sm->cap - sm->len, "%s...",
             sm->len > 0 ? ", " : "");
    sm->cut = 1;
    return;
  }
  snprintf(sm->buf + sm->len, sm->cap - sm->len, "%s%s",
           sm->len > 0 ? ", " : "", item);
  sm->len += n;
}

/* Compare cur with next into r; returns 1 if they differ at all (Services
 * or namespaces). */
static int diff(const xs_snapshot *cur, const xs_snapshot *next,
                xs_reload_report *r) {
  summary sm = {r->summary, sizeof(r->summary), 0, 0};
  size_t i;
  int differ = cur->nnamespaces != next->nnamespaces;
  r->summary[0] = '\0';
  for (i = 0; i < next->nservices; i++) {
    const xs_service *n = &next->services[i];
    const xs_service *o =
        xs_snapshot_find(cur, n->ns, n->ns_len, n->name, n->name_len);
    if (o == NULL) {
      r->added++;
      summary_add(&sm, "added %s/%s", n->ns, n->name);
    } else if (!service_same(o, n)) {
      r->changed++;
      if (n->type == XS_SVC_EXTERNAL && o->type == XS_SVC_EXTERNAL)
        summary_add(&sm, "changed %s/%s (%s -> %s)", n->ns, n->name,
                    o->external_name, n->external_name);
      else
        summary_add(&sm, "changed %s/%s", n->ns, n->name);
    }
  }
  for (i = 0; i < cur->nservices; i++) {
    const xs_service *o = &cur->services[i];
    if (xs_snapshot_find(next, o->ns, o->ns_len, o->name, o->name_len) ==
        NULL) {
      r->removed++;
      summary_add(&sm, "removed %s/%s", o->ns, o->name);
    }
  }
  for (i = 0; !differ && i < next->nnamespaces; i++)
    differ = !xs_snapshot_has_namespace(cur, next->namespaces[i],
                                        strlen(next->namespaces[i]));
  differ = differ || r->added + r->changed + r->removed > 0 ||
           cur->skipped != next->skipped;
  if (!differ)
    snprintf(r->summary, sizeof(r->summary), "unchanged");
  else if (sm.len == 0 && !sm.cut)
    snprintf(r->summary, sizeof(r->summary), "namespaces changed");
  return differ;
}

static void set_summary(xs_reload_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The summary, ending "..." when cut. */
static void set_summary(xs_reload_report *r, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(r->summary, sizeof(r->summary), fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof(r->summary))
    memcpy(r->summary + sizeof(r->summary) - 4, "...", 4);
}

xs_status xs_registry_reload(xs_registry *reg, const char *const *paths,
                             size_t npaths, const xs_load_options *opts,
                             xs_reload_report *report) {
  xs_reload_report local;
  xs_registry *fresh = NULL;
  xs_snapshot *next;
  xs_status st;
  if (report == NULL)
    report = &local;
  memset(report, 0, sizeof(*report));
  if (reg == NULL) {
    report->status = XS_EINVAL;
    xs_error_set(&report->error, XS_EINVAL, NULL, 0, 0, "no registry");
    snprintf(report->summary, sizeof(report->summary), "no registry");
    return XS_EINVAL;
  }
  st = xs_registry_load_paths(paths, npaths, opts, &fresh, &report->error);
  if (st != XS_OK) {
    const xs_error *e = &report->error;
    report->status = st;
    report->services = xs_registry_service_count(reg);
    if (e->file[0] != '\0' && e->line > 0)
      set_summary(report, "%s:%u:%u: %s", e->file, e->line, e->column,
                  e->message);
    else if (e->file[0] != '\0')
      set_summary(report, "%s: %s", e->file, e->message);
    else
      set_summary(report, "%s",
                  e->message[0] != '\0' ? e->message : xs_strerror(st));
    xs_count(XS_C_RELOADS_FAILED);
    xs_log(XS_LOG_WARNING, "reload failed, keeping the previous registry: %s",
           report->summary);
    return st;
  }
  next = xs_registry_snapshot(fresh);
  xs_registry_free(fresh);
  pthread_mutex_lock(&reg->write_lock);
  if (diff(reg->current, next, report)) {
    publish(reg, next);
    report->published = 1;
  } else {
    xs_snapshot_unref(next);
  }
  report->services = reg->current->nservices;
  pthread_mutex_unlock(&reg->write_lock);
  report->status = XS_OK;
  xs_count(XS_C_RELOADS_OK);
  if (report->published)
    xs_log(XS_LOG_INFO, "reloaded: %zu service(s): %s", report->services,
           report->summary);
  else
    xs_log(XS_LOG_DEBUG, "reloaded: %zu service(s), unchanged",
           report->services);
  return XS_OK;
}

static xs_status check_meta(const char *ns, const char *name, xs_error *err) {
  char msg[XS_ERROR_MESSAGE_MAX];
  if (ns == NULL ||
      !xs_valid_dns1123_label(ns, strlen(ns), "metadata.namespace", 1, msg,
                              sizeof(msg))) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "%s",
                 ns == NULL ? "metadata.namespace: Required value" : msg);
    return XS_EINVAL;
  }
  if (name == NULL) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "metadata.name: Required value");
    return XS_EINVAL;
  }
  if (!xs_valid_dns1035_label(name, strlen(name), "metadata.name", msg,
                              sizeof(msg))) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "%s", msg);
    return XS_EINVAL;
  }
  return XS_OK;
}

typedef struct add_svc_arg {
  xs_service svc;
} add_svc_arg;

static xs_status apply_add_service(xs_snapshot *next, const xs_snapshot *cur,
                                   void *arg, xs_error *err) {
  add_svc_arg *a = arg;
  (void)cur;
  xs_status st = xs_snapshot_add_service(next, &a->svc, NULL);
  if (st == XS_EEXIST)
    xs_error_set(err, st, NULL, 0, 0,
                 "services \"%s\" already exists in namespace \"%s\"",
                 a->svc.name, a->svc.ns);
  else if (st != XS_OK)
    xs_error_set(err, st, NULL, 0, 0, "%s", xs_strerror(st));
  return st;
}

static xs_status check_external(const char *external_name, char *norm,
                                int *ip_like, xs_error *err) {
  char msg[XS_ERROR_MESSAGE_MAX];
  size_t len, norm_len;
  if (external_name == NULL)
    external_name = "";
  len = strlen(external_name);
  if (!xs_valid_external_name(external_name, len, &norm_len, msg,
                              sizeof(msg))) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "%s", msg);
    return XS_EINVAL;
  }
  memcpy(norm, external_name, norm_len);
  norm[norm_len] = '\0';
  *ip_like = xs_looks_like_ipv4(norm, norm_len);
  return XS_OK;
}

static xs_status apply_set_external(xs_snapshot *next, const xs_snapshot *cur,
                                    void *arg, xs_error *err) {
  add_svc_arg *a = arg;
  const xs_service *old = xs_snapshot_find(cur, a->svc.ns, strlen(a->svc.ns),
                                           a->svc.name, strlen(a->svc.name));
  add_svc_arg b;
  if (old == NULL || old->type != XS_SVC_EXTERNAL) {
    xs_error_set(err, XS_ENOTFOUND, NULL, 0, 0,
                 "no ExternalName service \"%s\" in namespace \"%s\"",
                 a->svc.name, a->svc.ns);
    return XS_ENOTFOUND;
  }
  b.svc = *old;
  b.svc.external_name = a->svc.external_name;
  b.svc.ip_like = a->svc.ip_like;
  return apply_add_service(next, cur, &b, err);
}

/* Add (replace = 0) or repoint (replace = 1) an ExternalName service. */
static xs_status put_external(xs_registry *reg, const char *ns,
                              const char *name, const char *external_name,
                              int replace, xs_error *err) {
  add_svc_arg a;
  char norm[XS_MAX_NAME + 2];
  int ip_like;
  xs_status st;
  if (reg == NULL)
    return XS_EINVAL;
  if ((st = check_meta(ns, name, err)) != XS_OK ||
      (st = check_external(external_name, norm, &ip_like, err)) != XS_OK)
    return st;
  memset(&a, 0, sizeof(a));
  a.svc.ns = ns;
  a.svc.name = name;
  a.svc.type = XS_SVC_EXTERNAL;
  a.svc.external_name = norm;
  a.svc.ip_like = (uint8_t)ip_like;
  if (replace)
    return registry_change(reg, ns, name, apply_set_external, &a, err);
  return registry_change(reg, NULL, NULL, apply_add_service, &a, err);
}

xs_status xs_registry_add_external(xs_registry *reg, const char *ns,
                                   const char *name, const char *external_name,
                                   xs_error *err) {
  return put_external(reg, ns, name, external_name, 0, err);
}

xs_status xs_registry_set_external(xs_registry *reg, const char *ns,
                                   const char *name, const char *external_name,
                                   xs_error *err) {
  return put_external(reg, ns, name, external_name, 1, err);
}

xs_status xs_registry_add_cluster_ip(xs_registry *reg, const char *ns,
                                     const char *name, const char *const *ips,
                                     size_t nips, xs_error *err) {
  add_svc_arg a;
  xs_status st;
  size_t i;
  if (reg == NULL || (ips == NULL && nips > 0))
    return XS_EINVAL;
  if ((st = check_meta(ns, name, err)) != XS_OK)
    return st;
  memset(&a, 0, sizeof(a));
  if (nips < 1 || nips > 2) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "spec.clusterIPs: Invalid value: %zu: must have at most 2 "
                 "entries and at least 1",
                 nips);
    return XS_EINVAL;
  }
  for (i = 0; i < nips; i++) {
    const char *ip = ips[i] != NULL ? ips[i] : "";
    if (!xs_addr_parse(ip, strlen(ip), &a.svc.ips[i])) {
      xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                   "spec.clusterIPs[%zu]: Invalid value: \"%s\": must be a "
                   "valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                   i, ip);
      return XS_EINVAL;
    }
  }
  if (nips == 2 && a.svc.ips[0].family == a.svc.ips[1].family) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "spec.clusterIPs[1]: Invalid value: \"%s\": may specify no "
                 "more than one IP for each IP family",
                 ips[1]);
    return XS_EINVAL;
  }
  a.svc.ns = ns;
  a.svc.name = name;
  a.svc.type = XS_SVC_CLUSTER_IP;
  a.svc.nips = (uint8_t)nips;
  return registry_change(reg, NULL, NULL, apply_add_service, &a, err);
}

xs_status xs_registry_add_headless(xs_registry *reg, const char *ns,
                                   const char *name, xs_error *err) {
  add_svc_arg a;
  xs_status st;
  if (reg == NULL)
    return XS_EINVAL;
  if ((st = check_meta(ns, name, err)) != XS_OK)
    return st;
  memset(&a, 0, sizeof(a));
  a.svc.ns = ns;
  a.svc.name = name;
  a.svc.type = XS_SVC_HEADLESS;
  return registry_change(reg, NULL, NULL, apply_add_service, &a, err);
}

static xs_status not_found(const char *ns, const char *name, xs_error *err) {
  xs_error_set(err, XS_ENOTFOUND, NULL, 0, 0,
               "services \"%s\" not found in namespace \"%s\"", name, ns);
  return XS_ENOTFOUND;
}

typedef struct add_port_arg {
  const char *ns, *name, *port_name;
  int port;
  uint8_t proto;
} add_port_arg;

static xs_status apply_add_port(xs_snapshot *next, const xs_snapshot *cur,
                                void *arg, xs_error *err) {
  add_port_arg *p = arg;
  const xs_service *old =
      xs_snapshot_find(cur, p->ns, strlen(p->ns), p->name, strlen(p->name));
  xs_port ports[XS_MAX_PORTS];
  add_svc_arg a;
  uint16_t i, n;
  if (old == NULL)
    return not_found(p->ns, p->name, err);
  n = old->nports;
  if (n >= XS_MAX_PORTS) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "spec.ports: Too many: %u: must have at most %d items",
                 (unsigned)n + 1, XS_MAX_PORTS);
    return XS_EINVAL;
  }
  for (i = 0; i < n; i++)
    if (p->port_name != NULL && old->ports[i].name != NULL &&
        strcmp(old->ports[i].name, p->port_name) == 0) {
      xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                   "spec.ports[%u].name: Duplicate value: \"%s\"", (unsigned)n,
                   p->port_name);
      return XS_EINVAL;
    }
  /* More than one port: every port must be named. */
  if (n >= 1 && (p->port_name == NULL || old->ports[0].name == NULL)) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "spec.ports[%u].name: Required value",
                 p->port_name == NULL ? (unsigned)n : 0u);
    return XS_EINVAL;
  }
  for (i = 0; i < n; i++)
    ports[i] = old->ports[i];
  ports[n].name = p->port_name;
  ports[n].port = (uint16_t)p->port;
  ports[n].proto = p->proto;
  a.svc = *old;
  a.svc.ports = ports;
  a.svc.nports = (uint16_t)(n + 1);
  return apply_add_service(next, cur, &a, err);
}

xs_status xs_registry_add_port(xs_registry *reg, const char *ns,
                               const char *name, const char *port_name,
                               int port, const char *protocol, xs_error *err) {
  char msg[XS_ERROR_MESSAGE_MAX];
  add_port_arg p;
  if (reg == NULL || ns == NULL || name == NULL)
    return XS_EINVAL;
  if (protocol == NULL || strcmp(protocol, "TCP") == 0)
    p.proto = XS_PROTO_TCP;
  else if (strcmp(protocol, "UDP") == 0)
    p.proto = XS_PROTO_UDP;
  else if (strcmp(protocol, "SCTP") == 0)
    p.proto = XS_PROTO_SCTP;
  else {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "spec.ports[0].protocol: Unsupported value: \"%s\": "
                 "supported values: \"SCTP\", \"TCP\", \"UDP\"",
                 protocol);
    return XS_EINVAL;
  }
  if (port < 1 || port > 65535) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "spec.ports[0].port: Invalid value: %d: must be between 1 "
                 "and 65535, inclusive",
                 port);
    return XS_EINVAL;
  }
  if (port_name != NULL && port_name[0] == '\0')
    port_name = NULL;
  if (port_name != NULL &&
      !xs_valid_dns1123_label(port_name, strlen(port_name),
                              "spec.ports[0].name", 0, msg, sizeof(msg))) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "%s", msg);
    return XS_EINVAL;
  }
  p.ns = ns;
  p.name = name;
  p.port_name = port_name;
  p.port = port;
  return registry_change(reg, ns, name, apply_add_port, &p, err);
}

typedef struct add_ep_arg {
  const char *ns, *name;
  xs_endpoint ep;
} add_ep_arg;

static xs_status apply_add_endpoint(xs_snapshot *next, const xs_snapshot *cur,
                                    void *arg, xs_error *err) {
  add_ep_arg *a = arg;
  const xs_service *svc;
  xs_status st;
  (void)cur;
  svc = xs_snapshot_find(next, a->ns, strlen(a->ns), a->name, strlen(a->name));
  if (svc == NULL)
    return not_found(a->ns, a->name, err);
  if (svc->type == XS_SVC_EXTERNAL) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "service \"%s\" in namespace \"%s\" is an ExternalName "
                 "service and cannot have endpoints",
                 a->name, a->ns);
    return XS_EINVAL;
  }
  st = xs_snapshot_add_endpoint(next, a->ns, a->name, &a->ep);
  if (st != XS_OK)
    xs_error_set(err, st, NULL, 0, 0, "%s", xs_strerror(st));
  return st;
}

xs_status xs_registry_add_endpoint(xs_registry *reg, const char *ns,
                                   const char *name, const char *ip,
                                   const char *hostname, int ready,
                                   xs_error *err) {
  add_ep_arg a;
  char msg[XS_ERROR_MESSAGE_MAX];
  if (reg == NULL || ns == NULL || name == NULL || ip == NULL)
    return XS_EINVAL;
  memset(&a, 0, sizeof(a));
  if (!xs_addr_parse(ip, strlen(ip), &a.ep.addr)) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "endpoints[0].addresses[0]: Invalid value: \"%s\": must be "
                 "a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                 ip);
    return XS_EINVAL;
  }
  if (hostname != NULL && hostname[0] != '\0') {
    if (!xs_valid_dns1123_label(hostname, strlen(hostname),
                                "endpoints[0].hostname", 0, msg, sizeof(msg))) {
      xs_error_set(err, XS_EINVAL, NULL, 0, 0, "%s", msg);
      return XS_EINVAL;
    }
    a.ep.hostname = hostname;
  }
  a.ep.ready = ready != 0;
  a.ns = ns;
  a.name = name;
  return registry_change(reg, NULL, NULL, apply_add_endpoint, &a, err);
}

static xs_status apply_add_namespace(xs_snapshot *next, const xs_snapshot *cur,
                                     void *arg, xs_error *err) {
  const char *ns = arg;
  (void)cur;
  if (xs_snapshot_add_namespace(next, ns, strlen(ns)) == NULL) {
    xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "out of memory");
    return XS_ENOMEM;
  }
  return XS_OK;
}

xs_status xs_registry_add_namespace(xs_registry *reg, const char *ns,
                                    xs_error *err) {
  char msg[XS_ERROR_MESSAGE_MAX];
  if (reg == NULL || ns == NULL)
    return XS_EINVAL;
  if (!xs_valid_dns1123_label(ns, strlen(ns), "metadata.name", 1, msg,
                              sizeof(msg))) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "%s", msg);
    return XS_EINVAL;
  }
  return registry_change(reg, NULL, NULL, apply_add_namespace, (void *)ns, err);
}

static xs_status apply_remove(xs_snapshot *next, const xs_snapshot *cur,
                              void *arg, xs_error *err) {
  const char *const *key = arg;
  (void)next;
  (void)err;
  return xs_snapshot_find(cur, key[0], strlen(key[0]), key[1],
                          strlen(key[1])) != NULL
             ? XS_OK
             : XS_ENOTFOUND;
}

xs_status xs_registry_remove(xs_registry *reg, const char *ns,
                             const char *name) {
  const char *key[2];
  if (reg == NULL || ns == NULL || name == NULL)
    return XS_EINVAL;
  key[0] = ns;
  key[1] = name;
  return registry_change(reg, ns, name, apply_remove, (void *)key, NULL);
}
