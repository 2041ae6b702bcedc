/* The resolver's result memo (see memo.h).
 *
 * Each slot is a sequence lock over a buffer of 64-bit words: a store makes
 * the slot's sequence odd, writes the record, makes it even again; a reader
 * notes an even sequence, copies, and keeps the copy only if the sequence
 * is unchanged afterwards. Every shared word is read and written as a
 * relaxed atomic (so a copy racing a store is defined, merely discarded),
 * with the fences of the usual C11 sequence lock (see SEQ_FENCE for
 * ThreadSanitizer builds). A slot's buffer is never
 * freed while the memo lives (a larger one replaces it and the old one is
 * kept until xs_memo_free), so a reader holding a stale pointer still reads
 * allocated memory, bounded by the capacity written in the buffer's first
 * word. */
#include "memo.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define MEMO_WAYS 4

/* A slot buffer: word 0 its capacity in words, word 1 the previous
 * (retired) buffer of the slot, then the record:
 *   version, until_ms, size | len << 32 | family << 48 | nstamps << 56,
 *   per stamp: shard | epoch << 32, until_ms;
 *   the name (len octets, zero-padded to whole words);
 *   the blob (size octets, zero-padded). */
#define BUF_CAP 0
#define BUF_RETIRED 1
#define REC 2 /* first record word */
#define REC_HEAD 3

typedef _Atomic uint64_t word;

/* ThreadSanitizer does not model fences (gcc refuses atomic_thread_fence
 * under -fsanitize=thread). There every shared word is loaded with acquire
 * and stored with release instead, which orders a reader's copy before its
 * second look at the sequence, and a store's words after its odd sequence,
 * at least as strongly as the two fences do: the lock stays the same lock,
 * checked by TSan. */
#if defined(__SANITIZE_THREAD__)
#define XS_MEMO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XS_MEMO_TSAN 1
#endif
#endif
#ifdef XS_MEMO_TSAN
#define WORD_LOAD memory_order_acquire
#define WORD_STORE memory_order_release
#define SEQ_FENCE(order) ((void)0)
#else
#define WORD_LOAD memory_order_relaxed
#define WORD_STORE memory_order_relaxed
#define SEQ_FENCE(order) atomic_thread_fence(order)
#endif

typedef struct set {
  _Alignas(128) _Atomic uint32_t hash[MEMO_WAYS]; /* a hint for readers */
  _Atomic uint64_t seq[MEMO_WAYS];
  _Atomic(word *) buf[MEMO_WAYS];
  atomic_flag busy; /* a store is under way */
  unsigned next;    /* the way the next store replaces when none is free */
} set;

struct xs_memo {
  size_t mask; /* sets - 1 */
  set *sets;
};

static size_t words_of(size_t octets) {
  return (octets + 7) / 8;
}

static size_t record_words(size_t nstamps, size_t len, size_t size) {
  return REC_HEAD + 2 * nstamps + words_of(len) + words_of(size);
}

static uint64_t ld(const word *w) {
  return atomic_load_explicit((word *)(uintptr_t)w, WORD_LOAD);
}

static void st(word *w, uint64_t v) {
  atomic_store_explicit(w, v, WORD_STORE);
}

/* n words out of src (relaxed loads) into dst, four at a time. */
static void load_words(uint64_t *dst, const word *src, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[i] = ld(src + i);
    dst[i + 1] = ld(src + i + 1);
    dst[i + 2] = ld(src + i + 2);
    dst[i + 3] = ld(src + i + 3);
  }
  for (; i < n; i++)
    dst[i] = ld(src + i);
}

/* 1 if the len octets stored (zero-padded) at src are name's. */
static int name_equal(const word *src, const char *name, size_t len) {
  size_t i;
  for (i = 0; i + 8 <= len; i += 8, src++) {
    uint64_t v;
    memcpy(&v, name + i, 8);
    if (ld(src) != v)
      return 0;
  }
  if (i < len) {
    uint64_t v = 0;
    memcpy(&v, name + i, len - i);
    return ld(src) == v;
  }
  return 1;
}

static void store_octets(word *dst, const void *src, size_t n) {
  const unsigned char *s = src;
  size_t i;
  for (i = 0; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, s + i, 8);
    st(dst++, v);
  }
  if (i < n) {
    uint64_t v = 0;
    memcpy(&v, s + i, n - i);
    st(dst, v);
  }
}

