#!/usr/bin/env bash
# ledger.sh -- the points commands through the patron command, on the demo
# shop with a clock fixed by --now: adjust up and down (and refused beyond
# the spendable balance), balance, ledger as JSON and as a table, tick
# notices and expiry a year later (events pull / ack), tick twice at one
# time doing nothing the second time, verify after every scenario and
# verify catching a balance edited behind patron's back.
. "$(dirname "$0")/lib.sh"

customers=$SHOP/customers.csv
T0=2026-01-15T10:00:00Z  # the shop moves in: opening balances
T1=2026-02-01T09:00:00Z  # manual adjustments
T2=2026-12-20T03:00:00Z  # 26 days before the opening points expire
T3=2027-01-16T03:00:00Z  # a year and a day after the opening balances

patron init >/dev/null
patron apply "$SHOP/shop.lua" >/dev/null
check_exit "customers import at T0" 0 patron --now $T0 customers import "$customers"

c1_open=$(csv_field "$customers" C1 points)
total_open=$(csv_sum "$customers" points)
with_points=$(awk -F, 'NR > 1 && $5 + 0 > 0' "$customers" | wc -l | tr -d ' ')

# --- balance --------------------------------------------------------------------
check_exit "balance C1" 0 patron --now $T1 balance C1
check_json "... is C1's opening balance from customers.csv" "$OUT" .points "$c1_open"
check_json "... all of it spendable" "$OUT" .spendable "$c1_open"
check_json "... none pending" "$OUT" .pending 0
check_json "... in the default program" "$OUT" .program default
check_json "... with every field of the contract" "$OUT" \
  'keys_unsorted | @csv' '"customer","program","points","spendable","pending","tier","qualifying_cents"'
check_exit "balance of an unknown customer: exit 1" 1 patron balance NOBODY
check_json "... unknown_customer" "$OUT" .error.code unknown_customer
check_exit "balance in an unknown program: exit 1" 1 patron balance C1 --program nope
check_json "... unknown_program" "$OUT" .error.code unknown_program

# --- adjust -----------------------------------------------------------------------
check_exit "adjust C1 +250" 0 patron --now $T1 adjust C1 --points 250 --reason "goodwill: late delivery"
check_match "... prints the entry uuid" "$(jq -r .uuid <<<"$OUT")" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
up_uuid=$(jq -r .uuid <<<"$OUT")
check_json "... and the new balance" "$OUT" .balance_after $((c1_open + 250))
check_json "... echoing the adjustment" "$OUT" '[.kind, .points, .reason] | @csv' '"adjust",250,"goodwill: late delivery"'

check_exit "adjust beyond the balance: exit 1" 1 patron --now $T1 adjust C1 --points -1000000 --reason "too much"
check_json "... insufficient_points" "$OUT" .error.code insufficient_points
run patron --now $T1 balance C1
check_json "... and the balance is unchanged" "$OUT" .points $((c1_open + 250))

check_exit "adjust C1 -100" 0 patron --now $T1 adjust C1 --points=-100 --reason "correction"
check_json "... lowers the balance" "$OUT" .balance_after $((c1_open + 150))
check_exit "adjust of an unknown customer: exit 1" 1 patron --now $T1 adjust NOBODY --points 5 --reason x
check_json "... unknown_customer" "$OUT" .error.code unknown_customer

# --- ledger ---------------------------------------------------------------------------
check_exit "ledger C1 as JSON" 0 patron ledger C1 --format json
check_eq "... is one line" "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1
check_json "... three entries, oldest first: the opening balance, two adjustments" "$OUT" \
  '[.[] | .kind + ":" + .source] | @csv' '"adjust:import","adjust:manual","adjust:manual"'
check_json "... with their points" "$OUT" '[.[].points] | @csv' "$c1_open,250,-100"
check_json "... and running balances" "$OUT" '.[-1].balance_after' $((c1_open + 150))
check_json "... the adjustment is the entry adjust printed" "$OUT" '.[1].uuid' "$up_uuid"
check_json "... at the --now it was posted" "$OUT" '.[1].at' "$T1"
check_exit "ledger defaults to JSON when stdout is not a terminal" 0 patron ledger C1
check_json "... the same entries" "$OUT" length 3

if command -v script >/dev/null 2>&1; then
  script -qec "'$PATRON' --db '$db' ledger C1 </dev/null" typescript >/dev/null 2>&1
  check_match "ledger defaults to a table on a terminal" "$(tr -d '\r' <typescript)" "^total +$((c1_open + 150)) +3 entries\$"
else
  pass "ledger defaults to a table on a terminal # SKIP script(1) not installed"
fi
check_exit "ledger C1 as a table" 0 patron ledger C1 --format table
table=$OUT
check_match "... has the column header" "$(head -1 <<<"$table")" '^time +kind +points +balance +order +source +reason$'
check_match "... a row per entry, aligned" "$(sed -n 3p <<<"$table")" \
  '^2026-02-01 09:00:00  adjust +\+250 +[0-9]+ +manual +goodwill: late delivery$'
