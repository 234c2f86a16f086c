/*
** config.c -- configuration versions: applying a shop.lua (evaluated by
** config_lua.c) as a new numbered version, reading a stored version's
** canonical JSON back into the pt_config structs, and the handle's cache
** of the active (highest) version, which is reloaded when another handle
** or process applies a newer one. The parser trusts nothing: a damaged
** stored document is an INTERNAL error with a message, never a crash.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json.h"

/* ---- JSON -> structs -------------------------------------------------- */

typedef struct jrd {
  patron *p;
  int64_t version;
  char where[96];          /* the object being read: "programs[1].tiers[0]" */
} jrd;

static bool damaged(jrd *r, const char *key, const char *why) {
  pt_err(r->p, PATRON_INTERNAL,
         "stored configuration version %lld is damaged: %s%s%s: %s",
         (long long)r->version, r->where, r->where[0] && key ? "." : "",
         key ? key : "", why);
  return false;
}

/* Out of memory while reading: not the document's fault. */
static bool no_memory(jrd *r) {
  pt_err(r->p, PATRON_NOMEM, "out of memory reading configuration version %lld",
         (long long)r->version);
  return false;
}

static bool rd_int(jrd *r, json_t *o, const char *key, int64_t min,
                   int64_t max, int64_t *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v)) return damaged(r, key, "missing or not an integer");
  json_int_t x = json_integer_value(v);
  if (x < min || x > max) return damaged(r, key, "out of range");
  *out = (int64_t)x;
  return true;
}

/* The same, with null meaning null_value. */
static bool rd_int_or_null(jrd *r, json_t *o, const char *key, int64_t min,
                           int64_t max, int64_t null_value, int64_t *out) {
  if (json_is_null(json_object_get(o, key))) {
    *out = null_value;
    return true;
  }
  return rd_int(r, o, key, min, max, out);
}

static bool rd_small(jrd *r, json_t *o, const char *key, int max, int *out) {
  int64_t v;
  if (!rd_int(r, o, key, 0, max, &v)) return false;
  *out = (int)v;
  return true;
}

/* Non-empty text that fits buf; with null_ok, null gives "". */
static bool rd_str(jrd *r, json_t *o, const char *key, char *buf, size_t size,
                   bool null_ok) {
  json_t *v = json_object_get(o, key);
  if (null_ok && json_is_null(v)) {
    buf[0] = 0;
    return true;
  }
  if (!json_is_string(v)) return damaged(r, key, "missing or not text");
  size_t n = json_string_length(v);
  const char *s = json_string_value(v);
  if (n == 0 || n >= size || strlen(s) != n)
    return damaged(r, key, "empty, too long or holding a NUL");
  memcpy(buf, s, n + 1);
  return true;
}

static bool rd_dup(jrd *r, json_t *o, const char *key, char **out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_string(v)) return damaged(r, key, "missing or not text");
  if (!(*out = pt_strdup(json_string_value(v)))) return no_memory(r);
  return true;
}

static bool rd_bool(jrd *r, json_t *o, const char *key, bool *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_boolean(v)) return damaged(r, key, "missing or not true/false");
  *out = json_is_true(v);
  return true;
}

static bool rd_enum(jrd *r, json_t *o, const char *key, char *buf,
                    size_t size, const char *const *choices) {
  if (!rd_str(r, o, key, buf, size, false)) return false;
  for (; *choices; choices++)
    if (strcmp(buf, *choices) == 0) return true;
  return damaged(r, key, "not one of the known values");
}

/* A list member of o: its size in *n and a zeroed array of n elements of
** size bytes in *out (NULL when n is 0). */
static json_t *rd_list(jrd *r, json_t *o, const char *key, size_t elem,
                       size_t *n, void **out) {
  json_t *a = json_object_get(o, key);
  *out = NULL;
  *n = 0;
  if (!json_is_array(a)) {
    damaged(r, key, "missing or not a list");
    return NULL;
  }
  size_t count = json_array_size(a);
  if (count && !(*out = calloc(count, elem))) {
    no_memory(r);
    return NULL;
  }
  *n = count;
  return a;
}

