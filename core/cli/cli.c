/*
** cli.c -- the plumbing every command of `patron` uses: option parsing
** (per-command options plus the global --db/--now/--help accepted
** anywhere), strict numbers, opening the database with an injected clock,
** and error reporting with the exit codes of DESIGN.md section 6. Output
** formatting lives in output.c, the commands in cmd_*.c.
*/
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

bool cli_parse_int64(const char *s, int64_t *out) {
  if (!s || !*s) return false;
  /* strtoll skips leading blanks and accepts a trailing rest: refuse both */
  if (!(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9'))) return false;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno == ERANGE || end == s || *end != 0) return false;
  if (!(end[-1] >= '0' && end[-1] <= '9')) return false; /* "+" or "-" alone */
  *out = (int64_t)v;
  return true;
}

int cli_usage(cli *c, const char *fmt, ...) {
  const char *name = c->cmd ? c->cmd->name : NULL;
  fprintf(stderr, "patron%s%s: ", name ? " " : "", name ? name : "");
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\ntry 'patron%s%s --help'\n", name ? " " : "", name ? name : "");
  return CLI_EXIT_USAGE;
}

int cli_exit_for(int code) {
  switch (code) {
  case PATRON_INTERNAL: case PATRON_IO: case PATRON_NOMEM: case PATRON_BUSY:
  case PATRON_STORAGE_FULL: case PATRON_SCHEMA_TOO_NEW: case PATRON_MISUSE:
  case PATRON_OK: /* an error without a code is a bug of ours */
    return CLI_EXIT_INTERNAL;
  default:
    return CLI_EXIT_REFUSED;
  }
}

static int print_error(int code, const char *path, const char *message) {
  json_t *e = json_pack("{s:s, s:s}", "code", patron_code_name(code ? code : PATRON_INTERNAL),
                        "message", message ? message : "");
  if (e && path && *path && json_object_set_new(e, "path", json_string(path))) {
    json_decref(e); /* an error without its path is another error: say nomem */
    e = NULL;
  }
  json_t *j = e ? json_pack("{s:o}", "error", e) : NULL;
  /* not cli_print_json: it reports its own failure through here */
  char *s = j ? pt_json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(j);
  if (!s) code = PATRON_NOMEM;
  puts(s ? s : "{\"error\":{\"code\":\"nomem\",\"message\":\"out of memory\"}}");
  free(s);
  fflush(stdout);
  return cli_exit_for(code);
}

int cli_lib_error(cli *c) {
  if (!c->p) return print_error(PATRON_NOMEM, NULL, "out of memory");
  return print_error(patron_errcode(c->p), patron_errpath(c->p), patron_errmsg(c->p));
}

int cli_error(int code, const char *path, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return print_error(code, path, msg);
}

static int64_t fixed_clock(void *ud) { return *(const int64_t *)ud; }

int cli_open(cli *c, bool need_db) {
  bool special = strcmp(c->db, ":memory:") == 0 || strncmp(c->db, "file:", 5) == 0;
  if (need_db && !special && access(c->db, F_OK) != 0)
    return cli_error(PATRON_NOT_FOUND, "",
                     "no database at %s: run 'patron init' first, or pass --db FILE",
                     c->db);
  patron_options o = PATRON_OPTIONS_INIT;
  if (c->has_now) {
    o.clock = fixed_clock;
    o.clock_ud = &c->now;
  }
  if (patron_open(&c->p, c->db, &o) != PATRON_OK) return cli_lib_error(c);
  return CLI_EXIT_OK;
}

/* ---- options ---------------------------------------------------------- */

/* The global options, accepted before and after the command name.
** Returns -1 if name is not global, else -1 on success too but with
** *handled set, or an exit status. */
static int global_opt(cli *c, const char *name, const char *value, bool *handled) {
  *handled = true;
  if (strcmp(name, "--db") == 0) {
    if (!*value) return cli_usage(c, "--db expects a file name, got ''");
    c->db = value;
    return -1;
  }
  if (strcmp(name, "--now") == 0) {
    int64_t t;
    if (patron_time_parse(&t, value) != PATRON_OK)
      return cli_usage(c, "--now expects an ISO time or date (2026-11-23 or "
                          "2026-11-23T12:00:00Z), got '%s'", value);
    c->now = t;
    c->has_now = true;
    return -1;
  }
  *handled = false;
  return -1;
}

static bool looks_negative_number(const char *s) {
  return s[0] == '-' && s[1] >= '0' && s[1] <= '9';
}

int cli_parse(cli *c, int argc, char **argv, cli_opt *opts, char **pos,
              int *npos, int min, int max, const char *pos_names) {
  int n = 0;
  bool only_pos = false;
  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    if (only_pos || a[0] != '-' || a[1] == 0 || looks_negative_number(a)) {
      if (max >= 0 && n >= max)
        return cli_usage(c, "unexpected argument '%s'", a);
      pos[n++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) { only_pos = true; continue; }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      cli_print_help(c->cmd, stdout);
      return CLI_EXIT_OK;
    }
    /* --name=value or --name value */
    char name[64];
    const char *eq = strchr(a, '=');
    const char *inline_val = NULL;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    if (len >= sizeof name) return cli_usage(c, "unknown option '%s'", a);
    memcpy(name, a, len);
    name[len] = 0;
    if (eq) inline_val = eq + 1;
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
      return cli_usage(c, "%s takes no value", name);
    cli_opt *o = NULL;
    for (cli_opt *q = opts; q && q->name; q++)
      if (strcmp(q->name, name) == 0) o = q;
    bool is_global = strcmp(name, "--db") == 0 || strcmp(name, "--now") == 0;
    if (!o && !is_global) return cli_usage(c, "unknown option '%s'", name);
    if (o && o->kind == CLI_FLAG) {
      if (inline_val) return cli_usage(c, "%s takes no value", name);
      *(bool *)o->dest = true;
      o->given = true;
      continue;
    }
    const char *val = inline_val;
    if (!val) {
      if (i + 1 >= argc) return cli_usage(c, "%s needs a value", name);
      val = argv[++i];
    }
    if (is_global && !o) {
      bool handled;
      int rc = global_opt(c, name, val, &handled);
      if (rc >= 0) return rc;
      continue;
    }
    if (o->kind == CLI_STR) {
      *(const char **)o->dest = val;
    } else {
      int64_t v;
      if (!cli_parse_int64(val, &v))
        return cli_usage(c, "%s expects %s, got '%s'", name,
                         o->kind == CLI_POSINT ? "a positive integer" : "an integer", val);
      if (o->kind == CLI_POSINT && v <= 0)
        return cli_usage(c, "%s expects a positive integer, got '%s'", name, val);
      *(int64_t *)o->dest = v;
    }
    o->given = true;
  }
  if (n < min) {
    /* name the first missing positional from pos_names ("CUSTOMER FILE") */
    const char *s = pos_names ? pos_names : "argument";
    for (int k = 0; k < n && s; k++) {
      s = strchr(s, ' ');
      if (s) s++;
    }
    if (!s) s = "argument";
    int w = (int)strcspn(s, " ");
    return cli_usage(c, "missing %.*s", w, s);
  }
  *npos = n;
  return -1;
}

int cli_global_option(cli *c, int argc, char **argv, int *consumed) {
  const char *a = argv[0];
  const char *eq = strchr(a, '=');
  char name[16];
  size_t len = eq ? (size_t)(eq - a) : strlen(a);
  if (len >= sizeof name) return cli_usage(c, "unknown option '%s'", a);
  memcpy(name, a, len);
  name[len] = 0;
  const char *val = eq ? eq + 1 : NULL;
  *consumed = 1;
  if (strcmp(name, "--db") != 0 && strcmp(name, "--now") != 0)
    return cli_usage(c, "unknown option '%s'", name);
  if (!val) {
    if (argc < 2) return cli_usage(c, "%s needs a value", name);
    val = argv[1];
    *consumed = 2;
  }
  bool handled;
  return global_opt(c, name, val, &handled);
}
