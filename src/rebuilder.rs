//! The rebuilder: one thread, at lower CPU priority than request handling, that runs the
//! work which rebuilds the snapshot (management API writes, `SIGHUP` reloads).
//!
//! A write on a large network compiles a table of hundreds of thousands of entries and
//! renders a file of tens of megabytes; on a machine with few cores that work would take CPU
//! from the clicks being served. At nice 10 it gets about a tenth of a contended core and all
//! of an idle one. One thread also means rebuilds run one at a time, in arrival order.
//! Threads it starts (the compile running beside the file write, the thread that frees a
//! replaced snapshot) inherit its priority.

use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// Niceness of the rebuilder thread (0 is normal, 19 the lowest priority).
const NICENESS: i32 = 10;

pub struct Rebuilder {
    jobs: mpsc::Sender<Job>,
}

impl Rebuilder {
    pub fn start() -> std::io::Result<Rebuilder> {
        let (jobs, queue) = mpsc::channel::<Job>();
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

    /// Queues `job` on the rebuilder thread.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) {
        // The thread lives as long as the process (panics are caught), so this cannot fail.
        let _ = self.jobs.send(Box::new(job));
    }

    /// Runs `job` on the rebuilder thread and waits for its result without blocking the
    /// async runtime. `None` if the job panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.submit(move || {
            let _ = answer.send(job());
        });
        answered.await.ok()
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
        let first = r.run(|| 1).await;
        let second = r.run(|| 2).await;
        assert_eq!((first, second), (Some(1), Some(2)));
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
            assert_eq!(nice, Some(NICENESS));
        }
    }

    #[tokio::test]
    async fn a_panicking_job_is_none_and_the_next_job_runs() {
        let r = Rebuilder::start().unwrap();
        let answer: Option<()> = r.run(|| panic!("job failed")).await;
        assert_eq!(answer, None);
        assert_eq!(r.run(|| 3).await, Some(3));
    }
}
