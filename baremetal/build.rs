//! Puts the target's memory map where the linker (driven by cortex-m-rt's `link.x`) finds
//! it, as `memory.x`: `memory/microbit-m0.x` (QEMU `microbit`, nRF51) for thumbv6m,
//! `memory/cortex-m3-m4.x` otherwise. (Not named `memory.x` in the crate root: the linker
//! would find that one first, whatever the target.)

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    let map = if target.starts_with("thumbv6m") {
        "memory/microbit-m0.x"
    } else {
        "memory/cortex-m3-m4.x"
    };
    fs::copy(map, out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
}
