#!/usr/bin/env bash
# demo.sh BINARY -- the demo shop walked through with the patron command in
# a fresh temporary database: set up, move customers in, correct a
# balance, read the ledger, let a year pass (expiry warnings, then expiry)
# and verify. Every command is shown with its output; colour only on a
# terminal. `make run` calls it with build/patron. Each step is a function:
# later steps (checkouts, rules, subscriptions) slot into STEPS below.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:?usage: examples/shop/demo.sh path/to/patron}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
[ -x "$bin" ] || { echo "demo.sh: $bin is not an executable patron" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/patron-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PATRON_DB=$work/shop.db
unset PATRON_PLUGIN_DIR
cd "$root"

if [ -t 1 ]; then
  bold=$'\e[1m' dim=$'\e[2m' cyan=$'\e[36m' red=$'\e[31m' off=$'\e[0m'
else
  bold= dim= cyan= red= off=
fi

step_no=0
heading() { step_no=$((step_no + 1)); printf '\n%s%d. %s%s\n' "$bold" "$step_no" "$*" "$off"; }
say() { printf '%s%s%s\n' "$dim" "$*" "$off"; }

# patron ARGS...: shows the command, runs it, indents its output. A
# refusal (exit 1) is shown and the demo goes on; anything else stops it.
patron() {
  local shown="" status=0 out a
  for a in "$@"; do
    case $a in *[!A-Za-z0-9_./:=+-]*) shown+=" \"$a\"" ;; *) shown+=" $a" ;; esac
  done
  printf '%s$ patron%s%s\n' "$cyan" "$shown" "$off"
  out=$("$bin" "$@" 2>&1) || status=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/  /'
  if [ "$status" -eq 1 ]; then
    printf '  %s(exit 1: refused)%s\n' "$red" "$off"
  elif [ "$status" -ne 0 ]; then
    echo "demo.sh: 'patron$shown' failed with status $status" >&2
    exit "$status"
  fi
}

MOVE_IN=2026-01-15T10:00:00Z

step_setup() {
  heading "A new shop: database and configuration"
  say "init creates the database; apply validates shop.lua (programs, tiers,"
  say "bundles, plans) and stores it as config version 1."
  patron init
  patron apply examples/shop/shop.lua
}

step_import() {
  heading "Catalog and customers move in"
  say "CSV columns are matched by header; a bad row would fail the whole import."
  patron catalog import examples/shop/catalog.csv
  say "Customers come from an older program with opening balances and spend:"
  patron --now $MOVE_IN customers import examples/shop/customers.csv
}

step_balances() {
  heading "Balances and tiers"
  say "C1 brought 1200 points and 350.00 of spend; C2 spent enough for gold."
  patron --now $MOVE_IN balance C1
  patron --now $MOVE_IN balance C2
}

step_adjust() {
  heading "A manual correction, audited"
  say "Every adjustment needs a reason; it is an entry in the ledger, never an edit."
  patron --now 2026-02-01T09:00:00Z adjust C1 --points 250 --reason "goodwill: late delivery"
  say "Taking away more than the customer has is refused:"
  patron --now 2026-02-01T09:00:00Z adjust C1 --points -5000 --reason "mistake"
  patron ledger C1 --format table
}

# patron_jq FILTER ARGS...: like patron, but shows only what jq FILTER
# picks from each output line (the full JSON is long).
patron_jq() {
  local filter=$1 status=0 out
  shift
  local shown="$*"
  printf '%s$ patron %s | jq -c %s%s\n' "$cyan" "${shown//$work\//}" "'$filter'" "$off"
  out=$("$bin" "$@" 2>&1) || status=$?
  printf '%s\n' "$out" | jq -c "$filter" 2>/dev/null | sed 's/^/  /' ||
    printf '%s\n' "$out" | sed 's/^/  /'
  [ "$status" -le 1 ] || { echo "demo.sh: 'patron $*' failed with status $status" >&2; exit "$status"; }
}

SALE=2026-03-01T14:30:00Z

step_checkout() {
  heading "At the till: a quote, a commit, a retry and a refund"
  cat >"$work/cart.json" <<'JSON'
{"customer":"C2","order_id":"POS7-001001","redeem_points":1000,
 "lines":[{"sku":"MP3-01","qty":1,"unit_cents":4999},
          {"sku":"HP-07","qty":1,"unit_cents":3999}]}
JSON
  say "C2 (gold) buys the MP3 kit and pays 1000 points. The quote writes nothing;"
  say "the bundle gives 15% off each item, the order ships free, gold earns x1.5:"
  patron_jq '{subtotal_cents, discounts: [.discounts[] | {source, cents}], shipping_cents, redeem, total_cents, points_earned, tier}' \
    --now $SALE quote "$work/cart.json"
  say "Commit records the order, the redemption and the (pending) points:"
  patron_jq '{order_id, total_cents, balance_after, entries: [.entries[] | {kind, points}]}' \
    --now $SALE commit "$work/cart.json"
  say "The till retries after a network blip: same order_id, same receipt, nothing doubled:"
  patron_jq '{order_id, balance_after}' --now $SALE commit "$work/cart.json"
  say "A small anonymous order is nudged towards free shipping:"
  printf '%s\n' '{"lines":[{"sku":"COF-01","qty":1,"unit_cents":1290}]}' >"$work/small.json"
  patron_jq '{total_cents, free_shipping, messages}' quote "$work/small.json"
  say "The headphones come back a week later: their share of the points is unwound."
  patron_jq '{refund_cents, points_reversed, points_returned, balance_after, tier_after}' \
    --now 2026-03-08T11:00:00Z refund --order POS7-001001 --sku HP-07
}

