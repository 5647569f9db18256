//! `futures_sink::Sink` for a sender (feature `sink`): [`SinkSender`].

use super::error::SendError;
use super::poll_sender::PollSender;
use super::sender::Sender;
use crate::storage::ChannelRef;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

/// A sender as a [`futures_sink::Sink`], for `SinkExt::send`, `StreamExt::forward` and
/// the other combinators (tokio-util's `PollSender` as a sink). Made by
/// [`Sender::into_sink`].
///
/// `poll_ready` waits for room and reserves it (FIFO with the other waiting senders);
/// `start_send` sends into the reserved room, so it cannot fail; nothing is buffered, so
/// `poll_flush` is always ready. `poll_close` gives back a reservation not used and
/// drops this sender: the channel closes when its last sender is gone, as for any
/// sender. Errors are [`SendError`]: the channel is closed (or this sink was).
///
/// It waits with its own wait-list node, so it is `!Unpin`: pin it (`pin!`, `Box::pin`)
/// before using `SinkExt`.
///
/// ```
/// use futures::{SinkExt, StreamExt};
/// # futures::executor::block_on(async {
/// let (tx, rx) = sluicebox::bounded::<u32>(4);
/// let mut sink = core::pin::pin!(tx.into_sink());
/// sink.send(1).await.unwrap();
/// let mut numbers = futures::stream::iter([2, 3].map(Ok));
/// sink.send_all(&mut numbers).await.unwrap();
/// sink.close().await.unwrap(); // drops the only sender: the channel closes
/// let got: Vec<u32> = core::pin::pin!(rx.into_stream()).collect().await;
/// assert_eq!(got, [1, 2, 3]);
/// # });
/// ```
#[must_use = "sinks do nothing unless polled"]
pub struct SinkSender<T, R: ChannelRef<T>> {
    /// `None` once closed.
    inner: Option<PollSender<T, R>>,
    /// Whether `poll_ready` reserved room that `start_send` has not used yet.
    reserved: bool,
}

impl<T, R: ChannelRef<T>> Sender<T, R> {
    /// This sender as a [`futures_sink::Sink`] (feature `sink`): see [`SinkSender`].
    pub fn into_sink(self) -> SinkSender<T, R> {
        SinkSender {
            inner: Some(self.into_poll_sender()),
            reserved: false,
        }
    }
}

impl<T, R: ChannelRef<T>> SinkSender<T, R> {
    /// The sender inside, or `None` once the sink is closed.
    pub fn get_ref(&self) -> Option<&Sender<T, R>> {
        self.inner.as_ref().map(PollSender::get_ref)
    }

    /// Pin projection: `inner` is structurally pinned (it embeds a wait-list node);
    /// `reserved` is plain data.
    fn project(self: Pin<&mut Self>) -> (Pin<&mut Option<PollSender<T, R>>>, &mut bool) {
        // SAFETY: `inner` is never moved out of the pinned sink (only dropped in place by
        // `Pin::set`, or with the sink); `reserved` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        (
            unsafe { Pin::new_unchecked(&mut this.inner) },
            &mut this.reserved,
        )
    }

    /// Gives back a reservation `poll_ready` made and `start_send` did not use.
    fn release(&mut self) {
        if core::mem::take(&mut self.reserved) {
            if let Some(tx) = self.get_ref() {
                // SAFETY: `reserved` said we own one reservation of this channel; it is
                // cleared above, so this is its one use.
                unsafe { tx.chan.chan().give_back() };
            }
        }
    }
}

impl<T, R: ChannelRef<T>> futures_sink::Sink<T> for SinkSender<T, R> {
    type Error = SendError<()>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let (inner, reserved) = self.project();
        if *reserved {
            return Poll::Ready(Ok(()));
        }
        let Some(tx) = inner.as_pin_mut() else {
            return Poll::Ready(Err(SendError(())));
        };
        match core::task::ready!(tx.poll_reserve(cx)) {
            Ok(permit) => {
                // The reservation passes from the permit to the sink, for `start_send`.
                core::mem::forget(permit);
                *reserved = true;
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// # Panics
    ///
    /// If `poll_ready` did not return `Ready(Ok(()))` first (the `Sink` contract).
    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let (inner, reserved) = self.project();
        assert!(
            core::mem::take(reserved),
            "sluicebox: SinkSender::start_send without a successful poll_ready"
        );
        let tx = inner
            .as_ref()
            .get_ref()
            .as_ref()
            .expect("sluicebox: a reservation is held only by an open sink");
        // SAFETY: `reserved` said we own one reservation of this channel; it is cleared
        // above, so this is its one use.
        unsafe { tx.get_ref().chan.chan().send_reserved(item) };
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // SAFETY: `release` moves nothing; `inner` is then dropped in place by `Pin::set`.
        unsafe { self.as_mut().get_unchecked_mut() }.release();
        let (mut inner, _) = self.project();
        inner.set(None);
        Poll::Ready(Ok(()))
    }
}

impl<T, R: ChannelRef<T>> Drop for SinkSender<T, R> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<T, R: ChannelRef<T>> fmt::Debug for SinkSender<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkSender")
            .field("tx", &self.get_ref())
            .field("reserved", &self.reserved)
            .finish()
    }
}
