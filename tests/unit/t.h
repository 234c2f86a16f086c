/*
** t.h -- a tiny TAP test harness for patron's C unit tests. A test is a
** function; CHECK records a failure (with file, line and the condition)
** and goes on; the test reports "ok"/"not ok" once. tests/run.sh counts
** the lines of every suite and prints "N passed, N failed".
**
**   TEST(adds) { CHECK(1 + 1 == 2); CHECK_EQ_I64(x, 3); }
**   int main(void) { RUN(adds); return t_done(); }
*/
#ifndef T_H
#define T_H
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_num, t_failed_tests, t_cur_fail;

#define TEST(name) static void name(void)
#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      t_cur_fail++;                                                         \
      printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
    }                                                                       \
  } while (0)
#define CHECK_EQ_I64(a, b)                                                  \
  do {                                                                      \
    long long t_a = (long long)(a), t_b = (long long)(b);                   \
    if (t_a != t_b) {                                                       \
      t_cur_fail++;                                                         \
      printf("#   %s:%d: %s == %s: got %lld, want %lld\n", __FILE__,        \
             __LINE__, #a, #b, t_a, t_b);                                   \
    }                                                                       \
  } while (0)
#define CHECK_STR(a, b)                                                     \
  do {                                                                      \
    const char *t_a = (a), *t_b = (b);                                      \
    if (!t_a || !t_b || strcmp(t_a, t_b) != 0) {                            \
      t_cur_fail++;                                                         \
      printf("#   %s:%d: %s == %s:\n#     got  \"%s\"\n#     want \"%s\"\n", \
             __FILE__, __LINE__, #a, #b, t_a ? t_a : "(null)",              \
             t_b ? t_b : "(null)");                                         \
    }                                                                       \
  } while (0)
/* a contains b */
#define CHECK_HAS(a, b)                                                     \
  do {                                                                      \
    const char *t_a = (a), *t_b = (b);                                      \
    if (!t_a || !t_b || !strstr(t_a, t_b)) {                                \
      t_cur_fail++;                                                         \
      printf("#   %s:%d: %s contains %s:\n#     got  \"%s\"\n#     want \"%s\"\n", \
             __FILE__, __LINE__, #a, #b, t_a ? t_a : "(null)",              \
             t_b ? t_b : "(null)");                                         \
    }                                                                       \
  } while (0)
#define RUN(name)                                                           \
  do {                                                                      \
    t_cur_fail = 0;                                                         \
    name();                                                                 \
    t_num++;                                                                \
    if (t_cur_fail) t_failed_tests++;                                       \
    printf("%sok %d - %s\n", t_cur_fail ? "not " : "", t_num, #name);       \
    fflush(stdout);                                                         \
  } while (0)

/* A test of a known, documented bug: it runs and reports like any other,
** marked "# TODO why" (TAP), so the suite stays green while the bug is
** open; tests/run.sh counts it apart. It never hides a new failure: only
** the tests wrapped in RUN_TODO are affected. */
#define RUN_TODO(name, why)                                                 \
  do {                                                                      \
    t_cur_fail = 0;                                                         \
    name();                                                                 \
    t_num++;                                                                \
    printf("%sok %d - %s # TODO %s\n", t_cur_fail ? "not " : "", t_num,     \
           #name, why);                                                     \
    fflush(stdout);                                                         \
  } while (0)

static inline int t_done(void) {
  printf("1..%d\n", t_num);
  return t_failed_tests ? 1 : 0;
}
#endif