xs_status xs_memo_new(size_t slots, xs_memo **out) {
  xs_memo *m;
  size_t n, i;
  if (out == NULL || slots == 0)
    return XS_EINVAL;
  if (slots > XS_MEMO_MAX_SLOTS)
    slots = XS_MEMO_MAX_SLOTS;
  for (n = 1; n * MEMO_WAYS < slots; n *= 2)
    ;
  if ((m = calloc(1, sizeof(*m))) == NULL)
    return XS_ENOMEM;
  if ((m->sets = aligned_alloc(_Alignof(set), n * sizeof(set))) == NULL) {
    free(m);
    return XS_ENOMEM;
  }
  m->mask = n - 1;
  for (i = 0; i < n; i++) {
    set *s = &m->sets[i];
    int w;
    for (w = 0; w < MEMO_WAYS; w++) {
      atomic_init(&s->hash[w], 0);
      atomic_init(&s->seq[w], 0);
      atomic_init(&s->buf[w], NULL);
    }
    atomic_flag_clear(&s->busy);
    s->next = 0;
  }
  *out = m;
  return XS_OK;
}

void xs_memo_free(xs_memo *m) {
  size_t i;
  int w;
  if (m == NULL)
    return;
  for (i = 0; i <= m->mask; i++)
    for (w = 0; w < MEMO_WAYS; w++) {
      word *b = atomic_load(&m->sets[i].buf[w]);
      while (b != NULL) {
        word *retired = (word *)(uintptr_t)ld(&b[BUF_RETIRED]);
        free(b);
        b = retired;
      }
    }
  free(m->sets);
  free(m);
}

void xs_memo_key_init(xs_memo_key *k, const char *name, size_t len,
                      int family) {
  k->name = name;
  k->len = len;
  k->family = family;
  k->hash = xs_hash_ci(0x85ebca6bu ^ (uint32_t)family, name, len);
}

static uint64_t head_word(size_t size, size_t len, int family, size_t nstamps) {
  return (uint64_t)size | (uint64_t)len << 32 | (uint64_t)family << 48 |
         (uint64_t)nstamps << 56;
}

/* Try way w of s for k: a copy of the blob, or NULL (no match, not valid,
 * or a store overlapped the read). */
static void *read_way(set *s, int w, const xs_memo_key *k, uint64_t version,
                      const xs_cache *c, uint64_t now) {
  uint64_t seq, head, cap;
  const word *b, *p;
  size_t size, len, nstamps, i;
  xs_cache_stamp stamps[XS_MEMO_STAMPS];
  uint64_t *copy;
  seq = atomic_load_explicit(&s->seq[w], memory_order_acquire);
  if (seq & 1)
    return NULL;
  b = atomic_load_explicit(&s->buf[w], memory_order_acquire);
  if (b == NULL)
    return NULL;
  cap = ld(&b[BUF_CAP]);
  /* Anything read before the final check may be torn: bound it all. */
  head = ld(&b[REC + 2]);
  size = (size_t)(head & 0xffffffffu);
  len = (size_t)(head >> 32 & 0xffff);
  nstamps = (size_t)(head >> 56);
  if ((int)(head >> 48 & 0xff) != k->family || len != k->len ||
      size > XS_MEMO_MAX_RESULT || nstamps > XS_MEMO_STAMPS ||
      REC + record_words(nstamps, len, size) > cap || ld(&b[REC]) != version ||
      now >= ld(&b[REC + 1]))
    return NULL;
  p = b + REC + REC_HEAD;
  for (i = 0; i < nstamps; i++, p += 2) {
    uint64_t v = ld(p);
    stamps[i].shard = (uint32_t)v;
    stamps[i].epoch = (uint32_t)(v >> 32);
    stamps[i].until_ms = ld(p + 1);
  }
  if (!name_equal(p, k->name, len))
    return NULL;
  p += words_of(len);
  if ((copy = malloc(words_of(size) * 8)) == NULL)
    return NULL;
  load_words(copy, p, words_of(size));
  SEQ_FENCE(memory_order_acquire);
  if (atomic_load_explicit(&s->seq[w], memory_order_relaxed) != seq)
    goto miss;
  for (i = 0; i < nstamps; i++)
    if (c == NULL || !xs_cache_stamp_valid(c, &stamps[i], now))
      goto miss;
  return copy;
miss:
  free(copy);
  return NULL;
}

void *xs_memo_get(xs_memo *m, const xs_memo_key *k, uint64_t version,
                  const xs_cache *c, uint64_t now) {
  set *s = &m->sets[k->hash & m->mask];
  int w;
  for (w = 0; w < MEMO_WAYS; w++)
    if (atomic_load_explicit(&s->hash[w], memory_order_relaxed) == k->hash) {
      void *copy = read_way(s, w, k, version, c, now);
      if (copy != NULL)
        return copy;
    }
  return NULL;
}

/* 1 if the record in b is already exactly what a store of these would
 * write (same key, as store_way found). Then the store is skipped: two
 * threads that both walk the same name at the same moment would otherwise
 * keep changing the slot's sequence under each other's reads, and each
 * failed read walks and stores again. */
