#!/usr/bin/env bash
# serve_stdio.sh -- `patron serve --stdio` on the demo shop: every op,
# one response line per request line with its id echoed (integers and
# strings), results identical to the CLI's, errors as objects for bad
# JSON, non-objects, a missing id, an unknown op and missing fields, a
# 10,000-line cart refused and a line over --max-body dropped, with the
# process answering the next line every time; EOF and SIGTERM end it with
# status 0. Subscription and report ops are checked for real once the
# library implements them (SKIP while it says "not implemented").
. "$(dirname "$0")/lib.sh"

T0=2026-01-15T10:00:00Z
NOW=2026-03-02T12:00:00Z
patron init >/dev/null
patron apply "$SHOP/shop.lua" >/dev/null
patron catalog import "$SHOP/catalog.csv" >/dev/null
patron --now $T0 customers import "$SHOP/customers.csv" >/dev/null

# serve LINES...: runs one stdio session with the lines as input; $OUT
# holds the responses, $STATUS the exit status.
serve() {
  printf '%s\n' "$@" >in.jsonl
  run patron --now $NOW serve --stdio <in.jsonl
}
# line N: the Nth response line of $OUT
line() { sed -n "${1}p" <<<"$OUT"; }

cart1='{"customer":"C1","order_id":"S-1","lines":[{"sku":"MP3-01","qty":1,"unit_cents":4999},{"sku":"HP-07","qty":1,"unit_cents":3999}]}'

# --- the checkout ops ---------------------------------------------------------
# the CLI's quote before the session commits (a commit records the
# suggestions shown, which later quotes do not offer again)
cli_quote=$(printf '%s' "$cart1" | patron --now $NOW quote)
serve '{"id":1,"op":"ping"}' \
  "{\"id\":2,\"op\":\"quote\",\"cart\":$cart1}" \
  "{\"id\":\"c-3\",\"op\":\"commit\",\"cart\":$cart1}" \
  "{\"id\":4,\"op\":\"commit\",\"cart\":$cart1}" \
  '{"id":5,"op":"refund","order_id":"S-1","lines":[{"sku":"HP-07","qty":1}]}' \
  '{"id":6,"op":"balance","customer":"C1"}' \
  '{"id":7,"op":"balance","customer":"C3","program":"coffee-club"}'
check_eq "a session of checkout ops: exit 0 at EOF" "$STATUS" 0
check_eq "... one response line per request" "$(wc -l <<<"$OUT" | tr -d ' ')" 7
check_json "ping" "$(line 1)" '[.id, .ok, .result.ok] | @csv' '1,true,true'
check_json "quote echoes id 2" "$(line 2)" '[.id, .ok] | @csv' '2,true'
check_eq "... its result is byte for byte the CLI's quote" \
  "$(line 2 | jq -c .result)" "$(jq -c . <<<"$cli_quote")"
check_json "commit echoes the string id" "$(line 3)" '[.id, .ok, .result.order_id] | @csv' '"c-3",true,"S-1"'
check_eq "... a retry gives the same receipt" "$(line 4 | jq -c .result)" "$(line 3 | jq -c .result)"
check_json "refund of one unit" "$(line 5)" '[.id, .ok, .result.order_id, .result.lines[0].sku] | @csv' '5,true,"S-1","HP-07"'
check_json "balance" "$(line 6)" '.result | keys_unsorted | @csv' \
  '"customer","program","points","spendable","pending","tier","qualifying_cents"'
check_eq "... the same as the CLI's" "$(line 6 | jq -c .result)" "$(patron --now $NOW balance C1)"
check_json "balance in another program" "$(line 7)" '[.ok, .result.program] | @csv' 'true,"coffee-club"'

# --- points and events --------------------------------------------------------------
serve '{"id":1,"op":"adjust","customer":"C1","points":100,"reason":"goodwill"}' \
  '{"id":2,"op":"adjust","customer":"C1","points":-999999,"reason":"too much"}' \
  '{"id":3,"op":"ledger","customer":"C1"}' \
  '{"id":4,"op":"tick","now":"2026-12-20T03:00:00Z"}' \
  '{"id":5,"op":"events.pull","type":"points_expiring","limit":2}' \
  '{"id":6,"op":"events.pull","limit":1000}'
check_json "adjust +100" "$(line 1)" '[.ok, .result.kind, .result.points] | @csv' 'true,"adjust",100'
check_json "adjust beyond the balance: insufficient_points" "$(line 2)" \
  '[.id, .ok, .error.code] | @csv' '2,false,"insufficient_points"'
check_json "ledger ends with the adjustment" "$(line 3)" '.result[-1] | [.kind, .points] | @csv' '"adjust",100'
check_eq "... the same as the CLI's" "$(line 3 | jq -c .result)" "$(patron ledger C1 --format json)"
check_json "tick at a given time" "$(line 4)" '[.ok, .result.now, (.result.expiring_notices > 0)] | @csv' \
  'true,"2026-12-20T03:00:00Z",true'
check_json "events.pull with type and limit" "$(line 5)" \
  '[.ok, (.result | length), .result[0].type] | @csv' 'true,2,"points_expiring"'