check_match "... a rule" "$(sed -n 5p <<<"$table")" '^-+$'
check_match "... and the total line" "$(tail -1 <<<"$table")" "^total +$((c1_open + 150)) +3 entries\$"
widths=$(sed -n '1,4p' <<<"$table" | awk '{ print index($0, "kind") ? index($0, "kind") : index($0, "earn") + index($0, "adjust") }' | sort -u | wc -l)
check_eq "... the kind column starts at one position on every line" "$widths" 1

check_exit "verify after the adjustments" 0 patron verify
check_json "... every account matches" "$OUT" '[.ok, .mismatches] | @csv' "true,0"

# --- tick: notices, then expiry -------------------------------------------------------
check_exit "tick 26 days before the opening points expire" 0 patron tick --now $T2
check_json "... one points_expiring notice per customer with points" "$OUT" .expiring_notices "$with_points"
check_json "... nothing expired yet" "$OUT" .expired_points 0
check_exit "tick again at the same time" 0 patron tick --now $T2
check_json "... does nothing" "$OUT" '[.expired_points, .expired_lots, .expiring_notices, .tier_changes] | @csv' "0,0,0,0"

check_exit "events pull --type points_expiring" 0 patron events pull --type points_expiring
events=$OUT
check_eq "... one JSON line per notice" "$(grep -c '^{' <<<"$events")" "$with_points"
c1_event=$(grep '"subject":"C1"' <<<"$events")
check_json "... C1's notice names the points left in the opening lot" "$c1_event" .payload.points $((c1_open - 100))
check_json "... and when they expire" "$c1_event" '.payload.expires_at' 2027-01-15T10:00:00Z
check_exit "events pull --limit 2" 0 patron events pull --limit 2
check_eq "... gives two" "$(grep -c '^{' <<<"$OUT")" 2
check_exit "events pull again gives them again (until acked)" 0 patron events pull --type points_expiring
check_eq "... the same lines" "$OUT" "$events"
ids=$(jq -r .id <<<"$events" | tr '\n' ' ')
# shellcheck disable=SC2086
check_exit "events ack every id" 0 patron events ack $ids
check_json "... acks them all" "$OUT" .acked "$with_points"
check_exit "events pull after ack" 0 patron events pull --type points_expiring
check_eq "... gives nothing" "$OUT" ""
check_exit "events ack of an unknown id: exit 1" 1 patron events ack 999999
check_json "... not_found" "$OUT" .error.code not_found

check_exit "tick a year and a day after the opening balances" 0 patron tick --now $T3
check_json "... expires the opening points still there" "$OUT" .expired_points $((total_open - 100))
check_json "... one lot per customer that had points" "$OUT" .expired_lots "$with_points"
check_json "... and announces C1's +250 expiring on 2027-02-01" "$OUT" .expiring_notices 1
# shop.lua: silver from 500.00 of spend in a 12-month window; the opening
# spend (at T0) has left the window at T3, so everyone above bronze drops
above_bronze=$(awk -F, 'NR > 1 && $6 + 0 >= 50000' "$customers" | wc -l | tr -d ' ')
check_json "... and drops the $above_bronze customers above bronze as their spend leaves the window" \
  "$OUT" .tier_changes "$above_bronze"
check_exit "tick again at the same time" 0 patron tick --now $T3
check_json "... does nothing the second time" "$OUT" '[.expired_points, .expired_lots, .expiring_notices, .tier_changes] | @csv' "0,0,0,0"
run patron --now $T3 balance C1
check_json "C1 keeps only the later +250" "$OUT" .points 250
run patron --now $T3 balance C2
check_json "C2's opening balance is gone" "$OUT" .points 0
check_json "C2 is back to bronze with no spend in the window" "$OUT" '[.tier, .qualifying_cents] | @csv' '"bronze",0'
run patron ledger C1 --format json
check_json "C1's ledger ends with the expiry" "$OUT" '.[-1] | [.kind, .points, .source, .at] | @csv' \
  "\"expire\",-$((c1_open - 100)),\"expiry\",\"$T3\""
run patron events pull --type points_expiring
check_json "the new notice is C1's" "$OUT" '[.subject, .payload.points] | @csv' '"C1",250'

check_exit "verify after expiry" 0 patron verify
check_json "... every account matches" "$OUT" '[.ok, .mismatches] | @csv' "true,0"

# --- tampering ------------------------------------------------------------------------
sqlite3 "$db" "UPDATE accounts SET points = points + 7 WHERE customer = 'C2'"
check_exit "verify after accounts.points was edited behind patron's back: exit 1" 1 patron verify
check_json "... reports one mismatch" "$OUT" '[.ok, .mismatches] | @csv' "false,1"
check_json "... names the account and both numbers" "$OUT" \
  '.details[0] | [.customer, .balance, .ledger_sum] | @csv' '"C2",7,0'
check_match "... and says so on stderr" "$ERR" '^patron verify: 1 account does not match its ledger'

done_testing
