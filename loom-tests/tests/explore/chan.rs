//! Channel scenarios: the alphabet of actor operations, the start states, and one
//! execution of a scenario with its checks.

use crate::book::{Book, Forced};
use crate::common::{Gate, Item, Ledger, LedgerExt};
use crate::harness::{contain, Actor, Harness, Wait};
use crate::held::HeldPermit;
use loom::thread;
use sluicebox::{bounded, ChannelRef, Monitor, Receiver, Sender, StaticChannel, WeakSender};
use std::sync::Arc as StdArc;

/// One actor's operation (each actor does one; `gate.point()` precedes every API call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `send(item).await`.
    Send,
    TrySend,
    ForceSend,
    /// `reserve().await`, then `Permit::send`.
    ReserveSend,
    /// `reserve().await`, then drop the permit.
    ReserveDrop,
    /// `recv().await`.
    Recv,
    TryRecv,
    /// `recv_many(&mut buf, 2).await`.
    RecvMany,
    /// A `send` future polled once, then dropped.
    SendOnce,
    /// A `recv` future polled once, then dropped.
    RecvOnce,
    /// A `reserve` future polled once, then dropped (a permit it got sends).
    ReserveOnce,
    /// `close()` through a sender.
    CloseTx,
    /// `close()` through a receiver.
    CloseRx,
    /// Drop this actor's sender (the main thread keeps none in such a scenario).
    DropTx,
    /// Drop this actor's receiver (the main thread keeps none in such a scenario).
    DropRx,
    /// `WeakSender::upgrade`, then `try_send` through the sender it gave.
    Upgrade,
    /// `closed().await`.
    Closed,
    /// Send through the start state's held permit.
    PermitSend,
    /// Drop the start state's held permit.
    PermitDrop,
    /// `send(item).await` with a waker whose `wake` panics (after waking the actor): a
    /// receive that frees the slot must still return its item.
    SendWakePanic,
    /// As `DropRx`, and the oldest start-state item's `Drop` panics (once): the last
    /// receiver's drain must still drop everything queued.
    DropRxPanic,
}

impl Op {
    pub const ALL: [Op; 21] = [
        Op::Send,
        Op::TrySend,
        Op::ForceSend,
        Op::ReserveSend,
        Op::ReserveDrop,
        Op::Recv,
        Op::TryRecv,
        Op::RecvMany,
        Op::SendOnce,
        Op::RecvOnce,
        Op::ReserveOnce,
        Op::CloseTx,
        Op::CloseRx,
        Op::DropTx,
        Op::DropRx,
        Op::Upgrade,
        Op::Closed,
        Op::PermitSend,
        Op::PermitDrop,
        Op::SendWakePanic,
        Op::DropRxPanic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Send => "send",
            Op::TrySend => "try_send",
            Op::ForceSend => "force_send",
            Op::ReserveSend => "reserve_send",
            Op::ReserveDrop => "reserve_drop",
            Op::Recv => "recv",
            Op::TryRecv => "try_recv",
            Op::RecvMany => "recv_many",
            Op::SendOnce => "send_once",
            Op::RecvOnce => "recv_once",
            Op::ReserveOnce => "reserve_once",
            Op::CloseTx => "close_tx",
            Op::CloseRx => "close_rx",
            Op::DropTx => "drop_tx",
            Op::DropRx => "drop_rx",
            Op::Upgrade => "upgrade",
            Op::Closed => "closed",
            Op::PermitSend => "permit_send",
            Op::PermitDrop => "permit_drop",
            Op::SendWakePanic => "send_wake_panic",
            Op::DropRxPanic => "drop_rx_panic",
        }
    }

    fn receives(self) -> bool {
        matches!(
            self,
            Op::Recv
                | Op::TryRecv
                | Op::RecvMany
                | Op::RecvOnce
                | Op::CloseRx
                | Op::DropRx
                | Op::DropRxPanic
        )
    }

    /// Whether the actor may wait (poll a future to completion).
    fn parks(self) -> bool {
        matches!(
            self,
            Op::Send
                | Op::ReserveSend
                | Op::ReserveDrop
                | Op::Recv
                | Op::RecvMany
                | Op::Closed
                | Op::SendWakePanic
        )
    }

    fn drops_rx(self) -> bool {
        matches!(self, Op::DropRx | Op::DropRxPanic)
    }

    fn takes_permit(self) -> bool {
        matches!(self, Op::PermitSend | Op::PermitDrop)
    }
}

