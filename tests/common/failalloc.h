/* A malloc that fails on request, for allocation-failure tests.
 *
 * libxs_failalloc.so defines malloc, calloc, realloc, free and strdup and
 * forwards them to glibc's (__libc_malloc, ...). Linked into a test
 * program, it comes before libc in symbol lookup, so every allocation of
 * the program, of the static xsvc library in it, and of c-ares and libyaml
 * passes through it; valgrind still sees every block (it intercepts glibc's
 * __libc_* functions, and leaves this library's alone). Allocations made by
 * glibc and the dynamic loader themselves are never failed.
 *
 * Not for sanitizer builds: ASan and TSan come first in lookup and keep
 * malloc, so nothing would fail. */
#ifndef XS_TEST_FAILALLOC_H
#define XS_TEST_FAILALLOC_H

enum {
  XS_FAILALLOC_OURS,  /* the program (with the static xsvc library) */
  XS_FAILALLOC_CARES, /* libcares */
  XS_FAILALLOC_YAML,  /* libyaml */
  XS_FAILALLOC_KINDS
};

/* Fail the nth allocation from now on (1: the next one), once; any
 * thread's. */
void xs_failalloc_arm(long nth);
/* Stop; returns where the failed allocation came from (XS_FAILALLOC_*),
 * or -1 if fewer than nth allocations happened. */
int xs_failalloc_disarm(void);
/* 1 once the armed allocation has failed (still armed otherwise). */
int xs_failalloc_fired(void);

#endif
