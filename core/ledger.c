/*
** ledger.c -- the points ledger: accounts per (program, customer),
** append-only entries, lots for expiry and pending points, tier-qualifying
** spend and tiers, the ledger part of tick, and verify.
**
** Invariants (checked by patron_verify): accounts.points is the sum of the
** account's entries; while it is >= 0 the lots' `left` sum to it, and
** when a refund clawback takes it below zero every lot is empty (later
** earns pay the debt before they fill a lot). A redemption uses matured,
** unexpired lots, soonest expiry first, and may never take the spendable
** balance below zero; only a clawback (allow_negative) may.
*/
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "ledger.h"
#include "reports.h"
#include "subs.h"

const char *pt_kind_name(pt_kind k) {
  static const char *const names[] = {"earn", "redeem", "expire", "adjust",
                                      "reverse"};
  return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static const char *base_tier(const pt_program *prog) {
  return prog->ntiers ? prog->tiers[0].name : "";
}

int pt_customer_ensure(patron *p, const char *customer, int64_t at) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_CUSTOMER_ENSURE);
  if (!st) return p->code;
  pt_bind_text(st, 1, customer);
  sqlite3_bind_int64(st, 2, at);
  return pt_exec_stmt(p, st, "add customer");
}

static int customer_exists(patron *p, const char *customer, bool *found) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_CUSTOMER_EXISTS);
  if (!st) return p->code;
  pt_bind_text(st, 1, customer);
  int r = pt_row(p, st, "find customer");
  pt_stmt_done(st);
  if (r < 0) return p->code;
  *found = r > 0;
  return PATRON_OK;
}

int pt_account_ensure(patron *p, const pt_program *prog, const char *customer,
                      int64_t at) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ACCOUNT_ENSURE);
  if (!st) return p->code;
  pt_bind_text(st, 1, prog->name);
  pt_bind_text(st, 2, customer);
  pt_bind_text(st, 3, base_tier(prog));
  sqlite3_bind_int64(st, 4, at);
  return pt_exec_stmt(p, st, "open account");
}

/* Reads an account; *exists false (and zeros) when there is none. */
static int account_get(patron *p, const char *program, const char *customer,
                       int64_t *points, char *tier, size_t tier_size,
                       bool *exists) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ACCOUNT_GET);
  if (!st) return p->code;
  pt_bind_text(st, 1, program);
  pt_bind_text(st, 2, customer);
  int r = pt_row(p, st, "read account");
  *points = 0;
  if (tier) tier[0] = 0;
  *exists = r > 0;
  if (r > 0) {
    *points = sqlite3_column_int64(st, 0);
    if (tier) pt_col_text(st, 1, tier, tier_size);
  }
  pt_stmt_done(st);
  return r < 0 ? p->code : PATRON_OK;
}

static int set_points(patron *p, const char *program, const char *customer,
                      int64_t points) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ACCOUNT_SET_POINTS);
  if (!st) return p->code;
  pt_bind_text(st, 1, program);
  pt_bind_text(st, 2, customer);
  sqlite3_bind_int64(st, 3, points);
  return pt_exec_stmt(p, st, "update balance");
}

static int set_lot_left(patron *p, int64_t lot, int64_t left) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_LOT_SET_LEFT);
  if (!st) return p->code;
  sqlite3_bind_int64(st, 1, lot);
  sqlite3_bind_int64(st, 2, left);
  return pt_exec_stmt(p, st, "update lot");
}

/* Appends the entry row; *entry_id gets its rowid. */
static int insert_entry(patron *p, const char *program, const pt_post *e,
                        char uuid[37], int64_t *entry_id) {
  pt_uuid(uuid);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ENTRY_INSERT);
  if (!st) return p->code;
  pt_bind_text(st, 1, uuid);
  pt_bind_text(st, 2, program);
  pt_bind_text(st, 3, e->customer);
  sqlite3_bind_int64(st, 4, e->at);
  pt_bind_text(st, 5, pt_kind_name(e->kind));
  sqlite3_bind_int64(st, 6, e->points);
  pt_bind_text(st, 7, e->order_ref);
  pt_bind_text(st, 8, e->source ? e->source : "manual");
  pt_bind_text(st, 9, e->reason ? e->reason : "");
  int rc = pt_exec_stmt(p, st, "append ledger entry");
  if (rc == PATRON_OK) *entry_id = sqlite3_last_insert_rowid(p->db);
  return rc;
}

