#!/usr/bin/env bash
# erase.sh -- `patron customer erase` on the demo shop through the patron
# command: every report in JSON is the same before and after (health with
# the id replaced by the pseudonym, its customer rows sorted), the email is
# in no byte of the database files, the books verify, a retried commit of
# an old order is a conflict, erasing twice is unknown_customer for the old
# id and harmless for the pseudonym, a live subscription is refused.
. "$(dirname "$0")/lib.sh"

T0=2026-01-15T10:00:00Z
NOW=2026-06-30T12:00:00Z
email=$(csv_field "$SHOP/customers.csv" C3 email)

patron init >/dev/null
patron apply "$SHOP/shop.lua" >/dev/null
patron catalog import "$SHOP/catalog.csv" >/dev/null
patron --now $T0 customers import "$SHOP/customers.csv" >/dev/null
check_match "C3 has an email to erase" "$email" '@'

n=0
for m in 02 03 04 05; do
  for c in C1 C2 C3 C5; do
    n=$((n + 1))
    printf '{"customer":"%s","order_id":"POS1-%04d","lines":[{"sku":"MP3-01","qty":1,"unit_cents":4999},{"sku":"HP-07","qty":1,"unit_cents":3999}]}\n' \
      "$c" "$n" >"o$n.json"
    patron --now 2026-$m-05T10:00:00Z commit "o$n.json" >/dev/null || echo "# commit $n failed"
  done
done
patron --now 2026-05-20T10:00:00Z refund --order POS1-0003 >/dev/null
patron --now 2026-05-21T10:00:00Z nps record --customer C3 --score 4 --touchpoint support \
  --comment "write to $email" >/dev/null
patron --now 2026-05-21T10:00:00Z nps record --customer C1 --score 10 --touchpoint support >/dev/null
patron --now 2026-06-01T00:00:00Z tick >/dev/null

reports="redemption liability clv retention churn repeat health nps crosssell bundles shipping subs"
for r in $reports; do patron --now $NOW report "$r" --format json >"before.$r.json"; done
check_match "health lists C3 before the erase" "$(cat before.health.json)" '"C3"'

check_exit "customer erase C3" 0 patron --now $NOW customer erase C3
pseudo=$(jq -r .pseudonym <<<"$OUT")
check_match "... prints the pseudonym" "$pseudo" '^erased-[0-9a-f]{32}$'
check_json "... the checkpoint completed" "$OUT" .checkpoint complete
check_json "... counted the orders it renamed" "$OUT" .rows.orders 4
check_json "... and the NPS answer" "$OUT" .rows.nps_answers 1

same=0 differ=""
for r in $reports; do
  patron --now $NOW report "$r" --format json >"after.$r.json"
  if [ "$r" = health ]; then
    sed "s/\"C3\"/\"$pseudo\"/g" "before.$r.json" | jq -S '.tables[].rows |= sort_by(tostring)' >b.json
    jq -S '.tables[].rows |= sort_by(tostring)' "after.$r.json" >a.json
    cmp -s a.json b.json && same=$((same + 1)) || differ="$differ $r"
  else
    cmp -s "before.$r.json" "after.$r.json" && same=$((same + 1)) || differ="$differ $r"
  fi
done
check_eq "every report is the same after the erase (health with the pseudonym)" "$differ" ""
check_eq "... all $(wc -w <<<"$reports") of them" "$same" "$(wc -w <<<"$reports")"

hits=$(cat "$db" "$db-wal" "$db-shm" 2>/dev/null | grep -c -a -F "$email")
check_eq "the email is in no byte of the database files" "$hits" 0
check_eq "... nor in any row" "$(sqlite3 "$db" "SELECT count(*) FROM customers WHERE email = '$email'")" 0
check_eq "C3 is in no table a customer column names" \
  "$(sqlite3 "$db" "SELECT (SELECT count(*) FROM ledger WHERE customer = 'C3') +
     (SELECT count(*) FROM orders WHERE customer = 'C3' OR cart LIKE '%\"C3\"%' OR receipt LIKE '%\"C3\"%') +
     (SELECT count(*) FROM accounts WHERE customer = 'C3') +
     (SELECT count(*) FROM events WHERE subject = 'C3' OR payload LIKE '%\"C3\"%')")" 0
check_exit "verify after the erase" 0 patron verify
check_exit "the pseudonym's balance" 0 patron --now $NOW balance "$pseudo"

check_exit "a retried commit of C3's old order: exit 1" 1 patron --now 2026-02-05T10:00:00Z commit o3.json
check_json "... conflict" "$OUT" .error.code conflict
check_json "... naming the customer field" "$OUT" .error.path customer
check_eq "... and no second order" "$(sqlite3 "$db" "SELECT count(*) FROM orders WHERE order_id = 'POS1-0003'")" 1

check_exit "erasing C3 again: exit 1" 1 patron customer erase C3
check_json "... unknown_customer" "$OUT" .error.code unknown_customer
check_exit "erasing the pseudonym again: exit 0" 0 patron customer erase "$pseudo"
check_json "... already erased" "$OUT" .already_erased true

check_exit "a subscription for C2" 0 patron --now $NOW sub create --customer C2 --plan pro-monthly
sub=$(jq -r .id <<<"$OUT")
check_exit "erasing C2 while it runs: exit 1" 1 patron --now $NOW customer erase C2
check_json "... invalid_input" "$OUT" .error.code invalid_input
check_match "... naming the subscription" "$(jq -r .error.message <<<"$OUT")" "$sub"
check_exit "erase without a customer: usage, exit 2" 2 patron customer erase
check_exit "help customer erase" 0 patron help customer erase
check_match "... says what stays and what goes" "$OUT" 'pseudonym'
done_testing
