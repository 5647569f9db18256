//! A monitor that does not name the item type: one list of them can serve a `/metrics`
//! page for channels of many types.

use super::core::Core;
use super::Chan;
use crate::storage::ChannelRef;
use crate::Monitor;

/// A read-only view of a channel, like [`Monitor`], that does not name the item type:
/// channels of `u64`, of `String` and of boxed closures give the same `AnyMonitor`, so
/// one `Vec` (or array) of them can feed one metrics page. Made by
/// [`Monitor::erase`].
///
/// Made from a heap channel's monitor it shares the channel's allocation (the `Arc` is
/// converted, not copied: no allocation); made from a static channel's it borrows it.
/// Reading it allocates nothing. `Clone + Send + Sync`.
///
/// ```
/// use sluicebox::{AnyMonitor, StaticChannel};
/// static EVENTS: StaticChannel<&'static str, 4> = StaticChannel::new();
/// let (jobs, _jobs_rx) = sluicebox::bounded::<Vec<u8>>(8);
/// let (ticks, _ticks_rx) = sluicebox::bounded::<u64>(2);
/// let (events, _events_rx) = EVENTS.split();
/// let gauges: Vec<(&str, AnyMonitor<'_>)> = vec![
///     ("jobs", jobs.monitor().erase()),
///     ("ticks", ticks.monitor().erase()),
///     ("events", EVENTS.monitor().erase()),
/// ];
/// jobs.try_send(vec![1, 2]).unwrap();
/// events.try_send("boot").unwrap();
/// let page: Vec<String> = gauges
///     .iter()
///     .map(|(name, m)| format!("{name}_len {}", m.len()))
///     .collect();
/// assert_eq!(page, ["jobs_len 1", "ticks_len 0", "events_len 1"]);
/// ```
#[derive(Clone)]
pub struct AnyMonitor<'a> {
    source: Source<'a>,
}

#[derive(Clone)]
enum Source<'a> {
    Borrowed(&'a Core),
    #[cfg(feature = "alloc")]
    Shared(alloc::sync::Arc<dyn OwnsCore + 'a>),
}

/// Something that keeps a channel's [`Core`] alive: a heap channel's allocation.
#[cfg(feature = "alloc")]
pub(crate) trait OwnsCore: Send + Sync + core::panic::RefUnwindSafe {
    fn core(&self) -> &Core;
}

impl<'a> AnyMonitor<'a> {
    pub(crate) fn borrowed(core: &'a Core) -> Self {
        Self {
            source: Source::Borrowed(core),
        }
    }

    #[cfg(feature = "alloc")]
    pub(crate) fn shared(owner: alloc::sync::Arc<dyn OwnsCore + 'a>) -> Self {
        Self {
            source: Source::Shared(owner),
        }
    }

    fn core(&self) -> &Core {
        match &self.source {
            Source::Borrowed(core) => core,
            #[cfg(feature = "alloc")]
            Source::Shared(owner) => owner.core(),
        }
    }

    /// The readers need no slots: a view of the core with none.
    fn chan(&self) -> Chan<'_, ()> {
        Chan::without_slots(self.core())
    }

    /// Whether `other` watches the same channel.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// assert!(tx.monitor().erase().same_channel(&rx.monitor().erase()));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        core::ptr::eq(self.core(), other.core())
    }

    super::readers!();
}

impl core::fmt::Debug for AnyMonitor<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AnyMonitor")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T: Send, R: ChannelRef<T>> Monitor<T, R> {
    /// This monitor without its item type: an [`AnyMonitor`], for a list of channels
    /// of different item types. No allocation.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<String>(4);
    /// let any = tx.monitor().erase();
    /// tx.try_send("x".into()).unwrap();
    /// assert_eq!((any.len(), any.capacity()), (1, 4));
    /// ```
    pub fn erase<'a>(self) -> AnyMonitor<'a>
    where
        R: 'a,
    {
        self.chan.erase_monitor()
    }
}
