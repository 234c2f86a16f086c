#!/usr/bin/env bash
# subs.sh -- subscriptions through the patron command on the demo shop
# (examples/shop/shop.lua: pro-monthly 10.00 with a 14-day trial, pro-annual
# 102.00, dunning retries at +1/+3/+5/+7 days, 10 days of grace, then
# suspend; plus a team-monthly plan at 30.00), with the clock fixed by --now: plans and the annual saving, a
# subscription from a 31st renewing on its clamped schedule, the host's
# answers (idempotent, conflicting), dunning to recovery, card_expired
# waiting for a new payment method, a trial ending, an upgrade with its
# proration in cents, a downgrade, a temporary upgrade, a price migration,
# refused transitions, card numbers refused, exit codes and --help.
. "$(dirname "$0")/lib.sh"

patron init >/dev/null
{ cat "$SHOP/shop.lua"
  echo 'plan "team-monthly" { price_cents = 3000, every = "month", program = "default" }'
} >shop.lua
patron apply shop.lua >/dev/null

# the attempt id of the latest charge_requested event about subscription $1
attempt_of() {
  patron events pull --limit 1000 --type charge_requested |
    jq -r --arg s "$1" 'select(.subject == $s) | .payload.attempt' | tail -1
}
# the payload of the latest event of type $2 about subscription $1
last_event() {
  patron events pull --limit 1000 --type "$2" |
    jq -c --arg s "$1" 'select(.subject == $s) | .payload' | tail -1
}

# --- plans --------------------------------------------------------------------------
check_exit "plans" 0 patron plans
check_json "... lists the plans" "$OUT" '[.[].name] | @csv' '"pro-monthly","pro-annual","team-monthly"'
check_json "... with the annual saving against 12 x monthly" "$OUT" '.[1].saving.text' \
  "pro-annual saves 15% against 12 x pro-monthly"
check_json "... in cents" "$OUT" '.[1].saving | [.full_price_cents, .saving_cents, .percent] | @csv' \
  "12000,1800,15"
check_exit "plans --format table" 0 patron plans --format table
check_match "... one row per plan, the saving spelled out" "$OUT" \
  '^pro-annual +102\.00 +year +0 days +default +pro-annual saves 15% against 12 x pro-monthly$'

# --- a monthly subscription from the 31st -----------------------------------------------
check_exit "sub create on the 31st" 0 patron --now 2026-01-31T10:00:00Z sub create --customer C1 --plan pro-monthly
sub=$(jq -r .id <<<"$OUT")
check_match "... an id sub_ + 32 hex digits" "$sub" '^sub_[0-9a-f]{32}$'
check_json "... active at the plan's price" "$OUT" '[.status, .price_cents] | @csv' '"active",1000'
check_json "... its first period ends on February 28" "$OUT" .current_period_end 2026-02-28T10:00:00Z
check_exit "events pull --type charge_requested" 0 patron events pull --type charge_requested
check_json "... asks the host for the first period" "$OUT" '.payload | [.amount_cents, .kind, .attempt_number] | @csv' \
  '1000,"first_period",1'
check_json "... with an idempotency key" "$OUT" .payload.idempotency_key "$sub:2026-01-31T10:00:00Z:1"
a1=$(attempt_of "$sub")
check_exit "sub charge-result --ok" 0 patron --now 2026-01-31T10:05:00Z sub charge-result --attempt "$a1" --ok
first=$OUT
check_json "... records the outcome" "$OUT" '.attempt.outcome' ok
check_exit "the same answer again" 0 patron --now 2026-02-01 sub charge-result --attempt "$a1" --ok
check_eq "... prints the same result" "$OUT" "$first"
check_exit "a different answer: exit 1" 1 patron sub charge-result --attempt "$a1" --fail card_expired
check_json "... conflict" "$OUT" .error.code conflict
check_exit "an unknown attempt: exit 1" 1 patron sub charge-result --attempt nope --ok
check_json "... not_found" "$OUT" .error.code not_found
check_exit "an unknown reason: exit 1" 1 patron sub charge-result --attempt "$a1" --fail moon_phase
check_json "... invalid_input" "$OUT" .error.code invalid_input
run patron balance C1
check_json "the charge earned points in the plan's program" "$OUT" .points 10

