/* reports.c -- STUB, replaced by the reports module. */
#include "reports.h"

int pt_track_quote(patron *p, const pt_quote *q) { (void)p; (void)q; return PATRON_OK; }
int pt_track_commit(patron *p, const pt_quote *q) { (void)p; (void)q; return PATRON_OK; }
int pt_track_tick(patron *p, const pt_config *c, int64_t now, patron_tick_result *out) {
  (void)p; (void)c; (void)now; (void)out;
  return PATRON_OK;
}
int patron_report_json(patron *p, char **out, const char *name, const patron_report_opts *o) {
  (void)name; (void)o; *out = NULL;
  return pt_err(p, PATRON_INTERNAL, "reports are not implemented yet");
}
int patron_nps_record(patron *p, const char *customer, int score, const char *touchpoint,
                      const char *comment) {
  (void)customer; (void)score; (void)touchpoint; (void)comment;
  return pt_err(p, PATRON_INTERNAL, "reports are not implemented yet");
}
int patron_simulate(patron *p, char **out, const char *config_path, int64_t from, int64_t to,
                    patron_progress_fn progress, void *ud) {
  (void)config_path; (void)from; (void)to; (void)progress; (void)ud; *out = NULL;
  return pt_err(p, PATRON_INTERNAL, "simulate is not implemented yet");
}
