/*
** handle.c -- the engine handle: open, close, clock and memory release.
** A handle owns its SQLite connection, statement cache, config cache and
** error buffer; nothing is shared between handles.
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "internal.h"
#include "rules.h"

int patron_open(patron **out, const char *path, const patron_options *opts) {
  patron_options def = PATRON_OPTIONS_INIT;
  const patron_options *o = opts ? opts : &def;
  patron *p = calloc(1, sizeof *p);
  *out = p;
  if (!p) return PATRON_NOMEM;
  if (o->version < 1 || o->version > PATRON_OPTIONS_VERSION)
    return pt_err(p, PATRON_MISUSE, "unknown patron_options version %d",
                  o->version);
  p->clock = o->clock;
  p->clock_ud = o->clock_ud;
  const char *pd = o->plugin_dir;
  if (!pd) pd = getenv("PATRON_PLUGIN_DIR");
#ifdef PATRON_PLUGIN_DIR
  if (!pd) pd = PATRON_PLUGIN_DIR;
#endif
  if (pd && !(p->plugin_dir = pt_strdup(pd))) return pt_err(p, PATRON_NOMEM, "out of memory");
  if (!path || !*path) return pt_err(p, PATRON_MISUSE, "no database path given");
  int rc = pt_store_open(p, path, o);
  if (rc) return rc;
  return pt_ok(p);
}

void patron_close(patron *p) {
  if (!p) return;
  pt_rules_close(p);
  pt_config_free(p->cfg);
  pt_store_close(p);
  free(p->plugin_dir);
  free(p);
}

int64_t patron_now(patron *p) {
  if (p && p->fixed_now > 0) return p->fixed_now;
  if (p && p->clock) return p->clock(p->clock_ud);
  return (int64_t)time(NULL);
}

void patron_free(void *ptr) { free(ptr); }
