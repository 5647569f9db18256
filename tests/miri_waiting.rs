//! Waiting on the channel and the semaphore, polled by hand: every future, stream and
//! `PollSender` has its own counting waker, and each test asserts exactly who was woken
//! and what each poll returned. No executor and no threads, so these run in seconds under
//! miri, where they check the intrusive wait lists' pointer work (link, unlink, hand-off,
//! baton) and the drops of items queued, returned and drained.
//!
//! Items are boxed closures returning a `&'static str` label ([`Job`]): each records in a
//! [`Ledger`] whether it ran and how often it was dropped, so every test ends by checking
//! that every item was dropped exactly once, and that only the items received were run.
//! Scenarios that take a channel run on a heap channel starting at lap 0, and on a heap
//! and a static channel starting two laps before their positions wrap past `usize::MAX`
//! (at 2^32 on a 32-bit target).
//!
//! Test names carry the `PITFALLS.md` tag they cover.
#![cfg(feature = "std")]

use sluicebox::{
    bounded, bounded_starting_at_lap, AcquireError, ChannelRef, Receiver, Semaphore, SendError,
    Sender, StaticChannel, TryRecvError,
};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

// ---------------------------------------------------------------------------------------
// Harness: counting wakers, hand-polled tasks, a drop ledger
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that counts its wakes.
struct Waking {
    count: Arc<Count>,
    waker: Waker,
}

impl Waking {
    fn new() -> Self {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        Self { count, waker }
    }

    fn wakes(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

    fn cx(&self) -> Context<'_> {
        Context::from_waker(&self.waker)
    }
}

/// A future polled by hand with its own counting waker; `cancel` drops it.
struct Task<F: Future> {
    fut: Option<Pin<Box<F>>>,
    waking: Waking,
}

impl<F: Future> Task<F> {
    fn new(fut: F) -> Self {
        Self {
            fut: Some(Box::pin(fut)),
            waking: Waking::new(),
        }
    }

    fn poll(&mut self) -> Poll<F::Output> {
        let fut = self.fut.as_mut().expect("polled after cancel");
        fut.as_mut().poll(&mut self.waking.cx())
    }

    #[track_caller]
    fn pending(&mut self) {
        assert!(self.poll().is_pending(), "expected Pending, got Ready");
    }

    #[track_caller]
    fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected Ready, got Pending"),
        }
    }

    /// Drops the future (its `Drop` unregisters it, passing on a wakeup it holds).
    fn cancel(&mut self) {
        assert!(self.fut.take().is_some(), "cancelled twice");
    }

    fn wakes(&self) -> usize {
        self.waking.wakes()
    }
}

/// `assert_wakes!([a, b], [1, 0], "why")`: the wake counts of tasks, streams, wakers.
macro_rules! assert_wakes {
    ([$($t:expr),* $(,)?], [$($n:expr),* $(,)?] $(, $($msg:tt)+)?) => {
        assert_eq!([$($t.wakes()),*], [$($n),*] $(, $($msg)+)?)
    };
}

/// An item with a lifetime in its type: a boxed closure returning a `&'static str`.
type Job = Box<dyn FnOnce() -> &'static str + Send>;

/// Per item id: how many times it was dropped, and how many times it ran.
#[derive(Clone)]
struct Ledger(Arc<Vec<(AtomicUsize, AtomicUsize)>>);

/// Lives inside a job's closure: counts the closure's drop (after a run, or without one).
struct Guard {
    id: usize,
    ledger: Ledger,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.ledger.0[self.id].0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Ledger {
    fn new(n: usize) -> Self {
        Self(Arc::new(
            (0..n)
                .map(|_| (AtomicUsize::new(0), AtomicUsize::new(0)))
                .collect(),
        ))
    }

    /// Job `id`, returning `label` when run. Mint each id once.
    fn job(&self, id: usize, label: &'static str) -> Job {
        let guard = Guard {
            id,
            ledger: self.clone(),
        };
        Box::new(move || {
            guard.ledger.0[guard.id].1.fetch_add(1, Ordering::SeqCst);
            label
        })
    }

    fn drops(&self, id: usize) -> usize {
        self.0[id].0.load(Ordering::SeqCst)
    }

    fn runs(&self, id: usize) -> usize {
        self.0[id].1.load(Ordering::SeqCst)
    }

    /// Every item dropped exactly once; exactly the ids in `ran` were run, once each.
    #[track_caller]
    fn assert_done(&self, ran: &[usize]) {
        for id in 0..self.0.len() {
            assert_eq!(self.drops(id), 1, "drops of item {id}");
            let expected = usize::from(ran.contains(&id));
            assert_eq!(self.runs(id), expected, "runs of item {id}");
        }
    }
}

/// Runs a received job and returns its label.
#[track_caller]
fn run(job: Option<Job>) -> &'static str {
    job.expect("expected an item, got the end of the channel")()
}