/* Takes up to *need points from the lots the statement yields (id, left),
** oldest first; *need is reduced by what was taken. The lots are read
** fully before any is written, so the statement is never stepped across
** an update of the table it reads. */
static int take_from_lots(patron *p, sqlite3_stmt *st, int64_t *need) {
  int64_t ids[64], lefts[64];
  int rc = PATRON_OK;
  while (*need > 0) {
    size_t n = 0;
    int r = 0;
    while (n < 64 && (r = pt_row(p, st, "read lots")) > 0) {
      ids[n] = sqlite3_column_int64(st, 0);
      lefts[n] = sqlite3_column_int64(st, 1);
      n++;
    }
    bool more = n == 64;
    if (r < 0) {
      pt_stmt_done(st);
      return p->code;
    }
    /* the statement stays open only while the lots we buffered are not
    ** yet written; reset it before writing and re-run it afterwards */
    sqlite3_reset(st);
    for (size_t i = 0; i < n && *need > 0; i++) {
      int64_t take = lefts[i] < *need ? lefts[i] : *need;
      if ((rc = set_lot_left(p, ids[i], lefts[i] - take))) return rc;
      *need -= take;
    }
    if (!more) break;
  }
  pt_stmt_done(st);
  return rc;
}

static int lot_sums(patron *p, const char *program, const char *customer,
                    int64_t now, int64_t *spendable, int64_t *pending) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_LOTS_SUMS);
  if (!st) return p->code;
  pt_bind_text(st, 1, program);
  pt_bind_text(st, 2, customer);
  sqlite3_bind_int64(st, 3, now);
  int r = pt_row(p, st, "sum lots");
  if (r > 0) {
    *spendable = sqlite3_column_int64(st, 0);
    *pending = sqlite3_column_int64(st, 1);
  }
  pt_stmt_done(st);
  if (r < 0) return p->code;
  return r > 0 ? PATRON_OK : pt_err(p, PATRON_INTERNAL, "sum lots: no row");
}

int pt_ledger_post(patron *p, const pt_program *prog, const pt_post *e,
                   char uuid_out[37]) {
  char uuid[37];
  int64_t balance, after, entry_id;
  bool exists;
  int rc;
  if (e->points == 0)
    return pt_err(p, PATRON_INVALID_INPUT, "a ledger entry needs non-zero points");
  if ((rc = account_get(p, prog->name, e->customer, &balance, NULL, 0, &exists)))
    return rc;
  if (!exists)
    return pt_err(p, PATRON_INTERNAL, "no account for %s in %s", e->customer,
                  prog->name);
  if (!pt_add64(balance, e->points, &after))
    return pt_err(p, PATRON_OVERFLOW,
                  "balance of %s in %s would overflow (%lld %+lld)", e->customer,
                  prog->name, (long long)balance, (long long)e->points);
  if (e->points < 0) {
    int64_t need = -e->points;
    if (!e->allow_negative) {
      int64_t spendable, pending;
      if ((rc = lot_sums(p, prog->name, e->customer, e->at, &spendable, &pending)))
        return rc;
      if (balance < 0) spendable = balance;
      if (spendable < need)
        return pt_err(p, PATRON_INSUFFICIENT_POINTS,
                      "%s has %lld spendable points in %s, %lld needed",
                      e->customer, (long long)spendable, prog->name,
                      (long long)need);
      sqlite3_stmt *st = pt_stmt(p, PT_SQL_LOTS_SPENDABLE);
      if (!st) return p->code;
      pt_bind_text(st, 1, prog->name);
      pt_bind_text(st, 2, e->customer);
      sqlite3_bind_int64(st, 3, e->at);
      if ((rc = take_from_lots(p, st, &need))) return rc;
    } else {
      sqlite3_stmt *st = pt_stmt(p, PT_SQL_LOTS_CLAWBACK);
      if (!st) return p->code;
      pt_bind_text(st, 1, prog->name);
      pt_bind_text(st, 2, e->customer);
      sqlite3_bind_int64(st, 3, e->at);
      pt_bind_text(st, 4, e->order_ref);
      if ((rc = take_from_lots(p, st, &need))) return rc;
    }
    /* what the lots could not cover is debt: only a clawback gets here */
    if (need > 0 && !e->allow_negative)
      return pt_err(p, PATRON_INTERNAL, "lots of %s in %s do not cover the balance",
                    e->customer, prog->name);
    if ((rc = insert_entry(p, prog->name, e, uuid, &entry_id))) return rc;
  } else {
    if ((rc = insert_entry(p, prog->name, e, uuid, &entry_id))) return rc;
    int64_t left = e->points;
    if (balance < 0) left = after > 0 ? after : 0; /* pay the debt first */
    int64_t spendable_at = e->at, expires_at = 0;
    if (e->pending && prog->pending_days > 0 &&
        !pt_add64(e->at, prog->pending_days * PT_DAY, &spendable_at))
      return pt_err(p, PATRON_OVERFLOW, "pending date out of range");
    if (prog->expiry_months > 0) expires_at = pt_add_months(e->at, prog->expiry_months);
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_LOT_INSERT);
    if (!st) return p->code;
    sqlite3_bind_int64(st, 1, entry_id);
    pt_bind_text(st, 2, prog->name);
    pt_bind_text(st, 3, e->customer);
    sqlite3_bind_int64(st, 4, e->at);
    sqlite3_bind_int64(st, 5, spendable_at);
    if (expires_at) sqlite3_bind_int64(st, 6, expires_at);
    else sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, e->points);
    sqlite3_bind_int64(st, 8, left);
    if ((rc = pt_exec_stmt(p, st, "add lot"))) return rc;
  }
  if ((rc = set_points(p, prog->name, e->customer, after))) return rc;
  if (uuid_out) memcpy(uuid_out, uuid, 37);
  return PATRON_OK;
}

