//! sluicebox: `StaticChannel<u32, 8>` and `Semaphore`, sluicebox with only the
//! `critical-section` feature. Acquire a permit, send 3 values, receive 3, release,
//! check the sum and that the permit came back.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use sluicebox::{Semaphore, StaticChannel};
use sluicebox_footprint::{block_on, exit};

static CHANNEL: StaticChannel<u32, 8> = StaticChannel::new();
static SEMAPHORE: Semaphore = Semaphore::new(1);

#[entry]
fn main() -> ! {
    let ok = block_on(async {
        let (tx, rx) = CHANNEL.split();
        let Ok(permit) = SEMAPHORE.acquire().await else {
            return false;
        };
        let sent = tx.send(1).await.is_ok() & tx.send(2).await.is_ok() & tx.try_send(3).is_ok();
        let mut sum = 0;
        sum += rx.recv().await.unwrap_or(0);
        sum += rx.recv().await.unwrap_or(0);
        sum += rx.try_recv().unwrap_or(0);
        drop(permit);
        let released = SEMAPHORE.try_acquire().is_ok();
        sent && released && sum == 6
    });
    exit(ok)
}