ids=$(line 6 | jq -c '[.result[].id]')
n=$(jq length <<<"$ids")
serve "{\"id\":1,\"op\":\"events.ack\",\"ids\":$ids}" '{"id":2,"op":"events.pull"}' \
  '{"id":3,"op":"events.ack","ids":[999999]}' '{"id":4,"op":"events.ack","ids":["x"]}'
check_json "events.ack of every pending event" "$(line 1)" '.result.acked' "$n"
check_json "... then nothing is pending" "$(line 2)" '.result | length' 0
check_json "events.ack of an unknown id: not_found" "$(line 3)" '.error.code' not_found
check_json "events.ack of a string id: invalid_input at ids[0]" "$(line 4)" \
  '[.error.code, .error.path] | @csv' '"invalid_input","ids[0]"'

# --- bad requests: an error line each, and the next line is still answered ----
big=$(jq -cn '{customer:"C1", lines:[range(10000) | {sku:"MP3-01", qty:1, unit_cents:4999}]}')
serve 'this is not json' \
  '[1,2,3]' \
  '{"op":"ping"}' \
  '{"id":{"a":1},"op":"ping"}' \
  '{"id":5,"op":"launch_rockets"}' \
  '{"id":6}' \
  '{"id":7,"op":"balance"}' \
  '{"id":8,"op":"adjust","customer":"C1","points":"ten","reason":"x"}' \
  "{\"id\":9,\"op\":\"quote\",\"cart\":$big}" \
  '{"id":10,"op":"quote"}' \
  '{"id":11,"op":"quote","cart":{"customer":"C1","lines":[{"sku":"MP3-01","qty":-1,"unit_cents":1}]}}' \
  '' \
  '{"id":12,"op":"ping"}'
check_eq "a session of bad requests: exit 0" "$STATUS" 0
check_eq "... one response per non-blank line" "$(wc -l <<<"$OUT" | tr -d ' ')" 12
check_json "bad JSON: invalid_json with id null" "$(line 1)" '[.id, .ok, .error.code] | @csv' ',false,"invalid_json"'
check_json "a JSON array: invalid_input" "$(line 2)" '[.id, .error.code] | @csv' ',"invalid_input"'
check_json "missing id: invalid_input at id, id null" "$(line 3)" '[.id, .error.code, .error.path] | @csv' \
  ',"invalid_input","id"'
check_json "an object id: refused, id null" "$(line 4)" '[.id, .error.path] | @csv' ',"id"'
check_json "unknown op: invalid_input at op, with the id" "$(line 5)" '[.id, .error.code, .error.path] | @csv' \
  '5,"invalid_input","op"'
check_json "missing op" "$(line 6)" '[.id, .error.path] | @csv' '6,"op"'
check_json "balance without customer: invalid_input at customer" "$(line 7)" \
  '[.id, .error.code, .error.path] | @csv' '7,"invalid_input","customer"'
check_json "points as a string: invalid_input at points" "$(line 8)" '[.error.path, .error.message] | @csv' \
  '"points","points must be an integer, got a string"'
check_json "a 10,000-line cart: refused as invalid_cart" "$(line 9)" '[.id, .error.code, .error.path] | @csv' \
  '9,"invalid_cart","lines"'
check_json "quote without a cart: invalid_input at cart" "$(line 10)" '[.id, .error.path] | @csv' '10,"cart"'
check_json "a negative qty: invalid_cart at lines[0].qty" "$(line 11)" '[.error.code, .error.path] | @csv' \
  '"invalid_cart","lines[0].qty"'
check_json "... and the process still answers" "$(line 12)" '[.id, .ok] | @csv' '12,true'

head -c 3000 /dev/zero | tr '\0' x >long.txt
{ printf '{"id":1,"op":"ping","pad":"'; cat long.txt; printf '"}\n{"id":2,"op":"ping"}\n'; } >in.jsonl
run patron serve --stdio --max-body 1000 <in.jsonl
check_json "a line over --max-body: too_large, id null" "$(line 1)" '[.id, .error.code] | @csv' ',"too_large"'
check_json "... the next line is answered" "$(line 2)" '[.id, .ok] | @csv' '2,true'
printf '{"id":1,"op":"ping"}' >in.jsonl
run patron serve --stdio <in.jsonl
check_json "a last line without a newline is answered" "$OUT" .id 1
run patron serve --stdio </dev/null
check_eq "empty input: no output, exit 0" "$STATUS:$OUT" "0:"

# --- lifecycle ---------------------------------------------------------------------
mkfifo fifo
"$PATRON" serve --stdio <fifo >fifo.out 2>fifo.err &
pid=$!
exec 7>fifo
echo '{"id":1,"op":"ping"}' >&7
for _ in $(seq 50); do [ -s fifo.out ] && break; sleep 0.1; done
check_json "a co-process gets each response as soon as it is written (flushed)" "$(cat fifo.out)" .id 1
kill -TERM "$pid"
wait "$pid"
st=$?
exec 7>&-
check_eq "SIGTERM while waiting for a request: exit 0" "$st" 0
check_exit "unknown option: usage error" 2 patron serve --stdio --bogus
check_exit "neither --stdio nor --http: usage error" 2 patron serve
check_exit "no database: exit 1" 1 patron --db "$T_DIR/none.db" serve --stdio
check_json "... not_found" "$OUT" .error.code not_found

