#!/usr/bin/env bash
# Bare-metal gate, under QEMU. Builds baremetal/ (no std, no alloc, no global allocator) and
# runs, on a Cortex-M3 (lm3s6965evb), a Cortex-M4F (mps2-an386, if this QEMU has it) and a
# Cortex-M0 without compare-and-swap (microbit; sluicebox with `portable-atomic`):
#   1. the task scenario (`sluicebox-baremetal`) on sluicebox with no features (spin lock);
#   2. the interrupt-producer program (`isr`) with `critical-section`: must pass;
#   3. the same `isr` with the spin lock (`--no-default-features`): must hang, with the CPU
#      found spinning in the lock inside the SysTick handler (the negative run).
# Checks each run's exit code and result line. Installs the targets, llvm-tools and QEMU
# if missing.
# Usage, from anywhere: bash .ci/baremetal.sh   (about 1-2 min cold, 20 s warm)
set -euo pipefail
cd "$(dirname "$0")/.."

# An environment RUSTFLAGS replaces baremetal/.cargo/config.toml's `-Tlink.x`: the link
# "succeeds" without a vector table and QEMU dies in Lockup (BAREMETAL.md pitfall 1).
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET \
    CARGO_TARGET_THUMBV7M_NONE_EABI_RUSTFLAGS CARGO_TARGET_THUMBV7EM_NONE_EABIHF_RUSTFLAGS \
    CARGO_TARGET_THUMBV7M_NONE_EABI_RUNNER CARGO_TARGET_THUMBV7EM_NONE_EABIHF_RUNNER \
    CARGO_TARGET_THUMBV6M_NONE_EABI_RUSTFLAGS CARGO_TARGET_THUMBV6M_NONE_EABI_RUNNER \
    CARGO_TARGET_DIR || true
export CARGO_TERM_COLOR=never

BIN=sluicebox-baremetal
EXPECT='RESULT: OK sent=100 received=100 sum=5050'
EXPECT_ISR='ISR RESULT: OK ticks=6000 '
TARGETS=(thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi)
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
# llvm-nm names the function the negative run hangs in.
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
NM="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-nm"
[ -x "$NM" ] || fail "no llvm-nm at $NM"
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

qemu_args() { # target -> the QEMU machine flags (as in baremetal/.cargo/config.toml)
    case $1 in
    thumbv7m-none-eabi) echo "-cpu cortex-m3 -machine lm3s6965evb" ;;
    thumbv7em-none-eabihf) echo "-cpu cortex-m4 -machine mps2-an386" ;;
    thumbv6m-none-eabi) echo "-machine microbit" ;;
    esac
}

run() { # target, bin, expected line, cargo feature flags...
    local t=$1 bin=$2 expect=$3 rc=0
    shift 3
    step "run $bin on $t under QEMU ($(qemu_args "$t")) ${*:-(default features)}"
    # The runner (baremetal/.cargo/config.toml) wraps QEMU in `timeout 20`. QEMU's stderr
    # always says "Timer with period zero, disabling" (pitfall 2): keep it apart.
    cargo run --locked --release --target "$t" --bin "$bin" "$@" \
        >"$LOG/$t.$bin.out" 2>"$LOG/$t.$bin.err" || rc=$?
    cat "$LOG/$t.$bin.out"
    case $rc in
    0) ;;
    124) fail "$t $bin: QEMU timed out (hang, fault or lost wakeup without exit); stderr:" \
        "$(tail -n 5 "$LOG/$t.$bin.err")" ;;
    134) fail "$t $bin: QEMU aborted (CPU lockup: no vector table? RUSTFLAGS?); stderr:" \
        "$(tail -n 5 "$LOG/$t.$bin.err")" ;;
    *) fail "$t $bin: exit code $rc (1 = a check failed or a panic); stderr:" \
        "$(tail -n 5 "$LOG/$t.$bin.err")" ;;
    esac
    grep -qF "$expect" "$LOG/$t.$bin.out" || fail "$t $bin: exit 0 but no line '$expect'"
    RAN+=("$bin@$t")
}

# The interrupt program with the spin lock must hang: after a few seconds QEMU's monitor
# dumps the registers, and the program counter must be in the spin lock's wait loop while
# the CPU runs the SysTick handler (exception 15 in xPSR).
expect_hang() { # target
    local t=$1 elf out pc where
    step "negative run: isr on $t with the spin lock (--no-default-features) must hang"
    cargo build --locked --release --target "$t" --bin isr --no-default-features 2>&1 ||
        fail "build isr --no-default-features for $t"
    elf="target/$t/release/isr"
    # shellcheck disable=SC2046 # the machine flags are meant to split
    out=$( (
        sleep 4
        printf '\001c'
        sleep 0.5
        echo 'info registers'
        sleep 0.5
        echo quit
    ) | timeout 15 qemu-system-arm $(qemu_args "$t") -nographic \
        -semihosting-config enable=on,target=native -kernel "$elf" 2>&1 | tr -d '\r') || true
    grep -a 'interrupt-producer check' <<<"$out" || fail "$t: the negative run did not start"
    grep -aq 'ISR RESULT' <<<"$out" && fail "$t: the spin-lock build finished; expected a hang"
    grep -aE '^(R12|XPSR)' <<<"$out" || fail "$t: no register dump from QEMU's monitor"
    pc=$(grep -aoE 'R15=[0-9a-f]+' <<<"$out" | head -n 1 | cut -d= -f2)
    grep -aqE 'XPSR=[0-9a-f]{5}00f .* handler' <<<"$out" ||
        fail "$t: the hang is not in the SysTick handler"
    # The last symbol at or below the pc (`nm -n` sorts by address).
    where=
    while read -r addr _ name; do
        [ $((16#$addr)) -le $((16#$pc)) ] || break
        where=$name
    done < <("$NM" -n -C --defined-only "$elf" | grep -E '^[0-9a-f]+ [tT] ')
    echo "pc 0x$pc is in $where"
    grep -q 'lock_slow' <<<"$where" || fail "$t: the hang is not in the spin lock"
    echo "hang confirmed: the SysTick handler spins in the wait-list spin lock that the code it interrupted holds"
    HUNG+=("isr@$t")
}

RAN=()
HUNG=()
machines=$(qemu-system-arm -machine help)
for t in "${TARGETS[@]}"; do
    if [ "$t" = thumbv7em-none-eabihf ] && ! grep -q '^mps2-an386 ' <<<"$machines"; then
        step "$t: built only (this QEMU has no mps2-an386 machine)"
        cargo build --locked --release --target "$t" 2>&1 || fail "build for $t"
        continue
    fi
    if [ "$t" = thumbv6m-none-eabi ] && ! grep -q '^microbit ' <<<"$machines"; then
        step "$t: built only (this QEMU has no microbit machine)"
        cargo build --locked --release --target "$t" 2>&1 || fail "build for $t"
        continue
    fi
    # sluicebox with no features (the spin lock), no interrupts.
    run "$t" "$BIN" "$EXPECT" --no-default-features
    size "target/$t/release/$BIN" 2>/dev/null || true
    run "$t" isr "$EXPECT_ISR"
    size "target/$t/release/isr" 2>/dev/null || true
done
expect_hang thumbv7m-none-eabi
if grep -q '^microbit ' <<<"$machines"; then
    expect_hang thumbv6m-none-eabi
fi

echo
echo "baremetal: PASS in $(elapsed) (ran ${RAN[*]}; hung as expected: ${HUNG[*]})"
