#!/usr/bin/env bash
# crash.sh -- the crash test (tests/crash/crash.c) in `make test`: builds the
# crash driver against the library of the build under test (the folder of
# $PATRON, plain or ASan+UBSan), shows that its checks can fail (selftest),
# then SIGKILLs a busy till CRASH_KILLS times (default 200) at random
# moments and checks after each kill that nothing acknowledged was lost and
# nothing was half applied. CRASH_SEED fixes the seed (default: the time,
# printed). `make soak` runs the same driver for 10,000 kills.
. "$(dirname "$0")/lib.sh"

kills=${CRASH_KILLS:-200}
seed=${CRASH_SEED:-$(date +%s)}
bin_dir=$(dirname "$PATRON")
build=${bin_dir#"$PATRON_ROOT"/} # the Makefile wants BUILD relative to the root
san=0
if nm "$bin_dir/libpatron.a" 2>/dev/null | grep -q '__asan_report\|__ubsan_handle'; then
  san=1
fi

run env -u MAKEFLAGS -u MFLAGS make -s --no-print-directory -C "$PATRON_ROOT" \
  BUILD="$build" SAN=$san "$build/crash/crash"
check_eq "the crash driver builds ($build, SAN=$san)" "$STATUS" 0
[ "$STATUS" = 0 ] || { printf '#   %s\n' "${ERR:0:2000}"; done_testing; }
driver=$bin_dir/crash/crash

run "$driver" --selftest --dir "$T_DIR/selftest"
printf '%s\n' "$OUT" | grep '^#' | head -20
check_match "the crash checks can fail (tampering, a lost commit, a bad balance)" \
  "$STATUS/$(printf '%s\n' "$OUT" | tail -1)" '^0/ok - crash checks catch'

start=$(date +%s)
run "$driver" --kills "$kills" --seed "$seed" --dir "$T_DIR/kills"
printf '%s\n' "$OUT" | grep '^#' | tail -25
echo "# $kills kills in $(($(date +%s) - start)) s (seed $seed; CRASH_SEED=$seed to rerun)"
check_match "$kills kills: nothing acknowledged lost, nothing half applied" \
  "$STATUS/$(printf '%s\n' "$OUT" | tail -1)" '^0/ok - crash test'
[ "$STATUS" = 0 ] || printf '#   %s\n' "${ERR:0:2000}"

done_testing