/* Element i of a list, which must be an object; sets r->where. */
static json_t *rd_elem(jrd *r, json_t *a, const char *prefix, const char *key,
                       size_t i) {
  json_t *e = json_array_get(a, i);
  snprintf(r->where, sizeof r->where, "%s%s%s[%zu]", prefix,
           prefix[0] ? "." : "", key, i);
  if (!json_is_object(e)) {
    damaged(r, NULL, "not an object");
    return NULL;
  }
  return e;
}

static bool parse_program(jrd *r, json_t *o, pt_program *g) {
  char here[sizeof r->where];
  if (!rd_str(r, o, "name", g->name, sizeof g->name, false) ||
      !rd_int(r, o, "points_per_unit", 0, INT64_MAX, &g->points_per_unit) ||
      !rd_int(r, o, "pending_days", 0, 36500, &g->pending_days) ||
      !rd_int(r, o, "value_points", 1, INT64_MAX, &g->value_points) ||
      !rd_int(r, o, "value_cents", 0, INT64_MAX, &g->value_cents) ||
      !rd_int(r, o, "min_points", 0, INT64_MAX, &g->min_points) ||
      !rd_int(r, o, "max_share_bp", 0, 10000, &g->max_share_bp) ||
      !rd_small(r, o, "expiry_months", 1200, &g->expiry_months) ||
      !rd_small(r, o, "expiry_notice_days", 36500, &g->expiry_notice_days) ||
      !rd_small(r, o, "tier_window_months", 1200, &g->tier_window_months))
    return false;
  void *mem;
  json_t *tiers = rd_list(r, o, "tiers", sizeof(pt_tier), &g->ntiers, &mem);
  g->tiers = mem;
  if (!tiers) return false;
  memcpy(here, r->where, sizeof here);
  for (size_t i = 0; i < g->ntiers; i++) {
    pt_tier *t = &g->tiers[i];
    json_t *e = rd_elem(r, tiers, here, "tiers", i);
    if (!e || !rd_str(r, e, "name", t->name, sizeof t->name, false) ||
        !rd_int(r, e, "from_cents", 0, INT64_MAX, &t->from_cents) ||
        !rd_int(r, e, "multiplier_bp", 0, INT64_MAX, &t->multiplier_bp))
      return false;
    if (i == 0 ? t->from_cents != 0 : t->from_cents <= g->tiers[i - 1].from_cents)
      return damaged(r, "from_cents", "tiers do not ascend from 0");
  }
  return true;
}

static bool parse_bundle(jrd *r, json_t *o, pt_bundle *b) {
  char here[sizeof r->where];
  if (!rd_str(r, o, "name", b->name, sizeof b->name, false) ||
      !rd_int_or_null(r, o, "off_bp", 1, 10000, 0, &b->off_bp) ||
      !rd_int_or_null(r, o, "price_cents", 0, INT64_MAX, -1, &b->price_cents))
    return false;
  if ((b->off_bp > 0) == (b->price_cents >= 0))
    return damaged(r, "off_bp", "needs exactly one of off_bp and price_cents");
  void *mem;
  json_t *items = rd_list(r, o, "items", sizeof(pt_bundle_item), &b->nitems, &mem);
  b->items = mem;
  if (!items) return false;
  if (b->nitems == 0) return damaged(r, "items", "empty");
  memcpy(here, r->where, sizeof here);
  for (size_t i = 0; i < b->nitems; i++) {
    json_t *e = rd_elem(r, items, here, "items", i);
    if (!e || !rd_str(r, e, "sku", b->items[i].sku, sizeof b->items[i].sku, false) ||
        !rd_int(r, e, "qty", 1, 1000000, &b->items[i].qty))
      return false;
  }
  return true;
}

