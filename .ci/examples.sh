#!/usr/bin/env bash
# Builds every example once (release), then runs each with a time limit and its stdout
# piped, not on a terminal (so `pipeline` prints plain snapshot lines, as CI logs want).
# Every example checks its own claims and exits non-zero if one fails. Prints one PASS
# line per example; on a failure prints the example's output and exits 1 at the end.
#
# Usage: bash .ci/examples.sh            (TIMEOUT=60 bash .ci/examples.sh to loosen)
set -euo pipefail
cd "$(dirname "$0")/.."

TIMEOUT="${TIMEOUT:-30}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

cargo build --release --examples

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

failed=0
for src in examples/*.rs; do
    name="$(basename "$src" .rs)"
    bin="$TARGET_DIR/release/examples/$name"
    log="$logs/$name.log"
    start=$(date +%s%N)
    if timeout "$TIMEOUT" "$bin" </dev/null 2>&1 | cat >"$log"; then
        ms=$((($(date +%s%N) - start) / 1000000))
        echo "PASS $name (${ms} ms)"
    else
        rc=$?
        if [ "$rc" -eq 124 ]; then
            echo "FAIL $name: timed out after ${TIMEOUT} s"
        else
            echo "FAIL $name: exit code $rc"
        fi
        sed 's/^/    | /' "$log"
        failed=1
    fi
done

exit "$failed"
