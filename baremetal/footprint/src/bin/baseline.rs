//! The baseline: the same runtime (cortex-m-rt, block_on, semihosting exit, panic-halt)
//! and the same shape of program, with no channel and no semaphore.

#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use sluicebox_footprint::{block_on, exit};

#[entry]
fn main() -> ! {
    let ok = block_on(async {
        let sum = black_box(1u32) + black_box(2u32) + black_box(3u32);
        sum == 6
    });
    exit(ok)
}