step_rules() {
  heading "Merchant rules: cross-sell and the free-shipping nudge"
  say "shop.lua wires two ready-made Lua plugins. They run sandboxed in every quote,"
  say "suggest what goes with the cart, and never re-offer what was just declined:"
  printf '%s\n' '{"customer":"C1","lines":[{"sku":"MP3-02","qty":1,"unit_cents":3999}]}' >"$work/mp3.json"
  patron_jq '{total_cents, suggestions, messages}' --now $SALE quote "$work/mp3.json"
  printf '%s\n' '{"customer":"C1","shown_suggestions":["HP-07"],"lines":[{"sku":"MP3-02","qty":1,"unit_cents":3999}]}' >"$work/mp3b.json"
  say "The customer said no to HP-07; the next quote offers something else:"
  patron_jq '[.suggestions[].sku]' --now $SALE quote "$work/mp3b.json"
  say "Merchants lint a rule before applying it (rules test runs it alone on a cart):"
  patron rules check plugins/cross_sell.lua
}

step_subscription() {
  heading "A subscription: a failed renewal, dunning and recovery"
  say "patron never charges cards: it asks the host through charge_requested events."
  patron_jq '{id, status, price_cents, current_period_end}' --now 2026-03-01T09:00:00Z \
    sub create --customer C3 --plan pro-monthly
  local sub attempt
  sub=$("$bin" sub show C3 | jq -r 'if type == "array" then .[0].id else .id end')
  attempt=$("$bin" events pull --type charge_requested | tail -n 1 | jq -r .payload.attempt)
  say "The host charges the card and reports back:"
  patron_jq '{outcome: .attempt.outcome, status: .subscription.status}' \
    --now 2026-03-01T09:00:05Z sub charge-result --attempt "$attempt" --ok
  say "A month later tick asks for the renewal; the card is declined:"
  patron_jq '{charges_requested}' tick --now 2026-04-01T09:10:00Z
  attempt=$("$bin" events pull --type charge_requested | tail -n 1 | jq -r .payload.attempt)
  patron_jq '{outcome: .attempt.outcome, status: .subscription.status}' \
    --now 2026-04-01T09:20:00Z sub charge-result --attempt "$attempt" --fail insufficient_funds
  patron_jq '.payload | {step, reason, status, next_retry_at, final_action_at}' events pull --type dunning_notice
  say "The retry a day later goes through: the subscription is active again, on its schedule."
  patron_jq '{charges_requested}' tick --now 2026-04-02T09:30:00Z
  attempt=$("$bin" events pull --type charge_requested | tail -n 1 | jq -r .payload.attempt)
  patron_jq '{outcome: .attempt.outcome, status: .subscription.status}' \
    --now 2026-04-02T09:40:00Z sub charge-result --attempt "$attempt" --ok
  patron_jq '{status, current_period_end}' sub show "$sub"
}

step_reports() {
  heading "Reports a manager acts on"
  say "Redemption rate per program (under 20% the program is not working):"
  "$bin" --now 2026-04-30 report redemption --from 2026-01-01 --to 2026-05-01 --format table |
    sed -n '1,12p' | sed 's/^/  /'
  say "Customer lifetime value, with its inputs:"
  "$bin" --now 2026-04-30 report clv --format table | sed -n '1,8p' | sed 's/^/  /'
  say "Subscriptions: MRR, churn and dunning recovery:"
  "$bin" --now 2026-04-30 report subs --from 2026-03-01 --to 2026-05-01 --format table |
    sed -n '1,8p' | sed 's/^/  /'
  say "The same figures as csv, json or one printable html page: --format html > report.html"
}

step_year() {
  heading "Time passes: expiry warnings, then expiry"
  say "tick runs from cron. The default program expires points after 12 months"
  say "and warns 30 days before, through the events outbox:"
  patron tick --now 2026-12-20T03:00:00Z
  patron events pull --type points_expiring --limit 2
  say "A year and a day after moving in, the opening points expire:"
  patron tick --now 2027-01-16T03:00:00Z
  patron --now 2027-01-16T03:00:00Z balance C1
  say "Running tick again at the same time does nothing:"
  patron tick --now 2027-01-16T03:00:00Z
}

step_verify() {
  heading "Verify: every balance rebuilt from its ledger"
  patron verify
}

STEPS=(step_setup step_import step_balances step_adjust step_checkout step_rules
       step_subscription step_reports step_year step_verify)

printf '%spatron demo shop%s %s(database: a fresh temporary file)%s\n' \
  "$bold" "$off" "$dim" "$off"
for s in "${STEPS[@]}"; do "$s"; done
printf '\n%sDone.%s Try: patron --help, patron help tick, README.md\n' "$bold" "$off"
