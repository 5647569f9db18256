//! A channel `Permit` that can move into another thread: the start state "held permit at
//! the head".
//!
//! A `Permit` borrows the sender it was reserved through. `HeldPermit` owns that sender
//! on the heap, so the permit can be `'static`, and frees it right after the permit is
//! sent or dropped: the sender lives exactly as long as its permit.

use crate::common::Item;
use sluicebox::{ChannelRef, Permit, Sender};

pub struct HeldPermit<R: ChannelRef<Item> + 'static> {
    permit: Option<Permit<'static, Item>>,
    /// Owned (from `Box::into_raw`); freed in `drop`, after `permit`.
    holder: *mut Sender<Item, R>,
}

// SAFETY: the permit and the sender are `Send` (the channel is `Sync` for `Item: Send`);
// the raw pointer is only an owning box that `drop` frees.
unsafe impl<R: ChannelRef<Item> + Send + Sync + 'static> Send for HeldPermit<R> {}

impl<R: ChannelRef<Item> + 'static> HeldPermit<R> {
    /// Reserves the next slot through `tx` (which the permit then owns).
    pub fn reserve(tx: Sender<Item, R>) -> Self {
        let holder = Box::into_raw(Box::new(tx));
        // SAFETY: `holder` is a live box that is freed only in `drop`, after the permit
        // borrowing it is gone; nothing else touches it.
        let tx: &'static Sender<Item, R> = unsafe { &*holder };
        let permit = tx
            .try_reserve()
            .expect("a start state reserves where a slot is free");
        Self {
            permit: Some(permit),
            holder,
        }
    }

    pub fn send(mut self, item: Item) {
        self.permit.take().expect("sent once").send(item);
    }
}

impl<R: ChannelRef<Item> + 'static> Drop for HeldPermit<R> {
    fn drop(&mut self) {
        /// Frees the sender after the permit, also if the permit's drop unwinds (a
        /// sender's waker it wakes may panic).
        struct Free<R: ChannelRef<Item> + 'static>(*mut Sender<Item, R>);
        impl<R: ChannelRef<Item> + 'static> Drop for Free<R> {
            fn drop(&mut self) {
                // SAFETY: from `Box::into_raw` in `reserve`, freed only here, after the
                // permit that borrowed it was dropped.
                drop(unsafe { Box::from_raw(self.0) });
            }
        }
        let _free = Free(self.holder);
        drop(self.permit.take());
    }
}
