//! The non-blocking API (`try_send`, `force_send`, `try_recv`, closing, weak senders,
//! stats, errors, constructor panics), on heap and static channels alike.
//!
//! Most checks are written once, generic over the channel reference `R`, and the
//! `both_storages!` macro runs each on a `bounded(N)` channel and on a
//! `StaticChannel<_, N>`, so the two storages cannot drift apart.
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]

mod try_support;

use sluicebox::{
    ChannelRef, Receiver, SendError, Sender, StaticChannel, TryRecvError, TrySendError,
};
use std::collections::VecDeque;
use try_support::{Ledger, Rng, Token};

/// Generates `mod $name { fn heap(); fn static_storage(); }`, each calling
/// `super::$check(tx, rx)` on a fresh channel of capacity `$cap`.
macro_rules! both_storages {
    ($($name:ident: $cap:literal => $check:ident;)*) => {
        $(
            mod $name {
                #[test]
                fn heap() {
                    let (tx, rx) = sluicebox::bounded($cap);
                    super::$check(tx, rx);
                }

                #[test]
                fn static_storage() {
                    let ch = sluicebox::StaticChannel::<_, $cap>::new();
                    let (tx, rx) = ch.split();
                    super::$check(tx, rx);
                }
            }
        )*
    };
}

both_storages! {
    capacity_one_full_empty: 1 => capacity_one;
    fifo_laps_cap_1: 1 => fifo_many_laps;
    fifo_laps_cap_2: 2 => fifo_many_laps;
    fifo_laps_cap_3: 3 => fifo_many_laps;
    fifo_laps_cap_64: 64 => fifo_many_laps;
    force_send_order_cap_1: 1 => force_send_evicts_oldest;
    force_send_order_cap_3: 3 => force_send_evicts_oldest;
    force_send_value_cap_2: 2 => force_send_returns_evicted_alive;
    close_by_last_sender_drop: 3 => last_sender_drop_closes_after_drain;
    close_by_last_receiver_drop: 4 => last_receiver_drop_drops_queued;
    close_from_sender: 3 => close_from_sender_side;
    close_from_receiver: 3 => close_from_receiver_side;
    weak_sender_semantics: 2 => weak_sender;
    weak_sender_after_close: 2 => weak_upgrade_after_close;
    stats_model_cap_1: 1 => stats_match_model;
    stats_model_cap_3: 3 => stats_match_model;
    stats_model_cap_8: 8 => stats_match_model;
    handle_counts_and_identity: 2 => handle_counts;
}

// ---------------------------------------------------------------------------------------
// Checks, generic over the storage
// ---------------------------------------------------------------------------------------

/// Asserts `len`, `is_empty`, `is_full` on both handles against the expected length.
#[track_caller]
fn assert_len<T, R: ChannelRef<T>>(tx: &Sender<T, R>, rx: &Receiver<T, R>, len: usize) {
    let cap = tx.capacity();
    assert_eq!(tx.len(), len, "tx.len()");
    assert_eq!(rx.len(), len, "rx.len()");
    assert_eq!(tx.is_empty(), len == 0, "tx.is_empty() with len {len}");
    assert_eq!(rx.is_empty(), len == 0, "rx.is_empty() with len {len}");
    assert_eq!(
        tx.is_full(),
        len == cap,
        "tx.is_full() with len {len}/{cap}"
    );
    assert_eq!(
        rx.is_full(),
        len == cap,
        "rx.is_full() with len {len}/{cap}"
    );
    assert_eq!(tx.stats().len, len, "stats().len");
}

