//! The bounded MPMC ring: fixed slots, each with a sequence stamp.
//!
//! This is the classic bounded MPMC queue (Vyukov's, in the form crossbeam's `ArrayQueue`
//! made popular), written over a borrowed `&[Slot<T>]` so that a `static` array and a heap
//! `Box<[Slot<T>]>` share one algorithm (see `storage.rs`), plus *reservations*: room
//! taken now and filled later, by a send permit, without holding up the receivers.
//!
//! # Positions
//!
//! `head` (next position to pop) and `tail` (next position to claim) are *positions*
//! `lap | index`, with flags in the bits between. `tail` also carries `r`, the number of
//! reservations outstanding:
//!
//! ```text
//!   high bits                                              low bits
//!   [ lap ....... ][ r ....... ][ swap ][ wait ][ mark ][ index ]
//!                                                 ^ mark_bit = (cap + 1).next_power_of_two()
//!                                         ^ wait_bit = 2 * mark_bit
//!                                 ^ swap_bit = 4 * mark_bit
//!                  ^ r_unit = 8 * mark_bit (r < mark_bit, so r fits below the lap)
//!   one_lap = r_unit * mark_bit
//! ```
//!
//! `index` runs `0..cap`; after the last index the position jumps to index 0 of the next
//! lap. Laps wrap around `usize` with `wrapping_add`, and every comparison below is an
//! equality or a `wrapping_add`, so wrapping (a few seconds away on a 32-bit MCU) is
//! harmless. The `mark` bit is only ever set in `tail`: it means *closed*, and a claim
//! can only happen by CAS on `tail`, so no push can slip in after the close. The `swap`
//! bit, also only in `tail`, says a drop-oldest swap is in progress (invariant 6).
//!
//! The `wait` bit is a flag, not part of the position: in `tail` it says *receivers may
//! be waiting*, in `head` *senders may be waiting*. Waiters raise it (`raise_waiting`),
//! the notifier that empties a wait list lowers it (`lower_waiting`), and every CAS on
//! the word carries it over unchanged and hands what it read to its caller. So a push
//! learns whether to wake a receiver from the CAS it does anyway: no fence, no extra
//! load (wait-list invariant 4b).
//!
//! # Invariants
//!
//! Write `T` for `tail`'s position and `ready = T - r` (counted in positions).
//!
//! 1. Each slot's `stamp` says whose turn it is. For the position `p` that maps to the
//!    slot: `stamp == p` → empty, a claim at `p` may take it; `stamp == p + 1` → full, a
//!    pop at `p` may take it. After a pop at `p` the stamp becomes `p + one_lap` (empty
//!    for the next lap). Stamps carry no flag bits.
//! 2. `head <= ready <= T <= head + cap` in position order. Positions `head..ready` are
//!    items (published, or being written: in flight), `ready..T` are the `r`
//!    reservations: claimed room, never written, their stamps still "empty". So
//!    `len = ready - head`, and items plus reservations never exceed `cap`: a claim
//!    takes the slot at `T` only if its stamp says empty, exactly as in the plain ring.
//! 3. A slot is written by exactly one thread: the one whose CAS on `tail` moved `ready`
//!    past its position (below). It is read by exactly one thread: the one whose CAS on
//!    `head` claimed its position. Each touches the value only until it stores the next
//!    stamp. So each value is written once, read once, and dropped once.
//! 4. Between that CAS and the stamp store a slot is *in flight*. No user code runs in
//!    that window. A claim that finds its slot still holding last lap's item while
//!    `head` has moved past it (a pop in flight), or a pop that finds its slot not yet
//!    written while `ready` has moved past it (a write in flight), waits with a bounded
//!    backoff, then reports `InFlight` (the try API says Full / Empty). The ring never
//!    spins without bound (PITFALLS `skip-hang`); what a waiting caller does next is the
//!    channel's choice (`chan/core.rs`, "Waiting out a slot in flight"). A plain
//!    `try_send` can therefore see Full while one slot is mid-pop (PITFALLS
//!    `false-full`): only after the backoff (~100 spins and a few yields) has expired.
//! 5. **Reservations take room, not a place in line.** Every change of `tail` is one
//!    CAS (or RMW) on the word that holds both `T` and `r`, so `ready` moves only
//!    forward and by exactly one write per step:
//!
//!    | operation | `tail` word | writes position |
//!    |---|---|---|
//!    | push | `(T, r)` → `(T + 1, r)`, slot `T` empty | `ready` (`T` when `r == 0`) |
//!    | reserve | `(T, r)` → `(T + 1, r + 1)`, slot `T` empty | nothing |
//!    | send a reservation | `(T, r)` → `(T, r - 1)` | `ready` |
//!    | give one back | `(T, r)` → `(T - 1, r - 1)` | nothing |
//!
//!    A push while reservations are out writes at `ready` and moves the reserved room one
//!    slot on; a reservation's item is written at `ready` when it is sent, so it queues
//!    behind everything sent before it, as if sent then. Giving a reservation back
//!    retracts `tail` over the last reserved position, never written, so its room is free
//!    again at once. Pops stop at `ready`: a held reservation never holds up an item.
//!    `ready` only moves forward, so a `tail` word that comes back to an old value means
//!    the same state (the same written positions): a stale CAS that succeeds is a valid
//!    one. With `r == 0` the word has no bits above the flags but the lap, and the
//!    fast paths are the plain ring's: a push whose `tail` carries `r` or `swap` bits
//!    fails the stamp comparison and goes to the slow path, at no cost.
//! 6. **Drop-oldest is one step** ([`Ring::swap_oldest`]), and only with no reservation
//!    out. On a full ring the oldest position `T - one_lap` maps to the very slot `T`
//!    does. A swap first sets the `swap` bit in `tail`, by CAS from the word it checked
//!    (open, `r == 0`, no swap in progress, the slot holding the oldest item, `head` at
//!    it): from then on no claim can happen (their CAS expects a word without the bit),
//!    so `r` stays 0, no other swap can start, and every pop or `positions()` that reads
//!    `tail` sees a swap in progress — a pop that reaches `tail` treats the slot as in
//!    flight, never as empty or closed. Then it claims the oldest item by CAS on `head`,
//!    moves it out, writes the new one, moves `tail` on (clearing the bit, carrying over
//!    the wait flag and a close mark that may have landed meanwhile: the swap took effect
//!    before that close), and publishes the stamp. If a pop took the oldest item between
//!    the check and the head CAS, the swap clears the bit and gives up
//!    (`Oldest::Raced`); the caller retries, and without `std` wakes whoever parked at
//!    the bit. With `std`, `positions()` waits a swap out, so `len` stays `cap` across it
//!    and the totals never step back. With reservations out, room held by a permit is not
//!    the oldest item's to give: the swap reports `Oldest::Reserved`.
//!
//! # Capacity, and stale reads
//!
//! `r` needs as many bits as the index, so the lap gets `usize::BITS - 3 - 2k` bits for
//! `mark_bit = 2^k`. The lap bits are what keep a stale read from passing for a current
//! one: a thread preempted between its read of `tail` and its CAS is fooled only if the
//! word comes back to the very value it read, `2^laps` laps later (the classic ABA of
//! this queue). So [`MAX_CAPACITY`] keeps at least 8 lap bits, 256 laps: 2^26 - 1 on
//! 64-bit targets, 1,023 on 32-bit ones. Small rings keep many more (capacity 64 on a
//! 32-bit MCU: 15 bits). And a Full, Empty or Closed verdict is only given on a read of
//! the guessed word that is still current (it is re-read before the verdict), so a read
//! laps old is retried, never taken for last lap's.
//!
//! # Orderings
//!
//! | access | ordering | why |
//! |---|---|---|
//! | `head`/`tail` load to start an attempt | Relaxed | only a guess; the stamp check and the CAS validate it |
//! | slot `stamp` load | Acquire | pairs with the Release stamp store of the slot's previous owner: a popper sees the pushed value; a pusher sees that the previous popper finished reading |
//! | `head`/`tail` claim CAS, a reservation's send (`fetch_sub`) and give-back CAS | SeqCst | each takes part in the single total order with the fences of the full/empty checks and the wait lists, so a Full/Empty verdict is linearizable (a CAS is a full barrier on x86 anyway) |
//! | slot `stamp` store after write/read | Release | publishes the value (push) or the end of our read (pop) to the next owner |
//! | `fence` before the full/empty re-read | SeqCst | orders "my stamp read said occupied/empty" before the read of the other end |
//! | `raise_waiting`: `fetch_or(wait)` | SeqCst | an RMW on the word every claim CASes, so each claim either reads the flag or is read by the raiser (coherence alone decides; SeqCst keeps it in the total order with the wait list's fences) |
//! | `lower_waiting`: `fetch_and(!wait)` | SeqCst | as for `raise_waiting`; done under the wait list's lock with the list empty |
//! | `load` of the flag before raising | Relaxed | a raiser that sees the flag up skips its RMW: the flag was raised by a waiter still queued ahead of it, and stays up while any waiter is queued (see `chan/core.rs`) |
//! | close: `fetch_or(mark)` on `tail` | SeqCst | one RMW on the word every claim must CAS: a claim either happened before it or sees the mark; SeqCst keeps close in the total order the wait lists' fences rely on |
//! | `len()` reads of `tail`, `head`, `tail` | SeqCst | a stable pair (tail unchanged around the head read) gives `head <= ready`, so `len` is always in `0..=cap` |
//! | `head` load in the full check | Relaxed | after the SeqCst fence; compared only for equality with `tail - one_lap` |
//! | swap: `tail` load, `swap` bit CAS, head CAS, tail CAS | SeqCst | as a claim: the close mark and the receiver-wait flag are read in the total order, and a pop's SeqCst `tail` read after its fence sees a swap whose head CAS it saw (invariant 6) |
//! | swap given up: `fetch_and(!swap)` | SeqCst | as `lower_waiting` |

