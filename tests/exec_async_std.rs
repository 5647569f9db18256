//! The behavioural suite (`tests/suite`) on AsyncStd.
#![cfg(not(miri))]

mod common;
mod suite;

suite_tests!(common::AsyncStd);
