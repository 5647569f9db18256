//! Receiving handles.

use super::error::TryRecvError;
use super::{handle_struct, observers, Chan};
use crate::storage::ChannelRef;

handle_struct! {
    /// The receiving side of a channel. `Clone` makes another receiver (MPMC): each item
    /// goes to exactly one receiver.
    ///
    /// When the last receiver is dropped the channel closes, the items still queued are
    /// dropped, and sends fail with their value returned.
    Receiver
}

impl<T, R: ChannelRef<T>> Receiver<T, R> {
    /// Counts a new receiver on `chan`.
    pub(crate) fn new(chan: R) -> Self {
        chan.chan().add_receiver();
        Self::from_counted(chan)
    }

    #[inline]
    fn chan(&self) -> &Chan<T, R::Storage> {
        self.chan.chan()
    }

    /// Takes the oldest item if there is one now; never waits.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is queued (an item whose send is still in flight
    /// on another thread counts as not there yet), [`TryRecvError::Closed`] if the channel
    /// is closed and drained.
    ///
    /// ```
    /// use sluicebox::TryRecvError;
    /// let (tx, rx) = sluicebox::bounded(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(5).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan().try_recv()
    }

    /// Whether `self` and `other` receive from the same channel.
    ///
    /// ```
    /// let (_t, rx) = sluicebox::bounded::<u8>(1);
    /// assert!(rx.same_channel(&rx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        core::ptr::eq(self.chan(), other.chan())
    }

    observers!();
}

impl<T, R: ChannelRef<T>> Clone for Receiver<T, R> {
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T, R: ChannelRef<T>> Drop for Receiver<T, R> {
    fn drop(&mut self) {
        self.chan().remove_receiver();
    }
}

impl<T, R: ChannelRef<T>> core::fmt::Debug for Receiver<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}