use crate::loom::{fence, AtomicUsize, Backoff, Ordering, UnsafeCell};
use core::mem::MaybeUninit;
use crossbeam_utils::CachePadded;

/// The largest capacity a channel can have (module docs, "Capacity"): with
/// `mark_bit = 2^k`, the index, three flags, `r` (k bits) and at least 8 lap bits must
/// fit in a `usize`. 2^26 - 1 on 64-bit targets, 1,023 on 32-bit ones.
pub(crate) const MAX_CAPACITY: usize = (1 << ((usize::BITS as usize - 3 - 8) / 2)) - 1;

/// One cell of the ring.
///
/// With `std` each slot is padded to a cache line: 128 bytes where the hardware pairs
/// 64-byte lines or has 128-byte ones, 64 elsewhere (the sizes crossbeam's `CachePadded`,
/// used for the ring's position words, picks on these targets). Unpadded, four `u64`
/// slots share a line, and with the two ends a few positions apart on two cores every
/// message moved that line back and forth. Padding made the capacity-64 rows with two
/// cores busy 1.1–1.5× faster (smol SPSC, already fast, did not move) and left capacity
/// 1, capacity 1,024 and a single thread as they were
/// (docs/PERFORMANCE.md, "Padded slots", has the runs). The price is memory, at least
/// `capacity × 128` bytes, so without `std` (bare metal: usually one core, and memory is
/// what runs out) slots stay packed.
#[cfg_attr(
    all(
        feature = "std",
        any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "powerpc64"
        )
    ),
    repr(align(128))
)]
#[cfg_attr(
    all(
        feature = "std",
        not(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "powerpc64"
        ))
    ),
    repr(align(64))
)]
pub(crate) struct Slot<T> {
    /// Whose turn it is (see the module docs, invariant 1).
    stamp: AtomicUsize,
    /// # Safety
    /// Initialized exactly when `stamp == position + 1` for the position that maps here,
    /// and accessed only by the thread that owns that position (invariant 3).
    value: UnsafeCell<MaybeUninit<T>>,
}

// A slot's value is never reached through a shared reference by user code: it is moved
// in and out whole by the thread that owns its position, and a panic in user code (an
// item's `Drop`, a waker) happens only after the move, with the stamp already published.
// So no unwind can leave a slot half-changed for someone else to observe.
impl<T> core::panic::RefUnwindSafe for Slot<T> {}

impl<T> core::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slot")
            .field("stamp", &self.stamp.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T> Slot<T> {
    crate::loom::const_fn! {
        /// An empty slot with the given stamp.
        pub(crate) const fn new(stamp: usize) -> Self {
            Self {
                stamp: AtomicUsize::new(stamp),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            }
        }
    }
}

/// Why a push did not happen. The value always comes back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    /// Every slot is taken (by items or reservations).
    Full(T),
    /// Every slot is taken, but the oldest is being read right now; the bounded backoff
    /// ran out first (invariant 4).
    InFlight(T),
    /// The ring was closed.
    Closed(T),
}

/// Why a pop returned nothing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PopError {
    /// Nothing to take now: no item is queued (reservations may be out; they never hold
    /// up a pop, invariant 5).
    Empty,
    /// Empty, closed, no reservation out and no write in flight: nothing will ever come.
    Closed,
    /// The oldest position is being written (a push, a reservation's send, a swap), so
    /// nothing can be taken now, though items may be queued behind it; the bounded
    /// backoff ran out first (invariant 4).
    InFlight,
}

