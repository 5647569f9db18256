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
        let mark_bit = (cap + 1).next_power_of_two();
        let one_lap = mark_bit * 8 * mark_bit;
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

/// A claim whose read of `tail` is `2^laps - 1` laps old (at `MAX_CAPACITY` the lap
/// field is smallest) sees the slot's stamp as "last lap's", as a current read on a full
/// ring would. The verdict re-reads `tail` first: the ring is empty and the claim must
/// succeed, not report Full. Only slot 0 is touched, so one slot stands in for all.
#[test]
fn stale_tail_laps_old_is_retried_not_taken_for_full() {
    let ring = Ring::new(MAX_CAPACITY, 0);
    let now = 0usize.wrapping_sub(ring.one_lap); // 2^laps - 1 laps after position 0
    let slots: Vec<Slot<u32>> = std::vec![Slot::new(now)]; // free for the current lap
    ring.head.store(now, Ordering::Relaxed);
    ring.tail.store(now, Ordering::Relaxed);
    assert_eq!(ring.len(), 0);
    let stale = 0;
    assert_eq!(
        ring.claim_slow(&slots, stale, None, Take::Push)
            .map(|(p, _)| p),
        Ok(now),
        "an empty ring, read laps late, reported Full"
    );
}

/// As above for a pop: a read of `head` laps old, on a full and closed ring, looks like
/// an empty closed one. The verdict re-reads `head`: the item must come out, not
/// `Closed`.
#[test]
fn stale_head_laps_old_is_retried_not_taken_for_closed() {
    let ring = Ring::new(MAX_CAPACITY, 0);
    let head = 0usize.wrapping_sub(ring.one_lap);
    let slots: Vec<Slot<u32>> = std::vec![Slot::new(head)];
    // SAFETY: test setup, single-threaded: slot 0 gets an item for position `head`.
    slots[0].value.with_mut(|p| unsafe { (*p).write(7) });
    slots[0]
        .stamp
        .store(head.wrapping_add(1), Ordering::Relaxed);
    ring.head.store(head, Ordering::Relaxed);
    // Full: `cap` positions on from index 0 is index 0 of the next lap. Closed.
    ring.tail.store(
        head.wrapping_add(ring.one_lap) | ring.mark_bit,
        Ordering::Relaxed,
    );
    assert_eq!(ring.len(), MAX_CAPACITY);
    let stale = head.wrapping_add(ring.one_lap); // 2^laps - 1 laps before `head`
    assert_eq!(
        ring.pop_slow(&slots, stale, None).map(|claim| claim.take()),
        Ok(7),
        "a full closed ring, read laps late, reported its end"
    );
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

/// The ring's own model of invariant 5: room is items plus reservations; pops never stop
/// at a reservation; a reservation's item queues when it is sent.
#[test]
fn reservations_take_room_not_a_place_in_line() {
    let f = Fixture::new(3, 0);
    f.ring.reserve(&f.slots).unwrap();
    f.push(1).unwrap();
    f.push(2).unwrap();
    assert!(matches!(f.push(3), Err(PushError::Full(3))));
    assert_eq!(f.ring.reserve(&f.slots), Err(Claim::Full));
    let p = f.ring.positions();
    assert_eq!((p.len, p.reserved, p.pushed), (2, 1, 2));
    // The receivers take what is ready; the reservation holds nobody up.
    assert_eq!(f.pop(), Ok(1));
    f.push(3).unwrap();
    // SAFETY: one reservation is out; consumed once.
    assert!(!unsafe { f.ring.send_reserved(&f.slots, 10) });
    assert_eq!(f.pop(), Ok(2));
    assert_eq!(f.pop(), Ok(3));
    assert_eq!(f.pop(), Ok(10));
    assert_eq!(f.pop(), Err(PopError::Empty));
    let p = f.ring.positions();
    assert_eq!((p.len, p.reserved, p.pushed, p.popped), (0, 0, 4, 4));
}

#[test]
fn a_reservation_given_back_frees_its_room_at_once() {
    for cap in [1, 2, 5] {
        let f = Fixture::new(cap, 0);
        for i in 0..cap - 1 {
            f.push(i).unwrap();
        }
        f.ring.reserve(&f.slots).unwrap();
        assert!(matches!(f.push(99), Err(PushError::Full(99))));
        // SAFETY: one reservation is out; consumed once.
        unsafe { f.ring.give_back() };
        assert_eq!(f.ring.positions().reserved, 0);
        f.push(cap - 1).unwrap();
        for i in 0..cap {
            assert_eq!(f.pop(), Ok(i), "cap {cap}");
        }
        assert_eq!(f.pop(), Err(PopError::Empty));
    }
}

#[test]
fn closed_ring_waits_for_its_reservations() {
    let f = Fixture::new(2, 0);
    f.ring.reserve(&f.slots).unwrap();
    f.ring.reserve(&f.slots).unwrap();
    assert!(f.ring.close());
    assert!(matches!(f.push(1), Err(PushError::Closed(1))));
    assert_eq!(f.ring.reserve(&f.slots), Err(Claim::Closed));
    // Not `Closed` yet: both reservations may still send.
    assert_eq!(f.pop(), Err(PopError::Empty));
    // SAFETY: two reservations are out; each consumed once.
    unsafe { f.ring.send_reserved(&f.slots, 5) };
    assert_eq!(f.pop(), Ok(5));
    assert_eq!(f.pop(), Err(PopError::Empty));
    // SAFETY: as above.
    unsafe { f.ring.give_back() };
    assert_eq!(f.pop(), Err(PopError::Closed));
    let p = f.ring.positions();
    assert_eq!((p.len, p.reserved, p.pushed, p.closed), (0, 0, 1, true));
}

#[test]
fn drop_oldest_leaves_reserved_room_alone() {
    let f = Fixture::new(2, 0);
    f.push(1).unwrap();
    f.ring.reserve(&f.slots).unwrap();
    assert!(matches!(
        f.ring.swap_oldest(&f.slots, 2),
        Err((2, Oldest::Reserved))
    ));
    // SAFETY: one reservation is out; consumed once.
    unsafe { f.ring.give_back() };
    f.push(2).unwrap();
    assert_eq!(f.ring.swap_oldest(&f.slots, 3).ok(), Some((1, false)));
    assert_eq!(f.pop(), Ok(2));
    assert_eq!(f.pop(), Ok(3));
}

/// A small deterministic generator, so the model test needs no dependency.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Pushes, pops, reservations sent and given back, in random order, against a model
/// (`VecDeque` and a count), at several capacities, from lap 0 and from just before the
/// position word wraps: every verdict, every item (FIFO, exactly once) and every
/// `positions()` read must match.
#[test]
fn reservations_match_a_model_across_laps_and_the_wrap() {
    use std::collections::VecDeque;
    let rounds = if cfg!(miri) { 200 } else { 5_000 };
    for cap in [1usize, 2, 3, 4, 7, 8] {
        let mark_bit = (cap + 1).next_power_of_two();
        let laps_in_word = usize::MAX / (mark_bit * 8 * mark_bit) + 1;
        for start_lap in [0, laps_in_word - 3] {
            let f = Fixture::new(cap, start_lap);
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ cap as u64);
            let mut queue = VecDeque::new();
            let (mut reserved, mut next, mut pushed, mut popped) = (0usize, 0u64, 0u64, 0u64);
            for _ in 0..rounds {
                let room = queue.len() + reserved < cap;
                match rng.below(5) {
                    0 => match f.push(next) {
                        Ok(()) => {
                            assert!(room, "cap {cap}: push past the room");
                            queue.push_back(next);
                            next += 1;
                            pushed += 1;
                        }
                        Err(PushError::Full(_)) => assert!(!room, "cap {cap}: false full"),
                        Err(e) => panic!("cap {cap}: {e:?}"),
                    },
                    1 => match f.ring.reserve(&f.slots) {
                        Ok(()) => {
                            assert!(room, "cap {cap}: reservation past the room");
                            reserved += 1;
                        }
                        Err(Claim::Full) => assert!(!room, "cap {cap}: false full"),
                        Err(e) => panic!("cap {cap}: {e:?}"),
                    },
                    2 if reserved > 0 => {
                        // SAFETY: `reserved` counts the reservations out; one is consumed.
                        unsafe { f.ring.send_reserved(&f.slots, next) };
                        queue.push_back(next);
                        next += 1;
                        pushed += 1;
                        reserved -= 1;
                    }
                    3 if reserved > 0 => {
                        // SAFETY: as above.
                        unsafe { f.ring.give_back() };
                        reserved -= 1;
                    }
                    _ => match f.pop() {
                        Ok(v) => {
                            assert_eq!(Some(v), queue.pop_front(), "cap {cap}");
                            popped += 1;
                        }
                        Err(PopError::Empty) => assert!(queue.is_empty(), "cap {cap}"),
                        Err(e) => panic!("cap {cap}: {e:?}"),
                    },
                }
                let p = f.ring.positions();
                assert_eq!(
                    (p.len, p.reserved, p.pushed, p.popped),
                    (queue.len(), reserved, pushed, popped),
                    "cap {cap}, start lap {start_lap}"
                );
            }
            while reserved > 0 {
                // SAFETY: as above.
                unsafe { f.ring.give_back() };
                reserved -= 1;
            }
        }
    }
}

