//! Puts `memory.x` where the linker (driven by cortex-m-rt's `link.x`) finds it, and links
//! with `-Tlink.x` exactly once.
//!
//! Cargo joins the `rustflags` arrays of every `.cargo/config.toml` from the working
//! directory up, so building from here also picks up `../.cargo/config.toml`'s
//! `-C link-arg=-Tlink.x`; a second copy makes the linker read `memory.x` twice ("region
//! 'FLASH' already defined"). So the flag comes from here, and only when the rustflags
//! cargo hands this script (CARGO_ENCODED_RUSTFLAGS: the config's, or an environment
//! RUSTFLAGS that replaced them) do not already carry it.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::copy("memory.x", out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let has_link_x = flags
        .split('\x1f')
        .any(|f| f == "-Tlink.x" || f.ends_with("link-arg=-Tlink.x"));
    if !has_link_x {
        println!("cargo:rustc-link-arg-bins=-Tlink.x");
    }
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}