/// How the channel looks before the actors start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Empty,
    /// Every slot holds an item.
    Full,
    /// A `try_reserve` permit taken first, then items up to the capacity (the permit holds
    /// the rest of the room). Unless an actor takes the permit, the main thread sends through it at the first quiescence
    /// (`HeldSend`) or drops it (`HeldDrop`), then waits for quiescence again.
    HeldSend,
    HeldDrop,
    /// Capacity 2 only: an item, then a held permit (so the channel is full, one slot of
    /// room reserved); the main thread sends through the permit at the first quiescence
    /// unless an actor takes it.
    ItemThenHeld,
    /// As `HeldSend` / `HeldDrop`, on a leaked `StaticChannel` that has no receiver yet
    /// (one is made at teardown to drain it). Only sender-side operations.
    StaticHeldSend,
    StaticHeldDrop,
}

impl Start {
    pub const ALL: [Start; 7] = [
        Start::Empty,
        Start::Full,
        Start::HeldSend,
        Start::HeldDrop,
        Start::ItemThenHeld,
        Start::StaticHeldSend,
        Start::StaticHeldDrop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Start::Empty => "empty",
            Start::Full => "full",
            Start::HeldSend => "held-send",
            Start::HeldDrop => "held-drop",
            Start::ItemThenHeld => "item-then-held",
            Start::StaticHeldSend => "static-norx-held-send",
            Start::StaticHeldDrop => "static-norx-held-drop",
        }
    }

    fn held(self) -> bool {
        !matches!(self, Start::Empty | Start::Full)
    }

    fn is_static(self) -> bool {
        matches!(self, Start::StaticHeldSend | Start::StaticHeldDrop)
    }

    /// Whether the main thread sends through the held permit (else drops it).
    fn main_sends(self) -> bool {
        matches!(
            self,
            Start::HeldSend | Start::ItemThenHeld | Start::StaticHeldSend
        )
    }

    fn prefill(self, cap: usize) -> usize {
        match self {
            Start::Empty => 0,
            Start::Full => cap,
            _ => cap - 1,
        }
    }
}

/// A channel scenario: capacity, start state, one operation per actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub cap: usize,
    pub start: Start,
    pub ops: Vec<Op>,
}

impl Scenario {
    pub fn name(&self) -> String {
        let ops: Vec<_> = self.ops.iter().map(|o| o.name()).collect();
        format!("chan:c{}:{}:{}", self.cap, self.start.name(), ops.join("+"))
    }

    /// Whether this combination is meaningful (and not a duplicate of another).
    pub fn valid(&self) -> bool {
        let permits = self.ops.iter().filter(|o| o.takes_permit()).count();
        if permits > 0 && !self.start.held() || permits > 1 {
            return false;
        }
        // With the permit taken by an actor, `-send` and `-drop` are the same state.
        if permits == 1 && !self.start.main_sends() {
            return false;
        }
        if self.start == Start::ItemThenHeld && self.cap < 2 {
            return false;
        }
        // The panicking item is the oldest of the start state. Its panic unwinds with
        // every loom thread seeing `thread::panicking()` (they share one OS thread), so
        // a loom lock (std-backed) that another actor took before the unwind began is
        // poisoned when that actor releases it, and the next `lock` panics inside loom:
        // a waiting actor would do so with the harness's lock, and a `send_once` /
        // `reserve_once` on a full channel with the wait list's (it cancels its waiter
        // under the lock, then the close's wake locks it). Only with actors that never
        // wait and never register a waiter; no real lock poisons across threads.
        if self.ops.contains(&Op::DropRxPanic)
            && (self.start.prefill(self.cap) == 0
                || self
                    .ops
                    .iter()
                    .any(|o| o.parks() || matches!(o, Op::SendOnce | Op::ReserveOnce)))
        {
            return false;
        }
        !(self.start.is_static() && self.ops.iter().any(|o| o.receives()))
    }

