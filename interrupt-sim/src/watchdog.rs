//! The watchdog: a second thread (SIGALRM masked, so never interrupted) that ends the
//! process with exit code 2 if the handler is stuck or the run does not finish.
//!
//! On a single core a handler that waits for the code it interrupted waits forever: the
//! spin-lock build hangs this way by design. The watchdog cannot rely on the main thread
//! for anything, since that thread may be stuck inside the handler holding any lock
//! (stdout's, the allocator's); so its report is formatted into a stack buffer and
//! written with `write(2)`, and it leaves with `_exit(2)`.

use core::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// Set by the handler on entry, cleared on exit.
pub static IN_HANDLER: AtomicBool = AtomicBool::new(false);
/// What the handler is doing (an index into [`OPS`]), for the hang report.
pub static HANDLER_OP: AtomicUsize = AtomicUsize::new(0);
/// The handler's operations, by [`HANDLER_OP`].
pub const OPS: [&str; 8] = [
    "try_send",
    "force_send",
    "try_reserve + Permit::send",
    "try_reserve + drop",
    "Semaphore::add_permits",
    "try_acquire + drop",
    "stats()",
    "len()",
];
/// Handler runs completed.
pub static HANDLED: AtomicU64 = AtomicU64::new(0);
/// Set by thread mode once the timer is stopped and the final checks begin.
pub static FINISHED: AtomicBool = AtomicBool::new(false);

/// How long the handler may stay inside one run before it counts as a hang.
pub const HANDLER_STUCK: Duration = Duration::from_secs(2);

/// Exit code of a detected hang.
pub const EXIT_HANG: i32 = 2;

/// Starts the watchdog. `run_limit` bounds the whole run (thread mode stuck, e.g. in a
/// lost wakeup the checks did not catch); `seed` goes into the report.
pub fn start(run_limit: Duration, seed: u64) {
    std::thread::spawn(move || watch(run_limit, seed));
}

fn watch(run_limit: Duration, seed: u64) {
    let start = Instant::now();
    let mut last_handled = HANDLED.load(SeqCst);
    let mut last_progress = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if FINISHED.load(SeqCst) {
            return;
        }
        let handled = HANDLED.load(SeqCst);
        if handled != last_handled {
            last_handled = handled;
            last_progress = Instant::now();
        }
        if IN_HANDLER.load(SeqCst) && last_progress.elapsed() >= HANDLER_STUCK {
            hang(format_args!(
                "INTERRUPT-SIM: HANG the interrupt handler has been inside sluicebox ({}) for {:?} \
                 (after {handled} completed handler runs, {:.1?} into the run) seed={seed:#x}",
                OPS.get(HANDLER_OP.load(SeqCst)).unwrap_or(&"?"),
                HANDLER_STUCK,
                start.elapsed()
            ));
        }
        if start.elapsed() >= run_limit {
            hang(format_args!(
                "INTERRUPT-SIM: HANG the run did not finish within {run_limit:?} \
                 (in handler: {}, {handled} completed handler runs) seed={seed:#x}",
                IN_HANDLER.load(SeqCst)
            ));
        }
    }
}

/// Writes `msg` and a newline to stdout without locks or allocation, then exits with
/// [`EXIT_HANG`] without running destructors or `atexit` handlers.
fn hang(msg: core::fmt::Arguments<'_>) -> ! {
    let mut buf = StackBuf {
        bytes: [0; 512],
        len: 0,
    };
    // A report longer than the buffer is cut short, not lost.
    let _ = buf.write_fmt(msg);
    buf.bytes[buf.len] = b'\n';
    buf.len += 1;
    // SAFETY: `buf.bytes[..buf.len]` is initialized memory we own; fd 1 is stdout (a bad
    // fd only makes `write` fail). `_exit` never returns and is async-signal-safe.
    unsafe {
        libc::write(1, buf.bytes.as_ptr().cast(), buf.len);
        libc::_exit(EXIT_HANG)
    }
}

/// A fixed-size text buffer that keeps what fits.
struct StackBuf {
    bytes: [u8; 512],
    len: usize,
}

impl core::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // One byte stays free for the newline `hang` appends.
        let room = self.bytes.len() - 1 - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            Err(core::fmt::Error)
        } else {
            Ok(())
        }
    }
}
