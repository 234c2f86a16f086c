/*
** erase.c -- the right to erasure (patron_customer_erase). A customer's
** personal data is deleted and their id is replaced by a pseudonym
** ("erased-" and 32 hex digits) in every row that holds it, in one BEGIN
** IMMEDIATE transaction. What accounting needs stays, under the
** pseudonym: accounts, the ledger and its lots, orders and their lines,
** refunds, spend and tiers, subscriptions and their charges, NPS scores.
** Aggregate reports therefore read the same numbers before and after;
** reports that list customer ids (health) show the pseudonym.
**
** Deleted: email and birthday, NPS comments, the tracked cart, payment
** tokens (brand, last 4 digits and expiry stay: they tie a past charge to
** a card in a chargeback, they do not name a person). Rewritten: the
** canonical cart and the receipt of each order, charge results,
** subscription history details, event subjects and payloads, and ledger
** and order-adjustment reasons. In those texts the old id and the email
** are replaced wherever they stand as a whole word (a JSON string equal
** to the old id is one), and each payment token of the customer too;
** order ids are never touched (they are accounting keys).
**
** secure_delete is on while the rows are rewritten (freed bytes are
** zeroed) and a TRUNCATE checkpoint follows the commit, so the old rows
** leave the -wal file as well; a checkpoint held back by a reader in
** another connection is reported ("checkpoint": "incomplete") and erasing
** the pseudonym again retries it.
**
** Decisions. No map from the old id to the pseudonym is kept anywhere (it
** would itself be personal data), so erasing the old id again is
** UNKNOWN_CUSTOMER, while erasing the pseudonym is harmless
** ("already_erased": true, nothing written). A customer with a
** subscription that is not canceled or expired is refused (INVALID_INPUT
** naming it): patron does not stop billing behind the merchant's back. A
** retried commit of an old order with its old cart (the old id) is
** CONFLICT on "customer": the stored cart names the pseudonym, and
** returning the receipt would link the old id to it. It never records a
** second order. A new order under the old id enrols a new member.
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout.h"
#include "json.h"

#define ERASED_PREFIX "erased-"
#define ERASED_TOKEN "erased"
#define ERASED_EMAIL "[erased]"

/* ---- scrubbing texts ------------------------------------------------------ */

/* One replacement: the whole word `from` becomes `to`. */
typedef struct subst {
  char *from;
  const char *to;
  size_t len;
  bool icase;               /* emails: ASCII case does not matter */
} subst;

typedef struct scrubber {
  subst v[16];
  size_t n;
  bool oom;
} scrubber;

static void scrub_add(scrubber *s, const char *from, const char *to, bool icase) {
  if (!from || !*from || s->n == sizeof s->v / sizeof s->v[0]) return;
  char *copy = pt_strdup(from);
  if (!copy) {
    s->oom = true;
    return;
  }
  s->v[s->n++] = (subst){copy, to, strlen(from), icase};
}

static void scrub_free(scrubber *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i].from);
  s->n = 0;
}

/* Letters, digits, '_' and '-' continue a word: "C1" is not inside "C10"
** nor "cust-7" inside "cust-7-b". */
static bool word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c >= 0x80;
}

