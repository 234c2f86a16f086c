/*
** script_catalog.c -- the catalog as rules see it, kept in the rule state.
**
** Plugins look the catalog up on every cart (cross-sell asks for the top
** items of a category, the nudge for items that close a gap, every
** suggestion is checked against it), and the catalog changes rarely (an
** import). So the runtime keeps the rows it has read, in C memory owned by
** the state, and answers from them while the catalog is unchanged:
**   - schema 008 keeps a counter that triggers bump on every insert,
**     update or delete of a catalog row;
**   - the first catalog look-up of an evaluation reads it (one row, inside
**     the quote's read transaction, so rows and counter are one snapshot)
**     and drops every cached row if it moved.
** Two maps, each owning its rows: sku -> row (or "no such sku"), and
** category -> its items in top order (popularity descending, sku
** ascending), RT_CAT_ROWS of them, which is more than ctx.catalog.top can
** ask for (n + exclude). Both are bounded: a map that is full is emptied
** before the next insert, so a huge catalog costs reads, never unbounded
** memory. Pointers handed out stay valid until the next look-up.
*/
#include <stdlib.h>
#include <string.h>

#include "script_rt.h"

#define RT_CAT_ROWS (RT_TOP_MAX + RT_EXCLUDE_MAX)
#define RT_CAT_SKUS 4096 /* skus kept (found or not) */
#define RT_CAT_CATS 64   /* categories kept */

typedef struct slot {
  char *key;    /* owned; NULL: empty slot */
  uint64_t hash;
  pt_item *item; /* sku map: the row, NULL when there is no such sku */
  pt_item **items; /* category map: the rows in top order */
  size_t n;
} slot;

typedef struct map {
  slot *slots;
  size_t used, cap; /* cap: 0 or a power of two */
} map;

struct rt_catalog {
  int64_t version;     /* catalog_version.n the rows belong to */
  int64_t checked_gen; /* the evaluation that last read the counter */
  uint64_t epoch;      /* counts the times rows were freed */
  map skus, cats;
};

static uint64_t hash_of(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

static void map_clear(map *m) {
  for (size_t i = 0; i < m->cap; i++) {
    slot *e = &m->slots[i];
    if (!e->key) continue;
    free(e->key);
    free(e->item);
    for (size_t k = 0; k < e->n; k++) free(e->items[k]);
    free(e->items);
  }
  free(m->slots);
  memset(m, 0, sizeof *m);
}

static slot *map_find(const map *m, const char *key, uint64_t h) {
  if (!m->cap) return NULL;
  for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    slot *e = &m->slots[i];
    if (!e->key) return NULL;
    if (e->hash == h && strcmp(e->key, key) == 0) return e;
  }
}

/* An empty slot for key (not present), the map emptied first when it holds
** limit keys (*epoch counts it); NULL when out of memory. The caller fills
** item or items. */
static slot *map_add(map *m, const char *key, uint64_t h, size_t limit, uint64_t *epoch) {
  if (m->used >= limit) {
    map_clear(m);
    ++*epoch;
  }
  if (!m->cap) {
    size_t cap = 16;
    while (cap < limit * 2) cap *= 2; /* load at most one half: no rehash */
    if (!(m->slots = calloc(cap, sizeof *m->slots))) return NULL;
    m->cap = cap;
  }
  char *k = pt_strdup(key);
  if (!k) return NULL;
  size_t i = h & (m->cap - 1);
  while (m->slots[i].key) i = (i + 1) & (m->cap - 1);
  slot *e = &m->slots[i];
  e->key = k;
  e->hash = h;
  m->used++;
  return e;
}

/* A row of SCRIPT_CATALOG_GET / _TOP as one allocation. */
static pt_item *item_read(sqlite3_stmt *st) {
  const char *col[4];
  size_t len[4], total = 0;
  static const int at[4] = {0, 1, 3, 5}; /* sku, name, category, tags */
  for (int i = 0; i < 4; i++) {
    col[i] = (const char *)sqlite3_column_text(st, at[i]);
    if (!col[i]) col[i] = "";
    len[i] = strlen(col[i]) + 1;
    total += len[i];
  }
  pt_item *it = malloc(sizeof *it + total);
  if (!it) return NULL;
  char *c = (char *)(it + 1);
  const char **dst[4] = {&it->sku, &it->name, &it->category, &it->tags};
  for (int i = 0; i < 4; i++) {
    memcpy(c, col[i], len[i]);
    *dst[i] = c;
    c += len[i];
  }
  it->has_price = sqlite3_column_type(st, 2) != SQLITE_NULL;
  it->price_cents = sqlite3_column_int64(st, 2);
  it->popularity = sqlite3_column_int64(st, 4);
  return it;
}

