#!/usr/bin/env bash
# Bare-metal gate: builds baremetal/ (sluicebox with no features: no std, no alloc, no
# global allocator) for thumbv7m-none-eabi and thumbv7em-none-eabihf, runs both under QEMU
# (Cortex-M3 on lm3s6965evb; Cortex-M4F on mps2-an386, if this QEMU has that machine), and
# checks each run's exit code and summary line. Installs the targets and QEMU if missing.
# Usage, from anywhere: bash .ci/baremetal.sh   (about 20 s cold, 1-2 s warm)
set -euo pipefail
cd "$(dirname "$0")/.."

# An environment RUSTFLAGS replaces baremetal/.cargo/config.toml's `-Tlink.x`: the link
# "succeeds" without a vector table and QEMU dies in Lockup (BAREMETAL.md pitfall 1).
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET \
    CARGO_TARGET_THUMBV7M_NONE_EABI_RUSTFLAGS CARGO_TARGET_THUMBV7EM_NONE_EABIHF_RUSTFLAGS \
    CARGO_TARGET_THUMBV7M_NONE_EABI_RUNNER CARGO_TARGET_THUMBV7EM_NONE_EABIHF_RUNNER \
    CARGO_TARGET_DIR || true
export CARGO_TERM_COLOR=never

BIN=sluicebox-baremetal
EXPECT='RESULT: OK sent=100 received=100 sum=5050'
TARGETS=(thumbv7m-none-eabi thumbv7em-none-eabihf)
START=$(date +%s%N)
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT

elapsed() { # seconds since START, one decimal
    local ds=$((($(date +%s%N) - START) / 100000000))
    echo "$((ds / 10)).$((ds % 10))s"
}
step() { echo; echo "--- baremetal [$(elapsed)] $*"; }
fail() {
    echo
    echo "baremetal: FAIL: $*"
    exit 1
}
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

step "targets and QEMU"
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
if ! command -v qemu-system-arm >/dev/null; then
    as_root apt-get update
    as_root apt-get install -y --no-install-recommends qemu-system-arm
fi
qemu-system-arm --version | head -n 1

cd baremetal
if ! cargo metadata --locked --format-version 1 >/dev/null 2>"$LOG/meta"; then
    cat "$LOG/meta"
    fail "baremetal/Cargo.lock does not fit (stale after a root dependency change?);" \
        "run 'cd baremetal && cargo update -p sluicebox' and commit the lock file"
fi

for t in "${TARGETS[@]}"; do
    step "build $t"
    cargo build --locked --release --target "$t" 2>&1 || fail "build for $t"
    size "target/$t/release/$BIN" 2>/dev/null || ls -l "target/$t/release/$BIN"
done

run() { # target, description of the QEMU machine
    local t=$1 rc=0
    step "run $t under QEMU ($2)"
    # The runner (baremetal/.cargo/config.toml) wraps QEMU in `timeout 20`. QEMU's stderr
    # always says "Timer with period zero, disabling" (pitfall 2): keep it apart.
    cargo run --locked --release --target "$t" >"$LOG/$t.out" 2>"$LOG/$t.err" || rc=$?
    cat "$LOG/$t.out"
    case $rc in
    0) ;;
    124) fail "$t: QEMU timed out (hang, fault or lost wakeup without exit); stderr:" \
        "$(tail -n 5 "$LOG/$t.err")" ;;
    134) fail "$t: QEMU aborted (CPU lockup: no vector table? RUSTFLAGS?); stderr:" \
        "$(tail -n 5 "$LOG/$t.err")" ;;
    *) fail "$t: exit code $rc (1 = a check failed or a panic); stderr:" \
        "$(tail -n 5 "$LOG/$t.err")" ;;
    esac
    grep -qxF "$EXPECT" "$LOG/$t.out" || fail "$t: exit 0 but no line '$EXPECT'"
    RAN+=("$t")
}

RAN=()
run thumbv7m-none-eabi "lm3s6965evb, Cortex-M3"
machines=$(qemu-system-arm -machine help)
if grep -q '^mps2-an386 ' <<<"$machines"; then
    run thumbv7em-none-eabihf "mps2-an386, Cortex-M4F"
else
    step "thumbv7em-none-eabihf: built only (this QEMU has no mps2-an386 machine)"
fi

echo
echo "baremetal: PASS in $(elapsed) (built ${TARGETS[*]}; ran ${RAN[*]})"