    /// Runs one execution (called inside `loom::model`).
    pub fn execute(&self) {
        match (self.start.is_static(), self.cap) {
            (false, cap) => {
                let (tx, rx) = bounded::<Item>(cap);
                self.body(tx, Some(rx), None::<fn() -> _>);
            }
            (true, 1) => self.on_static::<1>(),
            (true, 2) => self.on_static::<2>(),
            (true, cap) => panic!("no static channel of capacity {cap} in the explorer"),
        }
    }

    fn on_static<const N: usize>(&self) {
        // Leaked: a static channel's handles borrow it (`new` is a plain `fn` under loom).
        let ch: &'static StaticChannel<Item, N> = Box::leak(Box::new(StaticChannel::new()));
        self.body(ch.sender(), None, Some(|| ch.receiver()));
    }

    fn body<R, F>(&self, tx: Sender<Item, R>, rx: Option<Receiver<Item, R>>, late_rx: Option<F>)
    where
        R: ChannelRef<Item> + Send + Sync + 'static,
        F: Fn() -> Receiver<Item, R>,
    {
        let n = self.ops.len();
        let prefill = self.start.prefill(self.cap);
        let main_id = prefill + n;
        let ledger = Ledger::new(main_id + 1);
        let book = StdArc::new(Book::new(main_id + 1));
        let gate = Gate::new();
        let parks: Vec<bool> = self.ops.iter().map(|o| o.parks()).collect();
        let harness = Harness::new(&parks);
        let monitor = tx.monitor();
        let weak = tx.downgrade();

        let fill = |ids: std::ops::Range<usize>| {
            for id in ids {
                tx.try_send(ledger.item(id))
                    .expect("the start state fits the capacity");
                book.accepted(id);
            }
        };
        // When the permit is taken: first, or after one item.
        let ahead = usize::from(self.start == Start::ItemThenHeld);
        fill(0..ahead);
        let mut held = self.start.held().then(|| HeldPermit::reserve(tx.clone()));
        fill(ahead..prefill);
        if self.ops.contains(&Op::DropRxPanic) {
            ledger.panic_on_drop(0);
        }
        let receivers_gone = self.ops.iter().any(|o| o.drops_rx());

        let actors: Vec<_> = self
            .ops
            .iter()
            .enumerate()
            .map(|(i, &op)| {
                let hands = Hands {
                    tx: (!op.receives() && op != Op::Upgrade).then(|| tx.clone()),
                    rx: op.receives().then(|| rx.clone().expect("a receiver")),
                    weak: (op == Op::Upgrade).then(|| weak.clone()),
                    permit: if op.takes_permit() { held.take() } else { None },
                };
                let actor = Harness::actor(&harness, i, op.parks());
                let item = ledger.item(prefill + i);
                let (gate, book) = (gate.clone(), book.clone());
                let t = thread::spawn(move || {
                    // A panic of the user code the scenario planted (a waker, an item's
                    // `Drop`) may reach the caller; the checks judge what it left.
                    contain(|| act(op, hands, &actor, item, &gate, &book));
                    drop(actor);
                });
                (op.parks(), t)
            })
            .collect();
        let main_tx = (!self.ops.contains(&Op::DropTx)).then_some(tx);
        let main_rx = if receivers_gone {
            // The last receiver's drop may drop the panicking item.
            contain(|| drop(rx));
            None
        } else {
            rx
        };

        let mut parking = Vec::new();
        for (parks, t) in actors {
            if parks {
                parking.push(t);
            } else {
                t.join().unwrap();
            }
        }
        let probe = |phase: &str| {
            let parked = harness.quiesce();
            self.probe(phase, &parked, &monitor, &weak, main_rx.as_ref());
        };
        probe("first quiescence");
        let main_item = ledger.item(main_id);
        if let Some(permit) = held.take() {
            if self.start.main_sends() {
                // Booked first: a permit's send always accepts, and with the last
                // receiver gone it drains the queue, where the panicking item's `Drop`
                // unwinds out of the send.
                book.accepted(main_id);
                contain(|| permit.send(main_item));
            } else {
                // A hole wakes a sender, whose waker may panic.
                contain(|| drop((permit, main_item)));
            }
            probe("quiescence after the main thread's permit");
        } else {
            drop(main_item);
        }
        harness.give_up();
        for a in parking {
            a.join().unwrap();
        }

        let st = monitor.stats();
        check_stats(&st, monitor.is_closed());
        assert_eq!(
            (st.senders_waiting, st.receivers_waiting),
            (0, 0),
            "waiters left registered after every actor finished: {st:?}"
        );
        assert!(
            !receivers_gone || st.len == 0,
            "items still queued after the last receiver was dropped: {st:?}"
        );
        let drain = |rx: &Receiver<Item, R>| {
            while let Ok(v) = rx.try_recv() {
                book.out(v.id);
            }
        };
        if let Some(rx) = &main_rx {
            drain(rx);
        } else if let Some(make) = &late_rx {
            drain(&make());
        }
        book.check(receivers_gone, st.evicted);
        drop((main_tx, main_rx, weak, monitor));
        ledger.assert_all_dropped_once();
    }

