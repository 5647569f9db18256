//! The behavioural suite (`tests/suite`) on TokioMulti.
#![cfg(not(miri))]

mod common;
mod suite;

suite_tests!(common::TokioMulti);