fn one_lap(cap: usize) -> usize {
    (cap + 1).next_power_of_two() * 4
}

/// The start lap two laps before positions wrap past `usize::MAX`.
fn near_wrap_lap(cap: usize) -> usize {
    usize::MAX / one_lap(cap) - 1
}

/// Runs `scenario` on a heap channel of capacity `N` at lap 0 and two laps before the
/// position wrap, and on a `StaticChannel<Job, N>` starting two laps before it too.
macro_rules! on_every_storage {
    ($scenario:ident, $n:literal) => {{
        let (tx, rx) = bounded::<Job>($n);
        $scenario(tx, rx);
        let (tx, rx) = bounded_starting_at_lap::<Job>($n, near_wrap_lap($n));
        $scenario(tx, rx);
        let ch = StaticChannel::<Job, $n>::starting_at_lap(near_wrap_lap($n));
        let (tx, rx) = ch.split();
        $scenario(tx, rx);
    }};
}

// ---------------------------------------------------------------------------------------
// handoff: a woken waiter dropped before it was polled passes the wakeup on
// ---------------------------------------------------------------------------------------

fn woken_recv_dropped<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(2);
    {
        let mut r: Vec<_> = (0..3).map(|_| Task::new(rx.recv())).collect();
        for t in &mut r {
            t.pending();
        }
        assert_eq!(rx.stats().receivers_waiting, 3);
        tx.try_send(ledger.job(0, "zero")).unwrap();
        assert_wakes!([r[0], r[1], r[2]], [1, 0, 0], "one item wakes the oldest");
        r[0].cancel();
        assert_wakes!(
            [r[0], r[1], r[2]],
            [1, 1, 0],
            "the dropped receiver passed it on"
        );
        assert_eq!(run(r[1].ready()), "zero");
        assert_wakes!([r[0], r[1], r[2]], [1, 1, 0], "nobody else was woken");
        assert_eq!(rx.stats().receivers_waiting, 1);

        tx.try_send(ledger.job(1, "one")).unwrap();
        assert_wakes!([r[0], r[1], r[2]], [1, 1, 1]);
        r[2].cancel();
        assert_eq!(rx.stats().receivers_waiting, 0);
        assert_eq!(
            ledger.drops(1),
            0,
            "the item outlived the cancelled receiver"
        );
    }
    assert_eq!(rx.try_recv().map(|job| job()), Ok("one"));
    drop((tx, rx));
    ledger.assert_done(&[0, 1]);
}

#[test]
fn handoff_woken_recv_future_dropped() {
    on_every_storage!(woken_recv_dropped, 2);
}

/// Capacity 1 (thingbuf 0.1.6 lost this wakeup): parked `send` and `reserve` futures, each
/// woken by a freed slot, cancelled before they are polled, hand the slot on in order.
fn woken_send_and_reserve_dropped<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(4);
    tx.try_send(ledger.job(0, "zero")).unwrap();
    {
        let mut a = Task::new(tx.send(ledger.job(1, "a")));
        let mut b = Task::new(tx.reserve());
        let mut c = Task::new(tx.send(ledger.job(2, "c")));
        let mut d = Task::new(tx.reserve());
        a.pending();
        b.pending();
        c.pending();
        d.pending();
        assert_eq!(tx.stats().senders_waiting, 4);

        assert_eq!(rx.try_recv().map(|job| job()), Ok("zero"));
        assert_wakes!(
            [a, b, c, d],
            [1, 0, 0, 0],
            "one freed slot wakes the oldest"
        );
        a.cancel();
        assert_eq!(
            ledger.drops(1),
            1,
            "a cancelled send drops its value with it"
        );
        assert_wakes!(
            [a, b, c, d],
            [1, 1, 0, 0],
            "the cancelled send passed it on"
        );
        b.cancel();
        assert_wakes!(
            [a, b, c, d],
            [1, 1, 1, 0],
            "the cancelled reserve passed it on"
        );
        assert!(matches!(c.ready(), Ok(())));
        assert_wakes!([a, b, c, d], [1, 1, 1, 0]);
        assert_eq!(tx.stats().senders_waiting, 1);
        d.pending();

        assert_eq!(rx.try_recv().map(|job| job()), Ok("c"));
        assert_wakes!([a, b, c, d], [1, 1, 1, 1]);
        match d.ready() {
            Ok(permit) => permit.send(ledger.job(3, "d")),
            Err(_) => panic!("the reserve did not get the freed slot"),
        }
        assert_eq!(tx.stats().senders_waiting, 0);
    }
    assert_eq!(rx.try_recv().map(|job| job()), Ok("d"));
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    drop((tx, rx));
    ledger.assert_done(&[0, 2, 3]);
}