/* Once per evaluation: are the cached rows still the catalog's? */
static int fresh(pt_script *s) {
  patron *p = s->p;
  if (!s->catalog && !(s->catalog = calloc(1, sizeof *s->catalog)))
    return pt_err(p, PATRON_NOMEM, "out of memory");
  rt_catalog *c = s->catalog;
  if (c->checked_gen == s->gen && c->checked_gen != 0) return PATRON_OK;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SCRIPT_CATALOG_VERSION);
  if (!st) return p->code;
  int r = pt_row(p, st, "read the catalog version");
  int64_t v = r > 0 ? sqlite3_column_int64(st, 0) : 0;
  pt_stmt_done(st);
  if (r < 0) return p->code;
  if (v != c->version) {
    map_clear(&c->skus);
    map_clear(&c->cats);
    c->version = v;
    c->epoch++;
  }
  c->checked_gen = s->gen;
  return PATRON_OK;
}

int pt_script_item(pt_script *s, const char *sku, const pt_item **out) {
  *out = NULL;
  int rc = fresh(s);
  if (rc) return rc;
  map *m = &s->catalog->skus;
  uint64_t h = hash_of(sku);
  slot *e = map_find(m, sku, h);
  if (e) {
    *out = e->item;
    return PATRON_OK;
  }
  patron *p = s->p;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SCRIPT_CATALOG_GET);
  if (!st) return p->code;
  pt_bind_text(st, 1, sku);
  int r = pt_row(p, st, "read the catalog");
  pt_item *it = r > 0 ? item_read(st) : NULL;
  pt_stmt_done(st);
  if (r < 0) return p->code;
  if (r > 0 && !it) return pt_err(p, PATRON_NOMEM, "out of memory");
  if (!(e = map_add(m, sku, h, RT_CAT_SKUS, &s->catalog->epoch))) {
    free(it);
    return pt_err(p, PATRON_NOMEM, "out of memory");
  }
  e->item = it;
  *out = it;
  return PATRON_OK;
}

int pt_script_top(pt_script *s, const char *category, pt_item *const **out, size_t *n) {
  *out = NULL;
  *n = 0;
  int rc = fresh(s);
  if (rc) return rc;
  map *m = &s->catalog->cats;
  uint64_t h = hash_of(category);
  slot *e = map_find(m, category, h);
  if (e) {
    *out = e->items;
    *n = e->n;
    return PATRON_OK;
  }
  patron *p = s->p;
  pt_item **rows = malloc(RT_CAT_ROWS * sizeof *rows);
  if (!rows) return pt_err(p, PATRON_NOMEM, "out of memory");
  size_t got = 0;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SCRIPT_CATALOG_TOP);
  if (!st) {
    free(rows);
    return p->code;
  }
  pt_bind_text(st, 1, category);
  sqlite3_bind_int64(st, 2, RT_CAT_ROWS);
  int r;
  while (got < RT_CAT_ROWS && (r = pt_row(p, st, "read the catalog")) > 0) {
    if (!(rows[got] = item_read(st))) {
      r = -1;
      pt_err(p, PATRON_NOMEM, "out of memory");
      break;
    }
    got++;
  }
  pt_stmt_done(st);
  if (got == RT_CAT_ROWS) r = 0;
  if (r < 0 || !(e = map_add(m, category, h, RT_CAT_CATS, &s->catalog->epoch))) {
    for (size_t i = 0; i < got; i++) free(rows[i]);
    free(rows);
    return r < 0 ? p->code : pt_err(p, PATRON_NOMEM, "out of memory");
  }
  e->items = rows;
  e->n = got;
  *out = rows;
  *n = got;
  return PATRON_OK;
}

uint64_t pt_script_catalog_epoch(const pt_script *s) {
  return s->catalog ? s->catalog->epoch : 0;
}

void pt_script_catalog_free(pt_script *s) {
  if (!s->catalog) return;
  map_clear(&s->catalog->skus);
  map_clear(&s->catalog->cats);
  free(s->catalog);
  s->catalog = NULL;
}
