//! The behavioural suite (`tests/suite`) on futures' executors: `block_on` with a
//! `ThreadPool` for spawned tasks, and a `LocalPool`.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]
#![cfg(not(miri))]

mod common;
mod suite;

mod thread_pool {
    use super::{common, suite};
    crate::suite_tests!(common::FuturesPool);
}

mod local_pool {
    use super::{common, suite};
    crate::suite_tests!(common::FuturesLocal);
}
