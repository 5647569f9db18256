//! PITFALLS `weak-revive`: `WeakSender::upgrade` racing the last sender's drop never yields a
//! live sender on a closed channel (the loom model `weak_revive_*` checks every
//! interleaving; this runs the race on real threads, heap and static).
#![cfg(feature = "std")]

use sluicebox::{bounded, StaticChannel};
use std::sync::Barrier;
use std::thread;

const ROUNDS: usize = if cfg!(miri) { 20 } else { 3_000 };

#[test]
fn weak_revive_upgrade_racing_last_sender_drop_heap() {
    let mut revived = 0;
    for round in 0..ROUNDS {
        let (tx, rx) = bounded::<usize>(1);
        let weak = tx.downgrade();
        let barrier = Barrier::new(2);
        let got = thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                drop(tx);
            });
            barrier.wait();
            weak.upgrade()
        });
        match got {
            Some(tx) => {
                // A revived sender is a live one: the channel is open and takes the item.
                revived += 1;
                assert!(
                    !tx.is_closed(),
                    "round {round}: upgrade returned a closed sender"
                );
                tx.try_send(round).unwrap();
                assert_eq!(rx.try_recv(), Ok(round));
                drop(tx);
                assert!(
                    rx.is_closed(),
                    "the revived sender was the last: closed on drop"
                );
            }
            None => {
                assert!(
                    rx.is_closed(),
                    "round {round}: upgrade failed on an open channel"
                );
                assert_eq!(weak.sender_count(), 0);
            }
        }
    }
    // Both outcomes are legal; report the split so a run that never races is visible.
    println!("revived {revived} of {ROUNDS}");
}

#[test]
fn weak_revive_upgrade_after_close_is_none_static() {
    static CH: StaticChannel<u8, 1> = StaticChannel::new();
    let (tx, rx) = CH.split();
    let weak = tx.downgrade();
    assert!(weak.upgrade().is_some());
    drop(tx);
    assert!(
        weak.upgrade().is_none(),
        "the last sender's drop closed the channel"
    );
    assert!(rx.is_closed());
}
