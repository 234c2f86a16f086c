#!/usr/bin/env bash
# reports.sh -- the manager's commands through the patron command on the
# demo shop (Europe/Helsinki): a season of orders, a refund, expiry, NPS
# answers and a tracked cart, then every report in every format. The
# formats must agree: CSV carries exactly the JSON's values, the table
# shows them, the HTML page is well formed and holds every number of the
# JSON (data-v attributes). Also: local dates for --from/--to, errors and
# usage, nps record, abandoned carts via tick, and simulate writing
# nothing while pricing a bigger bundle discount.
. "$(dirname "$0")/lib.sh"

T0=2026-01-15T10:00:00Z
patron init >/dev/null
patron apply "$SHOP/shop.lua" >/dev/null
patron catalog import "$SHOP/catalog.csv" >/dev/null
check_exit "customers move in" 0 patron --now $T0 customers import "$SHOP/customers.csv"

# --- a season of orders ---------------------------------------------------------------
kit='{"sku":"MP3-01","qty":1,"unit_cents":4999},{"sku":"HP-07","qty":1,"unit_cents":3999}'
mug='{"sku":"MUG-01","qty":1,"unit_cents":890}'
beans='{"sku":"COF-01","qty":2,"unit_cents":1290},{"sku":"MUG-01","qty":1,"unit_cents":890}'
{
  n=0
  for m in 02 03 04 05 06; do
    for c in C1 C2 C3 C5 C7; do
      n=$((n + 1))
      case $((n % 3)) in 0) l=$kit ;; 1) l=$mug ;; 2) l=$beans ;; esac
      printf '{"order_id":"POS1-%04d","customer":"%s","at":"2026-%s-1%dT12:00:00Z","lines":[%s]}\n' \
        $n $c $m $((n % 9)) "$l"
    done
  done
  printf '{"order_id":"WEB-0001","customer":"C9","at":"2026-03-03T09:00:00Z","redeem_points":1000,"lines":[%s]}\n' "$kit"
  printf '{"order_id":"WEB-0002","at":"2026-04-04T09:00:00Z","lines":[%s]}\n' "$mug"
} >orders.jsonl
check_exit "26 orders committed (JSON lines)" 0 patron --now 2026-06-30T00:00:00Z commit orders.jsonl
check_eq "... every one recorded" "$(grep -c '"order_id"' <<<"$OUT")" 27
check_exit "a refund in June" 0 patron --now 2026-06-20T10:00:00Z refund --order POS1-0003
check_exit "NPS: a promoter" 0 patron --now 2026-03-05T10:00:00Z nps record --customer C1 --score 10 --touchpoint support
check_json "... grouped as a promoter" "$OUT" .group promoter
patron --now 2026-03-06T10:00:00Z nps record --customer C2 --score 3 --touchpoint support --comment "late, again" >/dev/null
patron --now 2026-04-06T10:00:00Z nps record --customer C3 --score 8 --touchpoint review >/dev/null
check_exit "NPS: a score of 11 is a usage error" 2 patron nps record --customer C1 --score 11 --touchpoint support
check_exit "NPS: an unknown touchpoint is refused" 1 patron nps record --customer C1 --score 5 --touchpoint checkout
check_json "... invalid_input on touchpoint" "$OUT" .error.path touchpoint
check_exit "NPS: an unknown customer is refused" 1 patron nps record --customer NOBODY --score 5 --touchpoint review
check_json "... unknown_customer" "$OUT" .error.code unknown_customer

NOW=2026-07-01T12:00:00Z
R() { patron --now $NOW report "$@"; }

# --- every report, every format, formats agreeing --------------------------------------