static bool parse_plugin(jrd *r, json_t *o, pt_plugin_ref *g) {
  if (!rd_str(r, o, "name", g->name, sizeof g->name, false) ||
      !rd_dup(r, o, "path", &g->path) || !rd_dup(r, o, "source", &g->source) ||
      !rd_int_or_null(r, o, "from", INT64_MIN, INT64_MAX, 0, &g->from) ||
      !rd_int_or_null(r, o, "to", INT64_MIN, INT64_MAX, 0, &g->to) ||
      !rd_int_or_null(r, o, "budget_points", 0, INT64_MAX, -1, &g->budget_points) ||
      !rd_int_or_null(r, o, "budget_cents", 0, INT64_MAX, -1, &g->budget_cents) ||
      !rd_int_or_null(r, o, "budget_uses", 0, INT64_MAX, -1, &g->budget_uses) ||
      !rd_int(r, o, "instructions", 1, INT64_MAX, &g->instructions) ||
      !rd_int(r, o, "memory_bytes", 1, INT64_MAX, &g->memory_bytes))
    return false;
  json_t *params = json_object_get(o, "params");
  if (!json_is_object(params)) return damaged(r, "params", "missing or not an object");
  g->params = json_incref(params);
  return true;
}

static bool parse_plan(jrd *r, json_t *o, pt_plan *g) {
  static const char *const every[] = {"day", "week", "month", "year", NULL};
  return rd_str(r, o, "name", g->name, sizeof g->name, false) &&
         rd_int(r, o, "price_cents", 0, INT64_MAX, &g->price_cents) &&
         rd_enum(r, o, "every", g->every, sizeof g->every, every) &&
         rd_int(r, o, "count", 1, 1000, &g->count) &&
         rd_int(r, o, "trial_days", 0, 36500, &g->trial_days) &&
         rd_str(r, o, "program", g->program, sizeof g->program, true) &&
         rd_str(r, o, "twin", g->twin, sizeof g->twin, true);
}

static bool parse_dunning(jrd *r, json_t *o, pt_dunning *d) {
  static const char *const finals[] = {"suspend", "cancel", NULL};
  snprintf(r->where, sizeof r->where, "dunning");
  if (!json_is_object(o)) return damaged(r, NULL, "missing or not an object");
  json_t *days = json_object_get(o, "retry_days");
  if (!json_is_array(days) || json_array_size(days) > 16)
    return damaged(r, "retry_days", "not a list of at most 16 days");
  d->nretry = json_array_size(days);
  for (size_t i = 0; i < d->nretry; i++) {
    json_t *v = json_array_get(days, i);
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        (i > 0 && json_integer_value(v) <= d->retry_days[i - 1]))
      return damaged(r, "retry_days", "not ascending days > 0");
    d->retry_days[i] = (int64_t)json_integer_value(v);
  }
  return rd_int(r, o, "grace_days", 0, 36500, &d->grace_days) &&
         rd_enum(r, o, "final_action", d->final_action, sizeof d->final_action,
                 finals) &&
         rd_int(r, o, "max_retries", 0, 1000, &d->max_retries);
}

