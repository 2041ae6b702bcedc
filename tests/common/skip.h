/* Tests that cannot run in a configuration say so (tests/README.md):
 * XS_SKIP("why") prints the reason and ends the test as skipped (cmocka's
 * skip()), and XS_RUN_GROUP, in place of cmocka_run_group_tests, then
 * makes the program exit XS_TEST_SKIPPED, which ctest reports as
 * "Skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt) rather than
 * "Passed". A failure still wins: the exit status is then the number of
 * failed tests, as cmocka's.
 *
 * XS_RUN_GROUP also takes cmocka filters from the environment:
 * XSVC_TEST_ONLY runs only the tests matching it, XSVC_TEST_EXCEPT all
 * others. tests/CMakeLists.txt runs a test that may skip as a ctest of its
 * own that way, so its skip does not hide its program's other results.
 * Header-only, for one test program. */
#ifndef XS_TEST_SKIP_H
#define XS_TEST_SKIP_H

#include <stdio.h>
#include <stdlib.h>

/* The automake convention, and ctest's SKIP_RETURN_CODE for our tests. */
#define XS_TEST_SKIPPED 77

/* XS_TEST_SANITIZER: "address" or "thread" when built with one, else "". */
#if defined(__SANITIZE_ADDRESS__)
#define XS_TEST_SANITIZER "address"
#elif defined(__SANITIZE_THREAD__)
#define XS_TEST_SANITIZER "thread"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XS_TEST_SANITIZER "address"
#elif __has_feature(thread_sanitizer)
#define XS_TEST_SANITIZER "thread"
#endif
#endif
#ifndef XS_TEST_SANITIZER
#define XS_TEST_SANITIZER ""
#endif

static int xs_test_skips;

/* 1 under valgrind (scripts/test.sh sets XSVC_TEST_VALGRIND there). */
static inline int xs_test_under_valgrind(void) {
  return getenv("XSVC_TEST_VALGRIND") != NULL;
}

#define XS_SKIP(why)                                                           \
  do {                                                                         \
    xs_test_skips++;                                                           \
    fprintf(stderr, "skipped: %s\n", (why));                                   \
    skip();                                                                    \
  } while (0)

#define XS_RUN_GROUP(tests, setup, teardown)                                   \
  (xs_test_filters(),                                                          \
   xs_test_exit_status(cmocka_run_group_tests((tests), (setup), (teardown))))

static inline int xs_test_filters(void) {
  const char *only = getenv("XSVC_TEST_ONLY"),
             *except = getenv("XSVC_TEST_EXCEPT");
  if (only != NULL && only[0] != '\0')
    cmocka_set_test_filter(only);
  if (except != NULL && except[0] != '\0')
    cmocka_set_skip_filter(except);
  return 0;
}

static inline int xs_test_exit_status(int failed) {
  if (failed != 0)
    return failed;
  if (xs_test_skips > 0) {
    fprintf(stderr, "%d test(s) skipped in this configuration\n",
            xs_test_skips);
    return XS_TEST_SKIPPED;
  }
  return 0;
}

#endif
