#!/usr/bin/env bash
# checkout.sh -- quote, commit and refund through the patron command on the
# demo shop: bundle, free shipping and its nudge, redemption cut with a
# warning, earn with the tier multiplier; JSON lines in and out (a bad line
# gets its error and the rest go on); commit idempotency (same receipt
# bytes), conflict naming the field, stale_quote writing nothing; partial
# and full refunds; verify after each scenario.
. "$(dirname "$0")/lib.sh"

T0=2026-01-15T10:00:00Z
SALE=2026-03-01T14:30:00Z
patron init >/dev/null
patron apply "$SHOP/shop.lua" >/dev/null
patron catalog import "$SHOP/catalog.csv" >/dev/null
patron --now $T0 customers import "$SHOP/customers.csv" >/dev/null

cat >cart.json <<'JSON'
{"customer":"C2","order_id":"POS7-001001","redeem_points":1000,
 "lines":[{"sku":"MP3-01","qty":1,"unit_cents":4999},
          {"sku":"HP-07","qty":1,"unit_cents":3999}]}
JSON

# --- quote ---------------------------------------------------------------------
check_exit "quote a pretty-printed cart file" 0 patron --now $SALE quote cart.json
q=$OUT
check_json "... subtotal" "$q" .subtotal_cents 8998
check_json "... bundle mp3-kit: floor(4999*15%)+floor(3999*15%)" "$q" '.discounts[0].source + " " + (.discounts[0].cents|tostring)' "bundle:mp3-kit 1348"
check_json "... ships free above 50.00" "$q" '.shipping_cents' 0
check_json "... redeems 1000 points = 10.00" "$q" '.redeem.cents' 1000
check_json "... total" "$q" .total_cents 6650
check_json "... gold earns floor(66 x 1.5)" "$q" .points_earned 99
check_json "... trace names the tier" "$q" '[.trace[].source] | index("tier:gold") != null' true
check_json "... nothing written" "$(sqlite3 "$db" 'SELECT count(*) FROM orders')" . 0

check_exit "quote from stdin" 0 patron quote < <(echo '{"lines":[{"sku":"COF-01","qty":1,"unit_cents":1290}]}')
check_json "... below the threshold pays shipping" "$OUT" .shipping_cents 499
check_json "... and says how much is missing" "$OUT" '.messages[0]' "add 37.10 more for free shipping"
check_json "... category filled from the catalog (coffee)" "$OUT" '.lines[0].sku' COF-01

check_exit "asking for more points than allowed is cut with a warning" 0 patron --now $SALE quote < <(
  echo '{"customer":"C2","redeem_points":5000,"lines":[{"sku":"X","qty":1,"unit_cents":2000}]}')
check_json "... to 50% of 20.00 + 4.99" "$OUT" .redeem.points 1249
check_match "... warning says why" "$(jq -r '.warnings[0]' <<<"$OUT")" "at most 50.00% of an order"

# --- JSON lines ------------------------------------------------------------------
printf '%s\n' \
  '{"lines":[{"sku":"A","qty":1,"unit_cents":100}]}' \
  '{"lines":[{"sku":"A","qty":0,"unit_cents":100}]}' \
  '{"lines":[{"sku":"B","qty":2,"unit_cents":3000}]}' >batch.jsonl
check_exit "JSON lines: a bad line makes the exit status 1" 1 patron quote batch.jsonl
check_eq "... one result line per cart" "$(wc -l <<<"$OUT" | tr -d ' ')" 3
check_json "... first line priced" "$(sed -n 1p <<<"$OUT")" .total_cents 599
check_json "... second line is its error" "$(sed -n 2p <<<"$OUT")" .error.path "lines[0].qty"
check_json "... third line still priced" "$(sed -n 3p <<<"$OUT")" .total_cents 6000

check_exit "malformed JSON: exit 1" 1 patron quote < <(echo '{"lines": [}')
check_json "... invalid_json" "$OUT" .error.code invalid_json
check_exit "unknown program: exit 1" 1 patron quote < <(echo '{"program":"nope","lines":[{"sku":"A","qty":1,"unit_cents":1}]}')
check_json "... unknown_program" "$OUT" .error.code unknown_program

# --- commit ----------------------------------------------------------------------
check_exit "commit" 0 patron --now $SALE commit cart.json
r1=$OUT
check_json "... receipt has the order id" "$r1" .order_id POS7-001001
check_json "... balance after: 6000 - 1000 + 99" "$r1" .balance_after 5099
check_json "... ledger entries" "$r1" '[.entries[] | .kind + ":" + (.points|tostring)] | join(",")' "redeem:-1000,earn:99"
check_exit "commit again (a retry)" 0 patron --now $SALE commit cart.json
check_eq "... byte-identical receipt" "$OUT" "$r1"
check_eq "... one order row" "$(sqlite3 "$db" 'SELECT count(*) FROM orders')" 1
check_exit "same order id, another cart: exit 1" 1 patron --now $SALE commit < <(
  jq -c '.lines[1].qty = 2' cart.json)
check_json "... conflict" "$OUT" .error.code conflict
check_json "... naming the differing field" "$OUT" .error.path "lines[1].qty"
check_exit "expect_total_cents that no longer holds: exit 1" 1 patron --now $SALE commit < <(
  echo '{"order_id":"S-1","customer":"C3","expect_total_cents":1,"lines":[{"sku":"A","qty":1,"unit_cents":100}]}')
check_json "... stale_quote" "$OUT" .error.code stale_quote
check_eq "... and nothing was written" "$(sqlite3 "$db" "SELECT count(*) FROM orders WHERE order_id = 'S-1'")" 0
check_exit "commit without order_id: exit 1" 1 patron commit < <(echo '{"lines":[{"sku":"A","qty":1,"unit_cents":1}]}')
check_json "... path order_id" "$OUT" .error.path order_id
check_exit "redeeming more than the balance at commit: exit 1" 1 patron --now $SALE commit < <(
  echo '{"order_id":"S-2","customer":"C1","redeem_points":99999,"lines":[{"sku":"A","qty":100,"unit_cents":10000}]}')
check_json "... insufficient_points" "$OUT" .error.code insufficient_points
check_exit "verify after commits" 0 patron verify

# --- refund ----------------------------------------------------------------------
check_exit "refund one sku" 0 patron --now 2026-03-08T11:00:00Z refund --order POS7-001001 --sku HP-07
check_json "... money back: 3999 - 599 discount - 444 points share" "$OUT" .refund_cents 2956
check_json "... earned points of that line reversed" "$OUT" .points_reversed 44
check_json "... redeemed points of that line given back" "$OUT" .points_returned 444
check_json "... not fully refunded" "$OUT" .fully_refunded false
check_exit "refund more than is left: exit 1" 1 patron refund --order POS7-001001 --sku HP-07
check_json "... invalid_input" "$OUT" .error.code invalid_input
check_exit "refund an unknown order: exit 1" 1 patron refund --order NOPE
check_json "... not_found" "$OUT" .error.code not_found
check_exit "refund the rest" 0 patron --now 2026-03-09T11:00:00Z refund --order POS7-001001
check_json "... fully refunded" "$OUT" .fully_refunded true
check_json "... every point the order moved is back: 6000" "$OUT" .balance_after 6000
check_exit "refund without --order: usage, exit 2" 2 patron refund
check_exit "verify after refunds" 0 patron verify
check_exit "quote --help" 0 patron quote --help
check_match "... documents JSON lines" "$OUT" "JSON lines"

done_testing