check_exit "tick a second before the renewal" 0 patron tick --now 2026-02-28T09:59:59Z
check_json "... charges nothing" "$OUT" .charges_requested 0
check_exit "tick at the renewal" 0 patron tick --now 2026-02-28T10:00:00Z
check_json "... requests one charge" "$OUT" .charges_requested 1
check_exit "tick again at the same time" 0 patron tick --now 2026-02-28T10:00:00Z
check_json "... does nothing" "$OUT" \
  '[.charges_requested, .trials_ended, .upgrades_reverted, .dunning_steps, .renewal_reminders] | @csv' "0,0,0,0,0"

# --- dunning to recovery ----------------------------------------------------------------------
a2=$(attempt_of "$sub")
check_exit "the renewal fails: insufficient_funds" 0 patron --now 2026-02-28T10:00:00Z sub charge-result --attempt "$a2" --fail insufficient_funds
check_json "... past_due" "$OUT" .subscription.status past_due
check_json "... retried a day later" "$OUT" .subscription.dunning.next_retry_at 2026-03-01T10:00:00Z
check_json "... suspended 10 days after the failure if nothing works" "$OUT" .subscription.dunning.final_action_at \
  2026-03-10T10:00:00Z
check_json "a dunning_notice went out" "$(last_event "$sub" dunning_notice)" '[.step, .reason, .attempt_number] | @csv' \
  '"failed","insufficient_funds",1'
check_exit "tick at the retry" 0 patron tick --now 2026-03-01T10:00:00Z
check_json "... requests the retry" "$OUT" .charges_requested 1
check_json "... for the same period, attempt 2" "$(last_event "$sub" charge_requested)" \
  '[.kind, .attempt_number, .period_start] | @csv' '"retry",2,"2026-02-28T10:00:00Z"'
check_exit "the retry succeeds" 0 patron --now 2026-03-01T11:00:00Z sub charge-result --attempt "$(attempt_of "$sub")" --ok
check_json "... active again" "$OUT" .subscription.status active
check_json "... on the original schedule (clamped back to the 31st)" "$OUT" .subscription.renews_at 2026-03-31T10:00:00Z

# --- card_expired waits for a new payment method ------------------------------------------------
patron tick --now 2026-03-31T10:00:00Z >/dev/null
check_exit "the next renewal fails: card_expired" 0 patron --now 2026-03-31T10:00:00Z sub charge-result --attempt "$(attempt_of "$sub")" --fail card_expired
check_json "... waits for a payment method" "$OUT" .subscription.dunning.awaiting_payment_method true
check_exit "tick a day later" 0 patron tick --now 2026-04-01T10:00:00Z
check_json "... does not retry blindly" "$OUT" .charges_requested 0
check_exit "payment-method-updated with a card number as token: exit 1" 1 \
  patron --now 2026-04-02 sub payment-method-updated --sub "$sub" --token "4242 4242 4242 4242" --brand visa --last4 4242 --exp 2028-04
check_json "... invalid_input" "$OUT" .error.code invalid_input
check_match "... saying why" "$(jq -r .error.message <<<"$OUT")" 'looks like a payment card number; patron never stores card numbers'
check_eq "... without echoing it" "$(grep -c '4242 4242' <<<"$OUT$ERR")" 0
check_eq "... and nothing was stored" "$(sqlite3 "$db" 'SELECT count(*) FROM payment_methods')" 0
check_exit "payment-method-updated with a processor token" 0 \
  patron --now 2026-04-02T08:00:00Z sub payment-method-updated --sub "$sub" --token tok_1Nv0 --brand visa --last4 4242 --exp 2028-04
check_json "... keeps brand, last4 and expiry" "$OUT" '.payment_method | [.brand, .last4, .exp_month, .exp_year] | @csv' \
  '"visa","4242",4,2028'
check_json "... and retries at once" "$(last_event "$sub" charge_requested)" '[.kind, .payment_method.token] | @csv' \
  '"retry","tok_1Nv0"'