/// Fails the process if `f` has not returned within `secs`: the old behaviour of the
/// tests below was to spin for good, and a hang must fail, not stall the suite.
/// (Under miri the watchdog thread would outlive the test and be reported as a leak; the
/// call runs bare there.)
#[cfg(miri)]
fn within<R>(_: u64, _: &'static str, f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(not(miri))]
fn within<R>(secs: u64, what: &'static str, f: impl FnOnce() -> R) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        if !flag.load(Ordering::SeqCst) {
            std::eprintln!("{what}: still spinning after {secs} s");
            std::process::exit(101);
        }
    });
    let r = f();
    done.store(true, Ordering::SeqCst);
    r
}

/// A drop-oldest swap moves `tail` on before it stores its slot's new stamp. An
/// interrupt handler that preempted it there finds, at a `tail` that does not move, a
/// stamp two laps old. A claim must give that slot up as in flight after its bounded
/// backoff: the code that would store the stamp cannot run while the handler spins.
#[test]
fn isr_reentry_stale_stamp_at_an_unmoved_tail_is_in_flight() {
    let f = Fixture::<u32>::new(2, 0);
    f.push(1).unwrap();
    f.push(2).unwrap();
    let tail = f.ring.position(f.ring.tail.load(Ordering::Relaxed));
    let slot = &f.slots[tail & (f.ring.mark_bit - 1)];
    let real = slot.stamp.load(Ordering::Relaxed);
    slot.stamp.store(
        tail.wrapping_add(1).wrapping_sub(2 * f.ring.one_lap),
        Ordering::Relaxed,
    );
    let r = within(20, "claim at a stale stamp", || f.push(3));
    assert!(matches!(r, Err(PushError::InFlight(3))), "{r:?}");
    slot.stamp.store(real, Ordering::Relaxed);
    assert!(matches!(f.push(3), Err(PushError::Full(3))));
    assert_eq!((f.pop(), f.pop()), (Ok(1), Ok(2)));
}