    /// At quiescence: the stats invariants, and every parked actor may wait.
    fn probe<R: ChannelRef<Item>>(
        &self,
        phase: &str,
        parked: &[Option<Wait>],
        monitor: &Monitor<Item, R>,
        weak: &WeakSender<Item, R>,
        rx: Option<&Receiver<Item, R>>,
    ) {
        let st = monitor.stats();
        check_stats(&st, monitor.is_closed());
        for (i, wait) in parked.iter().enumerate() {
            let Some(wait) = wait else { continue };
            let who = format!("actor {i} ({}), at the {phase}", self.ops[i].name());
            match wait {
                Wait::Item => {
                    // A closed channel ends once no permit is out (ring invariant 5): a
                    // receiver may wait on it while one is.
                    assert!(
                        !(st.closed && st.len == 0 && st.reserved == 0),
                        "lost wakeup: {who} waits for an item on a closed, empty channel \
                         with no permit out: {st:?}"
                    );
                    if let Some(v) = rx.and_then(|rx| rx.try_recv().ok()) {
                        panic!("lost wakeup: {who} waits while item {} is there", v.id);
                    }
                }
                Wait::Slot => {
                    assert!(
                        !st.closed,
                        "lost wakeup: {who} waits for a slot on a closed channel: {st:?}"
                    );
                    if let Some(tx) = weak.upgrade() {
                        assert!(
                            tx.try_reserve().is_err(),
                            "lost wakeup: {who} waits while a slot is free: {st:?}"
                        );
                    }
                }
                Wait::Close => assert!(
                    !st.closed,
                    "lost wakeup: {who} waits for the close of a closed channel"
                ),
                Wait::Permits => unreachable!("no semaphore here"),
            }
        }
    }
}

/// The handles one actor gets.
struct Hands<R: ChannelRef<Item> + 'static> {
    tx: Option<Sender<Item, R>>,
    rx: Option<Receiver<Item, R>>,
    weak: Option<WeakSender<Item, R>>,
    permit: Option<HeldPermit<R>>,
}