#[test]
fn handoff_woken_send_and_reserve_futures_dropped() {
    on_every_storage!(woken_send_and_reserve_dropped, 1);
}

/// A `PollSender` dropped while queued (never woken) wakes nobody; one dropped after it
/// was woken passes the wakeup to the next waiting sender.
fn poll_sender_dropped<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(3);
    tx.try_send(ledger.job(0, "zero")).unwrap();
    let (w1, w3) = (Waking::new(), Waking::new());
    let mut p1 = Box::pin(tx.clone().into_poll_sender());
    let mut s2 = Task::new(tx.send(ledger.job(1, "one")));
    let mut p3 = Box::pin(tx.clone().into_poll_sender());
    assert!(p1.as_mut().poll_reserve(&mut w1.cx()).is_pending());
    s2.pending();
    assert!(p3.as_mut().poll_reserve(&mut w3.cx()).is_pending());
    assert_eq!((tx.stats().senders_waiting, tx.sender_count()), (3, 3));

    drop(p3);
    assert_wakes!(
        [w1, s2, w3],
        [0, 0, 0],
        "a queued PollSender dropped wakes nobody"
    );
    assert_eq!((tx.stats().senders_waiting, tx.sender_count()), (2, 2));

    assert_eq!(rx.try_recv().map(|job| job()), Ok("zero"));
    assert_wakes!([w1, s2, w3], [1, 0, 0]);
    drop(p1);
    assert_wakes!([w1, s2, w3], [1, 1, 0], "the woken PollSender passed it on");
    assert!(matches!(s2.ready(), Ok(())));
    drop(s2);
    assert_eq!(tx.stats().senders_waiting, 0);

    // A PollSender that waited, then sends through the permit it was given.
    let w4 = Waking::new();
    let mut p4 = Box::pin(tx.clone().into_poll_sender());
    assert!(p4.as_mut().poll_reserve(&mut w4.cx()).is_pending());
    assert_eq!(rx.try_recv().map(|job| job()), Ok("one"));
    assert_eq!(w4.wakes(), 1);
    match p4.as_mut().poll_reserve(&mut w4.cx()) {
        Poll::Ready(Ok(permit)) => permit.send(ledger.job(2, "two")),
        _ => panic!("the woken PollSender got no permit"),
    }
    drop(p4);
    assert_eq!(rx.try_recv().map(|job| job()), Ok("two"));
    drop((tx, rx));
    ledger.assert_done(&[0, 1, 2]);
}

#[test]
fn handoff_poll_sender_dropped_while_queued() {
    on_every_storage!(poll_sender_dropped, 1);
}

/// A `RecvStream` dropped while queued wakes nobody; one dropped after it was woken passes
/// the wakeup on. A stream holding the last receiver closes the channel when dropped: the
/// items queued are dropped then, once, and the parked sender gets its value back.
fn recv_stream_dropped<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(4);
    let (w1, w3) = (Waking::new(), Waking::new());
    let mut s1 = Box::pin(rx.clone().into_stream());
    let mut s3 = Box::pin(rx.clone().into_stream());
    {
        let mut r2 = Task::new(rx.recv());
        assert!(s1.as_mut().poll_recv(&mut w1.cx()).is_pending());
        r2.pending();
        assert!(s3.as_mut().poll_recv(&mut w3.cx()).is_pending());
        assert_eq!((rx.stats().receivers_waiting, rx.receiver_count()), (3, 3));

        drop(s3);
        assert_wakes!(
            [w1, r2, w3],
            [0, 0, 0],
            "a queued stream dropped wakes nobody"
        );
        assert_eq!((rx.stats().receivers_waiting, rx.receiver_count()), (2, 2));

        tx.try_send(ledger.job(0, "zero")).unwrap();
        assert_wakes!([w1, r2, w3], [1, 0, 0]);
        drop(s1);
        assert_wakes!([w1, r2, w3], [1, 1, 0], "the woken stream passed it on");
        assert_eq!(run(r2.ready()), "zero");
        assert_eq!(rx.receiver_count(), 1);
    }

    // The last receiver, as a stream: parked, then fed, then dropped with items queued.
    let w4 = Waking::new();
    let mut s4 = Box::pin(rx.into_stream());
    assert!(s4.as_mut().poll_recv(&mut w4.cx()).is_pending());
    tx.try_send(ledger.job(1, "one")).unwrap();
    assert_eq!(w4.wakes(), 1);
    match s4.as_mut().poll_recv(&mut w4.cx()) {
        Poll::Ready(job) => assert_eq!(run(job), "one"),
        Poll::Pending => panic!("the woken stream found nothing"),
    }
    tx.try_send(ledger.job(2, "two")).unwrap();
    let mut blocked = Task::new(tx.send(ledger.job(3, "three")));
    blocked.pending();
    drop(s4);
    assert!(tx.is_closed(), "the last receiver closed the channel");
    assert_eq!(
        (ledger.drops(2), ledger.runs(2)),
        (1, 0),
        "the item queued when the last receiver went is dropped then, unrun"
    );
    assert_eq!(blocked.wakes(), 1, "the close woke the parked sender");
    match blocked.ready() {
        Err(SendError(job)) => assert_eq!((job(), ledger.runs(3)), ("three", 1)),
        Ok(()) => panic!("sent into a channel without receivers"),
    }
    drop(blocked);
    drop(tx);
    ledger.assert_done(&[0, 1, 3]);
}

