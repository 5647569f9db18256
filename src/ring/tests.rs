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
        self.ring.push(&self.slots, v).map(drop)
    }
    fn pop(&self) -> Result<T, PopError> {
        self.ring.pop(&self.slots).map(|(v, _)| v)
    }
}

impl<T> Drop for Fixture<T> {
    fn drop(&mut self) {
        self.ring.drain(&self.slots, false);
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
        let one_lap = (cap + 1).next_power_of_two() * 8;
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

#[test]
fn wait_flags_ride_along_and_leave_positions_alone() {
    for cap in [1, 2, 3, 8] {
        let f = Fixture::new(cap, 0);
        assert!(!f.ring.push(&f.slots, 1u32).unwrap());
        f.ring.raise_waiting(End::Tail);
        f.ring.raise_waiting(End::Head);
        // Both flags stay up across claims and pops, and every claim reports them.
        for i in 2..=cap as u32 {
            assert!(f.ring.push(&f.slots, i).unwrap(), "cap {cap}");
        }
        let p = f.ring.positions();
        assert_eq!(
            (p.len, p.pushed, p.popped, p.closed),
            (cap, cap as u64, 0, false)
        );
        assert!(matches!(f.ring.push(&f.slots, 0), Err(PushError::Full(0))));
        assert_eq!(f.ring.pop(&f.slots).unwrap(), (1, true));
        f.ring.lower_waiting(End::Head);
        assert!(f.ring.push(&f.slots, 99).unwrap());
        f.ring.lower_waiting(End::Tail);
        for expect in (2..=cap as u32).chain([99]) {
            assert_eq!(f.ring.pop(&f.slots).unwrap(), (expect, false));
        }
        assert_eq!(f.ring.pop(&f.slots), Err(PopError::Empty));
        assert!(!f.ring.push(&f.slots, 7).unwrap());
        let p = f.ring.positions();
        assert_eq!(
            (p.len, p.pushed, p.popped),
            (1, cap as u64 + 2, cap as u64 + 1)
        );
        // Closing with the flag up: the mark and the flag are separate bits.
        f.ring.raise_waiting(End::Tail);
        assert!(f.ring.close());
        assert!(matches!(
            f.ring.push(&f.slots, 8),
            Err(PushError::Closed(8))
        ));
        assert_eq!(f.ring.pop(&f.slots).unwrap(), (7, false));
        assert_eq!(f.ring.pop(&f.slots), Err(PopError::Closed));
        assert!(f.ring.positions().closed);
    }
}

#[test]
fn reserved_slot_is_reported_at_once_and_published_later() {
    let f = Fixture::new(3, 0);
    let (pos, _) = f.ring.claim(&f.slots).unwrap();
    // Claimed but not marked: a push in flight, which the ring waits out for a while.
    assert_eq!(f.ring.pop(&f.slots), Err(PopError::InFlight));
    // SAFETY: `pos` is claimed and unpublished.
    unsafe { f.ring.mark_reserved(&f.slots, pos) };
    assert_eq!(f.ring.pop(&f.slots), Err(PopError::Reserved));
    f.push(2).unwrap();
    f.push(3).unwrap();
    assert!(matches!(f.push(4), Err(PushError::Full(4))));
    assert_eq!(f.ring.pop(&f.slots), Err(PopError::Reserved));
    // SAFETY: as above; published once.
    unsafe { f.ring.fill(&f.slots, pos, 1) };
    assert_eq!(f.pop(), Ok(1));
    assert_eq!(f.pop(), Ok(2));
    // A reserved slot given back is a hole, stepped over.
    let (pos, _) = f.ring.claim(&f.slots).unwrap();
    // SAFETY: as above.
    unsafe { f.ring.mark_reserved(&f.slots, pos) };
    f.push(5).unwrap();
    assert_eq!(f.pop(), Ok(3));
    // SAFETY: as above.
    unsafe { f.ring.skip(&f.slots, pos) };
    assert_eq!(f.ring.pop(&f.slots), Err(PopError::Hole { waiting: false }));
    assert_eq!(f.pop(), Ok(5));
    assert_eq!(f.pop(), Err(PopError::Empty));
    // Next lap: a pusher meeting last lap's reserved slot sees the ring full.
    let g = Fixture::new(1, 0);
    let (pos, _) = g.ring.claim(&g.slots).unwrap();
    // SAFETY: as above.
    unsafe { g.ring.mark_reserved(&g.slots, pos) };
    assert!(matches!(g.push(9), Err(PushError::Full(9))));
    // SAFETY: as above.
    unsafe { g.ring.fill(&g.slots, pos, 8) };
    assert_eq!(g.pop(), Ok(8));
}
