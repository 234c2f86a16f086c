#!/usr/bin/env bash
# cli_basics.sh -- the shape of the patron command itself: --version,
# --help and the manual of every command, usage errors (exit 2 with a
# message and a hint on stderr, nothing on stdout), library errors as the
# JSON error object (exit 1 or 3), global options before and after the
# command name.
. "$(dirname "$0")/lib.sh"

commands=("init" "apply" "config show" "catalog import" "customers import"
  "balance" "adjust" "ledger" "tick" "verify" "events pull" "events ack" "help")

# --- version and help --------------------------------------------------------
check_exit "--version exits 0" 0 patron --version
check_match "--version prints the version" "$OUT" '^patron [0-9]+\.[0-9]+\.[0-9]+$'

check_exit "--help exits 0" 0 patron --help
main_help=$OUT
check_match "--help shows the synopsis" "$main_help" '^Usage: patron \[--db FILE\] \[--now TIME\] COMMAND'
check_exit "-h is --help" 0 patron -h
check_eq "-h prints the same as --help" "$OUT" "$main_help"
check_exit "help without a command is --help" 0 patron help
check_eq "help prints the same as --help" "$OUT" "$main_help"

for cmd in "${commands[@]}"; do
  # shellcheck disable=SC2086 # two-word commands split on purpose
  check_match "--help lists '$cmd' with a summary" "$main_help" "^  $cmd +[a-z]"
  check_exit "patron $cmd --help exits 0" 0 patron $cmd --help
  man=$OUT
  ok_sections=yes
  for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLE; do
    printf '%s\n' "$man" | grep -qx "$s" || ok_sections="missing $s"
  done
  check_eq "'$cmd' manual has every section" "$ok_sections" yes
  check_match "'$cmd' manual has its synopsis" "$man" "^    patron \[--db FILE\] \[--now TIME\] $cmd"
  check_exit "patron help $cmd exits 0" 0 patron help $cmd
  check_eq "patron help $cmd is the same manual" "$OUT" "$man"
done
check_exit "-h after a command is its manual" 0 patron balance -h
check_match "-h after balance prints balance's manual" "$OUT" '^    patron balance - '

# --- usage errors: exit 2, message + hint on stderr, stdout empty -------------
usage_case() { # desc, expected first stderr line (regex), hint command, cmd...
  local desc=$1 msg=$2 hint=$3
  shift 3
  check_exit "$desc: exit 2" 2 "$@"
  check_match "$desc: message" "$(printf '%s\n' "$ERR" | head -1)" "$msg"
  check_match "$desc: hint" "$ERR" "^try 'patron${hint:+ $hint} --help'\$"
  check_eq "$desc: nothing on stdout" "$OUT" ""
}
usage_case "no command" '^patron: missing command$' "" patron
usage_case "unknown command" "^patron: unknown command 'frobnicate'\$" "" patron frobnicate
usage_case "misspelt command" "^patron: unknown command 'balanse' \(did you mean 'balance'\?\)\$" "" patron balanse
usage_case "unknown global option" "^patron: unknown option '--colour'\$" "" patron --colour balance C1
usage_case "unknown option" "^patron balance: unknown option '--bogus'\$" balance patron balance C1 --bogus
usage_case "missing argument" '^patron balance: missing CUSTOMER$' balance patron balance
usage_case "extra argument" "^patron balance: unexpected argument 'C2'\$" balance patron balance C1 C2
usage_case "missing file" '^patron apply: missing FILE.lua$' apply patron apply
usage_case "bad number" "^patron adjust: --points expects an integer, got 'abc'\$" adjust \
  patron adjust C1 --points abc --reason typo
usage_case "number with trailing text" "^patron adjust: --points expects an integer, got '12x'\$" adjust \
  patron adjust C1 --points 12x --reason typo
usage_case "number with a leading blank" "^patron adjust: --points expects an integer, got ' 12'\$" adjust \
  patron adjust C1 --points " 12" --reason typo
usage_case "number overflow" "^patron adjust: --points expects an integer, got '9223372036854775808'\$" adjust \
  patron adjust C1 --points 9223372036854775808 --reason typo
usage_case "sign alone" "^patron adjust: --points expects an integer, got '-'\$" adjust \
  patron adjust C1 --points - --reason typo
usage_case "option without its value" '^patron adjust: --reason needs a value$' adjust \
  patron adjust C1 --points 5 --reason
