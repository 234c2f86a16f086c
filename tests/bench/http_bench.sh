#!/bin/sh
# tests/bench/http_bench.sh BUILD -- latency of `patron serve --http` under
# load: builds tests/bench/httpload.c into BUILD/bench/, sets up the demo
# shop (examples/shop: shop.lua, catalog, customers) in a temporary folder,
# starts BUILD/patron serve --http on a free 127.0.0.1 port, and has
# httpload POST a 10-line cart to /v1/quote over 8 keep-alive connections
# for BENCH_HTTP_SECONDS (10), twice: with the demo shop as it is, then with
# four of the repository's plugins added. Prints requests/s and
# p50/p90/p99/p99.9/max latency against the target (p99 under 2 ms) for
# each, and the machine with its load average before and after (load
# generator, server and anything else running share the cores: on a small
# or busy machine that is part of the figure). Reports, does not gate:
# exit 0 unless it cannot run (2).
#
# Environment: BENCH_HTTP_SECONDS=10 BENCH_HTTP_CONNS=8 BENCH_HTTP_THREADS
#              (server worker threads; default: the server's, one per CPU)
#              CC=cc BENCH_KEEP=1 (keep the folder)
set -u
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
P=$BUILD/patron
case $P in /*) ;; *) P=$PWD/$P ;; esac
SECS=${BENCH_HTTP_SECONDS:-10}
CONNS=${BENCH_HTTP_CONNS:-8}
THREADS=${BENCH_HTTP_THREADS:-}
CC=${CC:-cc}
SHOP=$ROOT/examples/shop

die() { printf 'http_bench: %s\n' "$*" >&2; exit 2; }
[ -x "$P" ] || die "$P not found: build it first (make BUILD=$BUILD all)"
"$P" help serve >/dev/null 2>&1 || die "$P has no serve command"
mkdir -p "$BUILD/bench" || die "cannot create $BUILD/bench"
$CC -std=c11 -O2 -Wall -Wextra -Werror -pthread -o "$BUILD/bench/httpload" "$HERE/httpload.c" ||
  die "cannot build httpload"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/patron-http-bench.XXXXXX") || die "mktemp failed"
SRV=
cleanup() {
  [ -n "$SRV" ] && kill -9 "$SRV" 2>/dev/null
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "(work folder kept: $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
DB=$WORK/shop.db
NOW=2026-03-02T12:00:00Z

"$P" --db "$DB" init >/dev/null &&
  "$P" --db "$DB" apply "$SHOP/shop.lua" >/dev/null &&
  "$P" --db "$DB" catalog import "$SHOP/catalog.csv" >/dev/null &&
  "$P" --db "$DB" --now 2026-01-15T10:00:00Z customers import "$SHOP/customers.csv" >/dev/null ||
  die "demo shop set-up failed"

# A 10-line cart: ten distinct skus of the demo catalog at their prices,
# with the mp3-kit bundle, for a customer with a balance and a tier.
cat >"$WORK/cart.json" <<'EOF'
{"program":"default","customer":"C2","currency":"EUR","lines":[
{"sku":"MP3-01","qty":1,"unit_cents":4999},{"sku":"HP-07","qty":1,"unit_cents":3999},
{"sku":"COF-01","qty":2,"unit_cents":1290},{"sku":"MUG-01","qty":1,"unit_cents":890},
{"sku":"COF-04","qty":1,"unit_cents":1490},{"sku":"MUG-03","qty":2,"unit_cents":1490},
{"sku":"BOOK-02","qty":1,"unit_cents":1990},{"sku":"HP-01","qty":1,"unit_cents":1499},
{"sku":"COF-07","qty":1,"unit_cents":1990},{"sku":"MUG-05","qty":1,"unit_cents":1190}],
"redeem_points":500,"shown_suggestions":[]}
EOF
tr -d '\n' <"$WORK/cart.json" >"$WORK/cart1.json"
"$P" --db "$DB" --now $NOW quote "$WORK/cart1.json" >"$WORK/quote.out" ||
  die "the bench cart does not quote: $(cat "$WORK/quote.out")"

: >"$WORK/srv.log"
"$P" --db "$DB" --now $NOW serve --http 127.0.0.1:0 ${THREADS:+--threads "$THREADS"} 2>>"$WORK/srv.log" &
SRV=$!
i=0
while ! grep -q 'listening on' "$WORK/srv.log" 2>/dev/null; do
  i=$((i + 1))
  [ $i -gt 200 ] && die "the server did not start: $(cat "$WORK/srv.log")"
  sleep 0.05
done
PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/srv.log")

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
plugins=$(grep -c '^[[:space:]]*plugin[[:space:]]' "$SHOP/shop.lua")
echo "patron http bench: POST /v1/quote, 10-line cart ($(wc -c <"$WORK/cart1.json" | tr -d ' ') bytes," \
  "total_cents $(sed -n 's/.*"total_cents":\([0-9]*\),"points_earned".*/\1/p' "$WORK/quote.out"))"
