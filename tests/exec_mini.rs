//! The behavioural suite (`tests/suite`) on Mini.
#![cfg(not(miri))]

mod common;
mod suite;

suite_tests!(common::Mini);
