//! The intrusive doubly linked FIFO list of [`Waiter`]s.
//!
//! Pure pointer surgery, O(1) per operation, no allocation: the nodes are the `Waiter`s
//! embedded in pinned futures (or on a blocked thread's stack). Every method takes
//! `&mut List`, which the caller can only have through the wait list's lock; the
//! `*_locked` methods of `WaitList` pass it on, so holding the lock is proven by the type.

use super::waiter::{Node, Waiter};
use core::ptr::NonNull;

/// The list's ends. Reached only through the wait list's lock.
#[derive(Debug)]
pub(crate) struct List {
    head: Option<NonNull<Waiter>>,
    tail: Option<NonNull<Waiter>>,
    len: usize,
}

// SAFETY: the nodes behind these pointers are only touched through `&mut List`, i.e. under
// the lock, and what they hold (wake targets, counters) is `Send`.
unsafe impl Send for List {}

impl List {
    pub(crate) const fn new() -> Self {
        Self {
            head: None,
            tail: None,
            len: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The node's fields, borrowed mutably for as long as the list is.
    ///
    /// # Safety
    /// `waiter` must be linked into this list, or be the caller's own pinned waiter, and
    /// alive; `&mut self` (the lock) makes this the only access to its node.
    pub(crate) unsafe fn node(&mut self, waiter: NonNull<Waiter>) -> &mut Node {
        // SAFETY: the caller guarantees the waiter is alive; the node is only ever
        // accessed under the lock we hold through `&mut self`.
        unsafe { waiter.as_ref().node_mut() }
    }

    /// Appends `waiter` at the back.
    ///
    /// # Safety
    /// `waiter` is alive, pinned, not in any list, and stays alive until it is removed.
    pub(crate) unsafe fn push_back(&mut self, waiter: NonNull<Waiter>) {
        let old_tail = self.tail;
        {
            // SAFETY: caller's contract; we hold the lock.
            let node = unsafe { self.node(waiter) };
            debug_assert!(node.prev.is_none() && node.next.is_none());
            node.prev = old_tail;
            node.next = None;
        }
        match old_tail {
            // SAFETY: `tail` is a linked node, alive while linked (list invariant).
            Some(tail) => unsafe { self.node(tail) }.next = Some(waiter),
            None => self.head = Some(waiter),
        }
        self.tail = Some(waiter);
        self.len += 1;
    }

    /// Links `waiter` at the front: a woken waiter that lost its slot to a barging
    /// operation goes back to where it was, not behind later waiters.
    ///
    /// # Safety
    /// As for [`push_back`](Self::push_back).
    pub(crate) unsafe fn push_front(&mut self, waiter: NonNull<Waiter>) {
        let old_head = self.head;
        {
            // SAFETY: caller's contract; we hold the lock.
            let node = unsafe { self.node(waiter) };
            debug_assert!(node.prev.is_none() && node.next.is_none());
            node.prev = None;
            node.next = old_head;
        }
        match old_head {
            // SAFETY: `head` is a linked node, alive while linked (list invariant).
            Some(head) => unsafe { self.node(head) }.prev = Some(waiter),
            None => self.tail = Some(waiter),
        }
        self.head = Some(waiter);
        self.len += 1;
    }

    /// Removes and returns the front waiter.
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<Waiter>> {
        let head = self.head?;
        // SAFETY: `head` is linked, hence alive (list invariant).
        unsafe { self.remove(head) };
        Some(head)
    }

    /// The front waiter, still linked.
    pub(crate) fn front(&self) -> Option<NonNull<Waiter>> {
        self.head
    }

    /// Unlinks `waiter`.
    ///
    /// # Safety
    /// `waiter` is linked into this list.
    pub(crate) unsafe fn remove(&mut self, waiter: NonNull<Waiter>) {
        let (prev, next) = {
            // SAFETY: caller's contract; we hold the lock.
            let node = unsafe { self.node(waiter) };
            (node.prev.take(), node.next.take())
        };
        match prev {
            // SAFETY: neighbours of a linked node are linked, hence alive.
            Some(prev) => unsafe { self.node(prev) }.next = next,
            None => {
                debug_assert_eq!(self.head, Some(waiter));
                self.head = next;
            }
        }
        match next {
            // SAFETY: as above.
            Some(next) => unsafe { self.node(next) }.prev = prev,
            None => {
                debug_assert_eq!(self.tail, Some(waiter));
                self.tail = prev;
            }
        }
        self.len -= 1;
    }
}
