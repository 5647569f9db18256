//! The behavioural suite (`tests/suite`) on Smol.
#![cfg(not(miri))]

mod common;
mod suite;

suite_tests!(common::Smol);
