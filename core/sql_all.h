/*
** sql_all.h -- every SQL statement libpatron runs, one file per module,
** gathered here so store.c can prepare and cache them by id. Each file is
** a list of PT_SQL(ID, "text") lines; no other file holds SQL text.
*/
#include "sql_store.h"
#include "sql_config.h"
#include "sql_ledger.h"
#include "sql_import.h"
#include "sql_events.h"
#include "sql_checkout.h"
#include "sql_script.h"
#include "sql_subs.h"
#include "sql_reports.h"
#include "sql_erase.h"
