#!/usr/bin/env bash
# serve_http.sh -- `patron serve --http` on the demo shop, with curl, all on
# 127.0.0.1 (each server on a free port: port 0, read back from its
# "listening on" line; every server is killed on exit). Every route; the
# status code of each error class with the error object as body; 413 for
# an oversize body (declared and chunked), 431 for oversize headers; 401
# for a missing or wrong token (same and other length) while /healthz
# stays open; 404 unknown route; 405 wrong method with Allow; 503 while
# another process holds the write lock; 8 concurrent commits of one order
# id give one order and 8 identical bodies; kill -9 during a stream of
# commits loses no commit that got a 200 and `patron verify` stays ok;
# SIGTERM finishes the request in flight and exits 0; a client stalling in
# its headers neither blocks others nor outlives --timeout.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }

T0=2026-01-15T10:00:00Z
NOW=2026-03-02T12:00:00Z
patron init >/dev/null
patron apply "$SHOP/shop.lua" >/dev/null
patron catalog import "$SHOP/catalog.csv" >/dev/null
patron --now $T0 customers import "$SHOP/customers.csv" >/dev/null

SERVERS=()
stop_servers() {
  local p
  for p in "${SERVERS[@]}"; do kill -9 "$p" 2>/dev/null; done
}
trap 'stop_servers; rm -rf "$T_DIR"' EXIT

# start_server LOG ARGS...: starts `patron serve --http 127.0.0.1:0 ARGS`
# with stderr in LOG; sets SRV_PID and URL once it listens.
start_server() {
  local log=$1
  shift
  : >"$log"
  "$PATRON" --now $NOW serve --http 127.0.0.1:0 "$@" 2>>"$log" &
  SRV_PID=$!
  SERVERS+=("$SRV_PID")
  for _ in $(seq 200); do
    grep -q 'listening on' "$log" && break
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.05
  done
  local port
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
  URL=http://127.0.0.1:${port:-1}
}