static bool same(const char *a, const char *b, size_t n, bool icase) {
  if (!icase) return memcmp(a, b, n) == 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

/* The text with every whole-word occurrence replaced: a new string
** (malloc) or NULL when nothing was (s->oom tells out of memory apart). */
static char *scrub_text(scrubber *s, const char *in) {
  size_t n = strlen(in);
  pt_buf b = {0};
  bool changed = false;
  size_t i = 0, run = 0;
  while (i < n) {
    const subst *hit = NULL;
    if (i == 0 || !word_char((unsigned char)in[i - 1])) {
      for (size_t k = 0; k < s->n && !hit; k++) {
        const subst *x = &s->v[k];
        if (x->len <= n - i && same(in + i, x->from, x->len, x->icase) &&
            (i + x->len == n || !word_char((unsigned char)in[i + x->len])))
          hit = x;
      }
    }
    if (!hit) {
      i++;
      continue;
    }
    pt_buf_add(&b, in + run, i - run);
    pt_buf_puts(&b, hit->to);
    i += hit->len;
    run = i;
    changed = true;
  }
  if (!changed) return NULL;
  pt_buf_add(&b, in + run, n - run);
  if (b.oom || !b.s) {
    pt_buf_free(&b);
    s->oom = true;
    return NULL;
  }
  return b.s;
}

/* Scrubs every string inside j (and object keys), except the values of
** order ids. *changed is set when anything was replaced. */
static void scrub_json(scrubber *s, json_t *j, bool *changed) {
  if (json_is_string(j)) {
    const char *v = json_string_value(j);
    if (strlen(v) != json_string_length(j)) return; /* holds a NUL: not ours */
    char *t = scrub_text(s, v);
    if (t) {
      if (json_string_set(j, t)) s->oom = true;
      *changed = true;
      free(t);
    }
  } else if (json_is_array(j)) {
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) scrub_json(s, v, changed);
  } else if (json_is_object(j)) {
    const char *k;
    json_t *v;
    bool rekey = false;
    json_object_foreach(j, k, v) {
      if (strcmp(k, "order_id") != 0 && strcmp(k, "order_ref") != 0)
        scrub_json(s, v, changed);
      char *t = scrub_text(s, k);
      if (t) rekey = true;
      free(t);
    }
    if (!rekey) return;
    /* a key names the customer: rebuild the object in the same order */
    json_t *o = json_object();
    if (!o) {
      s->oom = true;
      return;
    }
    json_object_foreach(j, k, v) {
      char *t = scrub_text(s, k);
      if (json_object_set(o, t ? t : k, v)) s->oom = true;
      free(t);
    }
    if (json_object_clear(j) || json_object_update(j, o)) s->oom = true;
    json_decref(o);
    *changed = true;
  }
}

/* The scrubbed form of a stored JSON text (plain text when it does not
** parse): a new string, or NULL when nothing changed. Formatting is
** jansson's compact form with the keys in their stored order, which is how
** patron writes these texts. */
static int scrub_stored(patron *p, scrubber *s, const char *text, char **out) {
  *out = NULL;
  if (!text) return PATRON_OK;
  bool oom = false;
  json_t *j = pt_json_loads(text, JSON_DECODE_ANY, NULL, &oom);
  if (oom) {
    s->oom = true; /* not "plain text": the parse ran out of memory */
  } else if (!j) {
    *out = scrub_text(s, text);
  } else {
    bool changed = false;
    scrub_json(s, j, &changed);
    if (changed && !s->oom && !(*out = pt_json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)))
      s->oom = true;
    json_decref(j);
  }
  if (s->oom) {
    free(*out);
    *out = NULL;
    return pt_err(p, PATRON_NOMEM, "out of memory");
  }
  return PATRON_OK;
}

/* The canonical cart of an order, scrubbed and written again by cart.c
** (its canonical form, not jansson's). *out NULL when unchanged. */
static int scrub_cart(patron *p, scrubber *s, const char *order_id, const char *text,
                      char **out) {
  *out = NULL;
  bool oom = false;
  json_t *j = pt_json_loads(text, 0, NULL, &oom);
  if (oom) return pt_err(p, PATRON_NOMEM, "out of memory");
  if (!j) return pt_err(p, PATRON_INTERNAL, "the stored cart of order %s is not JSON", order_id);
  bool changed = false;
  scrub_json(s, j, &changed);
  int rc = PATRON_OK;
  if (s->oom) rc = pt_err(p, PATRON_NOMEM, "out of memory");
  else if (changed) {
    pt_cart c;
    int crc = pt_cart_from_json(p, &c, j);
    if (crc == PATRON_NOMEM || crc == PATRON_IO) {
      rc = crc; /* not a bad cart: keep the cause */
    } else if (crc != PATRON_OK) {
      char why[PT_ERRMSG_SIZE];
      snprintf(why, sizeof why, "%s", patron_errmsg(p));
      rc = pt_err(p, PATRON_INTERNAL, "the stored cart of order %s does not decode: %s",
                  order_id, why);
    } else {
      if (!(*out = pt_strdup(c.canonical))) rc = pt_err(p, PATRON_NOMEM, "out of memory");
      pt_cart_free(&c);
    }
  }
  json_decref(j);
  return rc;
}

/* ---- rows read before they are written ------------------------------------ */

typedef struct erow {
  int64_t id;
  char *t[2];
} erow;

typedef struct erows {
  erow *v;
  size_t n, cap;
} erows;

static void rows_free(erows *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->v[i].t[0]);
    free(r->v[i].t[1]);
  }
  free(r->v);
  memset(r, 0, sizeof *r);
}

