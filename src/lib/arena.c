#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define XS_ARENA_BLOCK 65536

struct xs_arena_block {
  xs_arena_block *next;
  size_t size;
};

void xs_arena_init(xs_arena *a) {
  memset(a, 0, sizeof(*a));
}

void xs_arena_free(xs_arena *a) {
  xs_arena_block *b = a->head;
  while (b != NULL) {
    xs_arena_block *next = b->next;
    free(b);
    b = next;
  }
  memset(a, 0, sizeof(*a));
}

void *xs_arena_alloc(xs_arena *a, size_t size) {
  size_t need = (size + 7u) & ~(size_t)7u;
  char *p;
  if (need < size)
    return NULL;
  if (a->cur == NULL || (size_t)(a->end - a->cur) < need) {
    size_t header = (sizeof(xs_arena_block) + 7u) & ~(size_t)7u;
    size_t bsize =
        need + header > XS_ARENA_BLOCK ? need + header : XS_ARENA_BLOCK;
    xs_arena_block *b = malloc(bsize);
    if (b == NULL)
      return NULL;
    b->next = a->head;
    b->size = bsize;
    a->head = b;
    a->total += bsize;
    a->cur = (char *)b + header;
    a->end = (char *)b + bsize;
  }
  p = a->cur;
  a->cur += need;
  return p;
}

void *xs_arena_alloc_line(xs_arena *a, size_t size) {
  if (size <= 64 && a->cur != NULL) {
    size_t off = (size_t)((uintptr_t)a->cur & 63u);
    if (off + size > 64 && (size_t)(a->end - a->cur) >= 64 - off + size)
      a->cur += 64 - off;
  }
  return xs_arena_alloc(a, size);
}

char *xs_arena_strndup(xs_arena *a, const char *s, size_t len) {
  char *p = xs_arena_alloc(a, len + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}