/// An item claimed by [`Ring::claim_head`]: our CAS moved `head` past its slot, and the
/// item is still in it. [`take`](Self::take) moves it out. Only `Ring::head_claim` makes
/// one and `take` consumes it, so a claimed item is moved out at most once. A claim
/// dropped untaken would leave its slot occupied for good (the ring stalls there, with no
/// UB), so every path takes it; debug builds panic on such a drop.
#[must_use = "a claimed item must be taken, or its slot stays occupied"]
pub(crate) struct HeadClaim<'s, T> {
    slot: &'s Slot<T>,
    /// The slot's stamp once the item is out: empty, for the next lap's pusher.
    next_stamp: usize,
    /// The sender-wait flag as the claim CAS read it.
    pub(crate) waiting: bool,
}

impl<T> HeadClaim<'_, T> {
    /// Moves the item out and frees its slot for the next lap's pusher.
    #[inline(always)]
    pub(crate) fn take(self) -> T {
        let (slot, next_stamp) = (self.slot, self.next_stamp);
        // Consumed: the debug drop check below must not fire.
        core::mem::forget(self);
        // SAFETY: a `HeadClaim` is made only by `head_claim`, right after our CAS moved
        // `head` past this slot, whose stamp said it holds an initialized item (invariant
        // 1); only we touch it until the stamp store below (invariant 3), and the claim
        // was consumed above, so this is the one move out.
        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
        // Release: tell the next lap's pusher our read is done.
        slot.stamp.store(next_stamp, Ordering::Release);
        value
    }
}

#[cfg(debug_assertions)]
impl<T> Drop for HeadClaim<'_, T> {
    fn drop(&mut self) {
        panic!("sluicebox: a claimed item was never taken (its slot would stay occupied)");
    }
}

/// Room claimed by [`Ring::claim_tail`] (or a reservation being sent): our RMW on `tail`
/// moved `ready` past its slot, which is empty for this lap and ours alone.
/// [`put`](Self::put) fills and publishes it. Only `Ring::tail_claim` makes one and `put`
/// consumes it, so claimed room is written at most once. A claim dropped unfilled would
/// leave a hole that every pop waits on (no UB, but a stall), so every path fills it;
/// debug builds panic on such a drop.
#[must_use = "claimed room must be filled, or the ring stalls at it"]
pub(crate) struct TailClaim<'s, T> {
    slot: &'s Slot<T>,
    /// The slot's stamp once the item is in: this lap's, full.
    stamp: usize,
    /// The receiver-wait flag as the claim CAS read it.
    pub(crate) waiting: bool,
}

impl<T> TailClaim<'_, T> {
    /// Moves `value` into the claimed slot and publishes it.
    #[inline(always)]
    pub(crate) fn put(self, value: T) {
        let (slot, stamp) = (self.slot, self.stamp);
        // Consumed: the debug drop check below must not fire.
        core::mem::forget(self);
        // SAFETY: a `TailClaim` is made only by `tail_claim`, right after our RMW on
        // `tail` moved `ready` past this slot. Its stamp said empty for this lap when its
        // room was claimed (invariant 1: by this claim's CAS, or, with reservations out,
        // by the earlier reservation's), nobody else reads or writes the value until the
        // stamp store below (invariant 3), and the claim was consumed above, so this is
        // the one write.
        slot.value.with_mut(|p| unsafe { (*p).write(value) });
        // Release: publish the value to the popper's Acquire stamp load.
        slot.stamp.store(stamp, Ordering::Release);
    }
}

#[cfg(debug_assertions)]
impl<T> Drop for TailClaim<'_, T> {
    fn drop(&mut self) {
        panic!("sluicebox: claimed room was never filled (every pop would wait at it)");
    }
}

impl<T> PushError<T> {
    /// The error for a claim that failed with `why`, giving `value` back.
    #[inline(always)]
    pub(crate) fn new(why: Claim, value: T) -> Self {
        match why {
            Claim::Full => PushError::Full(value),
            Claim::InFlight => PushError::InFlight(value),
            Claim::Closed => PushError::Closed(value),
        }
    }
}

/// Why room could not be claimed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Every slot is taken (by items or reservations).
    Full,
    /// Every slot is taken, but the oldest is mid-pop (see invariant 4).
    InFlight,
    /// The ring was closed.
    Closed,
}

/// Why [`Ring::swap_oldest`] swapped nothing.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Oldest {
    /// The ring is not full (or other operations moved it): try a plain push.
    Moved,
    /// Reservations are out: their room is not the oldest item's to give (invariant 6).
    Reserved,
    /// The oldest slot is being written by a push, or another swap is in progress.
    InFlight,
    /// A pop took the oldest item while we set up the swap; nothing changed.
    Raced,
    /// The ring is closed.
    Closed,
}

/// Which end's position word a wait flag lives in: the one the *other* side claims with
/// its CAS (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// `head`: senders waiting (pops read it).
    Head,
    /// `tail`: receivers waiting (pushes read it).
    Tail,
}

/// What a claim of the slot at `T` is for (invariant 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Take {
    /// An item, written at `ready`.
    Push,
    /// Room for a later item: `r` goes up by one.
    Reserve,
}

/// The positions of the ring. The slots live elsewhere and are passed in.
pub(crate) struct Ring {
    /// Next position to pop.
    head: CachePadded<AtomicUsize>,
    /// Next position to claim, with the reservation count and the close mark.
    tail: CachePadded<AtomicUsize>,
    cap: usize,
    mark_bit: usize,
    wait_bit: usize,
    swap_bit: usize,
    /// `r == 1` in the tail word.
    r_unit: usize,
    /// `r_unit.trailing_zeros()`.
    r_shift: u32,
    /// The bits of `r`.
    r_mask: usize,
    one_lap: usize,
    /// The position the ring started at (lap `start_lap`, index 0); totals count from it.
    origin: usize,
}

impl core::fmt::Debug for Ring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("head", &self.head.load(Ordering::Relaxed))
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .field("cap", &self.cap)
            .finish()
    }
}

/// Positions read at one instant: `head <= ready <= tail`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Positions {
    /// Items queued (`ready - head`).
    pub(crate) len: usize,
    /// Reservations out (`r`).
    pub(crate) reserved: usize,
    /// Items pushed since the ring was made (wraps on 32-bit targets; see `Stats`).
    pub(crate) pushed: u64,
    /// Items popped since the ring was made.
    pub(crate) popped: u64,
    pub(crate) closed: bool,
}

