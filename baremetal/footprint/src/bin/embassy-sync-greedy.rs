//! embassy-sync: `Channel<CriticalSectionRawMutex, u32, 8>` and `GreedySemaphore` (not
//! FIFO: one waker slot, any waiter may take a freed permit). Acquire a permit, send 3
//! values, receive 3, release, check the sum and that the permit came back.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::semaphore::{GreedySemaphore, Semaphore};
use sluicebox_footprint::{block_on, exit};

static CHANNEL: Channel<CriticalSectionRawMutex, u32, 8> = Channel::new();
static SEMAPHORE: GreedySemaphore<CriticalSectionRawMutex> = GreedySemaphore::new(1);

#[entry]
fn main() -> ! {
    let ok = block_on(async {
        let Ok(permit) = SEMAPHORE.acquire(1).await; // its error type is `Infallible`
        CHANNEL.send(1).await;
        CHANNEL.send(2).await;
        let sent = CHANNEL.try_send(3).is_ok();
        let mut sum = 0;
        sum += CHANNEL.receive().await;
        sum += CHANNEL.receive().await;
        sum += CHANNEL.try_receive().unwrap_or(0);
        drop(permit);
        let released = SEMAPHORE.try_acquire(1).is_some();
        sent && released && sum == 6
    });
    exit(ok)
}