usage_case "adjust without a reason" '^patron adjust: --reason TEXT is required' adjust \
  patron adjust C1 --points 5
usage_case "adjust without points" '^patron adjust: --points N is required$' adjust \
  patron adjust C1 --reason why
usage_case "adjust by zero points" '^patron adjust: --points must not be 0$' adjust \
  patron adjust C1 --points 0 --reason nothing
usage_case "tick without --now" '^patron tick: --now TIME is required' tick patron tick
usage_case "bad --now" "^patron tick: --now expects an ISO time or date .*got 'tomorrow'\$" tick \
  patron tick --now tomorrow
usage_case "bad --limit" "^patron events pull: --limit expects a positive integer, got '0'\$" "events pull" \
  patron events pull --limit 0
usage_case "bad event id" "^patron events ack: event ids are positive integers, got 'x1'\$" "events ack" \
  patron events ack 3 x1
usage_case "bad --format" "^patron ledger: --format expects table or json, got 'xml'\$" ledger \
  patron ledger C1 --format xml
usage_case "flag given a value" '^patron balance: --help takes no value$' balance patron balance --help=yes
check_exit "group without subcommand: exit 2" 2 patron events
check_match "group without subcommand lists them" "$ERR" '^  patron events pull '
check_exit "unknown subcommand: exit 2" 2 patron catalog frob
check_match "unknown subcommand is named" "$ERR" "unknown subcommand 'frob'"
check_exit "help for an unknown command: exit 2" 2 patron help frobnicate

# --- library errors: JSON on stdout, exit 1 or 3 --------------------------------
check_exit "a command before init: exit 1" 1 patron balance C1
check_json "... with the not_found error object" "$OUT" '.error.code' not_found
check_match "... saying to run init" "$OUT" "run 'patron init' first"
check_eq "... and no database was created" "$(ls "$db" 2>/dev/null)" ""

check_exit "init creates the database" 0 patron init
check_match "init says where and which schema version" "$OUT" "^created $db \(schema version [0-9]+, patron "
check_exit "balance with no config: exit 1" 1 patron balance C1
check_json "... no_config" "$OUT" '.error.code' no_config
check_eq "... one line of JSON" "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1
check_json "... no path key when there is no path" "$OUT" '.error | has("path")' false

echo "this is not a database, just some text long enough to look like a header" >junk.db
check_exit "a file that is not a database: exit 3" 3 patron --db junk.db init
check_json "... as a storage error object" "$OUT" '.error.code | IN("io", "internal")' true

patron --db newer.db init >/dev/null
sqlite3 newer.db 'PRAGMA user_version = 999'
check_exit "a database from a newer patron: exit 3" 3 patron --db newer.db init
check_json "... schema_too_new" "$OUT" '.error.code' schema_too_new

# --- global options anywhere -------------------------------------------------
check_exit "--db after the command" 0 patron init --db "$T_DIR/after.db"
check_eq "... created that file" "$(ls "$T_DIR/after.db")" "$T_DIR/after.db"
check_exit "--db=FILE form" 0 patron --db="$T_DIR/eq.db" init
check_eq "... created that file" "$(ls "$T_DIR/eq.db")" "$T_DIR/eq.db"
check_exit "\$PATRON_DB is the default" 0 env PATRON_DB="$T_DIR/env.db" "$PATRON" init
check_match "... and init names it" "$OUT" "^created $T_DIR/env.db "
check_exit "./patron.db without \$PATRON_DB" 0 env -u PATRON_DB "$PATRON" init
check_match "... in the current directory" "$OUT" "^created $T_DIR/patron.db "
check_exit "init again is harmless" 0 patron init
check_match "... and says it is up to date" "$OUT" "is up to date \(schema version [0-9]+"
check_exit "--now after the command" 0 patron events pull --now 2026-11-23T12:00:00Z
check_exit "-- ends the options" 2 patron balance -- C1 C2
check_match "... so C2 is an extra argument" "$ERR" "unexpected argument 'C2'"

# --- demo ---------------------------------------------------------------------
before=$(cat "$db" 2>/dev/null | md5sum)
check_exit "patron demo walks through the demo shop" 0 patron demo
check_match "... sets up the shop" "$OUT" "1\. A new shop"
check_match "... ends with a verify that passes" "$OUT" '"ok":true'
check_eq "... and leaves the user's database alone" "$(cat "$db" 2>/dev/null | md5sum)" "$before"

done_testing