int pt_ledger_has_ref(patron *p, const pt_program *prog, const char *customer,
                      const char *order_ref, bool *found) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ENTRY_HAS_REF);
  if (!st) return p->code;
  pt_bind_text(st, 1, prog->name);
  pt_bind_text(st, 2, customer);
  pt_bind_text(st, 3, order_ref);
  int r = pt_row(p, st, "find entry");
  pt_stmt_done(st);
  if (r < 0) return p->code;
  *found = r > 0;
  return PATRON_OK;
}

/* Qualifying spend of an account in the tier window ending at `at`. */
static int window_spend(patron *p, const pt_program *prog, const char *customer,
                        int64_t at, int64_t *spend) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SPEND_SUM);
  if (!st) return p->code;
  int64_t from = prog->tier_window_months > 0
                     ? pt_add_months(at, -prog->tier_window_months)
                     : INT64_MIN;
  pt_bind_text(st, 1, prog->name);
  pt_bind_text(st, 2, customer);
  sqlite3_bind_int64(st, 3, from);
  sqlite3_bind_int64(st, 4, at);
  int r = pt_row(p, st, "sum spend");
  if (r > 0) *spend = sqlite3_column_int64(st, 0);
  /* sum() reports an integer overflow as SQLITE_ERROR */
  bool overflow = r < 0 && p->code == PATRON_INTERNAL &&
                  (sqlite3_errcode(p->db) & 0xff) == SQLITE_ERROR;
  pt_stmt_done(st);
  if (overflow) return pt_err(p, PATRON_OVERFLOW, "qualifying spend of %s overflows", customer);
  if (r < 0) return p->code;
  if (r == 0) return pt_err(p, PATRON_INTERNAL, "sum spend: no row");
  return PATRON_OK;
}