impl Ring {
    crate::loom::const_fn! {
        /// A ring for `cap` slots whose first position is index 0 of lap `start_lap`.
        ///
        /// `start_lap` exists so tests can start just before the position word wraps.
        /// The slots must be made with [`Ring::initial_stamp`].
        pub(crate) const fn new(cap: usize, start_lap: usize) -> Self {
            assert!(cap > 0, "sluicebox: channel capacity must be at least 1");
            assert!(
                cap <= MAX_CAPACITY,
                "sluicebox: channel capacity is larger than the maximum \
                 (sluicebox::MAX_CAPACITY: 2^26 - 1 on 64-bit targets, 1023 on 32-bit ones)"
            );
            let mark_bit = (cap + 1).next_power_of_two();
            let r_unit = mark_bit * 8;
            let one_lap = r_unit * mark_bit;
            let origin = start_lap.wrapping_mul(one_lap);
            Self {
                head: CachePadded::new(AtomicUsize::new(origin)),
                tail: CachePadded::new(AtomicUsize::new(origin)),
                cap,
                mark_bit,
                wait_bit: mark_bit * 2,
                swap_bit: mark_bit * 4,
                r_unit,
                r_shift: r_unit.trailing_zeros(),
                r_mask: (mark_bit - 1) * r_unit,
                one_lap,
                origin,
            }
        }
    }

    /// The stamp slot `index` must start with in a ring made by `new(cap, start_lap)`.
    pub(crate) const fn initial_stamp(cap: usize, start_lap: usize, index: usize) -> usize {
        let mark_bit = (cap + 1).next_power_of_two();
        let one_lap = mark_bit * 8 * mark_bit;
        start_lap.wrapping_mul(one_lap).wrapping_add(index)
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// The position after `pos` (which must carry no flag and no `r`).
    #[inline]
    fn next(&self, pos: usize) -> usize {
        let index = pos & (self.mark_bit - 1);
        if index + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// The position `n <= cap` before `pos` (which must carry no flag and no `r`).
    #[inline]
    fn back(&self, pos: usize, n: usize) -> usize {
        let index = pos & (self.mark_bit - 1);
        if index >= n {
            pos - n
        } else {
            (pos & !(self.one_lap - 1))
                .wrapping_sub(self.one_lap)
                .wrapping_add(self.cap - (n - index))
        }
    }

    /// The position in a `tail` word: flags and `r` removed.
    #[inline]
    fn position(&self, raw: usize) -> usize {
        raw & !(self.mark_bit | self.wait_bit | self.swap_bit | self.r_mask)
    }

    /// The reservation count `r` in a `tail` word.
    #[inline]
    fn reserved_in(&self, raw: usize) -> usize {
        (raw & self.r_mask) >> self.r_shift
    }

    /// Pushes `value`, or gives it back. `Ok(waiting)`: the receiver-wait flag was up
    /// when our claim took effect. [`claim_tail`](Self::claim_tail), then
    /// [`TailClaim::put`]; `Chan::push` calls those two itself.
    #[cfg(test)]
    pub(crate) fn push<T>(&self, slots: &[Slot<T>], value: T) -> Result<bool, PushError<T>> {
        match self.claim_tail(slots) {
            Ok(claim) => {
                let waiting = claim.waiting;
                claim.put(value);
                Ok(waiting)
            }
            Err(why) => Err(PushError::new(why, value)),
        }
    }

    /// Claims room for a push, to be filled with [`TailClaim::put`]. Always inlined
    /// (into `Chan::push`, and so into the send future): out of line it cost a call per
    /// async send (callgrind, tokio current-thread SPSC: 316 → 301 instructions per
    /// message).
    ///
    /// The item is not passed here, and no `Result` carrying it is built on the success
    /// path: `Result<bool, PushError<T>>` stores the `Ok` flag in the first byte of the
    /// error's item, which made the compiler copy 64-byte items as a byte plus 63
    /// unaligned bytes (see [`claim_head`](Self::claim_head)).
    #[inline(always)]
    pub(crate) fn claim_tail<'s, T>(
        &self,
        slots: &'s [Slot<T>],
    ) -> Result<TailClaim<'s, T>, Claim> {
        let (pos, waiting) = self.claim(slots)?;
        // SAFETY: `claim` just moved `ready` past `pos`.
        Ok(unsafe { self.tail_claim(slots, pos, waiting) })
    }