static bool parse_doc(jrd *r, pt_config *c) {
  json_t *doc = c->json, *shop = json_object_get(doc, "shop");
  void *mem;
  if (!json_is_object(doc)) return damaged(r, NULL, "not a JSON object");
  snprintf(r->where, sizeof r->where, "shop");
  if (!json_is_object(shop)) return damaged(r, NULL, "missing or not an object");
  if (!rd_str(r, shop, "currency", c->currency, sizeof c->currency, false) ||
      !rd_str(r, shop, "timezone", c->timezone, sizeof c->timezone, false) ||
      !rd_bool(r, shop, "prices_include_tax", &c->prices_include_tax) ||
      !rd_bool(r, shop, "strict", &c->strict) ||
      !rd_int(r, shop, "contact_cap_max", 0, INT64_MAX, &c->contact_cap_max) ||
      !rd_int(r, shop, "contact_cap_per_days", 1, 36500, &c->contact_cap_per_days) ||
      !rd_int(r, shop, "abandoned_cart_hours", 1, 876000, &c->abandoned_cart_hours))
    return false;
  r->where[0] = 0;
  if (!rd_str(r, doc, "default_program", c->default_program,
              sizeof c->default_program, false))
    return false;

  json_t *a = rd_list(r, doc, "programs", sizeof(pt_program), &c->nprograms, &mem);
  c->programs = mem;
  if (!a) return false;
  if (c->nprograms == 0) return damaged(r, "programs", "empty");
  for (size_t i = 0; i < c->nprograms; i++) {
    json_t *e = rd_elem(r, a, "", "programs", i);
    if (!e || !parse_program(r, e, &c->programs[i])) return false;
  }
  r->where[0] = 0;
  bool found = false;
  for (size_t i = 0; i < c->nprograms; i++)
    found = found || strcmp(c->programs[i].name, c->default_program) == 0;
  if (!found) return damaged(r, "default_program", "names no program");

  if (!(a = rd_list(r, doc, "bundles", sizeof(pt_bundle), &c->nbundles, &mem))) {
    c->bundles = mem;
    return false;
  }
  c->bundles = mem;
  for (size_t i = 0; i < c->nbundles; i++) {
    json_t *e = rd_elem(r, a, "", "bundles", i);
    if (!e || !parse_bundle(r, e, &c->bundles[i])) return false;
  }
  r->where[0] = 0;
  if (!(a = rd_list(r, doc, "free_shipping", sizeof(pt_shipping), &c->nshipping, &mem))) {
    c->shipping = mem;
    return false;
  }
  c->shipping = mem;
  for (size_t i = 0; i < c->nshipping; i++) {
    pt_shipping *s = &c->shipping[i];
    json_t *e = rd_elem(r, a, "", "free_shipping", i);
    if (!e || !rd_int(r, e, "threshold_cents", 0, INT64_MAX, &s->threshold_cents) ||
        !rd_int(r, e, "shipping_cents", 0, INT64_MAX, &s->shipping_cents) ||
        !rd_str(r, e, "program", s->program, sizeof s->program, true) ||
        !rd_str(r, e, "region", s->region, sizeof s->region, true))
      return false;
  }
  r->where[0] = 0;
  if (!(a = rd_list(r, doc, "plugins", sizeof(pt_plugin_ref), &c->nplugins, &mem))) {
    c->plugins = mem;
    return false;
  }
  c->plugins = mem;
  for (size_t i = 0; i < c->nplugins; i++) {
    json_t *e = rd_elem(r, a, "", "plugins", i);
    if (!e || !parse_plugin(r, e, &c->plugins[i])) return false;
  }
  r->where[0] = 0;
  if (!(a = rd_list(r, doc, "plans", sizeof(pt_plan), &c->nplans, &mem))) {
    c->plans = mem;
    return false;
  }
  c->plans = mem;
  for (size_t i = 0; i < c->nplans; i++) {
    json_t *e = rd_elem(r, a, "", "plans", i);
    if (!e || !parse_plan(r, e, &c->plans[i])) return false;
  }
  return parse_dunning(r, json_object_get(doc, "dunning"), &c->dunning);
}

pt_config *pt_config_parse(patron *p, const char *json_text, int64_t version) {
  jrd r = {.p = p, .version = version};
  if (!json_text) {
    damaged(&r, NULL, "no text");
    return NULL;
  }
  json_error_t jerr;
  bool oom = false;
  json_t *doc = pt_json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr, &oom);
  if (oom) {
    no_memory(&r);
    return NULL;
  }
  if (!doc) {
    pt_err(p, PATRON_INTERNAL,
           "stored configuration version %lld is not valid JSON: %s (line %d)",
           (long long)version, jerr.text, jerr.line);
    return NULL;
  }
  pt_config *c = calloc(1, sizeof *c);
  if (!c) {
    json_decref(doc);
    pt_err(p, PATRON_NOMEM, "out of memory");
    return NULL;
  }
  c->json = doc;
  c->version = version;
  if (!parse_doc(&r, c)) {
    pt_config_free(c);
    return NULL;
  }
  return c;
}

void pt_config_free(pt_config *c) {
  if (!c) return;
  for (size_t i = 0; i < c->nprograms; i++) free(c->programs[i].tiers);
  free(c->programs);
  for (size_t i = 0; i < c->nbundles; i++) free(c->bundles[i].items);
  free(c->bundles);
  free(c->shipping);
  for (size_t i = 0; i < c->nplugins; i++) {
    free(c->plugins[i].path);
    free(c->plugins[i].source);
    json_decref(c->plugins[i].params);
  }
  free(c->plugins);
  free(c->plans);
  json_decref(c->json);
  free(c);
}

