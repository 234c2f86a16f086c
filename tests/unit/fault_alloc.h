/*
** fault_alloc.h -- the counting allocator of the fault-injection tests
** (test_faults.c, test_oom_reports.c): it fails the Nth allocation of
** SQLite (SQLITE_CONFIG_MALLOC), of jansson (json_set_alloc_funcs) and of
** libpatron itself (malloc, calloc and realloc reach it through the
** linker's --wrap, set for these binaries in the Makefile; Lua's
** allocations go through libpatron's allocator and are counted with them).
** A failure sets errno to ENOMEM, as the C library's malloc does.
** Include it once, in the test's .c file; call fault_alloc_install() before
** anything else touches SQLite or jansson, then set fault_mask, fault_at
** (and fault_sticky) to arm it.
*/
#ifndef FAULT_ALLOC_H
#define FAULT_ALLOC_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

enum { SRC_SQLITE = 1, SRC_JANSSON = 2, SRC_CORE = 4 };
static long fault_at;      /* fail allocation number fault_at after arming; 0: off */
static long fault_seen;    /* counted allocations since arming */
static unsigned fault_mask;/* which allocators count */
static bool fault_fired;   /* the fault happened in this run */
static bool fault_sticky;  /* after the first failure, fail every counted one */
static int fault_src;      /* where it fired */

static bool alloc_fails(int src) {
  if (!fault_at || !(fault_mask & (unsigned)src)) return false;
  if (fault_fired && fault_sticky) {
    errno = ENOMEM;
    return true;
  }
  if (++fault_seen == fault_at) {
    fault_fired = true;
    fault_src = src;
    errno = ENOMEM; /* as the C library's malloc does (POSIX) */
    return true;
  }
  return false;
}

/* libpatron's own allocations (linked with -Wl,--wrap=malloc,...). The
** __real_ symbols are weak so that the file still links without the
** wrapping; then only SQLite and jansson allocations are counted. */
extern void *__real_malloc(size_t n) __attribute__((weak));
extern void *__real_calloc(size_t n, size_t size) __attribute__((weak));
extern void *__real_realloc(void *ptr, size_t n) __attribute__((weak));
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t n);
void *__wrap_malloc(size_t n) { return alloc_fails(SRC_CORE) ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) {
  return alloc_fails(SRC_CORE) ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *ptr, size_t n) {
  return alloc_fails(SRC_CORE) ? NULL : __real_realloc(ptr, n);
}
static inline bool core_wrapped(void) { return __real_malloc != NULL; }
static void *raw_malloc(size_t n) { return __real_malloc ? __real_malloc(n) : malloc(n); }
static void *raw_realloc(void *ptr, size_t n) {
  return __real_realloc ? __real_realloc(ptr, n) : realloc(ptr, n);
}

/* jansson */
static void *j_malloc(size_t n) { return alloc_fails(SRC_JANSSON) ? NULL : raw_malloc(n); }
static void j_free(void *ptr) { free(ptr); }

/* SQLite: a 16-byte header keeps the size for xSize and the alignment. */
#define HDR 16
static void *s_malloc(int n) {
  if (n <= 0 || alloc_fails(SRC_SQLITE)) return NULL;
  char *b = raw_malloc((size_t)n + HDR);
  if (!b) return NULL;
  memcpy(b, &n, sizeof n);
  return b + HDR;
}
static void s_free(void *ptr) {
  if (ptr) free((char *)ptr - HDR);
}
static void *s_realloc(void *ptr, int n) {
  if (!ptr) return s_malloc(n);
  if (n <= 0 || alloc_fails(SRC_SQLITE)) return NULL;
  char *b = raw_realloc((char *)ptr - HDR, (size_t)n + HDR);
  if (!b) return NULL;
  memcpy(b, &n, sizeof n);
  return b + HDR;
}
static int s_size(void *ptr) {
  int n = 0;
  if (ptr) memcpy(&n, (char *)ptr - HDR, sizeof n);
  return n;
}
static int s_roundup(int n) { return (n + 7) & ~7; }
static int s_init(void *ud) {
  (void)ud;
  return SQLITE_OK;
}
static void s_shutdown(void *ud) { (void)ud; }


/* Puts the counting allocator under SQLite and jansson (before SQLite is
** initialised). */
static void fault_alloc_install(void) {
  static const sqlite3_mem_methods mem = {s_malloc, s_free,    s_realloc, s_size,
                                          s_roundup, s_init, s_shutdown, NULL};
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK) abort();
  json_set_alloc_funcs(j_malloc, j_free);
}

#endif /* FAULT_ALLOC_H */
