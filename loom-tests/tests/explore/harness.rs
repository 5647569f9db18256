//! The explorer's actor harness: hand-polled futures, their wakers, and quiescence.
//!
//! Each actor runs in a spawned loom thread and polls its futures by hand with a waker of
//! its own. On `Pending` it parks (on its own `Condvar`) unless its waker already fired;
//! the waker un-parks it. The main thread waits for *quiescence*: every actor finished or
//! parked with no wake pending. At quiescence nothing runs but the main thread, so it can
//! probe whether each parked actor may legitimately wait, then tell the parked actors to
//! give up (they drop their futures: cancellation) and join them.
//!
//! The harness's own synchronisation is one loom `Mutex` and a `Condvar` per thread: loom
//! explores it too, so it is kept to one lock round per park, wake and finish.

use crate::common::TEST_PANIC;
use loom::sync::{Arc, Condvar, Mutex};
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};

/// What a parked actor waits for: the main thread's probe for "may it wait?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// An item (`recv`, `recv_many`).
    Item,
    /// A free slot (`send`, `reserve`).
    Slot,
    /// The channel's close (`closed()`).
    Close,
    /// Semaphore permits.
    Permits,
}

struct State {
    /// Actors neither finished nor parked (a parked actor whose waker fired is active).
    active: usize,
    parked: Vec<Option<Wait>>,
    /// The waker fired while the actor was running: its next park returns at once.
    woken: Vec<bool>,
    done: Vec<bool>,
    give_up: bool,
}

/// Shared by the main thread and the actors of one execution.
pub struct Harness {
    state: Mutex<State>,
    main: Condvar,
    actors: Vec<Condvar>,
}

impl Harness {
    /// A harness for actors of which those with `parks[i]` may wait. The others never
    /// park: the main thread joins them before waiting for quiescence, and they never
    /// touch the harness's lock (but for a stale wake), which keeps the state space small.
    pub fn new(parks: &[bool]) -> Arc<Self> {
        let actors = parks.len();
        Arc::new(Self {
            state: Mutex::new(State {
                active: parks.iter().filter(|&&p| p).count(),
                parked: vec![None; actors],
                woken: vec![false; actors],
                done: vec![false; actors],
                give_up: false,
            }),
            main: Condvar::new(),
            actors: (0..actors).map(|_| Condvar::new()).collect(),
        })
    }

    /// The handle actor `i` polls with (move it into the actor's thread). `parks` as
    /// given to `new`.
    pub fn actor(this: &Arc<Self>, i: usize, parks: bool) -> Actor {
        let waker = Waker::from(StdArc::new(ActorWaker {
            harness: this.clone(),
            i,
            panics: false,
        }));
        Actor {
            harness: this.clone(),
            i,
            parks,
            waker,
        }
    }

    /// Waits for quiescence; returns what each actor waits for (`None`: finished).
    pub fn quiesce(&self) -> Vec<Option<Wait>> {
        let mut s = self.state.lock().unwrap();
        while s.active > 0 {
            s = self.main.wait(s).unwrap();
        }
        s.parked.clone()
    }

    /// Tells every parked actor (and every actor that parks from now on) to give up.
    pub fn give_up(&self) {
        let mut s = self.state.lock().unwrap();
        s.give_up = true;
        for (i, parked) in s.parked.iter().enumerate() {
            if parked.is_some() {
                self.actors[i].notify_one();
            }
        }
    }

    fn wake(&self, i: usize) {
        let mut s = self.state.lock().unwrap();
        if s.parked[i].take().is_some() {
            s.active += 1;
            self.actors[i].notify_one();
        } else if !s.done[i] {
            s.woken[i] = true;
        }
    }
}

struct ActorWaker {
    harness: Arc<Harness>,
    i: usize,
    /// Panics (user code) after waking the actor, so the actor is woken all the same.
    panics: bool,
}

impl Wake for ActorWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.harness.wake(self.i);
        if self.panics {
            std::panic::panic_any(TEST_PANIC);
        }
    }
}

/// A waker whose `clone` panics (a `RawWaker` vtable: `Wake` cannot make one). Its
/// `wake` does nothing: poll with it only where no wake is needed.
pub fn clone_panics() -> Waker {
    unsafe fn clone(_: *const ()) -> RawWaker {
        std::panic::panic_any(TEST_PANIC)
    }
    unsafe fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the functions ignore the data pointer; none is unsound (clone panics
    // before making anything).
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Runs `f`; a [`TEST_PANIC`] (user code that panicked on purpose, passed on by the
/// crate) gives `None`, any other panic goes on.
pub fn contain<R>(f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(e) if e.downcast_ref::<&str>() == Some(&TEST_PANIC) => None,
        Err(e) => resume_unwind(e),
    }
}

/// Keeps the panic hook quiet about [`TEST_PANIC`]s (every other panic is reported).
pub fn quiet_test_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&TEST_PANIC) {
                hook(info);
            }
        }));
    });
}

/// One actor's side of the harness. Dropping it (also when the actor panics) marks a
/// parking actor finished.
pub struct Actor {
    harness: Arc<Harness>,
    i: usize,
    parks: bool,
    waker: Waker,
}

impl Actor {
    /// Polls `fut` until it completes (`Some`) or the main thread says give up (`None`:
    /// the future is dropped unfinished).
    pub fn run<F: Future>(&self, wait: Wait, fut: F) -> Option<F::Output> {
        self.run_with(&self.waker, wait, fut)
    }

    /// As `run`, polling with `waker` (one of [`wake_panics`](Self::wake_panics)).
    pub fn run_with<F: Future>(&self, waker: &Waker, wait: Wait, fut: F) -> Option<F::Output> {
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return Some(v);
            }
            if !self.park(wait) {
                return None;
            }
        }
    }

    /// A waker for this actor whose `wake` panics after waking it.
    pub fn wake_panics(&self) -> Waker {
        Waker::from(StdArc::new(ActorWaker {
            harness: self.harness.clone(),
            i: self.i,
            panics: true,
        }))
    }

    /// Polls `fut` once, then drops it.
    pub fn poll_once<F: Future>(&self, fut: F) -> Option<F::Output> {
        let fut = pin!(fut);
        match fut.poll(&mut Context::from_waker(&self.waker)) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }

    /// Parks until woken (`true`) or told to give up (`false`).
    fn park(&self, wait: Wait) -> bool {
        assert!(self.parks, "an actor declared as never parking waits");
        let h = &*self.harness;
        let mut s = h.state.lock().unwrap();
        if s.give_up {
            return false;
        }
        if std::mem::take(&mut s.woken[self.i]) {
            return true;
        }
        s.parked[self.i] = Some(wait);
        s.active -= 1;
        if s.active == 0 {
            h.main.notify_one();
        }
        loop {
            if s.give_up {
                return false;
            }
            if s.parked[self.i].is_none() {
                s.woken[self.i] = false;
                return true;
            }
            s = h.actors[self.i].wait(s).unwrap();
        }
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        if !self.parks {
            return;
        }
        let h = &*self.harness;
        let mut s = h.state.lock().unwrap_or_else(|e| e.into_inner());
        s.done[self.i] = true;
        if s.parked[self.i].take().is_none() && !s.give_up {
            s.active -= 1;
            if s.active == 0 {
                h.main.notify_one();
            }
        }
    }
}