/// `stats()` invariants that hold in every snapshot.
#[track_caller]
fn check_stats(st: &sluicebox::Stats, closed: bool) {
    assert!(
        st.len + st.reserved <= st.capacity,
        "items and reservations above capacity: {st:?}"
    );
    assert_eq!(
        st.sent - st.received,
        st.len as u64,
        "sent - received != len: {st:?}"
    );
    assert_eq!(
        st.closed, closed,
        "stats().closed disagrees with is_closed()"
    );
}

/// One actor: its operation, then its handles are dropped (before the harness hears it
/// finished, so the main thread never sees quiescence while a handle's drop is pending).
fn act<R: ChannelRef<Item> + 'static>(
    op: Op,
    hands: Hands<R>,
    actor: &Actor,
    item: Item,
    gate: &Gate,
    book: &Book,
) {
    let id = item.id;
    let Hands {
        tx,
        rx,
        weak,
        permit,
    } = hands;
    let tx = || tx.as_ref().expect("a sender");
    let rx = || rx.as_ref().expect("a receiver");
    gate.point();
    match op {
        Op::Send => {
            if let Some(Ok(())) = actor.run(Wait::Slot, tx().send(item)) {
                book.accepted(id);
            }
        }
        Op::SendWakePanic => {
            let waker = actor.wake_panics();
            if let Some(Ok(())) = actor.run_with(&waker, Wait::Slot, tx().send(item)) {
                book.accepted(id);
            }
        }
        Op::TrySend => {
            if tx().try_send(item).is_ok() {
                book.accepted(id);
            }
        }
        Op::ForceSend => match tx().force_send(item) {
            Ok(None) => {
                book.accepted(id);
                book.forced(Forced::Plain);
            }
            Ok(Some(old)) => {
                book.accepted(id);
                book.out(old.id);
                book.forced(Forced::Evicted);
            }
            Err(_) => book.forced(Forced::GaveUp),
        },
        Op::ReserveSend | Op::ReserveDrop => {
            if let Some(Ok(p)) = actor.run(Wait::Slot, tx().reserve()) {
                gate.point();
                if op == Op::ReserveSend {
                    book.accepted(id);
                    p.send(item);
                } else {
                    drop(p);
                }
            }
        }
        Op::Recv => {
            if let Some(Some(v)) = actor.run(Wait::Item, rx().recv()) {
                book.out(v.id);
            }
        }
        Op::TryRecv => {
            if let Ok(v) = rx().try_recv() {
                book.out(v.id);
            }
        }
        Op::RecvMany => {
            let mut buf = Vec::new();
            actor.run(Wait::Item, rx().recv_many(&mut buf, 2));
            for v in buf {
                book.out(v.id);
            }
        }
        Op::SendOnce => {
            if let Some(Ok(())) = actor.poll_once(tx().send(item)) {
                book.accepted(id);
            }
        }
        Op::RecvOnce => {
            if let Some(Some(v)) = actor.poll_once(rx().recv()) {
                book.out(v.id);
            }
        }
        Op::ReserveOnce => {
            if let Some(Ok(p)) = actor.poll_once(tx().reserve()) {
                gate.point();
                book.accepted(id);
                p.send(item);
            }
        }
        Op::CloseTx => {
            tx().close();
        }
        Op::CloseRx => {
            rx().close();
        }
        Op::DropTx | Op::DropRx | Op::DropRxPanic => {}
        Op::Upgrade => {
            if let Some(s) = weak.as_ref().expect("a weak sender").upgrade() {
                gate.point();
                if s.try_send(item).is_ok() {
                    book.accepted(id);
                }
            }
        }
        Op::Closed => {
            actor.run(Wait::Close, tx().closed());
        }
        Op::PermitSend => {
            // Booked first, as for every permit's send (it may unwind, see `body`).
            book.accepted(id);
            permit.expect("the held permit").send(item);
        }
        Op::PermitDrop => drop(permit),
    }
}
