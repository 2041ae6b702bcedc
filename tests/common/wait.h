/* Waiting in tests without assumptions about the machine's speed
 * (tests/README.md, "Rules"). A test waits for an event, never for an
 * amount of time; the one deadline is XS_TEST_HANG_MS, after which what is
 * awaited is taken to be hung: far longer than any load makes a working
 * program wait, so reaching it is a failure on any machine. Header-only. */
#ifndef XS_TEST_WAIT_H
#define XS_TEST_WAIT_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#define XS_TEST_HANG_MS 60000

static inline uint64_t xs_test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void xs_test_sleep_ms(unsigned ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000u);
  ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Re-check cond (every 1 ms at first, then up to every 16 ms) until it
 * holds or XS_TEST_HANG_MS have passed; the caller asserts cond after. */
#define XS_WAIT_UNTIL(cond)                                                    \
  do {                                                                         \
    uint64_t xs_wait_end_ = xs_test_now_ms() + XS_TEST_HANG_MS;                \
    unsigned xs_wait_pause_ = 1;                                               \
    while (!(cond) && xs_test_now_ms() < xs_wait_end_) {                       \
      xs_test_sleep_ms(xs_wait_pause_);                                        \
      if (xs_wait_pause_ < 16)                                                 \
        xs_wait_pause_ *= 2;                                                   \
    }                                                                          \
  } while (0)

#endif
