#!/usr/bin/env bash
# Footprint: builds baremetal/footprint/ for thumbv7m-none-eabi (the same tiny program,
# acquire a permit, send 3, receive 3, release, check the sum, with sluicebox's
# StaticChannel<u32, 8> + Semaphore and with embassy-sync's Channel + FairSemaphore /
# GreedySemaphore, and a baseline with the same runtime and no channel), runs each under
# QEMU lm3s6965evb (Cortex-M3) to check it exits 0, and prints their sizes as a markdown
# table. Installs the target and QEMU if missing.
# Usage, from anywhere: bash .ci/footprint.sh   (about 20 s cold, 1-2 s warm)
set -euo pipefail
cd "$(dirname "$0")/.."

# An environment RUSTFLAGS would replace the rustflags of the cargo configs (BAREMETAL.md
# pitfall 1), and other flags would change the sizes measured here.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET \
    CARGO_TARGET_THUMBV7M_NONE_EABI_RUSTFLAGS CARGO_TARGET_THUMBV7M_NONE_EABI_RUNNER \
    CARGO_PROFILE_RELEASE_OPT_LEVEL CARGO_PROFILE_RELEASE_LTO \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS CARGO_TARGET_DIR || true
export CARGO_TERM_COLOR=never

TARGET=thumbv7m-none-eabi
BASELINE=baseline
PROGRAMS=(baseline sluicebox embassy-sync embassy-sync-greedy)
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT

step() { echo; echo "--- footprint: $*"; }
fail() {
    echo
    echo "footprint: FAIL: $*"
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

cd baremetal/footprint
if ! cargo metadata --locked --format-version 1 >/dev/null 2>"$LOG/meta"; then
    cat "$LOG/meta"
    fail "baremetal/footprint/Cargo.lock does not fit (stale after a root dependency change?);" \
        "run 'cd baremetal/footprint && cargo update -p sluicebox' and commit the lock file"
fi

step "build $TARGET (release: opt-level s, lto, codegen-units 1, panic-halt)"
cargo build --locked --release --target "$TARGET" --bins 2>&1 || fail "build"

step "run each under QEMU (lm3s6965evb, Cortex-M3)"
for p in "${PROGRAMS[@]}"; do
    rc=0
    # The runner (baremetal/footprint/.cargo/config.toml) wraps QEMU in `timeout 20`.
    cargo run --locked --release --target "$TARGET" --bin "$p" >"$LOG/$p.out" 2>"$LOG/$p.err" || rc=$?
    case $rc in
    0) echo "$p: exit 0" ;;
    124) fail "$p: QEMU timed out (a failed check exits 1; a panic hangs in panic-halt)" ;;
    *) fail "$p: exit code $rc (1 = the sum or the permit check failed); stderr:" \
        "$(tail -n 5 "$LOG/$p.err")" ;;
    esac
done

step "sizes (bytes; text = vector table + code + rodata, data = initialized statics: RAM, and its image in flash)"
version() { # the version of a crate in Cargo.lock
    awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}
echo "rustc $(rustc --version | cut -d' ' -f2), embassy-sync $(version embassy-sync)," \
    "cortex-m-rt $(version cortex-m-rt), critical-section $(version critical-section)"
echo
sizes() { # text data bss of one program (Berkeley format, the second line)
    size "target/$TARGET/release/$1" | awk 'NR == 2 { print $1, $2, $3 }'
}
read -r base_text base_data base_bss < <(sizes "$BASELINE")
echo "| program | text | data | bss | text minus baseline | data+bss minus baseline |"
echo "|---|---:|---:|---:|---:|---:|"
for p in "${PROGRAMS[@]}"; do
    read -r text data bss < <(sizes "$p")
    echo "| $p | $text | $data | $bss | $((text - base_text)) | $((data + bss - base_data - base_bss)) |"
done

echo
echo "footprint: PASS"
