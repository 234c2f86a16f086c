# lib.sh -- a tiny TAP helper for the end-to-end tests of the patron
# command. Source it from a test script run by tests/run.sh, which sets
#   PATRON       absolute path of the patron binary under test
#   PATRON_ROOT  the repository root (for examples/ and plugins/)
# Every script gets a fresh temporary directory (its cwd, removed on exit)
# and a database path $db (exported as PATRON_DB, not yet created).
#
#   run CMD...                      runs CMD; sets $OUT, $ERR and $STATUS
#   check_exit DESC WANT CMD...     runs CMD (like run) and checks its status
#   check_eq DESC GOT WANT          exact string comparison
#   check_match DESC GOT REGEX      extended regex (grep -E) must match
#   check_json DESC JSON FILTER WANT   jq -r FILTER on JSON must print WANT
#   plan N / done_testing           TAP plan; done_testing prints the plan
#                                   if none was given, a summary, and exits
#                                   1 if anything failed
# (`done` is a shell keyword, hence done_testing.)

set -u
: "${PATRON:?set PATRON to the absolute path of the patron binary}"
: "${PATRON_ROOT:?set PATRON_ROOT to the repository root}"
case $PATRON in /*) ;; *) PATRON=$PWD/$PATRON ;; esac
case $PATRON_ROOT in /*) ;; *) PATRON_ROOT=$PWD/$PATRON_ROOT ;; esac
command -v jq >/dev/null || { echo "Bail out! jq is needed (apt-get install jq)"; exit 1; }

SHOP=$PATRON_ROOT/examples/shop
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/patron-e2e.XXXXXX")
trap 'rm -rf "$T_DIR"' EXIT
cd "$T_DIR" || exit 1
db=$T_DIR/shop.db
export PATRON_DB=$db
unset PATRON_PLUGIN_DIR

T_NUM=0
T_FAILED=0
T_PLANNED=

OUT= ERR= STATUS=0

plan() {
  T_PLANNED=$1
  echo "1..$1"
}

pass() {
  T_NUM=$((T_NUM + 1))
  echo "ok $T_NUM - $1"
}

# fail DESC [DIAGNOSTIC LINE...]
fail() {
  T_NUM=$((T_NUM + 1))
  T_FAILED=$((T_FAILED + 1))
  echo "not ok $T_NUM - $1"
  shift
  local line
  for line in "$@"; do printf '#   %s\n' "$line"; done
}

# The patron command under test, as a function so scripts read naturally.
patron() { "$PATRON" "$@"; }

run() {
  local o e
  o=$(mktemp "$T_DIR/out.XXXXXX") e=$(mktemp "$T_DIR/err.XXXXXX")
  "$@" >"$o" 2>"$e"
  STATUS=$?
  OUT=$(cat "$o") ERR=$(cat "$e")
  rm -f "$o" "$e"
  return 0
}

check_exit() {
  local desc=$1 want=$2
  shift 2
  run "$@"
  if [ "$STATUS" = "$want" ]; then
    pass "$desc"
  else
    fail "$desc" "command: $*" "exit status $STATUS, want $want" \
      "stdout: ${OUT:0:400}" "stderr: ${ERR:0:400}"
  fi
}

check_eq() {
  if [ "$2" = "$3" ]; then
    pass "$1"
  else
    fail "$1" "got:  ${2:0:600}" "want: ${3:0:600}"
  fi
}

check_match() {
  if printf '%s\n' "$2" | grep -Eq -- "$3"; then
    pass "$1"
  else
    fail "$1" "got:   ${2:0:600}" "match: $3"
  fi
}

check_json() {
  local got
  if ! got=$(printf '%s\n' "$2" | jq -r "$3" 2>&1); then
    fail "$1" "jq $3 failed: $got" "json: ${2:0:600}"
    return
  fi
  check_eq "$1" "$got" "$4"
}

done_testing() {
  [ -n "$T_PLANNED" ] || echo "1..$T_NUM"
  if [ -n "$T_PLANNED" ] && [ "$T_PLANNED" != "$T_NUM" ]; then
    echo "# planned $T_PLANNED tests but ran $T_NUM"
    T_FAILED=$((T_FAILED + 1))
  fi
  echo "# $((T_NUM - T_FAILED)) passed, $T_FAILED failed"
  [ "$T_FAILED" -eq 0 ]
  exit
}

# csv_field FILE KEY_VALUE COLUMN -- the value of COLUMN (by header name)
# in the row whose first column is KEY_VALUE (simple CSV: no quoted commas).
csv_field() {
  awk -F, -v key="$2" -v col="$3" '
    NR == 1 { for (i = 1; i <= NF; i++) { h = $i; gsub(/[\r" ]/, "", h); if (h == col) c = i }; next }
    { k = $1; gsub(/[\r"]/, "", k) }
    k == key && c { v = $c; gsub(/[\r"]/, "", v); print v; exit }' "$1"
}

# csv_rows FILE -- data rows (non-blank lines after the header).
csv_rows() { awk 'NR > 1 && NF' "$1" | wc -l | tr -d ' '; }

# csv_sum FILE COLUMN -- sum of a numeric column (empty cells count 0).
csv_sum() {
  awk -F, -v col="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) { h = $i; gsub(/[\r" ]/, "", h); if (h == col) c = i }; next }
    c { v = $c; gsub(/[\r" ]/, "", v); s += v }
    END { print s + 0 }' "$1"
}

# Run as a script rather than sourced (tests/run.sh runs every
# tests/e2e/*.sh), lib.sh tests its own helpers: a helper that cannot
# report a failure would make every other script worthless.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  check_eq "the binary under test is executable" "$([ -x "$PATRON" ] && echo yes)" yes
  check_match "check_eq passes equal strings" "$(check_eq d same same)" '^ok [0-9]+ - d$'
  check_match "check_eq fails different strings" "$(check_eq d got want)" '^not ok [0-9]+ - d$'
  check_match "... showing both" "$(check_eq d got want)" '#   want: want$'
  check_match "check_match fails a non-match" "$(check_match d abc '^b')" '^not ok '
  check_match "check_json compares a jq result" "$(check_json d '{"a":[1,2]}' '.a[1]' 2)" '^ok '
  check_match "check_json fails on a different value" "$(check_json d '{"a":1}' .a 2)" '^not ok '
  check_match "check_json fails on text that is not JSON" "$(check_json d 'nope' .a 1)" '^not ok '
  check_match "check_exit passes the wanted status" "$(check_exit d 3 sh -c 'exit 3')" '^ok '
  check_match "check_exit fails another status" "$(check_exit d 0 sh -c 'echo hi; exit 1')" '^not ok '
  run sh -c 'echo out; echo err >&2; exit 4'
  check_eq "run captures stdout, stderr and status" "$OUT/$ERR/$STATUS" "out/err/4"
  check_match "a failed check makes done_testing exit 1" \
    "$( (check_eq d a b; done_testing) >/dev/null; echo "status $?")" '^status 1$'
  printf 'id,name,points\nC1,Ann,10\nC2,"Bo",5\n\n' >t.csv
  check_eq "csv_rows counts data rows" "$(csv_rows t.csv)" 2
  check_eq "csv_field finds a column by header" "$(csv_field t.csv C2 name)/$(csv_field t.csv C1 points)" "Bo/10"
  check_eq "csv_sum adds a column" "$(csv_sum t.csv points)" 15
  check_eq "the test runs in its own temporary directory" "$PWD" "$T_DIR"
  check_eq "PATRON_DB points there" "$PATRON_DB" "$T_DIR/shop.db"
  done_testing
fi