echo "  server: $P serve --http 127.0.0.1:$PORT ($(sed -n 's/.*(\([0-9]* threads\{0,1\}\).*/\1/p' "$WORK/srv.log")); load: $CONNS keep-alive connections, ${SECS}s"

# load LABEL: one timed run against the server's current configuration
load() {
  echo "$1"
  "$BUILD/bench/httpload" -a "127.0.0.1:$PORT" -p /v1/quote -f "$WORK/cart1.json" -c "$CONNS" \
    -d "$SECS" -w 1000 >"$WORK/load.out"
  st=$?
  sed -n '2,3p' "$WORK/load.out"
  p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' "$WORK/load.out")
  if [ -n "$p99" ]; then
    if [ "$p99" -lt 2000 ]; then verdict="met"; else verdict="MISSED"; fi
    echo "  target p99 < 2000 us: $verdict (p99 $p99 us)"
  fi
  [ $st -eq 0 ] || echo "  (httpload reported errors)"
}

load "1. the demo shop as it is (examples/shop/shop.lua, $plugins plugin declaration(s)$([ "$plugins" = 0 ] && echo ': bundles, tiers, free shipping, redemption'))"

# The same with the demo plugins the repository ships, as their headers'
# examples declare them (the server picks the new config version up).
{
  cat "$SHOP/shop.lua"
  # the demo shop may declare some of these already: add only the others
  grep -q 'plugins/cross_sell.lua' "$SHOP/shop.lua" ||
    echo 'plugin "plugins/cross_sell.lua" { pairs = { { "mp3", "headphones" }, { "coffee", "mugs" } }, max = 3 }'
  echo 'plugin "plugins/double_points.lua" { from = "2026-01-01", to = "2027-12-31", categories = { "coffee" } }'
  echo 'plugin "plugins/tier_bonus.lua" { tiers = { gold = 2000, silver = 1000 } }'
  grep -q 'plugins/free_shipping_nudge.lua' "$SHOP/shop.lua" ||
    echo 'plugin "plugins/free_shipping_nudge.lua" { max = 3, categories = { "mugs" } }'
} >"$WORK/shop_plugins.lua"
if "$P" --db "$DB" apply "$WORK/shop_plugins.lua" >"$WORK/apply.out" 2>&1 &&
  "$P" --db "$DB" --now $NOW quote "$WORK/cart1.json" >"$WORK/quote2.out" 2>&1; then
  load "2. with 4 demo plugins (cross_sell, double_points, tier_bonus, free_shipping_nudge)"
else
  echo "2. with demo plugins: n/a ($(head -c 200 "$WORK/apply.out" "$WORK/quote2.out" 2>/dev/null | tr '\n' ' '))"
fi

kill -TERM "$SRV"
wait "$SRV"
echo "  server stopped with status $?"
SRV=

echo "machine: $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
  "$(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)," \
  "libmicrohttpd $(pkg-config --modversion libmicrohttpd 2>/dev/null)"
echo "  load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
exit 0
