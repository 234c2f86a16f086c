/*
** json.h -- jansson parse and dump that never hide an allocation failure
** (json.c says which upstream gaps they close). Use these, never
** json_loads/json_loadb/json_dumps, anywhere in libpatron and the patron
** command.
*/
#ifndef PT_JSON_H
#define PT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "internal.h"

/* json_loadb, except that a parse during which an allocation failed
** returns NULL with *oom set (err->text "out of memory"); *oom is false for
** a plain syntax error. oom may be NULL. */
json_t *pt_json_loadb(const char *s, size_t len, size_t flags, json_error_t *err,
                      bool *oom);
/* The same for a NUL-terminated s. */
json_t *pt_json_loads(const char *s, size_t flags, json_error_t *err, bool *oom);
/* json_object_set_new / json_array_append_new for building results and
** receipts: v is stolen (freed on failure) and may be NULL (a constructor
** that ran out of memory). A failure returns false and, when bad is not
** NULL, sets *bad, so a whole object can be built and checked once. */
bool pt_json_put(json_t *o, const char *k, json_t *v, bool *bad);
bool pt_json_append(json_t *arr, json_t *v, bool *bad);
/* json_dumps, except that any failed write or allocation returns NULL
** (never a truncated or broken text). The result is freed with free(). */
char *pt_json_dumps(const json_t *j, size_t flags);

#endif /* PT_JSON_H */