# CSV -> TSV (RFC 4180 quoting) so it can be compared with jq's @tsv
csv2tsv() {
  awk 'BEGIN { RS = "\n" } {
    line = $0; out = ""; f = ""; q = 0
    for (i = 1; i <= length(line); i++) {
      ch = substr(line, i, 1)
      if (q) {
        if (ch == "\"") { if (substr(line, i + 1, 1) == "\"") { f = f "\""; i++ } else q = 0 }
        else f = f ch
      } else if (ch == "\"") q = 1
      else if (ch == ",") { out = out f "\t"; f = "" }
      else f = f ch
    }
    print out f }'
}
json2tsv() {
  jq -r '.tables[] | (.columns | map(.key)) as $k | ($k | @tsv),
    (.rows[] | [ . as $r | $k[] | $r[.] ] | map(if . == null then "" else . end) | @tsv),
    "@@"' | sed '$d' | sed 's/^@@$//'
}
# a tag-balance checker: every opening tag closed, in order (void tags
# must be written <x/>)
html_balanced() {
  tr '\n' ' ' <"$1" | grep -o '<[^>]*>' | awk '
    /^<!/ { next }
    /\/>$/ { next }
    /^<\// { t = $0; sub(/^<\//, "", t); sub(/[ >].*/, "", t)
             if (n == 0 || st[n] != t) { print "unbalanced </" t "> (open: " st[n] ")"; bad = 1; exit }
             n--; next }
    { t = $0; sub(/^</, "", t); sub(/[ >].*/, "", t); st[++n] = t }
    END { if (!bad && n != 0) { print "unclosed <" st[n] ">"; bad = 1 } exit bad }'
}

reports="redemption liability clv retention churn repeat health nps crosssell bundles shipping subs"
for r in $reports; do
  check_exit "report $r --format json" 0 R $r --format json
  json=$OUT
  check_json "... is the $r report" "$json" .report "$r"
  check_json "... in the shop's time zone" "$json" .timezone Europe/Helsinki
  check_match "... with tables" "$(jq '.tables | length' <<<"$json")" '^[1-9]'
  check_exit "report $r --format csv" 0 R $r --format csv
  check_eq "... CSV carries exactly the JSON's values" "$(csv2tsv <<<"$OUT")" "$(json2tsv <<<"$json")"
  check_exit "report $r --format table" 0 R $r --format table
  table=$OUT
  check_match "... the table names the report" "$(head -1 <<<"$table")" "^$r report"
  check_exit "report $r --format html" 0 R $r --format html
  printf '%s\n' "$OUT" >"$r.html"
  check_eq "... the html is well formed" "$(html_balanced "$r.html" && echo balanced)" balanced
  if command -v xmllint >/dev/null; then
    check_eq "... xmllint agrees" "$(xmllint --noout "$r.html" 2>&1 && echo ok)" ok
  fi
  missing=$(LC_ALL=C comm -23 <(jq -r '[.tables[].rows[][] | numbers] | unique[]' <<<"$json" | LC_ALL=C sort -u) \
    <(grep -o 'data-v="-\{0,1\}[0-9]*"' "$r.html" | sed 's/^data-v="//; s/"$//' | LC_ALL=C sort -u) | head -3)
  check_eq "... the html holds every number of the json" "$missing" ""
  check_match "... and draws it (inline svg, nothing external)" \
    "$(grep -c '<svg' "$r.html")/$(grep -Ec '(src|href)="http' "$r.html")" '^[0-9]+/0$'
done

# --- the table shows the JSON's figures --------------------------------------------------
R redemption --program default --format json >r.json
R redemption --program default --format table >r.txt
for per in 2026-02 2026-03 total; do
  want=$(jq -r --arg p $per '.tables[0].rows[] | select(.period == $p) | "\(.issued) .* \(.redemption_rate)"' r.json)
  check_match "redemption $per: the table shows issued and the rate" "$(grep "^$per " r.txt)" "$want"
done
check_json "redemption: the move-in balances are shown apart" "$(cat r.json)" \
  '.tables[0].rows[] | select(.period == "2026-01") | .opening' 24100
R liability --format json >l.json
R liability --format table >l.txt
cents=$(jq -r '.tables[0].rows[] | select(.program == "default") | .outstanding_cents' l.json)
money=$(printf '%d.%02d' $((cents / 100)) $((cents % 100)))
check_match "liability: the table shows the value as money" "$(grep '^default' l.txt)" " $money "
check_json "liability: points x value" "$(cat l.json)" \
  '.tables[0].rows[] | select(.program == "default") | .outstanding == .outstanding_cents' true