#[test]
fn handoff_recv_stream_dropped_while_queued() {
    on_every_storage!(recv_stream_dropped, 1);
}

// ---------------------------------------------------------------------------------------
// hol, handoff: a held permit holds room, not a place in line
// ---------------------------------------------------------------------------------------

/// Receivers parked while a permit is held: each item sent wakes one receiver, which
/// returns it at once; the permit's item queues when it is sent. One wake per item.
fn permit_holds_no_receiver_up<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(3);
    {
        let permit = tx.try_reserve().unwrap();
        let mut r: Vec<_> = (0..3).map(|_| Task::new(rx.recv())).collect();
        for t in &mut r {
            t.pending();
        }
        tx.try_send(ledger.job(1, "one")).unwrap();
        assert_wakes!([r[0], r[1], r[2]], [1, 0, 0], "FIFO: the first is woken");
        assert_eq!(run(r[0].ready()), "one", "not held up by the permit");
        tx.try_send(ledger.job(2, "two")).unwrap();
        assert_wakes!([r[0], r[1], r[2]], [1, 1, 0]);
        assert_eq!(run(r[1].ready()), "two");
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
        permit.send(ledger.job(0, "zero"));
        assert_wakes!([r[0], r[1], r[2]], [1, 1, 1], "the permit's item wakes one");
        assert_eq!(run(r[2].ready()), "zero");
        assert_wakes!([r[0], r[1], r[2]], [1, 1, 1], "one wake per item");
    }
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    drop((tx, rx));
    ledger.assert_done(&[0, 1, 2]);
}

#[test]
fn hol_permit_holds_no_receiver_up() {
    on_every_storage!(permit_holds_no_receiver_up, 4);
}

/// A receiver woken for an item is cancelled before it polls, while a permit is held: it
/// hands the wakeup on, and the next receiver gets the item; the permit's item goes to
/// the one after.
fn woken_receiver_dropped_beside_permit<R: ChannelRef<Job>>(
    tx: Sender<Job, R>,
    rx: Receiver<Job, R>,
) {
    let ledger = Ledger::new(2);
    {
        let mut r1 = Task::new(rx.recv());
        let mut r2 = Task::new(rx.recv());
        let mut r3 = Task::new(rx.recv());
        r1.pending();
        r2.pending();
        r3.pending();
        let permit = tx.try_reserve().unwrap();
        tx.try_send(ledger.job(1, "one")).unwrap();
        assert_wakes!([r1, r2, r3], [1, 0, 0]);
        r1.cancel();
        assert_wakes!([r1, r2, r3], [1, 1, 0], "the dropped receiver hands it on");
        assert_eq!(run(r2.ready()), "one");
        permit.send(ledger.job(0, "zero"));
        assert_wakes!([r1, r2, r3], [1, 1, 1]);
        assert_eq!(run(r3.ready()), "zero");
    }
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    drop((tx, rx));
    ledger.assert_done(&[0, 1]);
}

#[test]
fn handoff_woken_receiver_dropped_beside_permit() {
    on_every_storage!(woken_receiver_dropped_beside_permit, 4);
}

/// A permit dropped unused gives its room back at once: it wakes the parked `send`
/// (which then completes) and, when that room is taken again, a parked `reserve` waits
/// on; no receiver is woken for it.
fn permit_dropped_wakes_a_sender<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(2);
    {
        let permit = tx.try_reserve().unwrap();
        tx.try_send(ledger.job(0, "zero")).unwrap();
        let mut recv = Task::new(rx.recv());
        assert_eq!(run(recv.ready()), "zero", "not held up by the permit");
        let mut recv = Task::new(rx.recv());
        recv.pending();
        let filler = tx.try_reserve().unwrap();
        let mut send = Task::new(tx.send(ledger.job(1, "one")));
        let mut reserve = Task::new(tx.reserve());
        send.pending();
        reserve.pending();
        assert_eq!(tx.stats().senders_waiting, 2);
        drop(permit);
        assert_wakes!([send, reserve, recv], [1, 0, 0], "one room, one sender");
        assert!(send.ready().is_ok());
        assert_wakes!(
            [send, reserve, recv],
            [1, 0, 1],
            "its item wakes the receiver"
        );
        assert_eq!(run(recv.ready()), "one");
        assert_wakes!([send, reserve, recv], [1, 1, 1], "the pop frees room");
        drop(filler);
        match reserve.ready() {
            Ok(permit) => drop(permit),
            Err(_) => panic!("room was freed"),
        }
        assert_eq!((tx.len(), tx.reserved()), (0, 0));
    }
    drop((tx, rx));
    ledger.assert_done(&[0, 1]);
}

