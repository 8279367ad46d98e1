//! Real-time scheduling for the threads that feed the audio thread (the network driver and its
//! wake-up thread), so a busy machine (a compile, a DAW rendering) cannot starve the path from
//! the socket to the jitter buffer. JACK runs its own process threads the same way.
//!
//! Unlike the rest of this crate this makes a syscall: it is called once, at a thread's start,
//! never on the audio thread.

/// Priority given to the network threads: below the audio callback's (a JACK client's process
/// thread runs at the server's priority minus 5, 5 with jackd's default 10), so the audio
/// preempts them, and above every normal thread.
pub const NETWORK_PRIORITY: i32 = 2;

/// Moves the calling thread to first-in-first-out real-time scheduling at `priority`
/// (clamped to what the system allows). Fails where the process may not (no `CAP_SYS_NICE`
/// and no RLIMIT_RTPRIO, or a platform without POSIX real-time scheduling); the thread then
/// keeps its normal scheduling, which works, only less well on a loaded machine.
pub fn raise_to_realtime(priority: i32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        // SAFETY: sched_get_priority_min/max take a policy constant and touch no memory.
        let (min, max) = unsafe {
            (
                libc::sched_get_priority_min(libc::SCHED_FIFO),
                libc::sched_get_priority_max(libc::SCHED_FIFO),
            )
        };
        let param = libc::sched_param {
            sched_priority: priority.clamp(min, max),
        };
        // SAFETY: `pthread_self` is the calling thread, alive for the call, and `param` is a
        // valid, initialised sched_param that outlives it.
        let status =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if status == 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(status))
        }
    }
    #[cfg(not(unix))]
    {
        let _ = priority;
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_is_raised_or_told_why_not() {
        let outcome = std::thread::spawn(|| {
            let result = raise_to_realtime(NETWORK_PRIORITY);
            // SAFETY: reads the calling thread's policy into locals that outlive the call.
            let policy = unsafe {
                let mut policy = 0;
                let mut param = std::mem::zeroed::<libc::sched_param>();
                libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param);
                (policy, param.sched_priority)
            };
            (result.map_err(|e| e.kind()), policy)
        })
        .join()
        .expect("thread");
        match outcome {
            (Ok(()), (policy, priority)) => {
                assert_eq!(policy, libc::SCHED_FIFO);
                assert_eq!(priority, NETWORK_PRIORITY);
            }
            (Err(kind), (policy, _)) => {
                // Not permitted here: the thread keeps its normal scheduling.
                assert_eq!(kind, std::io::ErrorKind::PermissionDenied);
                assert_ne!(policy, libc::SCHED_FIFO);
            }
        }
    }
}