    /// The claim of the room at `pos`, with the receiver-wait flag `waiting`.
    ///
    /// # Safety
    /// Our RMW on `tail` has just moved `ready` past `pos` (a claim, or a reservation's
    /// send), and nothing has written there since: `TailClaim::put` writes on that ground.
    #[inline(always)]
    unsafe fn tail_claim<'s, T>(
        &self,
        slots: &'s [Slot<T>],
        pos: usize,
        waiting: bool,
    ) -> TailClaim<'s, T> {
        TailClaim {
            slot: &slots[pos & (self.mark_bit - 1)],
            stamp: pos.wrapping_add(1),
            waiting,
        }
    }

    /// Claims room for a push: the slot at `T`, and the position to write at (`ready`;
    /// invariant 5). Returns that position and whether the receiver-wait flag was up.
    #[inline(always)]
    fn claim<T>(&self, slots: &[Slot<T>]) -> Result<(usize, bool), Claim> {
        debug_assert_eq!(slots.len(), self.cap);
        // Fast path, small enough to inline into every send: no reservation out, no
        // swap, the slot is free and our CAS wins. The plain Full verdict is
        // `claim_slow`'s first turn, inline. Anything else continues in `claim_slow`
        // from the `tail` word and stamp first read here; after a plain-case check that
        // gave no verdict, that repeats the check (one more fence and re-read, on a
        // contended path only), which is as valid as a loop turn that read later.
        // Orderings as in `claim_slow`.
        // Relaxed: a guess, validated by the stamp check and the CAS.
        let raw = self.tail.load(Ordering::Relaxed);
        if raw & self.mark_bit != 0 {
            return Err(Claim::Closed);
        }
        // With `r` or the swap bit set, `tail` is no stamp value: the comparison below
        // sends us to the slow path without a separate test.
        let tail = raw & !self.wait_bit;
        // Acquire: as in `claim_slow`.
        let stamp = slots[tail & (self.mark_bit - 1)]
            .stamp
            .load(Ordering::Acquire);
        if stamp != tail {
            if raw & (self.swap_bit | self.r_mask) == 0 && self.holds_last_lap(stamp, tail) {
                // Full, in the plain case (no reservation out, no swap): `claim_slow`'s
                // first turn, inline, for a sender about to wait (a call there cost
                // about 60 instructions per failed attempt). Same reads, same order.
                // SeqCst fence: order the stamp read before the head read.
                fence(Ordering::SeqCst);
                // Relaxed (both): ordered by the fence; only compared for equality. The
                // second read makes the verdict need a current `tail`, as in `claim_slow`.
                let head = self.head.load(Ordering::Relaxed) & !self.wait_bit;
                if head.wrapping_add(self.one_lap) == tail
                    && self.tail.load(Ordering::Relaxed) == raw
                {
                    return Err(Claim::Full);
                }
            }
            return self.claim_slow(slots, raw, Some(stamp), Take::Push);
        }
        let new_raw = self.next(tail) | (raw & self.wait_bit);
        // SeqCst on success: see the module's ordering table.
        match self
            .tail
            .compare_exchange_weak(raw, new_raw, Ordering::SeqCst, Ordering::Relaxed)
        {
            Ok(_) => Ok((tail, raw & self.wait_bit != 0)),
            Err(current) => self.claim_slow(slots, current, None, Take::Push),
        }
    }

    /// Reserves room for one item, to be sent with [`send_reserved`](Self::send_reserved)
    /// or given back with [`give_back`](Self::give_back) (invariant 5).
    pub(crate) fn reserve<T>(&self, slots: &[Slot<T>]) -> Result<(), Claim> {
        // Relaxed: a guess, validated by the stamp check and the CAS.
        let raw = self.tail.load(Ordering::Relaxed);
        // Acquire: as in `claim_slow`.
        let stamp = slots[raw & (self.mark_bit - 1)]
            .stamp
            .load(Ordering::Acquire);
        self.claim_slow(slots, raw, Some(stamp), Take::Reserve)
            .map(drop)
    }

    /// Reserves room for one item if that takes one CAS now: no retry, no backoff, no
    /// waiting out a slot in flight. For a notifier handing room to the waiter it wakes,
    /// under the wait list's lock (wait-list invariant 6); `false` leaves the waiter to
    /// retry on its own.
    pub(crate) fn reserve_now<T>(&self, slots: &[Slot<T>]) -> bool {
        // Relaxed: a guess, validated by the stamp check and the CAS.
        let raw = self.tail.load(Ordering::Relaxed);
        if raw & (self.mark_bit | self.swap_bit) != 0 {
            return false;
        }
        let tail = self.position(raw);
        let r = self.reserved_in(raw);
        // Acquire: as in `claim_slow`.
        if slots[tail & (self.mark_bit - 1)]
            .stamp
            .load(Ordering::Acquire)
            != tail
        {
            return false;
        }
        // `r + 1` fits: the slot at `T` is free, so `r < cap` (invariant 2).
        let new_raw = self.next(tail) | ((r + 1) << self.r_shift) | (raw & self.wait_bit);
        // SeqCst on success: as for a claim.
        self.tail
            .compare_exchange(raw, new_raw, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    /// A claim past the fast path: the loop, entered with `raw` (the `tail` word last
    /// read) and, if the caller read it, the stamp of `raw`'s slot (`None`: the caller
    /// lost its CAS, and `raw` is what the CAS read).
    #[cold]
    #[inline(never)]
    fn claim_slow<T>(
        &self,
        slots: &[Slot<T>],
        mut raw: usize,
        mut read: Option<usize>,
        take: Take,
    ) -> Result<(usize, bool), Claim> {
        let backoff = Backoff::new();
        if read.is_none() {
            backoff.spin();
        }
        loop {
            if raw & self.mark_bit != 0 {
                return Err(Claim::Closed);
            }
            if raw & self.swap_bit != 0 {
                // A drop-oldest swap owns the tail slot (invariant 6): in flight.
                if backoff.is_completed() {
                    return Err(Claim::InFlight);
                }
                backoff.snooze();
                read = None;
                // Relaxed: a fresh guess, as above.
                raw = self.tail.load(Ordering::Relaxed);
                continue;
            }
            let tail = self.position(raw);
            let r = self.reserved_in(raw);
            let slot = &slots[tail & (self.mark_bit - 1)];
            // Acquire: see the previous popper's read of this slot finish before we write.
            let stamp = read
                .take()
                .unwrap_or_else(|| slot.stamp.load(Ordering::Acquire));
            if stamp == tail {
                let r_after = match take {
                    Take::Push => r,
                    // Cannot overflow `r`'s bits: `r < cap < mark_bit` while a slot is
                    // free (invariant 2).
                    Take::Reserve => r + 1,
                };
                // The wait flag rides along unchanged.
                let new_raw = self.next(tail) | (r_after << self.r_shift) | (raw & self.wait_bit);
                // SeqCst on success: see the module's ordering table.
                match self.tail.compare_exchange_weak(
                    raw,
                    new_raw,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok((self.back(tail, r), raw & self.wait_bit != 0)),
                    Err(current) => {
                        raw = current;
                        backoff.spin();
                    }
                }
            } else if self.holds_last_lap(stamp, tail) {
                // The slot still holds last lap's item, or last lap's write is still in
                // flight: full, or it is mid-pop / mid-write.
                // SeqCst fence: order the stamp read before the head read.
                fence(Ordering::SeqCst);
                // Relaxed: ordered by the fence above; only compared for equality.
                let head = self.head.load(Ordering::Relaxed) & !self.wait_bit;
                if head.wrapping_add(self.one_lap) == tail {
                    // Relaxed: only compared for equality. The verdict needs our read of
                    // `tail` to be current: one laps old can look like this too (module
                    // docs, "Capacity, and stale reads").
                    let now = self.tail.load(Ordering::Relaxed);
                    if now == raw {
                        return Err(Claim::Full);
                    }
                    raw = now;
                    continue;
                }
                if backoff.is_completed() {
                    return Err(Claim::InFlight);
                }
                backoff.snooze();
                // Relaxed: a fresh guess, as above.
                raw = self.tail.load(Ordering::Relaxed);
            } else {
                // Our `tail` is stale: another claim moved it meanwhile. Unless it has not
                // moved: then the slot's stamp is still being written by an operation that
                // is done with `tail` but not with the slot (a drop-oldest swap that moved
                // `tail` on, preempted before its stamp store). That is a slot in flight,
                // given up on like any other: the writer may be the very code an
                // interrupt handler calling us preempted, and never finish while we spin.
                // Relaxed: a fresh guess, as above.
                let now = self.tail.load(Ordering::Relaxed);
                if now == raw {
                    if backoff.is_completed() {
                        return Err(Claim::InFlight);
                    }
                    backoff.snooze();
                } else {
                    backoff.spin();
                }
                raw = now;
            }
        }
    }

    /// Whether `stamp`, found at the slot of claim position `tail`, is last lap's: an
    /// item, or a write not yet published.
    #[inline]
    fn holds_last_lap(&self, stamp: usize, tail: usize) -> bool {
        let then = stamp.wrapping_add(self.one_lap);
        then == tail.wrapping_add(1) || then == tail
    }

    /// Sends `value` with a reservation: it is written at `ready` and queues behind
    /// everything sent before (invariant 5). Works on a closed ring too: the reservation
    /// was made before the close. Returns `true` if this was the last reservation of a
    /// closed ring: once its item is popped, the ring's end can be seen.
    ///
    /// # Safety
    /// The caller owns a reservation made by [`reserve`](Self::reserve) on this ring and
    /// consumes it here: each reservation is sent or given back once.
    pub(crate) unsafe fn send_reserved<T>(&self, slots: &[Slot<T>], value: T) -> bool {
        // SeqCst: see the module's ordering table. The caller's reservation is counted in
        // `r`, so this lowers `r` by one and borrows from no other bits; `tail` does not
        // move, and no swap is in progress while `r > 0` (invariant 6).
        let raw = self.tail.fetch_sub(self.r_unit, Ordering::SeqCst);
        let r = self.reserved_in(raw);
        debug_assert!(r >= 1, "sluicebox: a reservation sent that was not made");
        let pos = self.back(self.position(raw), r);
        // SAFETY: our RMW moved `ready` past `pos` (`ready` was `T - r`, is now
        // `T - (r - 1)`), so it is ours to write, once (invariant 3).
        unsafe { self.tail_claim(slots, pos, false) }.put(value);
        r == 1 && raw & self.mark_bit != 0
    }

    /// Gives a reservation back: `tail` retracts over the last reserved position, whose
    /// room is free again at once (invariant 5). Returns `true` if this was the last
    /// reservation of a closed ring, as for [`send_reserved`](Self::send_reserved).
    ///
    /// # Safety
    /// As for [`send_reserved`](Self::send_reserved).
    pub(crate) unsafe fn give_back(&self) -> bool {
        // Relaxed: a guess, validated by the CAS.
        let mut raw = self.tail.load(Ordering::Relaxed);
        loop {
            let r = self.reserved_in(raw);
            debug_assert!(
                r >= 1,
                "sluicebox: a reservation given back that was not made"
            );
            // `T - 1` is reserved (`r >= 1`), never written: its stamp still says empty,
            // so retracting over it needs no stamp store.
            let new_raw = self.prev(self.position(raw))
                | ((r - 1) << self.r_shift)
                | (raw & (self.wait_bit | self.mark_bit));
            // SeqCst on success: see the module's ordering table.
            match self
                .tail
                .compare_exchange_weak(raw, new_raw, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return r == 1 && raw & self.mark_bit != 0,
                Err(current) => raw = current,
            }
        }
    }

    /// Gives back every reservation still out, in one step: `(T, r)` → `(T - r, 0)`, a
    /// retraction over `r` positions never written (invariant 5). Returns whether there
    /// were any. Only when nobody can use them any more (the last sender is gone, and
    /// every permit borrows a sender: what is left was forgotten).
    pub(crate) fn reclaim_reservations(&self) -> bool {
        // Relaxed: a guess, validated by the CAS.
        let mut raw = self.tail.load(Ordering::Relaxed);
        loop {
            let r = self.reserved_in(raw);
            if r == 0 {
                return false;
            }
            let new_raw =
                self.back(self.position(raw), r) | (raw & (self.wait_bit | self.mark_bit));
            // SeqCst on success: as for `give_back`.
            match self
                .tail
                .compare_exchange_weak(raw, new_raw, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(current) => raw = current,
            }
        }
    }

    /// The position before `pos` (which must carry no flag and no `r`).
    #[inline]
    fn prev(&self, pos: usize) -> usize {
        self.back(pos, 1)
    }

    /// Pops the oldest item. `Ok((item, waiting))`: `waiting` is the sender-wait flag as
    /// our claim CAS read it. [`claim_head`](Self::claim_head), then
    /// [`HeadClaim::take`].
    #[inline]
    pub(crate) fn pop<T>(&self, slots: &[Slot<T>]) -> Result<(T, bool), PopError> {
        let claim = self.claim_head(slots)?;
        let waiting = claim.waiting;
        Ok((claim.take(), waiting))
    }

    /// Claims the oldest item for a pop, to be moved out with [`HeadClaim::take`].
    /// Always inlined, as `claim`: out of line it cost a call per async receive
    /// (callgrind, tokio current-thread SPSC at capacity 64: 348 against 325 instructions
    /// per message with `unregister_granting` out of line too).
    ///
    /// The item is not read here but by `take`, on the success path only. Returning it
    /// from here, as `Result<(T, bool), PopError>`, joined the fast path's result with the
    /// slow path's in memory, and that type stores the error in the first byte of the
    /// item: the compiler then copied an item's first byte apart from the rest, with
    /// unaligned loads over the stores just made, which the CPU cannot forward (64-byte
    /// items: a quarter of `try_recv`'s samples on one such load; docs/PERFORMANCE.md,
    /// "Moving 64-byte items").
    #[inline(always)]
    pub(crate) fn claim_head<'s, T>(
        &self,
        slots: &'s [Slot<T>],
    ) -> Result<HeadClaim<'s, T>, PopError> {
        debug_assert_eq!(slots.len(), self.cap);
        // Fast path, as in `claim`: the slot holds this lap's item and our CAS wins,
        // or the plain Empty verdict; anything else continues in `pop_slow` from the
        // values first read here.
        // Relaxed: a guess, validated by the stamp check and the CAS.
        let raw = self.head.load(Ordering::Relaxed);
        let head = raw & !self.wait_bit;
        let slot = &slots[head & (self.mark_bit - 1)];
        // Acquire: see the pusher's write of the value.
        let stamp = slot.stamp.load(Ordering::Acquire);
        if stamp != head.wrapping_add(1) {
            if stamp == head {
                // Empty, in the plain case (no reservation out, no swap, not closed):
                // `pop_slow`'s first turn, inline, for a receiver about to wait (a call
                // there cost about 70 instructions per failed attempt). Same reads, same
                // order.
                // SeqCst fence: order the stamp read before the tail read.
                fence(Ordering::SeqCst);
                // SeqCst: as in `pop_slow`.
                let tail = self.tail.load(Ordering::SeqCst);
                // Relaxed: only compared for equality; the verdict needs a current
                // `head`, as in `pop_slow`.
                if tail & !self.wait_bit == head && self.head.load(Ordering::Relaxed) == raw {
                    return Err(PopError::Empty);
                }
            }
            return self.pop_slow(slots, raw, Some(stamp));
        }
        let new_raw = self.next(head) | (raw & self.wait_bit);
        // SeqCst on success: see the module's ordering table.
        match self
            .head
            .compare_exchange_weak(raw, new_raw, Ordering::SeqCst, Ordering::Relaxed)
        {
            // SAFETY: our CAS just moved `head` past `slot`'s position.
            Ok(_) => Ok(unsafe { self.head_claim(slot, head, raw) }),
            Err(current) => self.pop_slow(slots, current, None),
        }
    }

    /// The claim of `slot` at position `head` by a CAS that read the `head` word `raw`.
    ///
    /// # Safety
    /// Our CAS on `head`, from `raw` to the next position, has just succeeded, and `slot`
    /// is the slot of `head`: `HeadClaim::take` moves its item out on that ground.
    #[inline(always)]
    unsafe fn head_claim<'s, T>(
        &self,
        slot: &'s Slot<T>,
        head: usize,
        raw: usize,
    ) -> HeadClaim<'s, T> {
        HeadClaim {
            slot,
            next_stamp: head.wrapping_add(self.one_lap),
            waiting: raw & self.wait_bit != 0,
        }
    }

    /// [`claim_head`](Self::claim_head) past its fast path: the loop, entered as
    /// [`claim_slow`](Self::claim_slow) is.
    #[cold]
    #[inline(never)]
    fn pop_slow<'s, T>(
        &self,
        slots: &'s [Slot<T>],
        mut raw: usize,
        mut read: Option<usize>,
    ) -> Result<HeadClaim<'s, T>, PopError> {
        let backoff = Backoff::new();
        if read.is_none() {
            backoff.spin();
        }
        loop {
            let head = raw & !self.wait_bit;
            let slot = &slots[head & (self.mark_bit - 1)];
            // Acquire: see the pusher's write of the value.
            let stamp = read
                .take()
                .unwrap_or_else(|| slot.stamp.load(Ordering::Acquire));
            if stamp == head.wrapping_add(1) {
                let new_raw = self.next(head) | (raw & self.wait_bit);
                // SeqCst on success: see the module's ordering table.
                match self.head.compare_exchange_weak(
                    raw,
                    new_raw,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    // The caller moves the item out (`HeadClaim::take`).
                    // SAFETY: our CAS just moved `head` past `slot`'s position.
                    Ok(_) => return Ok(unsafe { self.head_claim(slot, head, raw) }),
                    Err(current) => {
                        raw = current;
                        backoff.spin();
                    }
                }
            } else if stamp == head || stamp.wrapping_add(self.one_lap) == head.wrapping_add(1) {
                // Not written for this lap: empty (perhaps reserved), or a write is in
                // flight. (The second case: last lap's pop of this slot has not stored
                // its stamp yet.)
                // SeqCst fence: order the stamp read before the tail read.
                fence(Ordering::SeqCst);
                // SeqCst: the close mark and the claims must be read in the total order.
                let tail = self.tail.load(Ordering::SeqCst);
                // A drop-oldest swap that is placing its item at `head` reads as in
                // flight (invariant 6).
                if tail & self.swap_bit == 0 {
                    let r = self.reserved_in(tail);
                    if self.back(self.position(tail), r) == head {
                        // Relaxed: only compared for equality. The verdict needs our read
                        // of `head` to be current (module docs, "Capacity, and stale
                        // reads").
                        let now = self.head.load(Ordering::Relaxed);
                        if now != raw {
                            raw = now;
                            continue;
                        }
                        // Nothing written at or past `head`. Closed only once no
                        // reservation is out: a permit taken before the close may still
                        // send.
                        return Err(if tail & self.mark_bit != 0 && r == 0 {
                            PopError::Closed
                        } else {
                            PopError::Empty
                        });
                    }
                }
                if backoff.is_completed() {
                    return Err(PopError::InFlight);
                }
                backoff.snooze();
                // Relaxed: a fresh guess, as above.
                raw = self.head.load(Ordering::Relaxed);
            } else {
                // Our `head` is stale: another pop claimed it meanwhile. If it has not
                // moved, a stamp store is in flight, as in `claim_slow`.
                // Relaxed: a fresh guess, as above.
                let now = self.head.load(Ordering::Relaxed);
                if now == raw {
                    if backoff.is_completed() {
                        return Err(PopError::InFlight);
                    }
                    backoff.snooze();
                } else {
                    backoff.spin();
                }
                raw = now;
            }
        }
    }

    /// Drop-oldest in one step (invariant 6): if the ring is full of items (no
    /// reservation out) and its oldest slot holds a published item, takes that item out
    /// and puts `value` in its place, at the push position, so the ring stays full and
    /// nothing else is evicted or lost.
    ///
    /// `Ok((old, waiting))`: swapped; `waiting` is the receiver-wait flag, as our tail
    /// CAS read it. `Err((value, why))`: nothing changed.
    pub(crate) fn swap_oldest<T>(
        &self,
        slots: &[Slot<T>],
        value: T,
    ) -> Result<(T, bool), (T, Oldest)> {
        // SeqCst: the close mark is read in the total order, as a claim's CAS would.
        let raw_tail = self.tail.load(Ordering::SeqCst);
        if raw_tail & self.mark_bit != 0 {
            return Err((value, Oldest::Closed));
        }
        if raw_tail & self.swap_bit != 0 {
            return Err((value, Oldest::InFlight));
        }
        if raw_tail & self.r_mask != 0 {
            return Err((value, Oldest::Reserved));
        }
        let tail = raw_tail & !self.wait_bit;
        let oldest = tail.wrapping_sub(self.one_lap);
        let slot = &slots[tail & (self.mark_bit - 1)];
        // Acquire: see the oldest item's pusher write it (we may move it out below).
        let stamp = slot.stamp.load(Ordering::Acquire);
        if stamp == oldest {
            return Err((value, Oldest::InFlight));
        }
        if stamp != oldest.wrapping_add(1) {
            return Err((value, Oldest::Moved));
        }
        // Relaxed: a guess, validated by the CAS on `head` below.
        let raw_head = self.head.load(Ordering::Relaxed);
        if raw_head & !self.wait_bit != oldest {
            return Err((value, Oldest::Moved));
        }
        // SeqCst: announce the swap in `tail` (invariant 6). From the exact word we
        // checked: no claim, close or other swap came between, and `r` is 0.
        if self
            .tail
            .compare_exchange(
                raw_tail,
                raw_tail | self.swap_bit,
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Err((value, Oldest::Moved));
        }
        let new_head = self.next(oldest) | (raw_head & self.wait_bit);
        // SeqCst on success: as for a pop. Winning it, we own the slot: its stamp still
        // says "last lap's item", so no pop can take `oldest` (head has moved past it)
        // and no claim can take `tail` (the swap bit) until we are done.
        if self
            .head
            .compare_exchange(raw_head, new_head, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            // A pop took the oldest item first: give up, nothing changed.
            // SeqCst: as `lower_waiting`.
            self.tail.fetch_and(!self.swap_bit, Ordering::SeqCst);
            return Err((value, Oldest::Raced));
        }
        // SAFETY: our CAS claimed the pop of `oldest`, whose stamp said the slot holds an
        // initialized item (invariant 1); the slot stays ours until we store its stamp
        // (see above), so we move the item out, and write ours, exactly once each.
        let old = slot.value.with_mut(|p| unsafe { (*p).assume_init_read() });
        // SAFETY: as above: the slot is ours and now holds no item.
        slot.value.with_mut(|p| unsafe { (*p).write(value) });
        // Move `tail` past our position, clearing the swap bit. Only flags can change
        // meanwhile (a close, a waiter's flag): carry them over. `r` stays 0: no claim
        // can happen while the bit is up.
        let mut raw = raw_tail | self.swap_bit;
        let waiting = loop {
            let new_raw = self.next(tail) | (raw & (self.wait_bit | self.mark_bit));
            // SeqCst on success: as for a claim; it reads the receiver-wait flag.
            match self
                .tail
                .compare_exchange_weak(raw, new_raw, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break raw & self.wait_bit != 0,
                Err(current) => raw = current,
            }
        };
        // Release: publish our item to the popper's Acquire stamp load.
        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
        Ok((old, waiting))
    }

    /// Raises the wait flag in `end`'s word (see the module docs): `Tail` for waiting
    /// receivers, `Head` for waiting senders.
    pub(crate) fn raise_waiting(&self, end: End) {
        let word = self.word(end);
        // Relaxed, then SeqCst: see the module's ordering table.
        if word.load(Ordering::Relaxed) & self.wait_bit == 0 {
            word.fetch_or(self.wait_bit, Ordering::SeqCst);
        }
    }

    /// Lowers the wait flag in `end`'s word. Only with that side's wait list locked and
    /// empty.
    pub(crate) fn lower_waiting(&self, end: End) {
        // SeqCst: see the module's ordering table.
        self.word(end).fetch_and(!self.wait_bit, Ordering::SeqCst);
    }

    fn word(&self, end: End) -> &AtomicUsize {
        match end {
            End::Head => &self.head,
            End::Tail => &self.tail,
        }
    }

    /// Sets the close mark. Returns `true` if this call closed the ring.
    pub(crate) fn close(&self) -> bool {
        // SeqCst: see the module's ordering table.
        self.tail.fetch_or(self.mark_bit, Ordering::SeqCst) & self.mark_bit == 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        // SeqCst: a close must be seen in the same order as the waits that follow it.
        self.tail.load(Ordering::SeqCst) & self.mark_bit != 0
    }

    /// Number of items pushed between positions `origin` and `pos` (flags removed).
    fn count(&self, pos: usize) -> u64 {
        let from_origin = pos.wrapping_sub(self.origin);
        let laps = (from_origin / self.one_lap) as u64;
        let index = (from_origin & (self.mark_bit - 1)) as u64;
        laps.wrapping_mul(self.cap as u64).wrapping_add(index)
    }

    /// Positions from `from` to `to` (`from <= to <= from + cap`).
    fn distance(&self, from: usize, to: usize) -> usize {
        let from_index = from & (self.mark_bit - 1);
        let to_index = to & (self.mark_bit - 1);
        if from_index < to_index {
            to_index - from_index
        } else if from_index > to_index {
            self.cap - from_index + to_index
        } else if from == to {
            0
        } else {
            self.cap
        }
    }

    /// A consistent read of both ends.
    ///
    /// A drop-oldest swap in progress (invariant 6) has taken the oldest item, or is
    /// about to, but not yet moved `tail`: read now, the ring would look one item short.
    /// With `std` the read waits the swap out (a few instructions, no user code), so
    /// `len` stays `cap` across a swap and the totals never step back. Without `std`, or
    /// with `critical-section`, it may be an interrupt handler above the swap, so it
    /// reads the ring as it stands: `len` can be one low for that instant.
    pub(crate) fn positions(&self) -> Positions {
        let flags = self.mark_bit | self.wait_bit | self.swap_bit;
        let backoff = Backoff::new();
        loop {
            // SeqCst (all three): see the module's ordering table.
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst) & !self.wait_bit;
            let again = self.tail.load(Ordering::SeqCst);
            // A flag raised or lowered meanwhile moves neither `ready` nor `r`.
            if again & !flags != tail & !flags
                || (crate::chan::WAIT_OUT_IN_FLIGHT && again & self.swap_bit != 0)
            {
                backoff.snooze();
                continue;
            }
            let reserved = self.reserved_in(again);
            let ready = self.back(self.position(again), reserved);
            return Positions {
                len: self.distance(head, ready),
                reserved,
                pushed: self.count(ready),
                popped: self.count(head),
                closed: again & self.mark_bit != 0,
            };
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.positions().len
    }

    /// Pops and drops items until the ring is empty. A write in flight is waited out if
    /// `wait_in_flight`, else the drain stops there too.
    ///
    /// If an item's `Drop` panics, the remaining items are still dropped before the panic
    /// goes on (a second panic aborts, as for `Vec`), and no item is dropped twice:
    /// `head` moves past an item before the item is dropped (PITFALLS `drain-panic`).
    pub(crate) fn drain<T>(&self, slots: &[Slot<T>], wait_in_flight: bool) {
        /// Finishes the drain if an item's `Drop` unwinds out of the loop.
        struct Rest<'a, T> {
            ring: &'a Ring,
            slots: &'a [Slot<T>],
            wait_in_flight: bool,
        }
        impl<T> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                self.ring.drain_loop(self.slots, self.wait_in_flight);
            }
        }
        let rest = Rest {
            ring: self,
            slots,
            wait_in_flight,
        };
        self.drain_loop(slots, wait_in_flight);
        core::mem::forget(rest);
    }

    fn drain_loop<T>(&self, slots: &[Slot<T>], wait_in_flight: bool) {
        loop {
            match self.pop(slots) {
                Ok((item, _)) => drop(item),
                Err(PopError::InFlight) if wait_in_flight => crate::loom::spin_hint(),
                Err(PopError::Empty | PopError::Closed | PopError::InFlight) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;