int pt_ledger_retier(patron *p, const pt_program *prog, const char *customer,
                     int64_t at, bool *changed) {
  int64_t points, spend = 0;
  char tier[PT_NAME_MAX];
  bool exists;
  int rc;
  *changed = false;
  if (prog->ntiers == 0) return PATRON_OK;
  if ((rc = account_get(p, prog->name, customer, &points, tier, sizeof tier, &exists)))
    return rc;
  if (!exists) return PATRON_OK;
  if ((rc = window_spend(p, prog, customer, at, &spend))) return rc;
  int t = pt_program_tier_for(prog, spend);
  const char *want = t >= 0 ? prog->tiers[t].name : base_tier(prog);
  if (strcmp(want, tier) == 0) return PATRON_OK;
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ACCOUNT_SET_TIER);
  if (!st) return p->code;
  pt_bind_text(st, 1, prog->name);
  pt_bind_text(st, 2, customer);
  pt_bind_text(st, 3, want);
  if ((rc = pt_exec_stmt(p, st, "set tier"))) return rc;
  if (!(st = pt_stmt(p, PT_SQL_TIER_HISTORY_INSERT))) return p->code;
  pt_bind_text(st, 1, prog->name);
  pt_bind_text(st, 2, customer);
  sqlite3_bind_int64(st, 3, at);
  pt_bind_text(st, 4, tier);
  pt_bind_text(st, 5, want);
  sqlite3_bind_int64(st, 6, spend);
  if ((rc = pt_exec_stmt(p, st, "record tier change"))) return rc;
  json_t *pl = json_pack("{s:s, s:s, s:s, s:s, s:I}", "program", prog->name,
                         "customer", customer, "from", tier, "to", want,
                         "qualifying_cents", (json_int_t)spend);
  char *text = pt_json_dumps(pl, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(pl);
  if (!text) return pt_err(p, PATRON_NOMEM, "out of memory");
  rc = pt_event_emit(p, "tier_changed", customer, at, text);
  free(text);
  if (rc == PATRON_OK) *changed = true;
  return rc;
}

int pt_ledger_add_spend(patron *p, const pt_program *prog, const char *customer,
                        int64_t cents, int64_t at, const char *order_ref) {
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_SPEND_INSERT);
  if (!st) return p->code;
  pt_bind_text(st, 1, prog->name);
  pt_bind_text(st, 2, customer);
  sqlite3_bind_int64(st, 3, at);
  sqlite3_bind_int64(st, 4, cents);
  pt_bind_text(st, 5, order_ref);
  int rc = pt_exec_stmt(p, st, "record spend");
  if (rc) return rc;
  bool changed;
  return pt_ledger_retier(p, prog, customer, at, &changed);
}

int pt_ledger_balance(patron *p, const pt_program *prog, const char *customer,
                      int64_t now, patron_balance_info *out) {
  bool exists;
  int rc;
  memset(out, 0, sizeof *out);
  snprintf(out->program, sizeof out->program, "%s", prog->name);
  if ((rc = account_get(p, prog->name, customer, &out->points, out->tier,
                        sizeof out->tier, &exists)))
    return rc;
  if (!exists) {
    snprintf(out->tier, sizeof out->tier, "%s", base_tier(prog));
    return PATRON_OK;
  }
  if ((rc = lot_sums(p, prog->name, customer, now, &out->spendable, &out->pending)))
    return rc;
  if (out->points < 0) out->spendable = out->points;
  return window_spend(p, prog, customer, now, &out->qualifying_cents);
}

/* ---- public API ----------------------------------------------------- */

/* Resolves config and program, and checks the customer exists. */
static int resolve(patron *p, const char *customer, const char *program,
                   const pt_program **prog) {
  pt_ok(p);
  if (!customer || !*customer)
    return pt_err_path(p, PATRON_INVALID_INPUT, "customer", "no customer given");
  const pt_config *c = pt_config_active(p);
  if (!c) return p->code;
  if (!(*prog = pt_config_program(p, c, program))) return p->code;
  bool found;
  int rc = customer_exists(p, customer, &found);
  if (rc) return rc;
  if (!found)
    return pt_err_path(p, PATRON_UNKNOWN_CUSTOMER, "customer",
                       "unknown customer '%s'", customer);
  return PATRON_OK;
}

int patron_balance(patron *p, patron_balance_info *out, const char *customer,
                   const char *program) {
  const pt_program *prog;
  memset(out, 0, sizeof *out);
  int rc = resolve(p, customer, program, &prog);
  if (rc) return rc;
  return pt_ledger_balance(p, prog, customer, patron_now(p), out);
}

