#!/bin/sh
# tests/bench/plugin_stage.sh BUILD -- the demo plugins' stage against a
# plain-Lua floor (tests/bench/plugin_stage.c; see tests/bench/README.md).
#
# Compiles plugin_stage.c against BUILD/libpatron.a into BUILD/bench/, runs
# it on a temporary database (removed at the end) and prints the figures,
# the verdict (patron's plugin stage <= 2x the floor) and the machine.
# Reports, does not gate: exit 0 even on FAIL (2 if it cannot run).
# Environment: PSTAGE_CARTS (50000), PSTAGE_ROUNDS (3), CC (cc).
set -u
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${PSTAGE_CARTS:-50000}
ROUNDS=${PSTAGE_ROUNDS:-3}
CC=${CC:-cc}
OUT=$BUILD/bench
die() { printf 'plugin_stage: %s\n' "$*" >&2; exit 2; }

[ -f "$BUILD/libpatron.a" ] || die "$BUILD/libpatron.a not found: make BUILD=$BUILD all"
mkdir -p "$OUT" || die "cannot create $OUT"
# shellcheck disable=SC2046
$CC -std=c11 -O2 -Wall -Wextra -Werror -Icore -I"$BUILD/gen" \
  $(pkg-config --cflags lua5.4 sqlite3 jansson uuid) \
  -o "$OUT/plugin_stage" "$HERE/plugin_stage.c" \
  -Wl,--wrap=pt_rules_on_quote -Wl,--wrap=pt_rules_on_earn \
  "$BUILD/libpatron.a" $(pkg-config --libs lua5.4 sqlite3 jansson uuid libmicrohttpd) \
  -lm -lpthread || die "cannot build plugin_stage"

WORK=$(mktemp -d "$OUT/pstage.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$WORK"' EXIT
trap 'rm -rf "$WORK"; exit 130' INT TERM

echo "plugin stage bench: demo shop (examples/shop), plugins cross_sell + free_shipping_nudge"
(cd "$ROOT" && "$OUT/plugin_stage" "$ROOT" "$WORK/shop.db" "$N" "$ROUNDS") ||
  echo "plugin_stage: exited $? (1: patron and the floor disagree on suggestions; 2: cannot run)"
echo "machine: $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null);" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exit 0