/// The same at `head`: a pop that finds a stamp it cannot place at a `head` that does not
/// move reports the slot in flight.
#[test]
fn isr_reentry_stale_stamp_at_an_unmoved_head_is_in_flight() {
    let f = Fixture::<u32>::new(2, 0);
    f.push(1).unwrap();
    let head = f.ring.head.load(Ordering::Relaxed) & !f.ring.wait_bit;
    let slot = &f.slots[head & (f.ring.mark_bit - 1)];
    let real = slot.stamp.load(Ordering::Relaxed);
    slot.stamp
        .store(head.wrapping_sub(2 * f.ring.one_lap), Ordering::Relaxed);
    let r = within(20, "pop at a stale stamp", || f.pop());
    assert_eq!(r, Err(PopError::InFlight));
    slot.stamp.store(real, Ordering::Relaxed);
    assert_eq!(f.pop(), Ok(1));
}

/// With `std`, a slot fills a cache line (or the pair the hardware fetches together), so
/// that neighbouring slots written and read from two cores do not share one; without it,
/// slots are packed (see `Slot`).
#[test]
fn slots_are_cache_line_padded_with_std_and_packed_without() {
    let line = if cfg!(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64"
    )) {
        128
    } else {
        64
    };
    if cfg!(feature = "std") {
        assert_eq!(core::mem::align_of::<Slot<u8>>(), line);
        assert_eq!(core::mem::size_of::<Slot<u64>>(), line);
        // An item larger than a line rounds up to whole lines.
        assert_eq!(core::mem::size_of::<Slot<[u8; 200]>>() % line, 0);
    } else {
        assert_eq!(
            core::mem::size_of::<Slot<u64>>(),
            core::mem::size_of::<u64>() + core::mem::size_of::<usize>()
        );
    }
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "claimed room was never filled")]
fn a_dropped_tail_claim_panics_in_debug_builds() {
    // The fixture's drain, during the unwind, gives up at the hole (it does not wait out
    // slots in flight).
    let f = Fixture::<u32>::new(2, 0);
    let claim = f.ring.claim_tail(&f.slots).expect("room");
    drop(claim);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "a claimed item was never taken")]
fn a_dropped_head_claim_panics_in_debug_builds() {
    let f = Fixture::<u32>::new(2, 0);
    f.push(7).expect("room");
    let claim = f.ring.claim_head(&f.slots).expect("an item");
    drop(claim);
}