int patron_adjust(patron *p, char entry_uuid[37], const char *customer,
                  const char *program, int64_t points, const char *reason) {
  const pt_program *prog;
  if (entry_uuid) entry_uuid[0] = 0;
  if (!reason || !*reason)
    return pt_err_path(p, PATRON_INVALID_INPUT, "reason",
                       "an adjustment needs a reason (it is audited)");
  if (points == 0)
    return pt_err_path(p, PATRON_INVALID_INPUT, "points",
                       "an adjustment needs non-zero points");
  if (!pt_utf8_valid(reason))
    return pt_err_path(p, PATRON_INVALID_INPUT, "reason",
                       "the reason must be valid UTF-8 text");
  int rc = pt_begin(p);
  if (rc) return rc;
  if ((rc = resolve(p, customer, program, &prog))) goto fail;
  int64_t now = patron_now(p);
  if ((rc = pt_account_ensure(p, prog, customer, now))) goto fail;
  pt_post e = {.customer = customer, .kind = PT_ADJUST, .points = points,
               .at = now, .source = "manual", .reason = reason};
  if ((rc = pt_ledger_post(p, prog, &e, entry_uuid))) goto fail;
  return pt_commit(p);
fail:
  pt_rollback(p);
  return rc;
}

int patron_ledger_json(patron *p, char **out, const char *customer,
                       const char *program) {
  *out = NULL;
  const pt_program *prog = NULL;
  int rc;
  if (program && *program) {
    if ((rc = resolve(p, customer, program, &prog))) return rc;
  } else {
    pt_ok(p);
    bool found;
    if (!customer || !*customer)
      return pt_err_path(p, PATRON_INVALID_INPUT, "customer", "no customer given");
    if ((rc = customer_exists(p, customer, &found))) return rc;
    if (!found)
      return pt_err_path(p, PATRON_UNKNOWN_CUSTOMER, "customer",
                         "unknown customer '%s'", customer);
  }
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_ENTRY_LIST);
  if (!st) return p->code;
  pt_bind_text(st, 1, customer);
  pt_bind_text(st, 2, prog ? prog->name : NULL);
  json_t *arr = json_array(), *running = json_object();
  int r = arr && running ? 0 : -2;
  while (r == 0 && (r = pt_row(p, st, "read ledger")) > 0) {
    const char *pname = (const char *)sqlite3_column_text(st, 1);
    int64_t pts = sqlite3_column_int64(st, 4), bal = 0;
    json_t *run = pname ? json_object_get(running, pname) : NULL;
    if (run) bal = json_integer_value(run);
    if (!pt_add64(bal, pts, &bal)) bal = pts > 0 ? INT64_MAX : INT64_MIN;
    /* a lost running balance would make every later balance_after wrong */
    if (!pname || json_object_set_new(running, pname, json_integer(bal))) { r = -2; break; }
    char at[32];
    patron_time_format(at, sizeof at, sqlite3_column_int64(st, 2));
    const char *ref = (const char *)sqlite3_column_text(st, 5);
    if (!ref && sqlite3_column_type(st, 5) != SQLITE_NULL) { r = -2; break; }
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:s, s:s}",
        "uuid", (const char *)sqlite3_column_text(st, 0), "program", pname,
        "at", at, "kind", (const char *)sqlite3_column_text(st, 3),
        "points", (json_int_t)pts, "balance_after", (json_int_t)bal,
        "order_ref", ref ? json_string(ref) : json_null(),
        "source", (const char *)sqlite3_column_text(st, 6),
        "reason", (const char *)sqlite3_column_text(st, 7));
    if (!e || json_array_append_new(arr, e)) { r = -2; break; }
    r = 0;
  }
  pt_stmt_done(st);
  json_decref(running);
  if (r == 0) *out = pt_json_dumps(arr, JSON_COMPACT);
  json_decref(arr);
  if (r == -1) return p->code;
  return *out ? PATRON_OK : pt_err(p, PATRON_NOMEM, "out of memory");
}