#[test]
fn handoff_permit_dropped_wakes_a_sender() {
    on_every_storage!(permit_dropped_wakes_a_sender, 2);
}

// ---------------------------------------------------------------------------------------
// close: wakes parked sends, reserves, receivers and `closed()`
// ---------------------------------------------------------------------------------------

/// `close()` on a full channel wakes the parked `send`, `reserve` and `closed()` futures
/// once each; the send gets its value back; the queued item can still be received.
fn close_wakes_senders<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(2);
    tx.try_send(ledger.job(0, "zero")).unwrap();
    {
        let mut send = Task::new(tx.send(ledger.job(1, "one")));
        let mut reserve = Task::new(tx.reserve());
        let mut closed = Task::new(tx.closed());
        send.pending();
        reserve.pending();
        closed.pending();
        assert_wakes!([send, reserve, closed], [0, 0, 0]);
        assert!(rx.close());
        assert_wakes!([send, reserve, closed], [1, 1, 1], "close wakes each once");
        match send.ready() {
            Err(SendError(job)) => assert_eq!(job(), "one"),
            Ok(()) => panic!("sent after close"),
        }
        assert!(reserve.ready().is_err(), "reserve after close fails");
        closed.ready();
        assert!(!rx.close(), "already closed");
        assert_wakes!([send, reserve, closed], [1, 1, 1]);
        assert_eq!(tx.stats().senders_waiting, 0);
    }
    let mut recv = Task::new(rx.recv());
    assert_eq!(
        run(recv.ready()),
        "zero",
        "items queued before the close stay"
    );
    let mut end = Task::new(rx.recv());
    assert!(end.ready().is_none());
    drop((recv, end));
    drop((tx, rx));
    ledger.assert_done(&[0, 1]);
}

#[test]
fn close_wakes_parked_send_reserve_and_closed() {
    on_every_storage!(close_wakes_senders, 1);
}

/// The last sender dropped wakes every parked receiver, each with `None`; the last
/// receiver dropped wakes `closed()` and drops the items still queued, once each.
fn close_by_last_handle<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(2);
    let tx2 = tx.clone();
    {
        let mut r1 = Task::new(rx.recv());
        let mut r2 = Task::new(rx.recv());
        r1.pending();
        r2.pending();
        let mut closed = Task::new(tx2.closed());
        closed.pending();
        drop(tx);
        assert_wakes!([r1, r2, closed], [0, 0, 0], "a sender is still alive");
        assert!(!rx.is_closed());
        tx2.try_send(ledger.job(0, "zero")).unwrap();
        assert_wakes!([r1, r2, closed], [1, 0, 0]);
        assert_eq!(run(r1.ready()), "zero");
        closed.cancel();
    }
    {
        let mut r = Task::new(rx.recv());
        r.pending();
        drop(tx2);
        assert_eq!(
            r.wakes(),
            1,
            "the last sender's drop wakes the parked receiver"
        );
        assert!(r.ready().is_none());
    }

    // The other way round: the last receiver goes while an item is queued.
    let (tx, rx) = bounded::<Job>(2);
    tx.try_send(ledger.job(1, "one")).unwrap();
    let mut closed = Task::new(tx.closed());
    closed.pending();
    drop(rx);
    assert_eq!(closed.wakes(), 1, "the last receiver's drop wakes closed()");
    closed.ready();
    assert_eq!(
        ledger.drops(1),
        1,
        "the queued item is dropped with the last receiver"
    );
    drop(closed);
    drop(tx);
    ledger.assert_done(&[0]);
}

#[test]
fn close_by_last_sender_or_receiver_wakes_waiters() {
    on_every_storage!(close_by_last_handle, 2);
}

