#!/usr/bin/env bash
# sluicebox under embassy-executor: builds baremetal/embassy/ (sluicebox with only the
# `critical-section` feature, no alloc, no global allocator; tasks on embassy's thread-mode
# executor) for thumbv7m-none-eabi, runs it under QEMU lm3s6965evb (Cortex-M3), checks the
# exit code and the summary line, and prints the ELF's size. Installs the target and QEMU
# if missing.
# Usage, from anywhere: bash .ci/baremetal-embassy.sh   (about 20 s cold, 1-2 s warm)
set -euo pipefail
cd "$(dirname "$0")/.."

# An environment RUSTFLAGS would replace the rustflags of the cargo configs (BAREMETAL.md
# pitfall 1); baremetal/embassy/build.rs adds `-Tlink.x` itself when it is missing, but the
# build should see the same flags as everywhere else.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET \
    CARGO_TARGET_THUMBV7M_NONE_EABI_RUSTFLAGS CARGO_TARGET_THUMBV7EM_NONE_EABIHF_RUSTFLAGS \
    CARGO_TARGET_THUMBV7M_NONE_EABI_RUNNER CARGO_TARGET_THUMBV7EM_NONE_EABIHF_RUNNER \
    CARGO_TARGET_DIR || true
export CARGO_TERM_COLOR=never

TARGET=thumbv7m-none-eabi
BIN=sluicebox-embassy
EXPECT='EMBASSY: OK sent=1000 received=1000 sum=500500'
START=$(date +%s%N)
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT

elapsed() { # seconds since START, one decimal
    local ds=$((($(date +%s%N) - START) / 100000000))
    echo "$((ds / 10)).$((ds % 10))s"
}
step() { echo; echo "--- baremetal-embassy [$(elapsed)] $*"; }
fail() {
    echo
    echo "baremetal-embassy: FAIL: $*"
    exit 1
}
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

step "target and QEMU"
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
if ! command -v qemu-system-arm >/dev/null; then
    as_root apt-get update
    as_root apt-get install -y --no-install-recommends qemu-system-arm
fi
qemu-system-arm --version | head -n 1

cd baremetal/embassy
if ! cargo metadata --locked --format-version 1 >/dev/null 2>"$LOG/meta"; then
    cat "$LOG/meta"
    fail "baremetal/embassy/Cargo.lock does not fit (stale after a root dependency change?);" \
        "run 'cd baremetal/embassy && cargo update -p sluicebox' and commit the lock file"
fi

step "build $TARGET"
cargo build --locked --release --target "$TARGET" 2>&1 || fail "build for $TARGET"
size "target/$TARGET/release/$BIN" 2>/dev/null || ls -l "target/$TARGET/release/$BIN"

step "run $TARGET under QEMU (lm3s6965evb, Cortex-M3)"
# The runner (baremetal/embassy/.cargo/config.toml) wraps QEMU in `timeout 20`. QEMU's
# stderr always says "Timer with period zero, disabling" (pitfall 2): keep it apart.
rc=0
cargo run --locked --release --target "$TARGET" >"$LOG/out" 2>"$LOG/err" || rc=$?
cat "$LOG/out"
case $rc in
0) ;;
124) fail "QEMU timed out (hang, fault, or the executor asleep in WFE with no task woken);" \
    "stderr: $(tail -n 5 "$LOG/err")" ;;
134) fail "QEMU aborted (CPU lockup: no vector table?); stderr: $(tail -n 5 "$LOG/err")" ;;
*) fail "exit code $rc (1 = a check failed or a panic); stderr: $(tail -n 5 "$LOG/err")" ;;
esac
grep -qxF "$EXPECT" "$LOG/out" || fail "exit 0 but no line '$EXPECT'"

echo
echo "baremetal-embassy: PASS in $(elapsed)"
