/* Bump allocator for registry snapshots: many small immutable strings and
 * arrays freed together. Not thread-safe; a snapshot is built by one thread
 * and only read afterwards. */
#ifndef XS_ARENA_H
#define XS_ARENA_H

#include <stddef.h>

typedef struct xs_arena_block xs_arena_block;

typedef struct xs_arena {
  xs_arena_block *head; /* newest block; blocks are never moved */
  char *cur;
  char *end;
  size_t total; /* bytes obtained from malloc, for memory accounting */
} xs_arena;

void xs_arena_init(xs_arena *a);
void xs_arena_free(xs_arena *a);
/* size bytes aligned to 8; NULL on out of memory. */
void *xs_arena_alloc(xs_arena *a, size_t size);
/* As xs_arena_alloc, but a block of at most 64 bytes never straddles a
 * 64-byte cache line (the arena skips to the next line instead): strings
 * read together on a hot path then cost one cache miss, not two. */
void *xs_arena_alloc_line(xs_arena *a, size_t size);
/* A NUL-terminated copy of s[0..len); NULL on out of memory. */
char *xs_arena_strndup(xs_arena *a, const char *s, size_t len);

#endif