/* A text column as a new string; NULL for SQL NULL, or with *oom set. */
static char *col_dup(sqlite3_stmt *st, int i, bool *oom) {
  bool null = sqlite3_column_type(st, i) == SQLITE_NULL;
  const unsigned char *t = sqlite3_column_text(st, i);
  if (!t) {
    if (!null) *oom = true;
    return NULL;
  }
  char *d = pt_strdup((const char *)t);
  if (!d) *oom = true;
  return d;
}

/* Every row of st: column 0 an integer id, columns 1..ntext texts (NULL
** stays NULL). The statement is reset before anything is written. */
static int rows_read(patron *p, sqlite3_stmt *st, int ntext, erows *r, const char *what) {
  int row = 0;
  bool oom = false;
  while (!oom && (row = pt_row(p, st, what)) > 0) {
    if (r->n == r->cap) {
      size_t cap = r->cap ? 2 * r->cap : 16;
      erow *v = realloc(r->v, cap * sizeof *v);
      if (!v) {
        oom = true;
        break;
      }
      r->v = v;
      r->cap = cap;
    }
    erow *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(st, 0);
    for (int i = 0; i < ntext; i++) e->t[i] = col_dup(st, i + 1, &oom);
  }
  pt_stmt_done(st);
  if (oom) return pt_err(p, PATRON_NOMEM, "out of memory");
  return row < 0 ? p->code : PATRON_OK;
}

/* ---- the transaction --------------------------------------------------------- */

typedef struct erase {
  patron *p;
  const char *old;          /* the id being erased (borrowed) */
  char pseudo[64];
  char *email;              /* or NULL */
  scrubber sc;
  json_t *rows;             /* table -> rows changed */
} erase;

static int count(erase *e, const char *table, int64_t n) {
  json_t *v = json_object_get(e->rows, table);
  if (json_object_set_new(e->rows, table, json_integer(n + (v ? json_integer_value(v) : 0))))
    return pt_err(e->p, PATRON_NOMEM, "out of memory");
  return PATRON_OK;
}

/* Runs a statement bound (?1 old id, ?2 pseudonym) and counts its rows. */
static int rename_in(erase *e, enum pt_sql_id id, const char *table) {
  sqlite3_stmt *st = pt_stmt(e->p, id);
  if (!st) return e->p->code;
  pt_bind_text(st, 1, e->old);
  if (sqlite3_bind_parameter_count(st) >= 2)
    pt_bind_text(st, 2, e->pseudo);
  int rc = pt_exec_stmt(e->p, st, table);
  if (rc == PATRON_OK) rc = count(e, table, sqlite3_changes(e->p->db));
  return rc;
}

/* Sets one text column of a row by id (integer) or key (text). */
static int set_text(erase *e, enum pt_sql_id id, int64_t rowid, const char *key,
                    const char *text, const char *table) {
  sqlite3_stmt *st = pt_stmt(e->p, id);
  if (!st) return e->p->code;
  if (key) pt_bind_text(st, 1, key);
  else sqlite3_bind_int64(st, 1, rowid);
  pt_bind_text(st, 2, text);
  int rc = pt_exec_stmt(e->p, st, table);
  if (rc == PATRON_OK) rc = count(e, table, sqlite3_changes(e->p->db));
  return rc;
}

/* Free-text rows of the (already renamed) customer that name the old id
** or the email: rewritten. keyed: column 1 is the row's text key. */
static int scrub_rows(erase *e, enum pt_sql_id list, enum pt_sql_id set, bool keyed,
                      const char *table, bool bind_names) {
  erows r = {0};
  sqlite3_stmt *st = pt_stmt(e->p, list);
  if (!st) return e->p->code;
  pt_bind_text(st, 1, bind_names ? e->pseudo : e->old);
  if (bind_names) {
    pt_bind_text(st, 2, e->old);
    pt_bind_text(st, 3, e->email);
  }
  int rc = rows_read(e->p, st, keyed ? 2 : 1, &r, table);
  for (size_t i = 0; rc == PATRON_OK && i < r.n; i++) {
    const char *text = r.v[i].t[keyed ? 1 : 0];
    char *t = NULL;
    if ((rc = scrub_stored(e->p, &e->sc, text, &t)) || !t) continue;
    rc = set_text(e, set, r.v[i].id, keyed ? r.v[i].t[0] : NULL, t, table);
    free(t);
  }
  rows_free(&r);
  return rc;
}

