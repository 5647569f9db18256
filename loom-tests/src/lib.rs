//! Loom model checks for `sluicebox` live in `tests/` (see `README.md`).
//!
//! This crate has no code of its own; it exists so the models build with only loom and
//! sluicebox in the dependency graph under `RUSTFLAGS="--cfg loom"`.