fn capacity_one<R: ChannelRef<u32>>(tx: Sender<u32, R>, rx: Receiver<u32, R>) {
    assert_eq!(tx.capacity(), 1);
    assert_eq!(rx.capacity(), 1);
    for round in 0..10u32 {
        assert_len(&tx, &rx, 0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.try_send(round), Ok(()));
        assert_len(&tx, &rx, 1);
        let err = tx.try_send(1000 + round).unwrap_err();
        assert!(err.is_full() && !err.is_closed());
        assert_eq!(err, TrySendError::Full(1000 + round));
        assert_eq!(err.into_inner(), 1000 + round);
        // The rejected send changed nothing.
        assert_len(&tx, &rx, 1);
        assert_eq!(rx.try_recv(), Ok(round));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
    let s = rx.stats();
    assert_eq!((s.sent, s.received, s.rejected, s.evicted), (10, 10, 10, 0));
    assert!(!s.closed);
}

/// Random bursts of sends and receives over at least 40 laps (4 under miri), checked
/// against a `VecDeque` after every operation.
fn fifo_many_laps<R: ChannelRef<u64>>(tx: Sender<u64, R>, rx: Receiver<u64, R>) {
    let cap = tx.capacity();
    let mut rng = Rng::new(cap as u64);
    let mut model = VecDeque::new();
    let mut next = 0u64;
    let laps = if cfg!(miri) { 4 } else { 40 };
    let target = (cap as u64) * laps + 7;
    while next < target {
        // Up to one more than fits: the extra one must be rejected as Full.
        for _ in 0..=rng.below(cap + 1) {
            match tx.try_send(next) {
                Ok(()) => {
                    assert!(
                        model.len() < cap,
                        "accepted item {next} into a full channel"
                    );
                    model.push_back(next);
                    next += 1;
                }
                Err(TrySendError::Full(v)) => {
                    assert_eq!(v, next);
                    assert_eq!(model.len(), cap, "Full with only {} of {cap}", model.len());
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
            assert_len(&tx, &rx, model.len());
        }
        for _ in 0..=rng.below(cap + 1) {
            match rx.try_recv() {
                Ok(v) => assert_eq!(Some(v), model.pop_front(), "FIFO order"),
                Err(TryRecvError::Empty) => assert!(model.is_empty(), "Empty with items"),
                Err(e) => panic!("unexpected {e:?}"),
            }
            assert_len(&tx, &rx, model.len());
        }
    }
    while let Some(expected) = model.pop_front() {
        assert_eq!(rx.try_recv(), Ok(expected));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let s = tx.stats();
    assert_eq!((s.sent, s.received, s.len), (next, next, 0));
}

fn force_send_evicts_oldest<R: ChannelRef<usize>>(tx: Sender<usize, R>, rx: Receiver<usize, R>) {
    let cap = tx.capacity();
    for i in 0..cap {
        assert_eq!(tx.force_send(i), Ok(None), "room left: nothing evicted");
    }
    assert_len(&tx, &rx, cap);
    // Each further send evicts the oldest item and hands it back.
    for i in cap..3 * cap {
        assert_eq!(tx.force_send(i), Ok(Some(i - cap)));
        assert_len(&tx, &rx, cap);
    }
    let s = tx.stats();
    assert_eq!(s.evicted, 2 * cap as u64);
    assert_eq!(s.rejected, 0);
    assert_eq!(s.sent, 3 * cap as u64);
    assert_eq!(s.received, 2 * cap as u64, "evictions count as received");
    assert_eq!(s.sent - s.received, s.len as u64);
    // Survivors come out oldest first.
    for i in 2 * cap..3 * cap {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    // Not full: force_send is a plain send.
    assert_eq!(tx.force_send(99), Ok(None));
    assert_eq!(rx.try_recv(), Ok(99));
    // Closed: the value comes back.
    rx.close();
    assert_eq!(tx.force_send(7), Err(TrySendError::Closed(7)));
}

fn force_send_returns_evicted_alive<R: ChannelRef<Token>>(
    tx: Sender<Token, R>,
    rx: Receiver<Token, R>,
) {
    let ledger = Ledger::new(5);
    tx.try_send(ledger.token(0)).unwrap();
    tx.try_send(ledger.token(1)).unwrap();
    let evicted = tx.force_send(ledger.token(2)).unwrap().expect("evicts");
    assert_eq!(evicted.id, 0);
    assert_eq!(evicted.value(), 0);
    assert_eq!(
        ledger.drops(0),
        0,
        "the evicted item is handed back, not dropped"
    );
    drop(evicted);
    assert_eq!(ledger.drops(0), 1);
    // A rejected value is handed back too, not dropped.
    let rejected = tx.try_send(ledger.token(3)).unwrap_err().into_inner();
    assert_eq!(ledger.drops(3), 0);
    drop(rejected);
    // Closed by close(): force_send hands the value back.
    tx.close();
    match tx.force_send(ledger.token(4)) {
        Err(TrySendError::Closed(t)) => {
            assert_eq!(t.id, 4);
            assert_eq!(ledger.drops(4), 0);
        }
        Err(e) => panic!("expected Closed, got {e:?}"),
        Ok(_) => panic!("force_send succeeded on a closed channel"),
    }
    assert_eq!(rx.try_recv().map(|t| t.id), Ok(1));
    assert_eq!(rx.try_recv().map(|t| t.id), Ok(2));
    assert_eq!(rx.try_recv().map(|t| t.id), Err(TryRecvError::Closed));
    ledger.assert_all_once("force_send");
}

fn last_sender_drop_closes_after_drain<R: ChannelRef<u8>>(tx: Sender<u8, R>, rx: Receiver<u8, R>) {
    let tx2 = tx.clone();
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    assert!(!rx.is_closed(), "a sender is still alive");
    assert_eq!(rx.sender_count(), 1);
    assert_eq!(tx2.try_send(3), Err(TrySendError::Full(3)));
    drop(tx2);
    assert!(rx.is_closed());
    assert!(rx.stats().closed);
    assert_eq!(rx.sender_count(), 0);
    // Items already queued are still delivered, in order; then Closed, for good.
    assert_eq!(rx.len(), 3);
    for i in 0..3 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    for _ in 0..3 {
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
    // A receiver cloned after the close sees the same.
    assert_eq!(rx.clone().try_recv(), Err(TryRecvError::Closed));
}

fn last_receiver_drop_drops_queued<R: ChannelRef<Token>>(
    tx: Sender<Token, R>,
    rx: Receiver<Token, R>,
) {
    let ledger = Ledger::new(6);
    for id in 0..3 {
        tx.try_send(ledger.token(id)).unwrap();
    }
    let rx2 = rx.clone();
    drop(rx);
    assert!(!tx.is_closed(), "a receiver is still alive");
    assert_eq!(ledger.total(), 0, "nothing dropped while a receiver lives");
    drop(rx2);
    assert!(tx.is_closed());
    assert_eq!(tx.receiver_count(), 0);
    // Dropped at the moment the last receiver went, not later.
    ledger.assert_range(0..3, 1, "queued items at last-receiver drop");
    assert_eq!(tx.len(), 0);
    let s = tx.stats();
    assert_eq!(
        (s.sent, s.received, s.len),
        (3, 3, 0),
        "the drain counts as received"
    );
    assert!(s.closed);
    // Sends fail and hand the value back, alive.
    match tx.try_send(ledger.token(3)) {
        Err(TrySendError::Closed(t)) => {
            assert_eq!(t.id, 3);
            assert_eq!(ledger.drops(3), 0);
        }
        other => panic!("expected Closed, got {other:?}"),
    }
    let back = tx.force_send(ledger.token(4)).unwrap_err();
    assert!(back.is_closed());
    assert_eq!(ledger.drops(4), 0);
    drop(back);
    // A new sender from the same channel is closed as well.
    let tx2 = tx.clone();
    assert!(tx2.try_send(ledger.token(5)).unwrap_err().is_closed());
    ledger.assert_all_once("last receiver drop");
}

fn close_from_sender_side<R: ChannelRef<u8>>(tx: Sender<u8, R>, rx: Receiver<u8, R>) {
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert!(tx.close(), "the first close closes");
    assert!(
        !tx.close(),
        "the second close reports it was already closed"
    );
    assert!(!rx.close());
    assert!(tx.is_closed() && rx.is_closed());
    // Handles are still counted: close is not drop.
    assert_eq!((tx.sender_count(), tx.receiver_count()), (1, 1));
    assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    assert_eq!(tx.force_send(4), Err(TrySendError::Closed(4)));
    assert_eq!(tx.clone().try_send(5), Err(TrySendError::Closed(5)));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    let s = rx.stats();
    assert!(s.closed);
    assert_eq!(
        (s.sent, s.received, s.rejected),
        (2, 2, 0),
        "Closed is not a rejection"
    );
}

fn close_from_receiver_side<R: ChannelRef<u8>>(tx: Sender<u8, R>, rx: Receiver<u8, R>) {
    tx.try_send(1).unwrap();
    assert!(rx.close());
    assert!(!rx.close());
    assert!(tx.is_closed());
    assert_eq!(tx.try_send(2), Err(TrySendError::Closed(2)));
    // Unlike dropping the last receiver, close() keeps the queued items receivable.
    assert_eq!(rx.len(), 1);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(rx.clone().try_recv(), Err(TryRecvError::Closed));
}

fn weak_sender<R: ChannelRef<u8>>(tx: Sender<u8, R>, rx: Receiver<u8, R>) {
    let weak = tx.downgrade();
    assert_eq!(tx.sender_count(), 1, "a weak sender is not counted");
    assert_eq!(weak.sender_count(), 1);
    let strong = weak
        .upgrade()
        .expect("a sender lives and the channel is open");
    assert_eq!(tx.sender_count(), 2);
    assert_eq!(weak.sender_count(), 2);
    assert!(strong.same_channel(&tx));
    strong.try_send(7).unwrap();
    drop(strong);
    assert_eq!(tx.sender_count(), 1);
    assert!(!rx.is_closed());
    // Downgrading an upgraded sender, and cloning weak senders, work the same.
    let weak2 = weak.clone();
    let weak3 = weak.upgrade().unwrap().downgrade();
    assert_eq!(tx.sender_count(), 1);
    // The weak senders do not keep the channel open.
    drop(tx);
    assert!(rx.is_closed());
    assert_eq!(weak.sender_count(), 0);
    for w in [&weak, &weak2, &weak3] {
        assert!(w.upgrade().is_none(), "no revival after the last sender");
    }
    assert_eq!(
        rx.sender_count(),
        0,
        "a failed upgrade leaves the count alone"
    );
    assert_eq!(rx.try_recv(), Ok(7));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

fn weak_upgrade_after_close<R: ChannelRef<u8>>(tx: Sender<u8, R>, rx: Receiver<u8, R>) {
    let weak = tx.downgrade();
    rx.close();
    assert!(weak.upgrade().is_none(), "closed by close(): no upgrade");
    assert_eq!(
        tx.sender_count(),
        1,
        "the refused upgrade gave its count back"
    );
    drop(tx);
    assert_eq!(weak.sender_count(), 0);
    assert!(weak.upgrade().is_none());
}

/// Random operations (sends, force-sends, receives, handle clones and drops), checking
/// every `Stats` field against a model after each one.
fn stats_match_model<R: ChannelRef<u32>>(tx: Sender<u32, R>, rx: Receiver<u32, R>) {
    let cap = tx.capacity();
    let mut rng = Rng::new(0x57A7 + cap as u64);
    let mut senders = vec![tx];
    let mut receivers = vec![rx];
    let mut model = VecDeque::new();
    let (mut sent, mut received, mut rejected, mut evicted) = (0u64, 0u64, 0u64, 0u64);
    let steps = if cfg!(miri) { 400 } else { 2_000u32 };
    for step in 0..steps {
        // The value sent at this step (if any): unique, increasing.
        let next = step;
        let tx = &senders[rng.below(senders.len())];
        let rx = &receivers[rng.below(receivers.len())];
        match rng.below(10) {
            0..=3 => match tx.try_send(next) {
                Ok(()) => {
                    model.push_back(next);
                    sent += 1;
                }
                Err(TrySendError::Full(v)) => {
                    assert_eq!(v, next);
                    assert_eq!(model.len(), cap);
                    rejected += 1;
                }
                Err(e) => panic!("step {step}: {e:?}"),
            },
            4 => {
                let got = tx.force_send(next).unwrap();
                if model.len() == cap {
                    assert_eq!(got, model.pop_front(), "step {step}: evicted the oldest");
                    evicted += 1;
                    received += 1;
                } else {
                    assert_eq!(got, None);
                }
                model.push_back(next);
                sent += 1;
            }
            5..=7 => match rx.try_recv() {
                Ok(v) => {
                    assert_eq!(Some(v), model.pop_front(), "step {step}: FIFO");
                    received += 1;
                }
                Err(TryRecvError::Empty) => assert!(model.is_empty()),
                Err(e) => panic!("step {step}: {e:?}"),
            },
            8 => {
                if senders.len() < 4 && rng.below(2) == 0 {
                    senders.push(senders[0].clone());
                } else if senders.len() > 1 {
                    senders.swap_remove(rng.below(senders.len()));
                }
            }
            _ => {
                if receivers.len() < 4 && rng.below(2) == 0 {
                    receivers.push(receivers[0].clone());
                } else if receivers.len() > 1 {
                    receivers.swap_remove(rng.below(receivers.len()));
                }
            }
        }
        let s = senders[0].stats();
        assert_eq!(s.len, model.len(), "step {step}: len");
        assert_eq!(s.capacity, cap);
        assert_eq!(s.sent, sent, "step {step}: sent");
        assert_eq!(s.received, received, "step {step}: received");
        assert_eq!(
            s.sent - s.received,
            s.len as u64,
            "step {step}: sent - received"
        );
        assert_eq!(s.rejected, rejected, "step {step}: rejected");
        assert_eq!(s.evicted, evicted, "step {step}: evicted");
        assert_eq!(s.senders, senders.len(), "step {step}: senders");
        assert_eq!(s.receivers, receivers.len(), "step {step}: receivers");
        assert_eq!((s.senders_waiting, s.receivers_waiting), (0, 0));
        assert!(!s.closed);
        assert_eq!(
            s,
            receivers[0].stats(),
            "every handle sees the same snapshot"
        );
    }
    assert!(
        rejected > 0 && evicted > 0,
        "the run exercised both slow paths"
    );
    let tx = senders.pop().unwrap();
    drop(senders);
    drop(receivers);
    let s = tx.stats();
    assert!(s.closed);
    assert_eq!(
        (s.len, s.sent, s.received),
        (0, sent, sent),
        "the drain is received"
    );
    assert_eq!((s.senders, s.receivers), (1, 0));
}

fn handle_counts<R: ChannelRef<u8>>(tx: Sender<u8, R>, rx: Receiver<u8, R>) {
    assert_eq!((tx.sender_count(), tx.receiver_count()), (1, 1));
    let (tx2, rx2, rx3) = (tx.clone(), rx.clone(), rx.clone());
    assert_eq!((rx.sender_count(), rx.receiver_count()), (2, 3));
    assert!(tx.same_channel(&tx2));
    assert!(rx.same_channel(&rx3));
    // Any receiver takes any item, once.
    tx2.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(rx3.try_recv(), Ok(1));
    assert_eq!(rx2.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop((tx2, rx2));
    assert_eq!((tx.sender_count(), tx.receiver_count()), (1, 2));
    assert!(format!("{tx:?}").contains("Sender"));
    assert!(format!("{rx:?}").contains("Receiver"));
}

// ---------------------------------------------------------------------------------------
// Storage-specific
// ---------------------------------------------------------------------------------------

#[test]
fn same_channel_distinguishes_channels() {
    let (a, ra) = sluicebox::bounded::<u8>(1);
    let (b, rb) = sluicebox::bounded::<u8>(1);
    assert!(!a.same_channel(&b));
    assert!(!ra.same_channel(&rb));
    let c1 = StaticChannel::<u8, 1>::new();
    let c2 = StaticChannel::<u8, 1>::new();
    assert!(!c1.sender().same_channel(&c2.sender()));
    assert!(c1.sender().same_channel(&c1.sender()));
    assert!(!c1.receiver().same_channel(&c2.receiver()));
}

/// A channel in a real `static`: the observers on `StaticChannel` itself, handles made
/// one by one, and a close that stays closed.
#[test]
fn static_item_channel_observers_and_permanent_close() {
    static CH: StaticChannel<u32, 2> = StaticChannel::new();
    assert_eq!((CH.len(), CH.capacity()), (0, 2));
    assert!(CH.is_empty() && !CH.is_full() && !CH.is_closed());
    assert_eq!((CH.sender_count(), CH.receiver_count()), (0, 0));
    let tx = CH.sender();
    let rx = CH.receiver();
    assert_eq!((CH.sender_count(), CH.receiver_count()), (1, 1));
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert!(CH.is_full() && CH.len() == 2);
    let s = CH.stats();
    assert_eq!(
        (s.len, s.capacity, s.sent, s.senders, s.receivers),
        (2, 2, 2, 1, 1)
    );
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx);
    assert!(CH.is_closed());
    // A closed static channel stays closed, even for handles made later.
    let late = CH.sender();
    assert_eq!(late.try_send(3), Err(TrySendError::Closed(3)));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(CH.receiver().try_recv(), Err(TryRecvError::Closed));
    assert!(!CH.close(), "already closed");
    assert!(format!("{CH:?}").contains("StaticChannel"));
}

/// A static channel with senders but no receiver yet is open (a consumer may come later);
/// what is queued is dropped with the channel.
#[test]
fn static_sender_before_any_receiver() {
    let ledger = Ledger::new(3);
    let ch = StaticChannel::<Token, 2>::new();
    {
        let tx = ch.sender();
        assert_eq!(ch.receiver_count(), 0);
        tx.try_send(ledger.token(0)).unwrap();
        tx.try_send(ledger.token(1)).unwrap();
        assert!(tx.try_send(ledger.token(2)).unwrap_err().is_full());
        assert!(!tx.is_closed());
    }
    assert!(ch.is_closed(), "the last sender closed it");
    assert_eq!(ch.len(), 2);
    assert_eq!(ledger.drops(0) + ledger.drops(1), 0);
    drop(ch);
    ledger.assert_all_once("static teardown");
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Not `Debug`: the errors must format without it.
#[derive(PartialEq)]
struct Opaque(u8);

#[test]
fn error_debug_and_display() {
    let full = TrySendError::Full(Opaque(1));
    let closed = TrySendError::Closed(Opaque(2));
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert_eq!(format!("{closed:?}"), "Closed(..)");
    assert_eq!(full.to_string(), "channel full");
    assert_eq!(closed.to_string(), "channel closed");
    assert!(full.is_full() && !full.is_closed());
    assert!(closed.is_closed() && !closed.is_full());
    assert!(full.into_inner() == Opaque(1));
    assert!(closed.into_inner() == Opaque(2));

    let send = SendError(Opaque(3));
    assert_eq!(format!("{send:?}"), "SendError(..)");
    assert_eq!(send.to_string(), "channel closed");
    let as_try: TrySendError<Opaque> = send.into();
    assert!(as_try.is_closed());
    assert!(as_try.into_inner() == Opaque(3));
    assert!(SendError(Opaque(4)).into_inner() == Opaque(4));

    assert_eq!(TryRecvError::Empty.to_string(), "channel empty");
    assert_eq!(TryRecvError::Closed.to_string(), "channel closed");
    assert_eq!(format!("{:?}", TryRecvError::Empty), "Empty");

    // All three are `std::error::Error`, boxable as `dyn Error + Send + Sync`.
    let errors: Vec<Box<dyn std::error::Error + Send + Sync>> = vec![
        Box::new(TrySendError::Full(Opaque(0))),
        Box::new(SendError(Opaque(0))),
        Box::new(TryRecvError::Closed),
    ];
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(shown, ["channel full", "channel closed", "channel closed"]);
}

// ---------------------------------------------------------------------------------------
// Constructor panics
// ---------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn bounded_zero_panics() {
    let _ = sluicebox::bounded::<u8>(0);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn bounded_starting_at_lap_zero_panics() {
    let _ = sluicebox::bounded_starting_at_lap::<u8>(0, 3);
}

#[test]
#[should_panic(expected = "too large")]
fn bounded_usize_max_panics() {
    let _ = sluicebox::bounded::<u8>(usize::MAX);
}

#[test]
#[should_panic(expected = "too large")]
fn bounded_just_above_max_capacity_panics() {
    let _ = sluicebox::bounded::<u8>(sluicebox::MAX_CAPACITY + 1);
}

/// A slot is at least its item plus a `usize` stamp.
fn min_slot_bytes<T>() -> usize {
    std::mem::size_of::<T>() + std::mem::size_of::<usize>()
}

#[test]
#[should_panic(expected = "too large")]
fn bounded_max_capacity_bytes_overflow_panics() {
    // Within the position limit, but the slots' byte size is more than `isize::MAX` (or
    // overflows usize), on 64-bit and 32-bit targets alike.
    type Big = [u8; 1 << (usize::BITS - 8)];
    let cap = sluicebox::MAX_CAPACITY;
    assert!(cap
        .checked_mul(min_slot_bytes::<Big>())
        .is_none_or(|bytes| bytes > isize::MAX as usize));
    let _ = sluicebox::bounded::<Big>(cap);
}

/// `2^(usize::BITS - 24)` slots: 2^40 on 64-bit targets, 2^8 on 32-bit ones.
const HUGE_CAP: usize = 1 << (usize::BITS - 24);

#[test]
#[should_panic(expected = "too large")]
fn bounded_huge_elements_overflowing_usize_panics() {
    // `HUGE_CAP` slots of 16 MiB: 2^usize::BITS bytes and more, the multiplication
    // overflows.
    assert!(HUGE_CAP.checked_mul(1 << 24).is_none());
    let _ = sluicebox::bounded::<[u8; 1 << 24]>(HUGE_CAP);
}

#[test]
#[should_panic(expected = "too large")]
fn bounded_huge_elements_above_isize_max_panics() {
    // `HUGE_CAP` slots of 8 MiB (+ stamp): just above isize::MAX bytes, no overflow.
    let bytes = HUGE_CAP.checked_mul(min_slot_bytes::<[u8; 1 << 23]>());
    assert!(bytes.is_some_and(|b| b > isize::MAX as usize));
    let _ = sluicebox::bounded::<[u8; 1 << 23]>(HUGE_CAP);
}

/// `bounded::<[u8; 1 << 20]>(1 << 40)` asks for 2^60 bytes (plus stamps): below
/// `isize::MAX`, so not rejected by the size rule, yet no machine has it. It must be a
/// catchable panic mentioning "too large", not an allocation-failure abort of the whole
/// process. Run in a child process so an abort fails this test instead of killing the
/// test binary. (No child processes under miri. 64-bit only: on a 32-bit target every
/// size below `isize::MAX` may well be allocatable.)
#[cfg(all(not(miri), target_pointer_width = "64"))]
#[test]
fn bounded_unallocatable_capacity_panics_not_aborts() {
    const CHILD: &str = "SLUICEBOX_TRY_API_HUGE_CHILD";
    const NAME: &str = "bounded_unallocatable_capacity_panics_not_aborts";
    if std::env::var_os(CHILD).is_some() {
        let _ = sluicebox::bounded::<[u8; 1 << 20]>(1 << 40);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the test binary as a child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.code().is_some(),
        "the child was killed by a signal (abort?), status {:?}:\n{text}",
        out.status
    );
    assert!(
        !out.status.success() && text.contains("too large"),
        "expected a panic mentioning \"too large\", status {:?}:\n{text}",
        out.status
    );
}
