/* subs.c -- STUB, replaced by the subscriptions module. */
#include "subs.h"

int pt_subs_tick(patron *p, const pt_config *c, int64_t now,
                 patron_tick_result *out) {
  (void)p; (void)c; (void)now; (void)out;
  return PATRON_OK;
}
#define NI(...) return pt_err(p, PATRON_INTERNAL, "subscriptions are not implemented yet")
int patron_plans_json(patron *p, char **out) { *out = NULL; NI(); }
int patron_sub_create(patron *p, char **out, const char *customer, const char *plan, int trial) {
  (void)customer; (void)plan; (void)trial; *out = NULL; NI(); }
int patron_sub_show(patron *p, char **out, const char *id) { (void)id; *out = NULL; NI(); }
int patron_sub_cancel(patron *p, char **out, const char *sub, int at_period_end) {
  (void)sub; (void)at_period_end; *out = NULL; NI(); }
int patron_sub_change(patron *p, char **out, const char *sub, const char *plan) {
  (void)sub; (void)plan; *out = NULL; NI(); }
int patron_sub_upgrade(patron *p, char **out, const char *sub, const char *plan, int64_t days) {
  (void)sub; (void)plan; (void)days; *out = NULL; NI(); }
int patron_sub_convert(patron *p, char **out, const char *sub) { (void)sub; *out = NULL; NI(); }
int patron_sub_migrate_price(patron *p, char **out, const char *plan, int64_t notice_days) {
  (void)plan; (void)notice_days; *out = NULL; NI(); }
int patron_sub_charge_result(patron *p, char **out, const char *attempt, int ok, const char *reason) {
  (void)attempt; (void)ok; (void)reason; *out = NULL; NI(); }
int patron_sub_payment_method(patron *p, char **out, const char *sub, const patron_payment_method *m) {
  (void)sub; (void)m; *out = NULL; NI(); }