# --- windows, local dates, --by, errors --------------------------------------------------------
check_exit "a local month" 0 R redemption --from 2026-03-01 --to 2026-04-01 --format json
check_json "... starts at midnight in Helsinki" "$OUT" .from 2026-02-28T22:00:00Z
check_json "... ends at midnight in Helsinki (summer time)" "$OUT" .to 2026-03-31T21:00:00Z
check_json "... one period and the total" "$OUT" '[.tables[0].rows[] | select(.program == "default")] | length' 2
check_exit "a week with nothing in it" 0 R redemption --program default --from 2026-08-03 --to 2026-08-10 --by week --format json
check_json "... says no data" "$OUT" '.tables[0].rows[0].note' "no data"
check_json "... labelled by ISO week" "$OUT" '.tables[0].rows[0].period' 2026-W32
check_exit "clv by tier" 0 R clv --by tier --format json
check_match "... has a row per tier and a total" "$(jq -r '[.tables[0].rows[].group] | join(" ")' <<<"$OUT")" 'total'
check_exit "shipping by channel" 0 R shipping --by channel --format json
check_match "... POS1 and WEB" "$(jq -r '[.tables[0].rows[].group] | join(" ")' <<<"$OUT")" 'POS1.*WEB'
check_exit "an unknown report: exit 1" 1 R nope
check_json "... invalid_input" "$OUT" .error.code invalid_input
check_exit "a --by the report does not have: exit 1" 1 R shipping --by tier
check_exit "an unknown program: exit 1" 1 R redemption --program nope
check_json "... unknown_program" "$OUT" .error.code unknown_program
check_exit "an unknown format: usage" 2 R redemption --format xml
check_exit "a bad date: usage" 2 R redemption --from 2026-13-01
check_exit "csv of one table" 0 R redemption --format csv --table cohorts
check_match "... starts with the cohort header" "$(head -1 <<<"$OUT")" '^program,cohort,origin,issued'
check_exit "nps for one touchpoint" 0 R nps --touchpoint support --format json
check_json "... March: one promoter, one detractor" "$OUT" \
  '.tables[0].rows[] | select(.touchpoint == "support" and .period == "2026-03") | .nps_bp' 0
check_exit "without a database: exit 1" 1 patron --db nowhere.db report redemption

# --- abandoned carts ----------------------------------------------------------------------------
echo '{"customer":"C4","track":true,"lines":[{"sku":"HP-02","qty":1,"unit_cents":5999}]}' >cart.json
check_exit "a tracked quote" 0 patron --now 2026-07-01T08:00:00Z quote cart.json
check_exit "tick a day later" 0 patron tick --now 2026-07-02T09:00:00Z
check_exit "... cart_abandoned is in the outbox" 0 patron events pull --type cart_abandoned
check_eq "... once" "$(grep -c cart_abandoned <<<"$OUT")" 1
check_json "... with the cart" "$OUT" '.payload | "\(.customer) \(.total_cents) \(.skus[0]) \(.quoted_at)"' \
  "C4 5999 HP-02 2026-07-01T08:00:00Z"
patron tick --now 2026-07-03T09:00:00Z >/dev/null
check_eq "... and not again" "$(patron events pull --type cart_abandoned | grep -c cart_abandoned)" 1

# --- simulate ------------------------------------------------------------------------------------
sed 's/off_bp = 1500/off_bp = 2500/' "$SHOP/shop.lua" >bigger.lua
before=$(sqlite3 "$db" .dump | md5sum)
check_exit "simulate a bigger kit discount" 0 patron --now $NOW simulate --config bigger.lua --from 2026-01-01 --to 2026-07-01 --format json
check_eq "... wrote nothing" "$(sqlite3 "$db" .dump | md5sum)" "$before"
sim=$OUT
kits=$(jq -r '[.orders_changed[]] | length' <<<"$sim")
check_match "... changes the kit orders" "$kits" '^[1-9]'
# MP3-01 49.99 + HP-07 39.99: floor(4999 x 25%) + floor(3999 x 25%) = 2248
# off instead of 749 + 599 = 1348
check_json "... 9.00 more off each kit" "$sim" \
  '[.orders_changed[].difference.discount_cents] | unique | @csv' '900'
check_json "... in total" "$sim" ".totals.difference.discount_cents == 900 * $kits" true
check_json "... fewer points issued" "$sim" '.totals.difference.points_earned < 0' true
check_json "... and the liability with them" "$sim" \
  '.totals.difference.liability_cents == .totals.difference.points_earned' true
check_exit "simulate as a table" 0 patron --now $NOW simulate --config bigger.lua --format table
check_match "... with the difference line" "$OUT" "difference +$((9 * kits)).00 "
echo 'shop { currency = 12 }' >bad.lua
check_exit "simulate a broken config: exit 1" 1 patron simulate --config bad.lua
check_json "... invalid_config" "$OUT" .error.code invalid_config
check_exit "simulate without --config: usage" 2 patron simulate
check_exit "patron verify still agrees" 0 patron verify

done_testing
