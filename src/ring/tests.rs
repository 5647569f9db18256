//! Unit tests of the ring alone (no channel, no wait lists). Run under miri too.

use super::*;
// Without features the crate is `no_std` (lib.rs links std for tests); with them, the
// prelude has `Vec` already.
#[allow(unused_imports)]
use std::vec::Vec;

fn slots<T>(cap: usize, start_lap: usize) -> Vec<Slot<T>> {
    (0..cap)
        .map(|i| Slot::new(Ring::initial_stamp(cap, start_lap, i)))
        .collect()
}

struct Fixture<T> {
    ring: Ring,
    slots: Vec<Slot<T>>,
}

impl<T> Fixture<T> {
    fn new(cap: usize, start_lap: usize) -> Self {
        Self {
            ring: Ring::new(cap, start_lap),
            slots: slots(cap, start_lap),
        }
    }
    fn push(&self, v: T) -> Result<(), PushError<T>> {
        self.ring.push(&self.slots, v)
    }
    fn pop(&self) -> Result<T, PopError> {
        self.ring.pop(&self.slots)
    }
}

impl<T> Drop for Fixture<T> {
    fn drop(&mut self) {
        self.ring.drop_all(&self.slots);
    }
}

#[test]
fn capacity_one_full_and_empty() {
    let f = Fixture::new(1, 0);
    assert_eq!(f.pop(), Err(PopError::Empty));
    f.push(1).unwrap();
    assert!(matches!(f.push(2), Err(PushError::Full(2))));
    assert_eq!(f.ring.len(), 1);
    assert_eq!(f.pop(), Ok(1));
    assert_eq!(f.pop(), Err(PopError::Empty));
    assert_eq!(f.ring.len(), 0);
}

#[test]
fn fifo_over_many_laps() {
    for cap in [1, 2, 3, 7, 8, 64] {
        let f = Fixture::new(cap, 0);
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        for round in 0..50 {
            let burst = (round % cap) + 1;
            for _ in 0..burst {
                f.push(next_in).unwrap();
                next_in += 1;
            }
            assert_eq!(f.ring.len(), burst);
            for _ in 0..burst {
                assert_eq!(f.pop(), Ok(next_out));
                next_out += 1;
            }
        }
        let p = f.ring.positions();
        assert_eq!((p.pushed, p.popped, p.len), (next_in, next_out, 0));
    }
}

/// PITFALLS `wrap`: start a few laps before the position word wraps around `usize` and
/// check len, full/empty, order and totals across the wrap.
#[test]
fn wrap_positions_cross_usize_max() {
    for cap in [1usize, 3, 4, 5] {
        let one_lap = (cap + 1).next_power_of_two() * 2;
        let laps_in_word = usize::MAX / one_lap + 1;
        let start_lap = laps_in_word - 2; // two laps before the wrap
        let f = Fixture::new(cap, start_lap);
        let mut expect = 0u32;
        let mut sent = 0u32;
        for _ in 0..(cap * 6) {
            for _ in 0..cap {
                f.push(sent).unwrap();
                sent += 1;
            }
            assert_eq!(f.ring.len(), cap);
            assert!(matches!(f.push(u32::MAX), Err(PushError::Full(_))));
            for _ in 0..cap {
                assert_eq!(f.pop(), Ok(expect));
                expect += 1;
            }
            assert_eq!(f.ring.len(), 0);
            assert_eq!(f.pop(), Err(PopError::Empty));
        }
        let p = f.ring.positions();
        assert_eq!(p.pushed, u64::from(sent));
        assert_eq!(p.popped, u64::from(expect));
    }
}

#[test]
fn close_keeps_items_then_reports_closed() {
    let f = Fixture::new(2, 0);
    f.push(1).unwrap();
    assert!(f.ring.close());
    assert!(!f.ring.close());
    assert!(matches!(f.push(2), Err(PushError::Closed(2))));
    assert_eq!(f.pop(), Ok(1));
    assert_eq!(f.pop(), Err(PopError::Closed));
    assert!(f.ring.positions().closed);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity_panics() {
    let _ = Ring::new(0, 0);
}

#[test]
#[should_panic(expected = "larger than the maximum")]
fn huge_capacity_panics() {
    let _ = Ring::new(MAX_CAPACITY + 1, 0);
}
