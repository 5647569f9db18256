#!/usr/bin/env bash
# Interrupt-handler gate on the host (Linux): builds interrupt-sim/ (SIGALRM plays a
# single-core interrupt, the critical section masks it; see interrupt-sim/src/main.rs) and
# runs it in three configurations:
#   a. default features: sluicebox without std, with critical-section (the bare-metal
#      protocol): must print "INTERRUPT-SIM: OK" and exit 0;
#   b. --features std: sluicebox with std and critical-section (an ESP-IDF-like setup):
#      must print "INTERRUPT-SIM: OK" and exit 0;
#   c. --no-default-features: sluicebox's spin lock, which an interrupt handler must not
#      take: must hang, reported by the watchdog ("INTERRUPT-SIM: HANG", exit 2), within
#      the time limit (the negative run: it shows the gate can see a hang).
# Prints a summary; exits non-zero on any deviation.
# Usage, from anywhere: bash .ci/interrupt-sim.sh [SECONDS]   (SECONDS per OK run, default 3;
# about 30 s warm)
set -euo pipefail
cd "$(dirname "$0")/../interrupt-sim"

unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET CARGO_TARGET_DIR || true
export CARGO_TERM_COLOR=never

SECS=${1:-3}
# The negative run gets time to hang (the watchdog reports 2 s after it does) but must
# not finish: its own run is longer than its time limit allows to end normally.
NEG_SECS=8
NEG_LIMIT=14
START=$(date +%s%N)
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT

elapsed() { # seconds since START, one decimal
    local ds=$((($(date +%s%N) - START) / 100000000))
    echo "$((ds / 10)).$((ds % 10))s"
}
step() { echo; echo "--- interrupt-sim [$(elapsed)] $*"; }

[ "$(uname -s)" = Linux ] || { echo "interrupt-sim: FAIL: Linux only (signals)"; exit 1; }

declare -A FEATURES=([a]="" [b]="--features std" [c]="--no-default-features")
for run in a b c; do
    step "build ($run): cargo build --locked --release ${FEATURES[$run]}"
    # shellcheck disable=SC2086 # the feature flags are words
    cargo build --locked --release ${FEATURES[$run]}
    cp target/release/interrupt-sim "$BIN/interrupt-sim-$run"
done

SUMMARY=()
FAILED=0
record() { # run, verdict, details
    SUMMARY+=("$(printf '  (%s) %-4s %s' "$1" "$2" "$3")")
    [ "$2" = ok ] || FAILED=1
}

for run in a b; do
    step "run ($run) ${FEATURES[$run]:-default features}: $SECS s, must print OK"
    t0=$(date +%s%N)
    set +e
    out=$(timeout $((SECS + 30)) "$BIN/interrupt-sim-$run" "$SECS")
    rc=$?
    set -e
    t=$((($(date +%s%N) - t0) / 1000000))
    echo "$out"
    line=$(grep '^INTERRUPT-SIM: ' <<<"$out" | tail -n 1 || true)
    if [ "$rc" -eq 0 ] && [[ $line == "INTERRUPT-SIM: OK "* ]]; then
        record "$run" ok "exit 0 in ${t} ms: ${line#INTERRUPT-SIM: }"
    else
        record "$run" FAIL "exit $rc in ${t} ms (want 0 and an OK line): ${line:-no result line}"
    fi
done

step "run (c) --no-default-features (spin lock): must hang, exit 2 within $NEG_LIMIT s"
t0=$(date +%s%N)
set +e
out=$(timeout "$NEG_LIMIT" "$BIN/interrupt-sim-c" "$NEG_SECS")
rc=$?
set -e
t=$((($(date +%s%N) - t0) / 1000000))
echo "$out"
line=$(grep '^INTERRUPT-SIM: ' <<<"$out" | tail -n 1 || true)
if [ "$rc" -eq 2 ] && [[ $line == "INTERRUPT-SIM: HANG "* ]]; then
    record c ok "exit 2 in ${t} ms, as expected: ${line#INTERRUPT-SIM: }"
else
    record c FAIL "exit $rc in ${t} ms (want 2 and a HANG line): ${line:-no result line}"
fi

echo
echo "interrupt-sim summary [$(elapsed)]:"
printf '%s\n' "${SUMMARY[@]}"
if [ "$FAILED" -ne 0 ]; then
    echo "interrupt-sim: FAIL"
    exit 1
fi
echo "interrupt-sim: OK"
