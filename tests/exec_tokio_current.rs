//! The behavioural suite (`tests/suite`) on TokioCurrent.
#![cfg(not(miri))]

mod common;
mod suite;

suite_tests!(common::TokioCurrent);