# --- subscriptions and reports -----------------------------------------------------------
# while the library's stubs answer "internal" ("not implemented yet")
not_impl() { jq -e '.ok == false and .error.code == "internal"' >/dev/null <<<"$1"; }
serve '{"id":1,"op":"plans"}' '{"id":2,"op":"sub.create","customer":"C4","plan":"pro-monthly","trial":true}' \
  '{"id":3,"op":"sub.create","customer":"C3","plan":"pro-annual"}'
if not_impl "$(line 1)" || not_impl "$(line 2)"; then
  for t in plans sub.create sub.show sub.change sub.upgrade sub.convert sub.cancel \
    sub.charge_result sub.payment_method; do
    pass "$t # SKIP subscriptions are not implemented in the library yet"
  done
else
  check_json "plans lists both plans" "$(line 1)" '[.ok, ([.. | strings | select(. == "pro-monthly" or . == "pro-annual")] | unique | length)] | @csv' 'true,2'
  check_json "sub.create with a trial" "$(line 2)" '.ok' true
  check_match "... returns a subscription id" "$(line 2 | jq -r '.result.id')" '^sub_'
  check_json "sub.create on the annual plan" "$(line 3)" '.ok' true
  sub=$(line 3 | jq -r '.result.id')
  attempt=$(line 3 | jq -r '.result.open_attempt // empty')
  # the first charge is answered, then annual -> monthly (more per year): a
  # temporary upgrade, made permanent, then changed back at the period's end
  serve "{\"id\":1,\"op\":\"sub.charge_result\",\"attempt\":\"$attempt\",\"ok\":true}"
  check_json "sub.charge_result of the first charge" "$OUT" '[.id, .ok] | @csv' '1,true'
  serve "{\"id\":1,\"op\":\"sub.show\",\"sub\":\"$sub\"}" \
    "{\"id\":2,\"op\":\"sub.upgrade\",\"sub\":\"$sub\",\"plan\":\"pro-monthly\",\"days\":14}" \
    "{\"id\":3,\"op\":\"sub.convert\",\"sub\":\"$sub\"}" \
    "{\"id\":4,\"op\":\"sub.change\",\"sub\":\"$sub\",\"plan\":\"pro-annual\"}" \
    "{\"id\":5,\"op\":\"sub.payment_method\",\"sub\":\"$sub\",\"token\":\"tok_test_1\",\"brand\":\"visa\",\"last4\":\"4242\",\"exp_year\":2030,\"exp_month\":12}" \
    "{\"id\":6,\"op\":\"sub.cancel\",\"sub\":\"$sub\",\"at_period_end\":true}" \
    '{"id":7,"op":"sub.charge_result","attempt":"nope","ok":true}' \
    '{"id":8,"op":"sub.show","sub":"C3"}'
  check_json "sub.show" "$(line 1)" '[.ok, .result.id] | @csv' "true,\"$sub\""
  check_json "sub.upgrade for 14 days" "$(line 2)" '.ok' true
  check_json "sub.convert" "$(line 3)" '.ok' true
  check_json "sub.change" "$(line 4)" '.ok' true
  check_json "sub.payment_method" "$(line 5)" '.ok' true
  check_json "sub.cancel at period end" "$(line 6)" '.ok' true
  check_json "sub.charge_result of an unknown attempt: not_found" "$(line 7)" '.error.code' not_found
  check_json "sub.show of a customer id lists its subscriptions" "$(line 8)" '.ok' true
fi
serve '{"id":1,"op":"report","name":"redemption","program":"default","from":"2026-01-01","to":"2027-01-01","by":"month"}' \
  '{"id":2,"op":"report","name":"repeat"}' '{"id":3,"op":"report"}' \
  '{"id":4,"op":"report","name":"redemption","from":"soon"}'
if not_impl "$(line 1)"; then
  pass "report # SKIP reports are not implemented in the library yet"
  pass "report repeat # SKIP reports are not implemented in the library yet"
else
  check_json "report redemption by month, with the period and program asked for" "$(line 1)" \
    '[.ok, .result.report, .result.program, .result.from, .result.by] | @csv' \
    'true,"redemption","default","2026-01-01T00:00:00Z","month"'
  check_json "report repeat" "$(line 2)" '[.ok, .result.report] | @csv' 'true,"repeat"'
fi
check_json "report without a name: invalid_input at name" "$(line 3)" '[.error.code, .error.path] | @csv' \
  '"invalid_input","name"'
check_json "report with a bad time: invalid_input at from" "$(line 4)" '.error.path' from
serve '{"id":1,"op":"report","name":"nope"}'
check_json "an unknown report: invalid_input" "$OUT" '.error.code' invalid_input

done_testing