/* ---- the active version ----------------------------------------------- */

/* Reads version (0: the latest) into *json (malloc'd) and *got; *json
** stays NULL when there is no such version. */
static int load_version(patron *p, int64_t version, int64_t *got, char **json) {
  sqlite3_stmt *st = pt_stmt(p, version ? PT_SQL_CONFIG_GET : PT_SQL_CONFIG_LATEST);
  *json = NULL;
  if (!st) return p->code;
  if (version) sqlite3_bind_int64(st, 1, version);
  int r = pt_row(p, st, "read configuration");
  if (r > 0) {
    *got = sqlite3_column_int64(st, 0);
    /* a NOT NULL column: NULL is SQLite out of memory */
    if (!(*json = pt_strdup((const char *)sqlite3_column_text(st, 1)))) {
      pt_stmt_done(st);
      return pt_err(p, PATRON_NOMEM, "out of memory");
    }
  }
  pt_stmt_done(st);
  return r < 0 ? p->code : PATRON_OK;
}

static int no_config(patron *p) {
  return pt_err(p, PATRON_NO_CONFIG,
                "no shop configuration applied: run `patron apply shop.lua`");
}

static void install(patron *p, pt_config *c) {
  if (p->cfg != c) pt_config_free(p->cfg);
  p->cfg = c;
  p->cfg_version = c->version;
}

const pt_config *pt_config_active(patron *p) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_CONFIG_LATEST_VERSION);
  if (!st) return NULL;
  int r = pt_row(p, st, "read configuration version");
  bool none = r <= 0 || sqlite3_column_type(st, 0) == SQLITE_NULL;
  int64_t latest = none ? 0 : sqlite3_column_int64(st, 0);
  pt_stmt_done(st);
  if (r < 0) return NULL;
  if (r == 0) { /* max() always gives a row */
    pt_err(p, PATRON_INTERNAL, "read configuration version: no row");
    return NULL;
  }
  if (none) {
    no_config(p);
    return NULL;
  }
  if (p->cfg && p->cfg_version == latest) return p->cfg;
  char *json = NULL;
  int64_t got = 0;
  if (load_version(p, latest, &got, &json)) return NULL;
  if (!json) { /* cannot happen: versions are never deleted */
    pt_err(p, PATRON_INTERNAL, "configuration version %lld vanished",
           (long long)latest);
    return NULL;
  }
  pt_config *c = pt_config_parse(p, json, got);
  free(json);
  if (!c) return NULL;
  install(p, c);
  return c;
}

const pt_program *pt_config_program(patron *p, const pt_config *c,
                                    const char *name) {
  if (!name || !*name) name = c->default_program;
  for (size_t i = 0; i < c->nprograms; i++)
    if (strcmp(c->programs[i].name, name) == 0) return &c->programs[i];
  pt_buf b = {0};
  for (size_t i = 0; i < c->nprograms; i++)
    pt_buf_printf(&b, "%s%s", i ? ", " : "", c->programs[i].name);
  if (b.oom) /* the list would be cut short: leave it out */
    pt_err(p, PATRON_UNKNOWN_PROGRAM, "unknown program '%s'", name);
  else
    pt_err(p, PATRON_UNKNOWN_PROGRAM, "unknown program '%s' (programs: %s)", name,
           b.s ? b.s : "none");
  pt_buf_free(&b);
  return NULL;
}

int pt_program_tier_for(const pt_program *prog, int64_t spend) {
  int t = -1;
  for (size_t i = 0; i < prog->ntiers; i++)
    if (spend >= prog->tiers[i].from_cents) t = (int)i;
  return t;
}

const pt_plan *pt_config_plan(const pt_config *c, const char *name) {
  for (size_t i = 0; name && i < c->nplans; i++)
    if (strcmp(c->plans[i].name, name) == 0) return &c->plans[i];
  return NULL;
}