check_exit "the retry succeeds" 0 patron --now 2026-04-02T09:00:00Z sub charge-result --attempt "$(attempt_of "$sub")" --ok
check_json "... active" "$OUT" .subscription.status active
check_exit "an expired card: exit 1" 1 patron --now 2026-04-02 sub payment-method-updated --sub "$sub" --token t --brand visa --last4 4242 --exp 2026-03
check_json "... invalid_input" "$OUT" .error.code invalid_input
check_exit "--exp that is not YEAR-MONTH: exit 2" 2 patron sub payment-method-updated --sub "$sub" --token t --brand visa --last4 4242 --exp 04/28

# --- a trial -------------------------------------------------------------------------------------
check_exit "sub create --trial" 0 patron --now 2026-04-01T12:00:00Z sub create --customer C2 --plan pro-monthly --trial
trial=$(jq -r .id <<<"$OUT")
check_json "... trialing for 14 days" "$OUT" '[.status, .trial_end] | @csv' '"trialing","2026-04-15T12:00:00Z"'
check_exit "tick at the trial's end" 0 patron tick --now 2026-04-15T12:00:00Z
check_json "... ends the trial with a charge" "$OUT" '[.trials_ended, .charges_requested] | @csv' "1,1"
check_exit "sub charge-result --ok" 0 patron --now 2026-04-15T12:00:00Z sub charge-result --attempt "$(attempt_of "$trial")" --ok
check_json "... active" "$OUT" .subscription.status active

# --- an upgrade with proration, a downgrade, an annual reminder ----------------------------------
# C2 paid 10.00 for [Apr 15 12:00, May 15 12:00) (30 days); on Apr 25 12:00, 20
# days are left: credit = floor(1000 * 1728000 / 2592000) = 666; 3000 - 666
check_exit "sub change to a dearer plan" 0 patron --now 2026-04-25T12:00:00Z sub change "$trial" --plan team-monthly
check_json "... is an upgrade now" "$OUT" '.change | [.kind, .remaining_seconds, .period_seconds] | @csv' '"upgrade",1728000,2592000'
check_json "... with a credit of 6.66" "$OUT" '.change | [.credit_cents, .charge_cents] | @csv' "666,2334"
check_json "... its period starting now" "$OUT" '[.plan, .current_period_end] | @csv' '"team-monthly","2026-05-25T12:00:00Z"'
check_json "... charged at once" "$(last_event "$trial" charge_requested)" '[.kind, .amount_cents] | @csv' '"upgrade",2334'
check_exit "sub change while that charge is open: exit 1" 1 patron sub change "$trial" --plan pro-monthly
check_json "... invalid_input" "$OUT" .error.code invalid_input
patron --now 2026-04-25T12:00:00Z sub charge-result --attempt "$(attempt_of "$trial")" --ok >/dev/null
check_exit "sub change to the annual plan (cheaper per year)" 0 patron --now 2026-05-01 sub change "$trial" --plan pro-annual
check_json "... is scheduled for the end of the period" "$OUT" '[.change.kind, .plan, .pending_change.at] | @csv' \
  '"downgrade_scheduled","team-monthly","2026-05-25T12:00:00Z"'
check_exit "sub change --help states the formula" 0 patron sub change --help
check_match "... credit" "$OUT" 'credit = floor\(locked_price \* remaining_seconds / period_seconds\)'
check_match "... charge" "$OUT" 'charge = max\(0, new_price - credit\)'
check_exit "tick at the end of the period" 0 patron tick --now 2026-05-25T12:00:00Z
check_json "... renews C2 on the annual plan" "$(last_event "$trial" charge_requested)" '[.plan, .amount_cents, .period_end] | @csv' \
  '"pro-annual",10200,"2027-05-25T12:00:00Z"'
patron --now 2026-05-25T12:00:00Z sub charge-result --attempt "$(attempt_of "$trial")" --ok >/dev/null
check_exit "tick 7 days before the annual renewal" 0 patron tick --now 2027-05-18T12:00:00Z
check_json "... sends one renewal_upcoming" "$OUT" .renewal_reminders 1
check_json "... with the amount and date" "$(last_event "$trial" renewal_upcoming)" '[.plan, .amount_cents, .renews_at] | @csv' \
  '"pro-annual",10200,"2027-05-25T12:00:00Z"'