/// `close()` while receivers wait and a permit holds the last room, with a sender
/// waiting for room: every waiter is woken; the sender fails with its value; the
/// receivers wait on for the permit. Its item wakes them all (the end of the channel
/// comes with it): one returns the item, the other the end.
fn close_behind_held_permit<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(2);
    {
        let permit = tx.try_reserve().unwrap();
        let mut r1 = Task::new(rx.recv());
        let mut r2 = Task::new(rx.recv());
        let mut send = Task::new(tx.send(ledger.job(1, "one")));
        r1.pending();
        r2.pending();
        send.pending();
        let stats = tx.stats();
        assert_eq!((stats.receivers_waiting, stats.senders_waiting), (2, 1));
        tx.close();
        assert_wakes!([r1, r2, send], [1, 1, 1], "close wakes every waiter once");
        match send.ready() {
            Err(SendError(job)) => drop(job),
            Ok(()) => panic!("sent after close"),
        }
        assert_eq!((ledger.drops(1), ledger.runs(1)), (1, 0));
        // Closed, but a permit is out: not the end yet.
        r1.pending();
        r2.pending();
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
        assert_wakes!([r1, r2, send], [1, 1, 1]);
        permit.send(ledger.job(0, "zero"));
        assert_wakes!([r1, r2, send], [2, 2, 1], "the last permit wakes them all");
        assert_eq!(run(r2.ready()), "zero");
        assert!(r1.ready().is_none(), "closed, drained, no permit out");
        let mut end = Task::new(rx.recv());
        assert!(end.ready().is_none());
    }
    drop((tx, rx));
    ledger.assert_done(&[0]);
}

#[test]
fn close_behind_permit_wakes_every_waiter() {
    on_every_storage!(close_behind_held_permit, 1);
}

// ---------------------------------------------------------------------------------------
// close_permits, permit-after-close
// ---------------------------------------------------------------------------------------

/// Permits held across the close: the receivers wait for each; the last one dropped (or
/// sent) wakes every parked receiver, which then sees the end. With every receiver
/// gone, a permit's value is dropped at once.
fn close_permits_scenario<R: ChannelRef<Job>>(tx: Sender<Job, R>, rx: Receiver<Job, R>) {
    let ledger = Ledger::new(3);
    {
        let permit = tx.try_reserve().unwrap();
        let mut r = Task::new(rx.recv());
        let mut r2 = Task::new(rx.recv());
        r.pending();
        r2.pending();
        assert!(tx.close());
        assert_wakes!([r, r2], [1, 1], "close wakes the receivers");
        r.pending(); // a permit is out: not the end yet
        r2.pending();
        drop(permit);
        assert_wakes!([r, r2], [2, 2], "the last permit dropped wakes them all");
        assert!(r.ready().is_none());
        assert!(r2.ready().is_none());
    }
    drop((tx, rx));

    let (tx, rx) = bounded::<Job>(2);
    {
        let p1 = tx.try_reserve().unwrap();
        let mut reserve = Task::new(tx.reserve());
        let p2 = match reserve.ready() {
            Ok(permit) => permit,
            Err(_) => panic!("room is left"),
        };
        let mut r = Task::new(rx.recv());
        r.pending();
        rx.close();
        assert_eq!(r.wakes(), 1, "close wakes the parked receiver");
        r.pending();
        p2.send(ledger.job(0, "zero"));
        assert_eq!(r.wakes(), 2, "a permit's item wakes it");
        assert_eq!(run(r.ready()), "zero", "items queue in the order sent");
        let mut r = Task::new(rx.recv());
        r.pending(); // `p1` is still out
        p1.send(ledger.job(1, "one"));
        assert_eq!(r.wakes(), 1);
        assert_eq!(run(r.ready()), "one");
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
    }
    drop((tx, rx));

    let (tx, rx) = bounded::<Job>(1);
    let permit = tx.try_reserve().unwrap();
    drop(rx);
    permit.send(ledger.job(2, "two"));
    assert_eq!(
        (ledger.drops(2), ledger.runs(2)),
        (1, 0),
        "sent after the last receiver went: dropped at once"
    );
    drop(tx);
    ledger.assert_done(&[0, 1]);
}

#[test]
fn close_permits_held_across_close() {
    on_every_storage!(close_permits_scenario, 2);
}

// ---------------------------------------------------------------------------------------
// recv_many, recv_batch
// ---------------------------------------------------------------------------------------

/// A deadline for `recv_batch` that completes when opened.
#[derive(Clone, Default)]
struct Gate(Arc<(AtomicBool, Mutex<Option<Waker>>)>);

impl Gate {
    fn open(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        if let Some(waker) = self.0 .1.lock().unwrap().take() {
            waker.wake();
        }
    }