static int erase_orders(erase *e) {
  erows r = {0};
  sqlite3_stmt *st = pt_stmt(e->p, PT_SQL_ERASE_ORDERS);
  if (!st) return e->p->code;
  pt_bind_text(st, 1, e->old);
  int rc = rows_read(e->p, st, 2, &r, "read orders");
  for (size_t i = 0; rc == PATRON_OK && i < r.n; i++) {
    char *cart = NULL, *receipt = NULL, name[32];
    snprintf(name, sizeof name, "#%lld", (long long)r.v[i].id);
    if (!r.v[i].t[0] || !r.v[i].t[1]) {
      rc = pt_err(e->p, PATRON_INTERNAL, "order %s has no cart or receipt", name);
      break;
    }
    if ((rc = scrub_cart(e->p, &e->sc, name, r.v[i].t[0], &cart)) ||
        (rc = scrub_stored(e->p, &e->sc, r.v[i].t[1], &receipt))) {
      free(cart);
      break;
    }
    if (!(st = pt_stmt(e->p, PT_SQL_ERASE_ORDER_SET))) {
      rc = e->p->code;
    } else {
      sqlite3_bind_int64(st, 1, r.v[i].id);
      pt_bind_text(st, 2, e->pseudo);
      pt_bind_text(st, 3, cart ? cart : r.v[i].t[0]);
      pt_bind_text(st, 4, receipt ? receipt : r.v[i].t[1]);
      if ((rc = pt_exec_stmt(e->p, st, "rename order")) == PATRON_OK)
        rc = count(e, "orders", 1);
    }
    free(cart);
    free(receipt);
  }
  rows_free(&r);
  return rc;
}

/* Events about the customer or one of their subscriptions. */
static int erase_events(erase *e) {
  erows r = {0};
  sqlite3_stmt *st = pt_stmt(e->p, PT_SQL_ERASE_EVENTS);
  if (!st) return e->p->code;
  pt_bind_text(st, 1, e->old);
  int rc = rows_read(e->p, st, 2, &r, "read events");
  for (size_t i = 0; rc == PATRON_OK && i < r.n; i++) {
    const char *subject = r.v[i].t[0] ? r.v[i].t[0] : "";
    const char *payload = r.v[i].t[1] ? r.v[i].t[1] : "{}";
    char *s = scrub_text(&e->sc, subject), *pl = NULL;
    if (e->sc.oom) rc = pt_err(e->p, PATRON_NOMEM, "out of memory");
    else rc = scrub_stored(e->p, &e->sc, payload, &pl);
    if (rc == PATRON_OK && (s || pl)) {
      if (!(st = pt_stmt(e->p, PT_SQL_ERASE_EVENT_SET))) {
        rc = e->p->code;
      } else {
        sqlite3_bind_int64(st, 1, r.v[i].id);
        pt_bind_text(st, 2, s ? s : subject);
        pt_bind_text(st, 3, pl ? pl : payload);
        if ((rc = pt_exec_stmt(e->p, st, "rewrite event")) == PATRON_OK)
          rc = count(e, "events", 1);
      }
    }
    free(s);
    free(pl);
  }
  rows_free(&r);
  return rc;
}

/* The customer's row: *found, their email (or NULL) and whether the id is
** already a pseudonym (*erased_at > 0). */
static int load_customer(erase *e, bool *found, int64_t *erased_at) {
  sqlite3_stmt *st = pt_stmt(e->p, PT_SQL_ERASE_CUSTOMER_GET);
  if (!st) return e->p->code;
  pt_bind_text(st, 1, e->old);
  bool oom = false;
  int r = pt_row(e->p, st, "find customer");
  *found = r > 0;
  *erased_at = 0;
  if (r > 0) {
    e->email = col_dup(st, 0, &oom);
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) *erased_at = sqlite3_column_int64(st, 1);
  }
  pt_stmt_done(st);
  if (oom) return pt_err(e->p, PATRON_NOMEM, "out of memory");
  return r < 0 ? e->p->code : PATRON_OK;
}

