//! The simulated interrupt: SIGALRM from a periodic timer, delivered to the main thread
//! only; and the critical section that masks it.
//!
//! Every function here wraps one or two libc calls that are async-signal-safe
//! (`sigemptyset`, `sigaddset`, `sigismember`, `pthread_sigmask`, `setitimer`,
//! `sigaction`), so the critical-section implementation may run inside the handler.

use core::ptr;

/// The signal set `{SIGALRM}`.
fn alarm_set() -> libc::sigset_t {
    // SAFETY: an all-zero `sigset_t` is a valid (if unspecified) value of this plain C
    // struct, and `sigemptyset` then initializes it to the empty set.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `sigset_t`; SIGALRM is a valid signal number,
    // so neither call can fail.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
    }
    set
}

/// Masks SIGALRM on the calling thread ("disable interrupts") and returns whether it was
/// masked already.
pub fn mask() -> bool {
    let set = alarm_set();
    // SAFETY: as in `alarm_set`: a zeroed `sigset_t` is a valid out-parameter.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: both pointers are to valid `sigset_t`s that outlive the call.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    debug_assert_eq!(rc, 0, "pthread_sigmask(SIG_BLOCK)");
    // SAFETY: `old` was filled in by `pthread_sigmask`.
    unsafe { libc::sigismember(&old, libc::SIGALRM) == 1 }
}

/// Unmasks SIGALRM on the calling thread ("enable interrupts"). A pending SIGALRM is
/// delivered before this returns.
pub fn unmask() {
    let set = alarm_set();
    // SAFETY: `set` is a valid `sigset_t`; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut()) };
    debug_assert_eq!(rc, 0, "pthread_sigmask(SIG_UNBLOCK)");
}

/// The program's `critical-section` implementation, the host twin of cortex-m's
/// `critical-section-single-core` (which saves PRIMASK and disables interrupts): on one
/// core, code that cannot be interrupted excludes everything else that could touch the
/// data, so masking the only interrupt is a critical section. Sections nest: `acquire`
/// reports whether SIGALRM was masked already, and `release` unmasks only if it was not.
/// Inside the handler the kernel has already masked SIGALRM (no `SA_NODEFER`), so there
/// sections are no-ops, as on an MCU with one interrupt priority.
///
/// Only the main thread (thread mode) and the handler running on it ever enter a
/// section; the watchdog thread never calls sluicebox.
struct SigalrmMask;

critical_section::set_impl!(SigalrmMask);

// SAFETY: `acquire` masks SIGALRM on the calling thread and returns whether it was masked
// already; `release(was_masked)` unmasks only when it was not, so nested sections restore
// the state in reverse order. While the main thread is in a section no SIGALRM handler
// runs on it, and no other thread calls sluicebox, so the section excludes every other
// user of the data it guards (the single-core argument).
unsafe impl critical_section::Impl for SigalrmMask {
    unsafe fn acquire() -> bool {
        mask()
    }

    unsafe fn release(was_masked: bool) {
        if !was_masked {
            unmask();
        }
    }
}

/// Installs `handler` for SIGALRM. The kernel masks SIGALRM while the handler runs, so it
/// never nests, like an interrupt at a single priority level.
pub fn install(handler: extern "C" fn(libc::c_int)) {
    // SAFETY: an all-zero `sigaction` is valid (no flags, default restorer), then the
    // fields that matter are set.
    let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
    sa.sa_sigaction = handler as libc::sighandler_t;
    sa.sa_flags = libc::SA_RESTART;
    // SAFETY: `sa.sa_mask` is a valid `sigset_t`; `sa` is fully initialized and
    // `handler` is an `extern "C" fn(c_int)`, the signature the kernel calls without
    // `SA_SIGINFO`. The handler itself only touches atomics and sluicebox's non-blocking
    // operations (see `main::on_interrupt`).
    let rc = unsafe {
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, ptr::null_mut())
    };
    assert_eq!(rc, 0, "sigaction(SIGALRM)");
}

/// Starts (`Some(period_us)`) or stops (`None`) the periodic process timer that raises
/// SIGALRM.
pub fn set_timer(period_us: Option<u32>) {
    let usec = period_us.map_or(0, libc::suseconds_t::from);
    assert!(usec < 1_000_000, "the timer period must be under a second");
    let period = libc::timeval {
        tv_sec: 0,
        tv_usec: usec,
    };
    let timer = libc::itimerval {
        it_interval: period,
        it_value: period,
    };
    // SAFETY: `timer` is a valid `itimerval` (tv_usec < 1_000_000, asserted above); a null old-value pointer is allowed.
    let rc = unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, ptr::null_mut()) };
    assert_eq!(rc, 0, "setitimer(ITIMER_REAL)");
}