check_exit "tick again" 0 patron tick --now 2027-05-19T12:00:00Z
check_json "... sends it once" "$OUT" .renewal_reminders 0

# --- a temporary upgrade, a migration -----------------------------------------------------------------
check_exit "sub create C3 monthly" 0 patron --now 2026-05-01 sub create --customer C3 --plan pro-monthly
c3=$(jq -r .id <<<"$OUT")
patron --now 2026-05-01 sub charge-result --attempt "$(attempt_of "$c3")" --ok >/dev/null
check_exit "sub upgrade --to team-monthly --days 7" 0 patron --now 2026-05-02 sub upgrade "$c3" --to team-monthly --days 7
check_json "... gives access to it" "$OUT" '[.plan, .access_plan, .temporary_upgrade.until] | @csv' \
  '"pro-monthly","team-monthly","2026-05-09T00:00:00Z"'
check_json "... at no charge" "$(last_event "$c3" temporary_upgrade_started)" .charge_cents 0
check_exit "sub upgrade --days abc: exit 2" 2 patron sub upgrade "$c3" --to team-monthly --days abc
check_exit "tick when the 7 days are over" 0 patron tick --now 2026-05-09
check_json "... reverts it" "$OUT" .upgrades_reverted 1
check_exit "sub convert with nothing to convert: exit 1" 1 patron sub convert "$c3"
check_json "... invalid_input" "$OUT" .error.code invalid_input

sed -i 's/price_cents = 1000, every = "month"/price_cents = 1100, every = "month"/' shop.lua
patron apply shop.lua >/dev/null
check_exit "sub migrate-price --notice-days 30" 0 patron --now 2026-05-10 sub migrate-price --plan pro-monthly --notice-days 30
check_json "... notifies the monthly subscribers still at 10.00" "$OUT" '[.notified, .price_cents, .effective_at] | @csv' \
  '2,1100,"2026-06-09T00:00:00Z"'
check_json "... with the old and the new price" "$(last_event "$c3" price_change_notice)" \
  '[.old_price_cents, .new_price_cents] | @csv' '1000,1100'
check_exit "sub migrate-price without --notice-days: exit 2" 2 patron sub migrate-price --plan pro-monthly

# --- cancel and refused transitions --------------------------------------------------------------------
check_exit "sub cancel" 0 patron --now 2026-05-20 sub cancel "$c3"
check_json "... canceled" "$OUT" .status canceled
check_exit "sub change of a canceled subscription: exit 1" 1 patron sub change "$c3" --plan pro-annual
check_json "... invalid_input naming the status" "$OUT" '[.error.code, (.error.message | test("is canceled"))] | @csv' \
  '"invalid_input",true'
check_exit "sub cancel again: exit 1" 1 patron sub cancel "$c3"
check_exit "sub show of an unknown subscription: exit 1" 1 patron sub show sub_00000000000000000000000000000000
check_json "... not_found" "$OUT" .error.code not_found
check_exit "sub create with a card number as customer: exit 1" 1 patron sub create --customer 4111111111111111 --plan pro-monthly
check_json "... invalid_input on customer" "$OUT" '[.error.code, .error.path] | @csv' '"invalid_input","customer"'
check_exit "sub create of an unknown plan: exit 1" 1 patron sub create --customer C9 --plan gold
check_json "... not_found" "$OUT" .error.code not_found
check_exit "sub create without --plan: exit 2" 2 patron sub create --customer C9
check_exit "sub charge-result with --ok and --fail: exit 2" 2 patron sub charge-result --attempt x --ok --fail card_expired
check_exit "sub show with two ids: exit 2" 2 patron sub show a b
check_exit "sub show C1" 0 patron sub show C1
check_json "... lists C1's subscription" "$OUT" '[.[].id] | @csv' "\"$sub\""

# --- help -------------------------------------------------------------------------------------------
check_exit "help sub" 0 patron help sub
for cmd in create show cancel change upgrade convert migrate-price charge-result payment-method-updated; do
  check_match "... lists sub $cmd" "$OUT" "patron sub $cmd "
done
check_exit "sub payment-method-updated --help" 0 patron sub payment-method-updated --help
check_match "... says patron never stores card numbers" "$OUT" 'never a card number'

check_exit "verify" 0 patron verify
done_testing
