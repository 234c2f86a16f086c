#!/usr/bin/env bash
# symbols.sh -- the library exports only the public API: every dynamic
# symbol libpatron.so defines is patron_*, and every function declared
# PATRON_API in core/patron.h is exported (the header is the contract).
. "$(dirname "$0")/lib.sh"

lib=$(dirname "$PATRON")/libpatron.so
check_exit "libpatron.so exists beside the patron binary" 0 test -f "$lib"
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort)
check_match "... exports symbols" "$(wc -l <<<"$exported")" '^[1-9][0-9]*$'
stray=$(grep -v '^patron_' <<<"$exported" | tr '\n' ' ')
check_eq "... nothing but patron_* (internal pt_* are hidden)" "$stray" ""
declared=$(grep -v '#define' "$PATRON_ROOT/core/patron.h" | grep -o 'PATRON_API [^(]*(' |
  sed -E 's/.*[ *](patron_[a-z0-9_]+)\($/\1/' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported") | tr '\n' ' ')
check_eq "... every PATRON_API function of patron.h is exported" "$missing" ""
done_testing