static int refuse_live_subscription(erase *e) {
  sqlite3_stmt *st = pt_stmt(e->p, PT_SQL_ERASE_LIVE_SUB);
  if (!st) return e->p->code;
  pt_bind_text(st, 1, e->old);
  char id[128] = "", status[32] = "";
  int r = pt_row(e->p, st, "find subscriptions");
  if (r > 0) {
    pt_col_text(st, 0, id, sizeof id);
    pt_col_text(st, 1, status, sizeof status);
  }
  pt_stmt_done(st);
  if (r > 0)
    return pt_err_path(e->p, PATRON_INVALID_INPUT, "customer",
                       "customer '%s' has subscription %s, %s: cancel it before erasing "
                       "the customer (erasure does not stop billing by itself)",
                       e->old, id, status);
  return r < 0 ? e->p->code : PATRON_OK;
}

/* "erased-" and 32 hex digits. The pseudonym is an input later (balance,
** ledger, the carts stored with its orders) and every input passes the
** card-number guard, so one whose digits happen to form a Luhn-valid run
** is drawn again (as subscription ids are). */
static int new_pseudonym(erase *e) {
  for (int tries = 0; tries < 64; tries++) {
    char u[37];
    pt_uuid(u);
    size_t k = strlen(ERASED_PREFIX);
    memcpy(e->pseudo, ERASED_PREFIX, k);
    for (const char *c = u; *c; c++)
      if (*c != '-') e->pseudo[k++] = *c;
    e->pseudo[k] = 0;
    if (pt_is_card_number(e->pseudo)) continue;
    sqlite3_stmt *st = pt_stmt(e->p, PT_SQL_CUSTOMER_EXISTS);
    if (!st) return e->p->code;
    pt_bind_text(st, 1, e->pseudo);
    int r = pt_row(e->p, st, "check pseudonym");
    pt_stmt_done(st);
    if (r == 0) return PATRON_OK;
    if (r < 0) return e->p->code;
  }
  return pt_err(e->p, PATRON_INTERNAL, "no unused pseudonym found");
}

/* The customer's payment tokens join the words to replace. */
static int add_tokens(erase *e) {
  sqlite3_stmt *st = pt_stmt(e->p, PT_SQL_ERASE_TOKENS);
  if (!st) return e->p->code;
  pt_bind_text(st, 1, e->old);
  int r = 0;
  while (!e->sc.oom && (r = pt_row(e->p, st, "read payment tokens")) > 0) {
    bool null = sqlite3_column_type(st, 0) == SQLITE_NULL;
    const char *token = (const char *)sqlite3_column_text(st, 0);
    if (!token && !null) e->sc.oom = true;
    else scrub_add(&e->sc, token, ERASED_TOKEN, false);
  }
  pt_stmt_done(st);
  if (e->sc.oom) return pt_err(e->p, PATRON_NOMEM, "out of memory");
  return r < 0 ? e->p->code : PATRON_OK;
}

