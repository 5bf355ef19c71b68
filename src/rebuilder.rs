//! The rebuilder: one thread, at lower CPU priority than request handling, that runs the
//! work which rebuilds the snapshot (management API writes, `SIGHUP` reloads).
//!
//! A write on a large network compiles a table of hundreds of thousands of entries and
//! renders a file of tens of megabytes; on a machine with few cores that work would take CPU
//! from the clicks being served. At nice 10 its scheduler weight is 110 against 1024 for a
//! normal thread, so it gets about a tenth of a contended core, and all of an idle one. One
//! thread also means rebuilds run one at a time, in arrival order; at most `QUEUE` wait.
//! Threads it starts (the compile running beside the file write, the thread that frees a
//! replaced snapshot) inherit its priority.

use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// Niceness of the rebuilder thread (0 is normal, 19 the lowest priority).
const NICENESS: i32 = 10;
/// Jobs that may wait; more are refused (the API answers `503`), so that clients cannot
/// pile up writes without bound.
const QUEUE: usize = 64;

pub struct Rebuilder {
    jobs: mpsc::SyncSender<Job>,
}

/// Why a job did not run to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRun {
    /// [`QUEUE`] jobs are already waiting.
    Busy,
    /// The job panicked.
    Panicked,
}

impl Rebuilder {
    pub fn start() -> std::io::Result<Rebuilder> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("rebuilder".into())
            .spawn(move || {
                lower_priority();
                for job in queue {
                    // A panic fails its own job (its caller gets `None`), not the ones after.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        Ok(Rebuilder { jobs })
    }

    /// Queues `job` on the rebuilder thread, unless the queue is full. (The thread lives as
    /// long as the process, panics are caught, so the queue is never disconnected.)
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), NotRun> {
        self.jobs.try_send(Box::new(job)).map_err(|_| NotRun::Busy)
    }

    /// Runs `job` on the rebuilder thread and waits for its result without blocking the
    /// async runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NotRun> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.submit(move || {
            let _ = answer.send(job());
        })?;
        answered.await.map_err(|_| NotRun::Panicked)
    }
}

/// Lowers the calling thread's CPU priority (Linux nice values are per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread; no memory is shared.
        let result = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, NICENESS)
        };
        if result != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "cannot lower the rebuilder's CPU priority; rebuilds compete with requests"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_at_lower_priority() {
        let r = Rebuilder::start().unwrap();
        // Submitted together, run one after the other in submission order.
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let job = |n: u32| {
            let order = std::sync::Arc::clone(&order);
            move || {
                std::thread::sleep(std::time::Duration::from_millis(u64::from(5 - n)));
                order.lock().unwrap().push(n);
                n
            }
        };
        let (a, b, c) = tokio::join!(r.run(job(1)), r.run(job(2)), r.run(job(3)));
        assert_eq!((a, b, c), (Ok(1), Ok(2), Ok(3)));
        assert_eq!(*order.lock().unwrap(), [1, 2, 3]);
        #[cfg(target_os = "linux")]
        {
            let nice = r
                .run(|| unsafe {
                    libc::getpriority(
                        libc::PRIO_PROCESS,
                        libc::syscall(libc::SYS_gettid) as libc::id_t,
                    )
                })
                .await;
            assert_eq!(nice, Ok(NICENESS));
        }
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_next_job_runs() {
        let r = Rebuilder::start().unwrap();
        let answer: Result<(), NotRun> = r.run(|| panic!("job failed")).await;
        assert_eq!(answer, Err(NotRun::Panicked));
        assert_eq!(r.run(|| 3).await, Ok(3));
    }

    #[test]
    fn a_full_queue_refuses_more_jobs() {
        let r = Rebuilder::start().unwrap();
        let (release, wait) = mpsc::channel::<()>();
        r.submit(move || {
            let _ = wait.recv();
        })
        .unwrap();
        // The first job may or may not have left the queue yet: fill it either way.
        let mut accepted = 0;
        while r.submit(|| {}).is_ok() {
            accepted += 1;
            assert!(accepted <= QUEUE, "the queue is bounded");
        }
        assert!(accepted >= QUEUE - 1);
        assert_eq!(r.submit(|| {}), Err(NotRun::Busy));
        release.send(()).unwrap();
    }
}