/* Expires every lot due at now, one ledger entry per lot. */
static int tick_expire(patron *p, int64_t now,
                       patron_tick_result *out) {
  for (;;) {
    struct due { int64_t id, left, earned; char program[PT_NAME_MAX], customer[128]; };
    struct due due[500];
    size_t n = 0;
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_LOTS_DUE);
    if (!st) return p->code;
    sqlite3_bind_int64(st, 1, now);
    int r = 0;
    while (n < 500 && (r = pt_row(p, st, "find due lots")) > 0) {
      due[n].id = sqlite3_column_int64(st, 0);
      pt_col_text(st, 1, due[n].program, sizeof due[n].program);
      pt_col_text(st, 2, due[n].customer, sizeof due[n].customer);
      due[n].left = sqlite3_column_int64(st, 3);
      due[n].earned = sqlite3_column_int64(st, 4);
      n++;
    }
    pt_stmt_done(st);
    if (r < 0) return p->code;
    for (size_t i = 0; i < n; i++) {
      int64_t balance, after, entry_id;
      bool exists;
      int rc;
      if ((rc = account_get(p, due[i].program, due[i].customer, &balance, NULL, 0, &exists)))
        return rc;
      if (!pt_sub64(balance, due[i].left, &after))
        return pt_err(p, PATRON_OVERFLOW, "balance overflow on expiry");
      char when[32], reason[96], uuid[37];
      patron_time_format(when, sizeof when, due[i].earned);
      when[10] = 0;
      snprintf(reason, sizeof reason, "points earned %s expired", when);
      pt_post e = {.customer = due[i].customer, .kind = PT_EXPIRE,
                   .points = -due[i].left, .at = now, .source = "expiry",
                   .reason = reason};
      sqlite3_stmt *ex = pt_stmt(p, PT_SQL_LOT_EXPIRE);
      if (!ex) return p->code;
      sqlite3_bind_int64(ex, 1, due[i].id);
      if ((rc = pt_exec_stmt(p, ex, "expire lot"))) return rc;
      if ((rc = insert_entry(p, due[i].program, &e, uuid, &entry_id))) return rc;
      if ((rc = set_points(p, due[i].program, due[i].customer, after))) return rc;
      out->expired_lots++;
      if (!pt_add64(out->expired_points, due[i].left, &out->expired_points))
        return pt_err(p, PATRON_OVERFLOW, "expired points overflow");
    }
    if (n < 500) break;
  }
  return PATRON_OK;
}

/* One points_expiring event per customer and program whose lots expire
** within the program's notice window; each lot is announced once. */
static int tick_notices(patron *p, const pt_config *c, int64_t now,
                        patron_tick_result *out) {
  for (size_t i = 0; i < c->nprograms; i++) {
    const pt_program *prog = &c->programs[i];
    if (prog->expiry_months <= 0 || prog->expiry_notice_days <= 0) continue;
    int64_t until = now + prog->expiry_notice_days * PT_DAY;
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_LOTS_NOTICE);
    if (!st) return p->code;
    pt_bind_text(st, 1, prog->name);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, until);
    json_t *events = json_array();
    int r = events ? 0 : -2;
    while (r == 0 && (r = pt_row(p, st, "find expiring lots")) > 0) {
      char at[32];
      patron_time_format(at, sizeof at, sqlite3_column_int64(st, 2));
      json_t *ev = json_pack("{s:s, s:s, s:I, s:s}",
          "customer", (const char *)sqlite3_column_text(st, 0),
          "program", prog->name, "points", (json_int_t)sqlite3_column_int64(st, 1),
          "expires_at", at);
      r = !ev || json_array_append_new(events, ev) ? -2 : 0;
    }
    pt_stmt_done(st);
    if (r < 0) {
      json_decref(events);
      return r == -1 ? p->code : pt_err(p, PATRON_NOMEM, "out of memory");
    }
    size_t k;
    json_t *ev;
    int rc = PATRON_OK;
    json_array_foreach(events, k, ev) {
      char *text = pt_json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
      if (!text) { rc = pt_err(p, PATRON_NOMEM, "out of memory"); break; }
      rc = pt_event_emit(p, "points_expiring",
                         json_string_value(json_object_get(ev, "customer")), now, text);
      free(text);
      if (rc) break;
      out->expiring_notices++;
    }
    json_decref(events);
    if (rc) return rc;
    if (!(st = pt_stmt(p, PT_SQL_LOTS_MARK_NOTIFIED))) return p->code;
    pt_bind_text(st, 1, prog->name);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, until);
    if ((rc = pt_exec_stmt(p, st, "mark lots notified"))) return rc;
  }
  return PATRON_OK;
}

