//! The behavioural suite (`tests/suite`) on TokioCurrent.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]
#![cfg(not(miri))]

mod common;
mod suite;

suite_tests!(common::TokioCurrent);
