//! Permits that own their sender: `reserve_owned`, `try_reserve_owned`, [`OwnedPermit`].

use super::error::{SendError, TrySendError};
use super::sender::Sender;
use crate::storage::ChannelRef;
use core::fmt;

/// Declares `OwnedPermit`, whose channel reference defaults to [`Heap`](crate::Heap) when
/// the heap exists, as the handles' does.
macro_rules! owned_permit {
    ($(#[$meta:meta])*) => {
        #[cfg(feature = "alloc")]
        $(#[$meta])*
        pub struct OwnedPermit<T, R: ChannelRef<T> = crate::Heap<T>> {
            /// `Some` until `send` or `release` takes it. The permit owns one reservation
            /// of its channel, sent or given back exactly once.
            tx: Option<Sender<T, R>>,
        }

        #[cfg(not(feature = "alloc"))]
        $(#[$meta])*
        pub struct OwnedPermit<T, R: ChannelRef<T>> {
            /// As above.
            tx: Option<Sender<T, R>>,
        }
    };
}

owned_permit! {
    /// Room reserved in the channel, owning the [`Sender`] it was reserved with: `'static`
    /// for a heap channel, so it can move into a spawned task. Made by
    /// [`Sender::reserve_owned`] and [`Sender::try_reserve_owned`] (tokio's `OwnedPermit`).
    ///
    /// [`send`](OwnedPermit::send) and [`release`](OwnedPermit::release) give the sender
    /// back; dropping the permit gives its room back and drops the sender. Room, not a place
    /// in line, as for [`Permit`](crate::Permit).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded::<String>(1);
    /// let permit = tx.reserve_owned().await.unwrap();
    /// let worker = std::thread::spawn(move || {
    ///     let tx = permit.send("built elsewhere".to_string());
    ///     tx.sender_count()
    /// });
    /// assert_eq!(worker.join().unwrap(), 1);
    /// assert_eq!(rx.recv().await.as_deref(), Some("built elsewhere"));
    /// # });
    /// ```
    #[must_use = "a permit holds room in the channel until it is used or dropped"]
}

impl<T, R: ChannelRef<T>> OwnedPermit<T, R> {
    /// Sends `value` with the reserved room and gives the sender back.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded(1);
    /// let tx = tx.try_reserve_owned().unwrap().send(1);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert!(tx.try_send(2).is_ok());
    /// ```
    pub fn send(mut self, value: T) -> Sender<T, R> {
        let tx = self.take();
        // SAFETY: this permit owns one reservation of `tx`'s channel; taking `tx` out
        // disarms our `Drop`, so it is consumed once: here.
        unsafe { tx.chan.chan().send_reserved(value) };
        tx
    }

    /// Gives the room back unused, and the sender with it.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(1);
    /// let tx = tx.try_reserve_owned().unwrap().release();
    /// assert_eq!(tx.reserved(), 0);
    /// ```
    pub fn release(mut self) -> Sender<T, R> {
        let tx = self.take();
        // SAFETY: as in `send`.
        unsafe { tx.chan.chan().give_back() };
        tx
    }

    fn take(&mut self) -> Sender<T, R> {
        self.tx
            .take()
            .expect("sluicebox: an OwnedPermit holds its sender until used")
    }
}

impl<T, R: ChannelRef<T>> Drop for OwnedPermit<T, R> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            // SAFETY: the reservation was neither sent nor released (both take `tx`).
            unsafe { tx.chan.chan().give_back() };
        }
    }
}

impl<T, R: ChannelRef<T>> fmt::Debug for OwnedPermit<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").field("tx", &self.tx).finish()
    }
}

impl<T, R: ChannelRef<T>> Sender<T, R> {
    /// [`reserve`](Sender::reserve), with a permit that owns this sender: for a heap
    /// channel it is `'static`, so it can move into a spawned task. The sender comes back
    /// from [`OwnedPermit::send`] or [`OwnedPermit::release`].
    ///
    /// # Errors
    ///
    /// [`SendError`] with this sender if the channel is (or becomes) closed.
    ///
    /// # Cancel safety
    ///
    /// As `reserve`; dropping the future drops the sender.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (tx, mut rx) = sluicebox::bounded::<&'static str>(1);
    /// let permit = tx.clone().reserve_owned().await.unwrap();
    /// tokio::spawn(async move {
    ///     permit.send("from a task");
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(rx.recv().await, Some("from a task"));
    /// # });
    /// ```
    pub async fn reserve_owned(self) -> Result<OwnedPermit<T, R>, SendError<Self>> {
        // The reservation passes from the borrowed permit to the owned one.
        let reserved = self.reserve().await.map(core::mem::forget).is_ok();
        if reserved {
            Ok(OwnedPermit { tx: Some(self) })
        } else {
            Err(SendError(self))
        }
    }

    /// [`try_reserve`](Sender::try_reserve), with a permit that owns this sender.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with this sender.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(1);
    /// let permit = tx.clone().try_reserve_owned().unwrap();
    /// let back = tx.try_reserve_owned().unwrap_err(); // full
    /// assert!(back.is_full());
    /// drop(permit);
    /// assert!(back.into_inner().try_reserve_owned().is_ok());
    /// ```
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T, R>, TrySendError<Self>> {
        // As in `reserve_owned`.
        match self.try_reserve().map(core::mem::forget) {
            Ok(()) => Ok(OwnedPermit { tx: Some(self) }),
            Err(TrySendError::Full(())) => Err(TrySendError::Full(self)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(self)),
        }
    }
}
