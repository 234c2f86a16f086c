#!/usr/bin/env bash
# reports_bench.sh BUILD -- how fast `patron report redemption` answers over a
# large ledger (target: under 1 second over 10 million entries).
#
#   tests/bench/reports_bench.sh build
#   REPORTS_BENCH_ENTRIES=2000000 tests/bench/reports_bench.sh build   # smaller
#
# The database is built with BUILD/patron (init, apply the demo shop) and then
# filled directly with SQL by the sqlite3 command, as an older shop that moved
# its history in would be: 100,000 members, ENTRIES ledger entries (60% earn,
# 20% redeem, 10% expire, 5% adjust, 5% refund reversals) one every 6 seconds
# (10 million span 694 days), a lot for every positive entry with what is left
# of it. Loading is done the way a bulk import should be: the ledger's and the
# lots' secondary indexes and the reports' triggers are set aside, the rows go
# in a few big transactions without a journal, then the indexes are rebuilt,
# the reports' aggregates computed by the very statements
# schema/005_reports.sql runs when it migrates a database that already holds
# a ledger, and the triggers are put back. The timed command is then exactly what a manager runs:
#   patron --db DB report redemption --format json
# run three times (the first on a cold connection); the best and the first
# are printed, with the checks that the report adds up to the ledger.
#
# Settings: REPORTS_BENCH_ENTRIES (10000000), REPORTS_BENCH_KEEP=1 keeps the
# database (its path is printed), REPORTS_BENCH_STRICT=1 exits 1 when the
# target is missed (otherwise this reports and does not gate; exit 2 when it
# cannot run at all).
set -u
build=${1:?usage: tests/bench/reports_bench.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
patron=$build/patron
entries=${REPORTS_BENCH_ENTRIES:-10000000}
[ -x "$patron" ] || { echo "reports_bench: no $patron (run make BUILD=... first)" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "reports_bench: the sqlite3 command is needed" >&2; exit 2; }
command -v jq >/dev/null || { echo "reports_bench: jq is needed" >&2; exit 2; }
case $entries in ''|*[!0-9]*) echo "reports_bench: REPORTS_BENCH_ENTRIES must be a number" >&2; exit 2 ;; esac