static int erase_rows(erase *e) {
  int rc;
  int64_t now = patron_now(e->p);
  sqlite3_stmt *st;
  /* the pseudonym's customer and accounts first: every renamed row then
  ** points at an existing parent (foreign keys stay immediate) */
  if (!(st = pt_stmt(e->p, PT_SQL_ERASE_CUSTOMER_COPY))) return e->p->code;
  pt_bind_text(st, 1, e->old);
  pt_bind_text(st, 2, e->pseudo);
  sqlite3_bind_int64(st, 3, now);
  if ((rc = pt_exec_stmt(e->p, st, "add pseudonym"))) return rc;
  if ((rc = rename_in(e, PT_SQL_ERASE_ACCOUNTS_COPY, "accounts")) ||
      (rc = rename_in(e, PT_SQL_ERASE_LEDGER, "ledger")) ||
      (rc = rename_in(e, PT_SQL_ERASE_LOTS, "lots")) ||
      (rc = rename_in(e, PT_SQL_ERASE_SPEND, "spend")) ||
      (rc = rename_in(e, PT_SQL_ERASE_TIER_HISTORY, "tier_history")) ||
      (rc = rename_in(e, PT_SQL_ERASE_LOT_USE, "report_lot_use")) ||
      (rc = scrub_rows(e, PT_SQL_ERASE_LEDGER_REASONS, PT_SQL_ERASE_LEDGER_SET_REASON,
                       false, "ledger_reasons", true)) ||
      (rc = erase_orders(e)) ||
      (rc = scrub_rows(e, PT_SQL_ERASE_ORDER_ADJ_REASONS, PT_SQL_ERASE_ORDER_ADJ_SET,
                       false, "order_adjustments", true)) ||
      (rc = rename_in(e, PT_SQL_ERASE_SUGGESTIONS, "suggestions_shown")) ||
      (rc = rename_in(e, PT_SQL_ERASE_NUDGES, "report_nudges")) ||
      /* through the subscriptions, before they are renamed */
      (rc = erase_events(e)) ||
      (rc = rename_in(e, PT_SQL_ERASE_ATTEMPTS, "charge_attempts")) ||
      (rc = scrub_rows(e, PT_SQL_ERASE_ATTEMPT_RESULTS, PT_SQL_ERASE_ATTEMPT_SET_RESULT,
                       true, "charge_results", false)) ||
      (rc = rename_in(e, PT_SQL_ERASE_SUB_HISTORY, "subscription_history")) ||
      (rc = scrub_rows(e, PT_SQL_ERASE_SUB_DETAILS, PT_SQL_ERASE_SUB_DETAIL_SET, false,
                       "subscription_details", false)) ||
      (rc = rename_in(e, PT_SQL_ERASE_PAYMENT_METHODS, "payment_methods")) ||
      (rc = rename_in(e, PT_SQL_ERASE_SUBS, "subscriptions")) ||
      (rc = rename_in(e, PT_SQL_ERASE_NPS, "nps_answers")) ||
      (rc = rename_in(e, PT_SQL_ERASE_TRACKED, "tracked_carts")) ||
      (rc = rename_in(e, PT_SQL_ERASE_ACCOUNTS_DROP, "old_accounts")) ||
      (rc = rename_in(e, PT_SQL_ERASE_CUSTOMER_DROP, "customers")))
    return rc;
  json_object_del(e->rows, "old_accounts");
  return PATRON_OK;
}

/* The result text, made before the commit (nothing after it may fail),
** with room for the checkpoint member that add_checkpoint writes once the
** checkpoint ran: ,"checkpoint":"complete" or "incomplete" before the
** closing brace, as json_object_set_new would have put it last. */
#define CHECKPOINT_TAIL ",\"checkpoint\":\"incomplete\"}"

static char *result_text(json_t *res) {
  char *t = pt_json_dumps(res, JSON_COMPACT);
  json_decref(res);
  if (!t) return NULL;
  char *r = realloc(t, strlen(t) + sizeof CHECKPOINT_TAIL);
  if (!r) free(t);
  return r;
}

static void add_checkpoint(char *text, const char *state) {
  size_t n = strlen(text); /* an object with members: ends in '}' */
  snprintf(text + n - 1, sizeof CHECKPOINT_TAIL, ",\"checkpoint\":\"%s\"}", state);
}

/* The erasure proper, in one transaction; *text gets the result (without
** its checkpoint member). */
static int erase_txn(erase *e, char **text) {
  int rc = pt_begin(e->p);
  if (rc) return rc;
  bool found = false;
  int64_t erased_at = 0;
  char when[32];
  if ((rc = load_customer(e, &found, &erased_at))) goto fail;
  if (!found) {
    rc = pt_err_path(e->p, PATRON_UNKNOWN_CUSTOMER, "customer", "unknown customer '%s'",
                     e->old);
    goto fail;
  }
  if (erased_at > 0) { /* the pseudonym of an earlier erasure */
    pt_rollback(e->p);
    patron_time_format(when, sizeof when, erased_at);
    *text = result_text(json_pack("{s:s, s:b, s:s}", "pseudonym", e->old,
                                  "already_erased", 1, "erased_at", when));
    return *text ? PATRON_OK : pt_err(e->p, PATRON_NOMEM, "out of memory");
  }
  if ((rc = refuse_live_subscription(e)) || (rc = new_pseudonym(e))) goto fail;
  scrub_add(&e->sc, e->old, e->pseudo, false);
  scrub_add(&e->sc, e->email, ERASED_EMAIL, true);
  if (e->sc.oom) {
    rc = pt_err(e->p, PATRON_NOMEM, "out of memory");
    goto fail;
  }
  if ((rc = add_tokens(e)) || (rc = erase_rows(e))) goto fail;
  patron_time_format(when, sizeof when, patron_now(e->p));
  *text = result_text(json_pack("{s:s, s:b, s:s, s:O}", "pseudonym", e->pseudo,
                                "already_erased", 0, "erased_at", when, "rows", e->rows));
  if (!*text) {
    rc = pt_err(e->p, PATRON_NOMEM, "out of memory");
    goto fail;
  }
  if ((rc = pt_commit(e->p))) {
    free(*text);
    *text = NULL;
  }
  return rc;
fail:
  pt_rollback(e->p);
  return rc;
}

