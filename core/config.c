/* config.c -- STUB, replaced by the config module. */
#include <stdlib.h>
#include "config.h"
pt_config *pt_config_parse(patron *p, const char *json_text, int64_t version) {
  (void)json_text; (void)version;
  pt_err(p, PATRON_INTERNAL, "config not implemented");
  return NULL;
}
void pt_config_free(pt_config *c) { free(c); }
const pt_config *pt_config_active(patron *p) {
  pt_err(p, PATRON_NO_CONFIG, "no shop configuration applied");
  return NULL;
}
const pt_program *pt_config_program(patron *p, const pt_config *c, const char *name) {
  (void)c; (void)name;
  pt_err(p, PATRON_UNKNOWN_PROGRAM, "unknown program");
  return NULL;
}
int pt_program_tier_for(const pt_program *prog, int64_t spend) {
  int t = -1;
  for (size_t i = 0; i < prog->ntiers; i++)
    if (spend >= prog->tiers[i].from_cents) t = (int)i;
  return t;
}
int patron_apply_file(patron *p, patron_apply_result *out, const char *path) {
  (void)out; (void)path;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
int patron_apply_buffer(patron *p, patron_apply_result *out, const char *name,
                        const char *src, size_t len) {
  (void)out; (void)name; (void)src; (void)len;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
int patron_config_json(patron *p, char **out, int64_t version) {
  (void)version; *out = NULL;
  return pt_err(p, PATRON_INTERNAL, "not implemented");
}