const pt_bundle *pt_config_bundle(const pt_config *c, const char *name) {
  for (size_t i = 0; name && i < c->nbundles; i++)
    if (strcmp(c->bundles[i].name, name) == 0) return &c->bundles[i];
  return NULL;
}

const pt_plugin_ref *pt_config_plugin(const pt_config *c, const char *name) {
  for (size_t i = 0; name && i < c->nplugins; i++)
    if (strcmp(c->plugins[i].name, name) == 0) return &c->plugins[i];
  return NULL;
}

/* ---- applying --------------------------------------------------------- */

int patron_apply_buffer(patron *p, patron_apply_result *out, const char *name,
                        const char *src, size_t len) {
  patron_apply_result res = {0, 0};
  char *json = NULL, *cur = NULL;
  pt_config *c = NULL;
  bool in_txn = false;
  int rc;
  if (out) *out = res;
  if (!p) return PATRON_MISUSE;
  if (!src && len) return pt_err(p, PATRON_MISUSE, "no configuration text given");
  if (!name || !*name) name = "shop.lua";
  if ((rc = pt_config_eval(p, &json, name, src, len))) goto done;
  /* what we store must read back: check before writing anything */
  if (!(c = pt_config_parse(p, json, 0))) {
    rc = p->code;
    goto done;
  }
  if ((rc = pt_begin(p))) goto done;
  in_txn = true;
  int64_t latest = 0;
  if ((rc = load_version(p, 0, &latest, &cur))) goto done;
  if (cur && strcmp(cur, json) == 0) {
    res.version = latest;
  } else {
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_CONFIG_INSERT);
    if (!st) {
      rc = p->code;
      goto done;
    }
    sqlite3_bind_int64(st, 1, patron_now(p));
    pt_bind_text(st, 2, name);
    /* not copied (STATIC): cannot fail for memory, only for a text over
    ** SQLite's length limit */
    int b = sqlite3_bind_text64(st, 3, src ? src : "", (sqlite3_uint64)len,
                                SQLITE_STATIC, SQLITE_UTF8);
    if (b != SQLITE_OK) {
      pt_stmt_done(st);
      rc = pt_err_sqlite(p, b, "store configuration source");
      goto done;
    }
    pt_bind_text(st, 4, json);
    int r = pt_row(p, st, "store configuration"); /* RETURNING version */
    if (r > 0) {
      res.version = sqlite3_column_int64(st, 0);
      r = pt_row(p, st, "store configuration");
    }
    pt_stmt_done(st);
    if (r < 0) {
      rc = p->code;
      goto done;
    }
    res.changed = 1;
  }
  in_txn = false;
  if ((rc = pt_commit(p))) goto done;
  c->version = res.version;
  install(p, c);
  c = NULL;
  if (out) *out = res;
  rc = pt_ok(p);
done:
  if (in_txn) pt_rollback(p);
  pt_config_free(c);
  free(cur);
  free(json);
  return rc;
}

int patron_apply_file(patron *p, patron_apply_result *out, const char *path) {
  if (out) out->version = 0, out->changed = 0;
  if (!p) return PATRON_MISUSE;
  if (!path || !*path) return pt_err(p, PATRON_MISUSE, "no configuration file given");
  size_t len = 0;
  char *src = pt_read_file(path, &len);
  if (!src) return pt_err(p, PATRON_IO, "cannot read %s: %s", path, strerror(errno));
  int rc = patron_apply_buffer(p, out, path, src, len);
  free(src);
  return rc;
}

int patron_config_json(patron *p, char **out, int64_t version) {
  if (out) *out = NULL;
  if (!p) return PATRON_MISUSE;
  if (!out) return pt_err(p, PATRON_MISUSE, "no output pointer given");
  if (version < 0)
    return pt_err(p, PATRON_NOT_FOUND, "no configuration version %lld",
                  (long long)version);
  int64_t got = 0;
  char *json = NULL;
  int rc = load_version(p, version, &got, &json);
  if (rc) return rc;
  if (!json)
    return version ? pt_err(p, PATRON_NOT_FOUND, "no configuration version %lld",
                            (long long)version)
                   : no_config(p);
  *out = json;
  return pt_ok(p);
}