# req METHOD PATH [BODY [CURL ARGS...]]: sets CODE, BODY and HEADERS.
req() {
  local method=$1 path=$2
  shift 2
  local data=()
  if [ $# -gt 0 ]; then data=(--data-binary "$1"); shift; fi
  CODE=$(curl -s --noproxy '*' --max-time 20 -X "$method" -o body.out -D headers.out \
    -w '%{http_code}' -H 'Content-Type: application/json' "${data[@]}" "$@" "$URL$path")
  BODY=$(cat body.out 2>/dev/null)
  HEADERS=$(tr -d '\r' <headers.out 2>/dev/null)
}

# check_req DESC WANT_CODE METHOD PATH [BODY [CURL ARGS...]]
check_req() {
  local desc=$1 want=$2
  shift 2
  req "$@"
  if [ "$CODE" = "$want" ]; then pass "$desc"; else fail "$desc" "status $CODE, want $want" "body: ${BODY:0:400}"; fi
}

cart() { # cart ORDER_ID [QTY]
  printf '{"customer":"C1","order_id":"%s","lines":[{"sku":"MP3-01","qty":%s,"unit_cents":4999},{"sku":"HP-07","qty":1,"unit_cents":3999}]}' "$1" "${2:-1}"
}

start_server srv.log --threads 4 --timeout 2 --access-log --busy-timeout 300
check_match "the server says where it listens" "$(cat srv.log)" 'listening on http://127\.0\.0\.1:[0-9]+ \(4 threads, timeout 2s\)'

# --- every route -------------------------------------------------------------------
check_req "GET /healthz" 200 GET /healthz
check_json "... ok and the version" "$BODY" '.ok' true
check_match "... as JSON" "$HEADERS" '^Content-Type: application/json$'
check_req "POST /v1/quote" 200 POST /v1/quote "$(cart Q-1)"
check_eq "... the body is the CLI's quote, byte for byte" "$BODY" "$(cart Q-1 | patron --now $NOW quote)"
check_req "POST /v1/commit" 200 POST /v1/commit "$(cart H-1)"
check_json "... a receipt" "$BODY" '[.order_id, .total_cents, (.entries | length)] | @csv' '"H-1",7650,1'
first=$BODY
check_req "POST /v1/commit again (a retry)" 200 POST /v1/commit "$(cart H-1)"
check_eq "... the same bytes" "$BODY" "$first"
check_req "POST /v1/refund" 200 POST /v1/refund '{"order_id":"H-1","lines":[{"sku":"HP-07","qty":1}]}'
check_json "... one unit of HP-07" "$BODY" '[.order_id, .lines[0].sku, .lines[0].qty] | @csv' '"H-1","HP-07",1'
check_req "GET /v1/customers/C1/balance" 200 GET /v1/customers/C1/balance
check_eq "... the CLI's balance" "$BODY" "$(patron --now $NOW balance C1)"
check_req "GET /v1/customers/C3/balance?program=coffee-club" 200 GET '/v1/customers/C3/balance?program=coffee-club'
check_json "... in that program" "$BODY" .program coffee-club
check_req "POST /v1/customers/C1/adjust" 200 POST /v1/customers/C1/adjust '{"points":100,"reason":"goodwill"}'
check_json "... an adjust entry for C1" "$BODY" '[.customer, .kind, .points] | @csv' '"C1","adjust",100'
check_req "GET /v1/customers/C1/ledger" 200 GET /v1/customers/C1/ledger
check_eq "... the CLI's ledger" "$BODY" "$(patron ledger C1 --format json)"
check_req "POST /v1/tick" 200 POST /v1/tick '{"now":"2026-12-20T03:00:00Z"}'
check_json "... at that time, with notices" "$BODY" '[.now, (.expiring_notices > 0)] | @csv' '"2026-12-20T03:00:00Z",true'
check_req "POST /v1/tick without a body: at the server's clock" 200 POST /v1/tick
check_json "... which is --now" "$BODY" .now $NOW
check_req "GET /v1/events?limit=2&type=points_expiring" 200 GET '/v1/events?limit=2&type=points_expiring'
check_json "... two notices" "$BODY" '[length, .[0].type] | @csv' '2,"points_expiring"'
ids=$(jq -c '{ids: [.[].id]}' <<<"$BODY")
check_req "POST /v1/events/ack" 200 POST /v1/events/ack "$ids"
check_json "... acked 2" "$BODY" .acked 2

# subscriptions and reports: the routes exist; their results once implemented
req GET /v1/plans
if [ "$CODE" = 500 ] && [ "$(jq -r .error.code <<<"$BODY")" = internal ]; then
  for r in "GET /v1/plans" "POST /v1/subscriptions" "GET /v1/subscriptions/{sub}" \
    "POST /v1/subscriptions/{sub}/upgrade" "POST /v1/subscriptions/{sub}/convert" \
    "POST /v1/subscriptions/{sub}/change" "POST /v1/subscriptions/{sub}/cancel" \
    "POST /v1/subscriptions/{sub}/payment_method" "POST /v1/charges/{attempt}/result" \
    "an unknown subscription: 404" "an unknown attempt: 404"; do
    pass "$r # SKIP subscriptions are not implemented in the library yet"
  done
  check_req "POST /v1/subscriptions is routed (not 404) while unimplemented" 500 POST /v1/subscriptions \
    '{"customer":"C4","plan":"pro-monthly"}'
else
  check_eq "GET /v1/plans" "$CODE" 200
  check_req "POST /v1/subscriptions" 200 POST /v1/subscriptions '{"customer":"C4","plan":"pro-monthly","trial":true}'
  check_match "... a subscription id" "$(jq -r .id <<<"$BODY")" '^sub_'
  check_req "POST /v1/subscriptions on the annual plan" 200 POST /v1/subscriptions '{"customer":"C3","plan":"pro-annual"}'
  sub=$(jq -r .id <<<"$BODY")
  attempt=$(jq -r '.open_attempt // empty' <<<"$BODY")
  check_req "POST /v1/charges/{attempt}/result" 200 POST "/v1/charges/$attempt/result" '{"ok":true}'
  check_req "GET /v1/subscriptions/{sub}" 200 GET "/v1/subscriptions/$sub"
  check_json "... that subscription" "$BODY" .id "$sub"
  check_req "POST /v1/subscriptions/{sub}/upgrade" 200 POST "/v1/subscriptions/$sub/upgrade" '{"plan":"pro-monthly","days":14}'
  check_req "POST /v1/subscriptions/{sub}/convert" 200 POST "/v1/subscriptions/$sub/convert"
  check_req "POST /v1/subscriptions/{sub}/change" 200 POST "/v1/subscriptions/$sub/change" '{"plan":"pro-annual"}'
  check_req "POST /v1/subscriptions/{sub}/payment_method" 200 POST "/v1/subscriptions/$sub/payment_method" \
    '{"token":"tok_test_1","brand":"visa","last4":"4242","exp_year":2030,"exp_month":12}'
  check_req "POST /v1/subscriptions/{sub}/cancel" 200 POST "/v1/subscriptions/$sub/cancel" '{"at_period_end":true}'
  check_req "an unknown subscription: 404" 404 GET /v1/subscriptions/sub_nope
  check_req "an unknown attempt: 404" 404 POST /v1/charges/nope/result '{"ok":true}'
fi
req GET '/v1/reports/redemption?program=default&from=2026-01-01&to=2027-01-01&by=month'
if [ "$CODE" = 500 ] && [ "$(jq -r .error.code <<<"$BODY")" = internal ]; then
  pass "GET /v1/reports/redemption # SKIP reports are not implemented in the library yet"
else
  check_eq "GET /v1/reports/redemption?program=&from=&to=&by=" "$CODE" 200
  check_json "... the report asked for" "$BODY" '[.report, .program, .from, .to, .by] | @csv' \
    '"redemption","default","2026-01-01T00:00:00Z","2027-01-01T00:00:00Z","month"'
  check_req "an unknown report: 400" 400 GET /v1/reports/nope
fi
check_req "GET /v1/reports/x?from=soon: 400 before the report runs" 400 GET '/v1/reports/x?from=soon'
check_json "... invalid_input at from" "$BODY" '[.error.code, .error.path] | @csv' '"invalid_input","from"'

# --- status codes by error class ----------------------------------------------------------
check_req "malformed JSON: 400" 400 POST /v1/quote '{"customer":'
check_json "... invalid_json in the error object" "$BODY" '.error | [.code, (.message | length > 0)] | @csv' '"invalid_json",true'
check_req "a negative qty: 400" 400 POST /v1/quote '{"customer":"C1","lines":[{"sku":"MP3-01","qty":-1,"unit_cents":1}]}'
check_json "... invalid_cart with its path" "$BODY" '.error | [.code, .path] | @csv' '"invalid_cart","lines[0].qty"'
check_req "adjust without a reason: 400" 400 POST /v1/customers/C1/adjust '{"points":5}'
check_json "... invalid_input at reason" "$BODY" '.error | [.code, .path] | @csv' '"invalid_input","reason"'
check_req "a body that is not an object: 400" 400 POST /v1/events/ack '[1,2]'
check_json "... invalid_input" "$BODY" .error.code invalid_input
check_req "?limit=lots: 400" 400 GET '/v1/events?limit=lots'
check_req "an unknown customer: 404" 404 GET /v1/customers/NOBODY/balance
check_json "... unknown_customer" "$BODY" .error.code unknown_customer
check_req "refund of an unknown order: 404" 404 POST /v1/refund '{"order_id":"NOPE"}'
check_json "... not_found" "$BODY" .error.code not_found
check_req "an unknown route: 404" 404 GET /v1/nothing/here
check_json "... not_found naming the route" "$BODY" '.error | [.code, .message] | @csv' '"not_found","no route GET /v1/nothing/here"'
check_req "a trailing slash is another route: 404" 404 GET /v1/plans/
check_req "the same order id with another cart: 409" 409 POST /v1/commit "$(cart H-1 2)"
check_json "... conflict" "$BODY" .error.code conflict
check_req "a stale expected total: 409" 409 POST /v1/commit \
  '{"customer":"C1","order_id":"H-2","expect_total_cents":1,"lines":[{"sku":"MP3-01","qty":1,"unit_cents":4999}]}'
check_json "... stale_quote" "$BODY" .error.code stale_quote
check_req "adjust beyond the balance: 422" 422 POST /v1/customers/C1/adjust '{"points":-999999,"reason":"x"}'
check_json "... insufficient_points" "$BODY" .error.code insufficient_points
check_req "an unknown program: 422" 422 GET '/v1/customers/C1/balance?program=nope'
check_json "... unknown_program" "$BODY" .error.code unknown_program
check_req "DELETE /v1/quote: 405" 405 DELETE /v1/quote
check_match "... with Allow: POST" "$HEADERS" '^Allow: POST$'
check_json "... method_not_allowed" "$BODY" .error.code method_not_allowed
check_req "POST on a GET route: 405" 405 POST /v1/customers/C1/balance '{}'
check_match "... with Allow: GET, HEAD" "$HEADERS" '^Allow: GET, HEAD$'

head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >big.json
check_req "a body of 1 MiB + 1 byte: 413" 413 POST /v1/quote @big.json
check_json "... too_large" "$BODY" .error.code too_large
check_req "the same, chunked (no Content-Length): 413" 413 POST /v1/quote @big.json -H 'Transfer-Encoding: chunked'
head -c 20000 /dev/zero | tr '\0' a >hdr.txt
check_req "20 KB of headers: 431" 431 GET /healthz "" -H "X-Pad: $(cat hdr.txt)"
check_json "... headers_too_large" "$BODY" .error.code headers_too_large
check_req "... and the server goes on" 200 GET /healthz

# busy: another process holds the write lock longer than --busy-timeout
: >lock.flag
(printf 'BEGIN IMMEDIATE;\n'; while [ -e lock.flag ]; do sleep 0.1; done; printf 'COMMIT;\n') |
  sqlite3 "$db" &
locker=$!
for _ in $(seq 100); do # until the lock is taken
  sqlite3 "$db" 'PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK;' >/dev/null 2>&1 || break
  sleep 0.05
done
check_req "a commit while another process holds the write lock: 503" 503 POST /v1/commit "$(cart B-1)"
check_json "... busy" "$BODY" .error.code busy
check_req "... while quotes (reads) still work" 200 POST /v1/quote "$(cart B-1)"
rm -f lock.flag
wait $locker
check_req "... and the commit goes through once the lock is gone" 200 POST /v1/commit "$(cart B-1)"

# --- concurrency: 8 commits of one order at once ---------------------------------------------
pids=()
for i in 1 2 3 4 5 6 7 8; do
  curl -s --noproxy '*' --max-time 20 -o "par$i.out" -w '%{http_code}\n' \
    --data-binary "$(cart P-1)" "$URL/v1/commit" >"par$i.code" &
  pids+=($!)
done
wait "${pids[@]}"
check_eq "8 concurrent commits of one order id: all 200" "$(cat par?.code | sort -u)" 200
check_eq "... 8 byte-identical bodies" "$(md5sum par?.out | awk '{print $1}' | sort -u | wc -l | tr -d ' ')" 1
check_json "... a receipt of P-1" "$(cat par1.out)" .order_id P-1
check_eq "... exactly one order row" "$(sqlite3 "$db" "SELECT count(*) FROM orders WHERE order_id = 'P-1'")" 1
check_eq "... earning once" "$(sqlite3 "$db" "SELECT count(*) FROM ledger WHERE order_ref = 'P-1'")" 1

# --- a slow client ------------------------------------------------------------------------
port=${URL##*:}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'POST /v1/commit HTTP/1.1\r\nHost: x\r\n' >&3 # ... and then nothing
t0=$(date +%s%N)
check_req "while a client stalls in its headers, others are served" 200 GET /healthz
ms=$((($(date +%s%N) - t0) / 1000000))
check_match "... at once (${ms} ms)" "$ms" '^[0-9]{1,3}$'
timeout 10 cat <&3 >/dev/null
st=$?
secs=$((($(date +%s%N) - t0) / 1000000000))
exec 3<&-
check_eq "the stalled connection is closed by the server (not by timeout(1))" "$st" 0
check_match "... after about --timeout 2 (${secs}s)" "$secs" '^[1-5]$'
check_match "the access log has one line per request: method path status microseconds" \
  "$(cat srv.log)" '^POST /v1/commit 200 [0-9]+us$'
check_match "... including the errors" "$(cat srv.log)" '^DELETE /v1/quote 405 [0-9]+us$'

# --- SIGTERM drains the request in flight ---------------------------------------------------------
body=$(cart T-1)
exec 4<>"/dev/tcp/127.0.0.1/$port"
printf 'POST /v1/commit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
  "${#body}" "${body:0:20}" >&4
sleep 1 # the headers are in: the request is in flight
kill -TERM "$SRV_PID"
sleep 0.5
code=$(curl -s --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' "$URL/healthz")
check_eq "after SIGTERM new connections are refused" "$code" 000
printf '%s' "${body:20}" >&4
resp=$(timeout 10 cat <&4 | tr -d '\r')
exec 4<&-
check_match "... while the request in flight gets its answer" "$(head -1 <<<"$resp")" '^HTTP/1\.1 200'
check_match "... with Connection: close" "$resp" '^Connection: close$'
check_json "... its receipt" "$(tail -1 <<<"$resp")" .order_id T-1
wait "$SRV_PID"
check_eq "... and the server exits 0" "$?" 0
check_match "... saying it drained" "$(cat srv.log)" 'SIGTERM: draining 1 request'
check_eq "the drained order is recorded" "$(sqlite3 "$db" "SELECT count(*) FROM orders WHERE order_id = 'T-1'")" 1

# --- the default number of workers: one per online CPU, at least 2 ---------------------------------
want=$(getconf _NPROCESSORS_ONLN)
[ "$want" -lt 2 ] && want=2
[ "$want" -gt 64 ] && want=64
start_server srv3.log
check_match "without --threads: a worker per CPU, at least 2" "$(cat srv3.log)" "\\($want threads, "
kill -TERM "$SRV_PID"
wait "$SRV_PID"

# --- kill -9 during a stream of commits --------------------------------------------------------------
start_server srv2.log --threads 2
: >committed.txt
(
  for i in $(seq 1 2000); do
    code=$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' \
      --data-binary "$(cart K-$i)" "$URL/v1/commit") || break
    [ "$code" = 200 ] || break
    echo "K-$i" >>committed.txt
  done
) &
streamer=$!
for _ in $(seq 200); do # until a few commits went through
  [ "$(wc -l <committed.txt)" -ge 5 ] && break
  sleep 0.05
done
{ kill -9 "$SRV_PID"; wait "$SRV_PID"; } 2>/dev/null
wait "$streamer"
n=$(wc -l <committed.txt | tr -d ' ')
check_match "kill -9 in the middle of a stream of commits ($n got a 200)" "$n" '^[1-9][0-9]*$'
check_eq "... before the stream ended" "$([ "$n" -lt 2000 ] && echo yes)" yes
present=$(sqlite3 "$db" "SELECT count(*) FROM orders WHERE order_id IN ($(sed "s/.*/'&'/" committed.txt | paste -sd,))")
check_eq "... every commit that got a 200 is in the database" "$present" "$n"
check_exit "... patron verify is ok" 0 patron verify
check_json "... no mismatch" "$OUT" '[.ok, .mismatches] | @csv' 'true,0'
check_eq "... integrity_check ok" "$(sqlite3 "$db" 'PRAGMA integrity_check')" ok
check_eq "... each order has its ledger entry (none half-written)" \
  "$(sqlite3 "$db" "SELECT count(*) FROM orders o WHERE o.order_id LIKE 'K-%' AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.order_ref = o.order_id)")" 0
start_server srv3.log
next=K-$((n + 1))
check_req "after a restart the interrupted order can be retried" 200 POST /v1/commit "$(cart "$next")"
check_json "... and is committed once" "$BODY" .order_id "$next"
kill -TERM "$SRV_PID"
wait "$SRV_PID"
check_eq "SIGTERM of an idle server: exit 0" "$?" 0

# --- token ----------------------------------------------------------------------------------------------
export PATRON_TOKEN=s3cret-token-0123456789
start_server srv4.log
check_match "the server says a token is required" "$(cat srv4.log)" 'token required'
check_req "no Authorization header: 401" 401 GET /v1/customers/C1/balance
check_json "... unauthorized" "$BODY" .error.code unauthorized
check_match "... with WWW-Authenticate: Bearer" "$HEADERS" '^WWW-Authenticate: Bearer$'
check_req "a wrong token of the same length: 401" 401 GET /v1/customers/C1/balance "" \
  -H "Authorization: Bearer s3cret-token-0123456780"
check_req "a prefix of the token: 401" 401 GET /v1/customers/C1/balance "" -H "Authorization: Bearer s3cret"
check_req "the token plus a byte: 401" 401 GET /v1/customers/C1/balance "" -H "Authorization: Bearer ${PATRON_TOKEN}x"
check_req "another scheme: 401" 401 GET /v1/customers/C1/balance "" -H "Authorization: Basic $PATRON_TOKEN"
check_req "a POST with a body and no token: 401" 401 POST /v1/commit "$(cart X-1)"
check_eq "... writes nothing" "$(sqlite3 "$db" "SELECT count(*) FROM orders WHERE order_id = 'X-1'")" 0
check_req "the right token: 200" 200 GET /v1/customers/C1/balance "" -H "Authorization: Bearer $PATRON_TOKEN"
check_req "/healthz needs no token" 200 GET /healthz
kill -TERM "$SRV_PID"
wait "$SRV_PID"
unset PATRON_TOKEN
printf 'file-token-abcdefghijklmnop\n' >token.txt
chmod 644 token.txt
start_server srv5.log --token-file token.txt
check_match "a token file others can read gets a warning" "$(cat srv5.log)" 'warning: --token-file token.txt can be read by other users'
check_req "--token-file: the file's token (newline dropped) is accepted" 200 GET /v1/customers/C2/balance "" \
  -H "Authorization: Bearer file-token-abcdefghijklmnop"
req GET /v1/events
check_eq "... and required" "$CODE" 401
kill -TERM "$SRV_PID"
wait "$SRV_PID"
printf 'short\n' >short.txt
check_exit "a token under 16 characters is refused at start: usage error" 2 \
  patron serve --http 127.0.0.1:0 --token-file short.txt

# --- addresses ---------------------------------------------------------------------------------------------
check_exit "a malformed address: usage error" 2 patron serve --http 127.0.0.1
check_exit "a port out of range: usage error" 2 patron serve --http 127.0.0.1:70000
run timeout 5 "$PATRON" serve --http 192.0.2.1:0
check_match "a non-loopback address prints a warning" "$ERR" 'warning: 192\.0\.2\.1:0 is not a loopback address'
check_eq "... (and this one cannot be bound here: exit 3)" "$STATUS" 3

done_testing