/* PRAGMA secure_delete: 0 off, 1 on, 2 fast. */
static int secure_delete_get(patron *p, int *mode) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ERASE_SECURE_GET);
  if (!st) return p->code;
  int r = pt_row(p, st, "read secure_delete");
  if (r > 0) *mode = sqlite3_column_int(st, 0);
  pt_stmt_done(st);
  if (r < 0) return p->code;
  return r > 0 ? PATRON_OK : pt_err(p, PATRON_INTERNAL, "read secure_delete: no row");
}

static enum pt_sql_id secure_delete_sql(int mode) {
  return mode == 0 ? PT_SQL_ERASE_SECURE_OFF
         : mode == 2 ? PT_SQL_ERASE_SECURE_FAST
                     : PT_SQL_ERASE_SECURE_ON;
}

static int secure_delete_set(patron *p, int mode) {
  sqlite3_stmt *st = pt_stmt(p, secure_delete_sql(mode));
  if (!st) return p->code;
  return pt_exec_stmt(p, st, "set secure_delete");
}

/* Copies the WAL into the database and truncates it: "complete", or
** "incomplete" when a reader in another connection held it back past the
** busy timeout (or the checkpoint failed: the erasure itself is committed
** either way, so this is reported, not an error). */
static const char *checkpoint(patron *p) {
  /* a checkpoint that failed (out of memory, I/O) rather than found a
  ** reader in the way is tried once more */
  bool complete = false;
  for (int tries = 0; tries < 2; tries++) {
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_ERASE_CHECKPOINT);
    if (!st) continue;
    int src = sqlite3_step(st);
    bool ran = src == SQLITE_ROW;
    complete = ran && sqlite3_column_int(st, 0) == 0;
    pt_stmt_done(st);
    if ((src & 0xff) != SQLITE_NOMEM && (src & 0xff) != SQLITE_IOERR) break;
  }
  pt_ok(p); /* reported in the result, not an error: the erasure stands */
  return complete ? "complete" : "incomplete";
}

int patron_customer_erase(patron *p, char **out, const char *customer) {
  *out = NULL;
  pt_ok(p);
  if (!customer || !*customer)
    return pt_err_path(p, PATRON_INVALID_INPUT, "customer", "no customer given");
  if (strlen(customer) >= PT_ID_MAX)
    return pt_err_path(p, PATRON_INVALID_INPUT, "customer",
                       "a customer id holds at most %d bytes", PT_ID_MAX - 1);
  if (p->txn_depth > 0)
    return pt_err(p, PATRON_MISUSE, "patron_customer_erase inside a transaction");
  erase e;
  memset(&e, 0, sizeof e);
  e.p = p;
  e.old = customer;
  if (!(e.rows = json_object())) return pt_err(p, PATRON_NOMEM, "out of memory");
  int mode = 1, rc;
  char *text = NULL;
  if ((rc = secure_delete_get(p, &mode))) goto done;
  /* prepared now, so that nothing after the commit has to prepare them */
  if (!pt_stmt(p, PT_SQL_ERASE_CHECKPOINT) || !pt_stmt(p, secure_delete_sql(mode))) {
    rc = p->code;
    goto done;
  }
  if ((rc = secure_delete_set(p, 1))) goto done;
  rc = erase_txn(&e, &text);
  if (rc == PATRON_OK) add_checkpoint(text, checkpoint(p));
  if (mode != 1) {
    int code = p->code;
    char msg[PT_ERRMSG_SIZE], path[sizeof p->errpath];
    memcpy(msg, p->errmsg, sizeof msg);
    memcpy(path, p->errpath, sizeof path);
    (void)secure_delete_set(p, mode); /* best effort: the erasure stands */
    p->code = code;
    memcpy(p->errmsg, msg, sizeof msg);
    memcpy(p->errpath, path, sizeof path);
  }
  if (rc == PATRON_OK) {
    *out = text;
    text = NULL;
  }
done:
  free(text);
  json_decref(e.rows);
  scrub_free(&e.sc);
  free(e.email);
  return rc;
}