    async fn wait(self) {
        std::future::poll_fn(|cx| {
            if self.0 .0.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.0 .1.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

fn labels(buf: Vec<Job>) -> Vec<&'static str> {
    buf.into_iter().map(|job| job()).collect()
}

#[test]
fn recv_many_waits_then_takes_what_is_there() {
    let ledger = Ledger::new(6);
    let (tx, rx) = bounded::<Job>(4);
    let mut none: Vec<Job> = Vec::new();
    assert_eq!(Task::new(rx.recv_many(&mut none, 0)).ready(), 0, "limit 0");

    let mut buf = Vec::new();
    let mut many = Task::new(rx.recv_many(&mut buf, 2));
    many.pending();
    for (id, label) in [(0, "a"), (1, "b"), (2, "c")] {
        tx.try_send(ledger.job(id, label)).unwrap();
    }
    assert_eq!(many.wakes(), 1, "one wake: the others found nobody queued");
    assert_eq!(many.ready(), 2);
    drop(many);
    assert_eq!(labels(buf), ["a", "b"]);
    assert_eq!(rx.try_recv().map(|job| job()), Ok("c"));

    // Woken, then cancelled: the wakeup goes to the receiver behind it; nothing is taken.
    let mut buf = Vec::new();
    let mut many = Task::new(rx.recv_many(&mut buf, 4));
    let mut behind = Task::new(rx.recv());
    many.pending();
    behind.pending();
    tx.try_send(ledger.job(3, "d")).unwrap();
    assert_wakes!([many, behind], [1, 0]);
    many.cancel();
    assert_wakes!(
        [many, behind],
        [1, 1],
        "the cancelled recv_many passed it on"
    );
    assert_eq!(run(behind.ready()), "d");
    drop((many, behind));
    assert!(buf.is_empty());

    // Closed while waiting: 0, nothing appended.
    let mut buf = vec![ledger.job(4, "kept")];
    let mut many = Task::new(rx.recv_many(&mut buf, 4));
    many.pending();
    tx.try_send(ledger.job(5, "e")).unwrap();
    assert_eq!(many.ready(), 1);
    drop(many);
    let mut many2 = Task::new(rx.recv_many_into(&mut buf, 4));
    many2.pending();
    drop(tx);
    assert_eq!(many2.wakes(), 1);
    assert_eq!(many2.ready(), 0, "closed and drained");
    drop(many2);
    assert_eq!(labels(buf), ["kept", "e"]);
    drop(rx);
    ledger.assert_done(&[0, 1, 2, 3, 4, 5]);
}

#[test]
fn recv_batch_waits_for_items_until_the_deadline() {
    let ledger = Ledger::new(7);
    let (tx, rx) = bounded_starting_at_lap::<Job>(2, near_wrap_lap(2));

    // Collects as items come, until the deadline.
    let gate = Gate::default();
    let mut buf = Vec::new();
    let mut batch = Task::new(rx.recv_batch(&mut buf, 3, gate.clone().wait()));
    batch.pending();
    assert_eq!(rx.stats().receivers_waiting, 1);
    tx.try_send(ledger.job(0, "a")).unwrap();
    assert_eq!(batch.wakes(), 1);
    batch.pending(); // took "a"; waits for more, and for the deadline
    assert_eq!(rx.stats().receivers_waiting, 1);
    tx.try_send(ledger.job(1, "b")).unwrap();
    assert_eq!(batch.wakes(), 2);
    batch.pending();
    gate.open();
    assert_eq!(batch.wakes(), 3, "the deadline woke it");
    assert_eq!(batch.ready(), 2);
    assert_eq!(
        rx.stats().receivers_waiting,
        0,
        "the inner recv left the queue"
    );
    drop(batch);
    assert_eq!(labels(buf), ["a", "b"]);

    // The limit ends it before the deadline; the rest stays queued.
    let mut buf = Vec::new();
    tx.try_send(ledger.job(2, "c")).unwrap();
    tx.try_send(ledger.job(3, "d")).unwrap();
    let mut batch = Task::new(rx.recv_batch(&mut buf, 1, Gate::default().wait()));
    assert_eq!(batch.ready(), 1);
    drop(batch);
    assert_eq!(labels(buf), ["c"]);
    assert_eq!(rx.try_recv().map(|job| job()), Ok("d"));

    // Cancelled after its first item, when its inner recv had been woken: the item it
    // took stays in `buf`, the wakeup goes to the receiver behind it.
    let mut buf = Vec::new();
    let mut batch = Task::new(rx.recv_batch(&mut buf, 3, Gate::default().wait()));
    batch.pending();
    tx.try_send(ledger.job(4, "e")).unwrap();
    batch.pending(); // took "e", queued again
    let mut behind = Task::new(rx.recv());
    behind.pending();
    tx.try_send(ledger.job(5, "f")).unwrap();
    assert_wakes!([batch, behind], [2, 0]);
    batch.cancel();
    assert_wakes!([batch, behind], [2, 1], "the cancelled batch passed it on");
    assert_eq!(run(behind.ready()), "f");
    drop((batch, behind));
    assert_eq!(labels(buf), ["e"]);

    // The channel closes while it collects: it returns what it has.
    let mut buf = Vec::new();
    let mut batch = Task::new(rx.recv_batch(&mut buf, 3, Gate::default().wait()));
    batch.pending();
    tx.try_send(ledger.job(6, "g")).unwrap();
    batch.pending();
    drop(tx);
    assert_eq!(batch.wakes(), 2);
    assert_eq!(batch.ready(), 1);
    drop(batch);
    assert_eq!(labels(buf), ["g"]);
    let mut buf = Vec::new();
    assert_eq!(Task::new(rx.recv_batch(&mut buf, 3, async {})).ready(), 0);
    drop(rx);
    ledger.assert_done(&[0, 1, 2, 3, 4, 5, 6]);
}

// ---------------------------------------------------------------------------------------
// permit-accounting: semaphore partial grants near the top of the permit count
// ---------------------------------------------------------------------------------------

const MAX: usize = Semaphore::MAX_PERMITS;

/// `acquire_many(MAX)` on a semaphore holding `MAX - 1`: it takes those and waits for
/// one more, holding them; the next permit completes it, and its release serves the
/// waiter behind it first. (`MAX` is `2^29 - 1` on 32-bit targets, `2^61 - 1` on 64-bit.)
#[test]
fn permit_accounting_partial_grant_of_max_completes() {
    let sem = Semaphore::new(MAX - 1);
    let mut big = Task::new(sem.acquire_many(MAX));
    let mut small = Task::new(sem.acquire());
    big.pending();
    small.pending();
    assert_eq!((sem.available_permits(), sem.waiting()), (0, 2));
    sem.add_permits(1);
    assert_wakes!(
        [big, small],
        [1, 0],
        "the last permit completes the front waiter"
    );
    let permit = big.ready().unwrap();
    assert_eq!(permit.permits(), MAX);
    small.pending();
    assert_eq!((sem.available_permits(), sem.waiting()), (0, 1));
    drop(permit);
    assert_wakes!([big, small], [1, 1]);
    assert_eq!(
        sem.available_permits(),
        MAX - 1,
        "one permit went to the waiter"
    );
    drop(small.ready().unwrap());
    assert_eq!(sem.available_permits(), MAX);
    assert!(catch_unwind(AssertUnwindSafe(|| sem.add_permits(1))).is_err());
    assert_eq!(sem.available_permits(), MAX, "a refused add adds nothing");
}

/// The same partial grant, cancelled: the `MAX - 1` permits it held go to the waiter
/// behind it first, the rest to the free count; closed instead, it fails and gives them
/// back.
#[test]
fn permit_accounting_partial_grant_of_max_cancelled_or_closed() {
    let sem = Semaphore::new(MAX - 1);
    let mut big = Task::new(sem.acquire_many(MAX));
    let mut small = Task::new(sem.acquire_many(2));
    big.pending();
    small.pending();
    big.cancel();
    assert_wakes!(
        [big, small],
        [0, 1],
        "the cancelled grant serves the next waiter"
    );
    assert_eq!(sem.available_permits(), MAX - 3);
    let permit = small.ready().unwrap();
    assert_eq!(permit.permits(), 2);
    drop(permit);
    assert_eq!((sem.available_permits(), sem.waiting()), (MAX - 1, 0));

    let mut big = Task::new(sem.acquire_many(MAX));
    let mut small = Task::new(sem.acquire());
    big.pending();
    small.pending();
    assert_eq!(sem.available_permits(), 0);
    assert!(sem.close());
    assert_wakes!([big, small], [1, 1], "close wakes both once");
    assert_eq!(big.ready().unwrap_err(), AcquireError::Closed);
    assert_eq!(
        sem.available_permits(),
        MAX - 1,
        "the partial grant came back"
    );
    assert_eq!(small.ready().unwrap_err(), AcquireError::Closed);
    drop((big, small));
    assert_eq!((sem.available_permits(), sem.waiting()), (MAX - 1, 0));
}

// ---------------------------------------------------------------------------------------
// lifetime-payload: the futures are `Send` for payloads with lifetimes
// ---------------------------------------------------------------------------------------

fn assert_send<T: Send>(_: &T) {}

/// A compile-time check: futures and handles over `&'static str` and boxed `FnOnce`
/// payloads stay `Send` (a storage trait bound on the futures would break this).
#[test]
fn lifetime_payload_futures_are_send() {
    let (tx, rx) = bounded::<&'static str>(1);
    assert_send(&tx.send("a"));
    assert_send(&tx.reserve());
    assert_send(&tx.closed());
    assert_send(&rx.recv());
    static CH: StaticChannel<Job, 1> = StaticChannel::new();
    let (stx, srx) = CH.split();
    assert_send(&stx.send(Box::new(|| "b")));
    assert_send(&srx.recv());
    let mut buf = Vec::new();
    assert_send(&srx.recv_many(&mut buf, 1));
    assert_send(&stx.clone().into_poll_sender());
    assert_send(&srx.clone().into_stream());
    let sem = Semaphore::new(1);
    assert_send(&sem.acquire_many(1));
    // And they run: a `&'static str` through a parked receiver.
    let mut r = Task::new(rx.recv());
    r.pending();
    tx.try_send("sent").unwrap();
    assert_eq!((r.wakes(), r.ready()), (1, Some("sent")));
}