static int same_record(const word *b, uint64_t version, uint64_t until,
                       const xs_cache_stamp *stamps, size_t nstamps,
                       const xs_memo_key *k, const void *blob, size_t size) {
  const word *p = b + REC + REC_HEAD;
  const unsigned char *bl = blob;
  size_t i;
  if (ld(&b[REC]) != version || ld(&b[REC + 1]) != until ||
      ld(&b[REC + 2]) != head_word(size, k->len, k->family, nstamps))
    return 0;
  for (i = 0; i < nstamps; i++, p += 2)
    if (ld(p) !=
            ((uint64_t)stamps[i].shard | (uint64_t)stamps[i].epoch << 32) ||
        ld(p + 1) != stamps[i].until_ms)
      return 0;
  if (!name_equal(p, k->name, k->len))
    return 0;
  p += words_of(k->len);
  for (i = 0; i < size; i += 8, p++) {
    uint64_t v = 0;
    memcpy(&v, bl + i, size - i < 8 ? size - i : 8);
    if (ld(p) != v)
      return 0;
  }
  return 1;
}

/* Under s->busy: the way holding k, else a free one, else the next in
 * turn. Only stores write, so the store reads without a sequence check. */
static int store_way(set *s, const xs_memo_key *k) {
  int w;
  for (w = 0; w < MEMO_WAYS; w++) {
    const word *b = atomic_load_explicit(&s->buf[w], memory_order_relaxed);
    uint64_t head;
    size_t nstamps;
    if (b == NULL ||
        atomic_load_explicit(&s->hash[w], memory_order_relaxed) != k->hash)
      continue;
    head = ld(&b[REC + 2]);
    nstamps = (size_t)(head >> 56);
    if ((int)(head >> 48 & 0xff) != k->family ||
        (size_t)(head >> 32 & 0xffff) != k->len)
      continue;
    if (name_equal(b + REC + REC_HEAD + 2 * nstamps, k->name, k->len))
      return w;
  }
  for (w = 0; w < MEMO_WAYS; w++)
    if (atomic_load_explicit(&s->buf[w], memory_order_relaxed) == NULL)
      return w;
  return (int)(s->next++ % MEMO_WAYS);
}

void xs_memo_put(xs_memo *m, const xs_memo_key *k, uint64_t version,
                 const xs_cache_stamp *stamps, size_t nstamps, const void *blob,
                 size_t size) {
  set *s = &m->sets[k->hash & m->mask];
  size_t need, i;
  uint64_t until = UINT64_MAX, seq;
  word *b, *p;
  int w;
  if (size > XS_MEMO_MAX_RESULT || nstamps > XS_MEMO_STAMPS ||
      k->len > XS_NAME_BUF)
    return;
  if (atomic_flag_test_and_set_explicit(&s->busy, memory_order_acquire))
    return; /* another store into this set: this one is optional */
  for (i = 0; i < nstamps; i++)
    if (stamps[i].until_ms < until)
      until = stamps[i].until_ms;
  w = store_way(s, k);
  need = REC + record_words(nstamps, k->len, size);
  b = atomic_load_explicit(&s->buf[w], memory_order_relaxed);
  if (b != NULL &&
      atomic_load_explicit(&s->hash[w], memory_order_relaxed) == k->hash &&
      ld(&b[BUF_CAP]) >= need &&
      same_record(b, version, until, stamps, nstamps, k, blob, size))
    goto out;
  if (b == NULL || ld(&b[BUF_CAP]) < need) {
    size_t cap = b == NULL ? need : 2 * (size_t)ld(&b[BUF_CAP]);
    word *nb;
    if (cap < need)
      cap = need;
    if ((nb = malloc(cap * sizeof(word))) == NULL)
      goto out;
    for (i = 0; i < cap; i++)
      atomic_init(&nb[i], 0);
    atomic_init(&nb[BUF_CAP], cap);
    atomic_init(&nb[BUF_RETIRED], (uint64_t)(uintptr_t)b);
    b = nb;
  }
  seq = atomic_load_explicit(&s->seq[w], memory_order_relaxed);
  atomic_store_explicit(&s->seq[w], seq + 1, memory_order_relaxed);
  SEQ_FENCE(memory_order_release);
  atomic_store_explicit(&s->buf[w], b, WORD_STORE);
  atomic_store_explicit(&s->hash[w], k->hash, WORD_STORE);
  st(&b[REC], version);
  st(&b[REC + 1], until);
  st(&b[REC + 2], head_word(size, k->len, k->family, nstamps));
  p = b + REC + REC_HEAD;
  for (i = 0; i < nstamps; i++, p += 2) {
    st(p, (uint64_t)stamps[i].shard | (uint64_t)stamps[i].epoch << 32);
    st(p + 1, stamps[i].until_ms);
  }
  store_octets(p, k->name, k->len);
  store_octets(p + words_of(k->len), blob, size);
  atomic_store_explicit(&s->seq[w], seq + 2, memory_order_release);
out:
  atomic_flag_clear_explicit(&s->busy, memory_order_release);
}
