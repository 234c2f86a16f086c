#!/usr/bin/env bash
# clients.sh -- the example HTTP clients (examples/clients/) against a real
# `patron serve --http` on a free loopback port: each runs a checkout
# (quote, commit with expect_total_cents, balance) and the test checks
# their output against the database; a client whose interpreter is missing
# is skipped. The server is stopped with SIGTERM (exit 0) and killed on any
# early exit.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }
CLIENTS=$PATRON_ROOT/examples/clients
NOW=2026-03-02T12:00:00Z

patron init >/dev/null
patron apply "$SHOP/shop.lua" >/dev/null
patron catalog import "$SHOP/catalog.csv" >/dev/null
patron --now 2026-01-15T10:00:00Z customers import "$SHOP/customers.csv" >/dev/null

export PATRON_TOKEN=clients-test-token-0123456789
: >srv.log
"$PATRON" --now $NOW serve --http 127.0.0.1:0 2>>srv.log &
srv=$!
trap 'kill -9 $srv 2>/dev/null; rm -rf "$T_DIR"' EXIT
for _ in $(seq 200); do grep -q 'listening on' srv.log && break; sleep 0.05; done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' srv.log)
check_match "the server listens on a loopback port" "$port" '^[0-9]+$'
url=http://127.0.0.1:$port

orders() { sqlite3 "$db" "SELECT count(*) FROM orders WHERE order_id = '$1'"; }

# --- Node.js --------------------------------------------------------------------
if ! command -v node >/dev/null; then
  pass "node client # SKIP no node"
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
  pass "node client # SKIP node $(node --version) has no global fetch (18+)"
else
  want=$(patron --now $NOW quote <<<'{"customer":"C1","lines":[{"sku":"MP3-01","qty":1,"unit_cents":4999},{"sku":"HP-07","qty":1,"unit_cents":3999}]}' | jq .total_cents)
  check_exit "node_client.mjs runs a checkout" 0 node "$CLIENTS/node_client.mjs" "$url" NODE-1 C1
  check_match "... prints the quoted total" "$OUT" "^quote: total $((want / 100))\.$(printf %02d $((want % 100))) EUR, earns [0-9]+ points$"
  check_match "... the bundle discount" "$OUT" '^  bundle:mp3-kit: -[0-9]+\.[0-9]{2}$'
  check_match "... the commit" "$OUT" '^commit: order NODE-1 recorded, total [0-9.]+, balance after [0-9]+$'
  bal=$(patron --now $NOW balance C1 | jq -r '"\(.points) points (\(.spendable) spendable), tier \(.tier)"')
  check_eq "... and the balance the database has" "$(grep '^balance:' <<<"$OUT")" "balance: C1 has $bal"
  check_eq "... one order recorded" "$(orders NODE-1)" 1
  check_exit "a rerun with the same order id (a retry)" 0 node "$CLIENTS/node_client.mjs" "$url" NODE-1 C1
  check_eq "... still one order" "$(orders NODE-1)" 1
  PATRON_TOKEN=wrong-token-wrong-token run node "$CLIENTS/node_client.mjs" "$url" NODE-2 C1
  check_eq "a wrong token: exit 1" "$STATUS" 1
  check_match "... with the error code" "$ERR" 'HTTP 401 unauthorized'
  check_eq "... nothing recorded" "$(orders NODE-2)" 0
fi

# --- Python ------------------------------------------------------------------------
if ! command -v python3 >/dev/null; then
  pass "python client # SKIP no python3"
else
  check_exit "python_client.py runs a checkout" 0 python3 "$CLIENTS/python_client.py" "$url" PY-1 C2
  check_match "... prints the quoted total" "$OUT" '^quote: total [0-9]+\.[0-9]{2} EUR, earns [0-9]+ points$'
  check_match "... the free-shipping nudge" "$OUT" '^  add [0-9]+\.[0-9]{2} more for free shipping$'
  check_match "... the commit" "$OUT" '^commit: order PY-1 recorded, total [0-9.]+, balance after [0-9]+$'
  bal=$(patron --now $NOW balance C2 | jq -r '"\(.points) points (\(.spendable) spendable), tier \(.tier)"')
  check_eq "... and the balance the database has" "$(grep '^balance:' <<<"$OUT")" "balance: C2 has $bal"
  check_eq "... one order recorded" "$(orders PY-1)" 1
  PATRON_TOKEN=wrong-token-wrong-token run python3 "$CLIENTS/python_client.py" "$url" PY-2 C2
  check_eq "a wrong token: exit 1" "$STATUS" 1
  check_match "... HTTP 401" "$ERR" 'HTTP 401 unauthorized'
fi

kill -TERM $srv
wait $srv
check_eq "the server stops on SIGTERM with status 0" "$?" 0
check_exit "patron verify after the clients" 0 patron verify

done_testing