mkdir -p "$build/bench"
work=$(mktemp -d "$build/bench/reports.XXXXXX")
[ "${REPORTS_BENCH_KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT
db=$work/shop.db
ms() { echo $(( $(date +%s%N) / 1000000 )); }

"$patron" --db "$db" init >/dev/null &&
  "$patron" --db "$db" apply "$root/examples/shop/shop.lua" >/dev/null ||
  { echo "reports_bench: patron init/apply failed" >&2; exit 2; }

# what is set aside during the load, to be put back afterwards as it was
sqlite3 "$db" "SELECT sql || ';' FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
               AND tbl_name IN ('ledger', 'lots')" >"$work/indexes.sql"
sqlite3 "$db" "SELECT sql || ';' FROM sqlite_master WHERE type = 'trigger'
               AND tbl_name IN ('ledger', 'lots')" >"$work/triggers.sql"
awk '/^-- Databases that already hold a ledger/ { on = 1 } on' \
  "$root/schema/005_reports.sql" >"$work/backfill.sql"
[ -s "$work/backfill.sql" ] || { echo "reports_bench: no backfill in schema/005_reports.sql" >&2; exit 2; }

gen() {
  cat <<'EOF'
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -2000000;
PRAGMA temp_store = MEMORY;
PRAGMA threads = 4;
EOF
  sqlite3 "$db" "SELECT 'DROP INDEX ' || name || ';' FROM sqlite_master WHERE type = 'index'
                 AND sql IS NOT NULL AND tbl_name IN ('ledger', 'lots')"
  sqlite3 "$db" "SELECT 'DROP TRIGGER ' || name || ';' FROM sqlite_master WHERE type = 'trigger'
                 AND tbl_name IN ('ledger', 'lots')"
  cat <<'EOF'
BEGIN;
INSERT INTO customers (id, created_at)
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
  SELECT printf('M%06d', i), 1735689600 FROM c;
INSERT INTO accounts (program, customer, points, tier, created_at)
  SELECT 'default', id, 0, 'bronze', 1735689600 FROM customers;
COMMIT;
EOF
  # the entries, in transactions of 2 million
  local from=0 step=2000000
  while [ "$from" -lt "$entries" ]; do
    local to=$((from + step))
    [ "$to" -gt "$entries" ] && to=$entries
    cat <<EOF
BEGIN;
INSERT INTO ledger (id, uuid, program, customer, at, kind, points, order_ref, source, reason)
WITH RECURSIVE g(i) AS (SELECT $from UNION ALL SELECT i + 1 FROM g WHERE i < $((to - 1)))
SELECT i + 1, printf('%08x-%04x-4%03x-8000-%012x', i / 65536, i % 65536, i % 4096, i),
  'default', printf('M%06d', 1 + (i * 7919 + i / 100000) % 100000), 1735689600 + i * 6,
  CASE WHEN i % 20 < 12 THEN 'earn' WHEN i % 20 < 16 THEN 'redeem'
       WHEN i % 20 < 18 THEN 'expire' WHEN i % 20 = 18 THEN 'adjust' ELSE 'reverse' END,
  CASE WHEN i % 20 < 12 THEN 10 + i % 190 WHEN i % 20 < 16 THEN -(50 + i % 50)
       WHEN i % 20 < 18 THEN -(5 + i % 20) WHEN i % 20 = 18 THEN 100 ELSE -(3 + i % 10) END,
  CASE WHEN i % 20 < 16 AND i % 20 <> 12 THEN printf('POS%d-%08d', i % 7, i / 20) END,
  CASE WHEN i % 20 < 16 THEN 'order' WHEN i % 20 < 18 THEN 'expiry'
       WHEN i % 20 = 18 THEN 'manual' ELSE 'refund' END, ''
FROM g;
COMMIT;
EOF
    from=$to
  done
  # a lot for every positive entry: older lots are spent or expired, newer
  # ones partly used
  cat <<'EOF'
BEGIN;
INSERT INTO lots (entry_id, program, customer, earned_at, spendable_at, expires_at, points, left)
SELECT id, program, customer, at, at + 14 * 86400, at + 365 * 86400, points,
       CASE WHEN at < (SELECT max(at) FROM ledger) - 365 * 86400 THEN 0
            ELSE points * (id % 4) / 3 END
FROM ledger WHERE points > 0;
COMMIT;
EOF
  cat "$work/indexes.sql"
  echo "BEGIN;"
  cat "$work/backfill.sql"
  cat "$work/triggers.sql"
  echo "COMMIT;"
  echo "PRAGMA journal_mode = WAL;"

}

echo "reports_bench: building a shop with $entries ledger entries in $work ..."
t0=$(ms)
gen >"$work/gen.sql"
if ! sqlite3 "$db" <"$work/gen.sql" >"$work/gen.log" 2>&1; then
  echo "reports_bench: generating the database failed:" >&2
  head -5 "$work/gen.log" >&2
  exit 2
fi
t1=$(ms)
rows=$(sqlite3 "$db" "SELECT count(*) FROM ledger")
aggs=$(sqlite3 "$db" "SELECT count(*) FROM report_points")
cohorts=$(sqlite3 "$db" "SELECT count(*) FROM report_cohort")
size=$(du -m "$db" | cut -f1)

times=()
for i in 1 2 3; do
  a=$(ms)
  "$patron" --db "$db" --now 2027-01-01T00:00:00Z report redemption --format json >"$work/out.json" ||
    { echo "reports_bench: the report failed:" >&2; head -c 400 "$work/out.json" >&2; exit 2; }
  b=$(ms)
  times+=($((b - a)))
done
best=$(printf '%s\n' "${times[@]}" | sort -n | head -1)

# the report must add up to the ledger
issued=$(jq '[.tables[0].rows[] | select(.program == "default" and .period == "total")][0].issued' "$work/out.json")
want=$(sqlite3 "$db" "SELECT sum(points) FROM ledger WHERE program = 'default'
                      AND (kind = 'earn' OR (kind = 'adjust' AND points > 0))")
periods=$(jq '[.tables[0].rows[] | select(.program == "default")] | length' "$work/out.json")

verdict=met
[ "$best" -lt 1000 ] || verdict=MISSED
echo
printf '%-44s %s\n' "ledger entries" "$rows"
printf '%-44s %s\n' "report_points rows (15-minute aggregates)" "$aggs"
printf '%-44s %s\n' "report_cohort rows" "$cohorts"
printf '%-44s %s MB\n' "database size" "$size"
printf '%-44s %s s\n' "generation" "$(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 ))"
printf '%-44s %s ms (first run %s ms; runs: %s)\n' "report redemption --format json" "$best" \
  "${times[0]}" "${times[*]}"
printf '%-44s %s\n' "target < 1000 ms" "$verdict"
printf '%-44s %s (ledger: %s) %s\n' "issued in the report's total" "$issued" "$want" \
  "$([ "$issued" = "$want" ] && echo agrees || echo DISAGREES)"
printf '%-44s %s\n' "periods (months + total)" "$periods"
echo
echo "machine: $(nproc) cpus, $(awk '/MemTotal/ {print int($2 / 1024) " MB"}' /proc/meminfo),"\
     "$(uname -sr), sqlite $(sqlite3 --version | cut -d' ' -f1), $(date -u +%Y-%m-%dT%H:%MZ)"
[ "${REPORTS_BENCH_KEEP:-}" = 1 ] && echo "database kept: $db"
if [ "$issued" != "$want" ]; then exit 1; fi
if [ "$verdict" != met ] && [ "${REPORTS_BENCH_STRICT:-}" = 1 ]; then exit 1; fi
exit 0