/* Tier windows slide: accounts above the base tier may drop. */
static int tick_tiers(patron *p, const pt_config *c, int64_t now,
                      patron_tick_result *out) {
  for (size_t i = 0; i < c->nprograms; i++) {
    const pt_program *prog = &c->programs[i];
    if (prog->ntiers == 0 || prog->tier_window_months <= 0) continue;
    sqlite3_stmt *st = pt_stmt(p, PT_SQL_ACCOUNTS_ABOVE_BASE);
    if (!st) return p->code;
    pt_bind_text(st, 1, prog->name);
    pt_bind_text(st, 2, base_tier(prog));
    json_t *who = json_array();
    int r = who ? 0 : -2;
    while (r == 0 && (r = pt_row(p, st, "find tiered accounts")) > 0) {
      const char *cust = (const char *)sqlite3_column_text(st, 0);
      r = !cust || json_array_append_new(who, json_string(cust)) ? -2 : 0;
    }
    pt_stmt_done(st);
    if (r < 0) {
      json_decref(who);
      return r == -1 ? p->code : pt_err(p, PATRON_NOMEM, "out of memory");
    }
    size_t k;
    json_t *cust;
    int rc = PATRON_OK;
    json_array_foreach(who, k, cust) {
      bool changed;
      if ((rc = pt_ledger_retier(p, prog, json_string_value(cust), now, &changed))) break;
      if (changed) out->tier_changes++;
    }
    json_decref(who);
    if (rc) return rc;
  }
  return PATRON_OK;
}

int pt_ledger_tick(patron *p, const pt_config *c, int64_t now,
                   patron_tick_result *out) {
  int rc;
  if ((rc = tick_expire(p, now, out))) return rc;
  if ((rc = tick_notices(p, c, now, out))) return rc;
  return tick_tiers(p, c, now, out);
}

int patron_tick(patron *p, patron_tick_result *out, int64_t now) {
  memset(out, 0, sizeof *out);
  pt_ok(p);
  const pt_config *c = pt_config_active(p);
  if (!c) return p->code;
  int rc = pt_begin(p);
  if (rc) return rc;
  if ((rc = pt_ledger_tick(p, c, now, out)) || (rc = pt_subs_tick(p, c, now, out)) ||
      (rc = pt_track_tick(p, c, now, out))) {
    pt_rollback(p);
    return rc;
  }
  return pt_commit(p);
}

int patron_verify(patron *p, int64_t *mismatches, char **report) {
  *mismatches = 0;
  *report = NULL;
  pt_ok(p);
  sqlite3_stmt *st = pt_stmt(p, PT_SQL_VERIFY_ACCOUNTS);
  if (!st) return p->code;
  json_t *bad = json_array();
  int64_t accounts = 0;
  int r = bad ? 0 : -2;
  while (r == 0 && (r = pt_row(p, st, "verify")) > 0) {
    int64_t points = sqlite3_column_int64(st, 2);
    int64_t sum = sqlite3_column_int64(st, 3);
    int64_t lots = sqlite3_column_int64(st, 4);
    int64_t want_lots = points > 0 ? points : 0;
    accounts++;
    r = 0;
    if (points == sum && lots == want_lots) continue;
    (*mismatches)++;
    json_t *m = json_pack("{s:s, s:s, s:I, s:I, s:I}",
        "program", (const char *)sqlite3_column_text(st, 0),
        "customer", (const char *)sqlite3_column_text(st, 1),
        "balance", (json_int_t)points, "ledger_sum", (json_int_t)sum,
        "lots_left", (json_int_t)lots);
    if (!m || json_array_append_new(bad, m)) r = -2;
  }
  pt_stmt_done(st);
  if (r < 0) {
    json_decref(bad);
    *mismatches = 0;
    return r == -1 ? p->code : pt_err(p, PATRON_NOMEM, "out of memory");
  }
  json_t *res = json_pack("{s:b, s:I, s:I, s:o}", "ok", *mismatches == 0,
                          "accounts", (json_int_t)accounts, "mismatches",
                          (json_int_t)*mismatches, "details", bad);
  *report = pt_json_dumps(res, JSON_COMPACT);
  json_decref(res);
  if (!*report) *mismatches = 0;
  return *report ? PATRON_OK : pt_err(p, PATRON_NOMEM, "out of memory");
}
