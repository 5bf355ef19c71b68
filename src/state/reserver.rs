//! Standalone: the thread that keeps every click-capped offer's lease reserved on disk
//! (`counts::reserve`), one tick every `reserve::TICK`, and the reservation made before a
//! new table is served (at start, on reload, on an API write), so that the very next click
//! on a newly capped offer finds its lease.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::calendar::Period;
use crate::counts::reserve::{Capped, Reservations, TICK};
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::vocab::CapKind;

pub(super) struct Reserver {
    book: Arc<Book>,
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

struct Book {
    reservations: Mutex<Ledger>,
    metrics: Arc<Metrics>,
}

/// The reservations, and the newest generation they were made for.
struct Ledger {
    reservations: Reservations,
    /// The generation of the newest snapshot reserved for: a table prepared but not yet
    /// served is newer than the one a timed tick loads, and such a tick would give back the
    /// leases just reserved for it (an offer capped by an API write would turn its next
    /// clicks away as capped).
    generation: u64,
}

impl Book {
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.reservations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One tick over `snapshot`'s capped offers (`elapsed` 0: not a timed tick), unless a
    /// newer snapshot was reserved for already.
    fn tick(&self, snapshot: &Snapshot, elapsed: f64) {
        let now = crate::clock::unix_secs(std::time::SystemTime::now());
        let day = snapshot.calendar.window(Period::Day, now).start;
        let offers: Vec<Capped> = snapshot
            .table
            .offers()
            .iter()
            .filter_map(|o| {
                let caps = o.caps.as_ref()?;
                Some(Capped {
                    offer_id: o.id,
                    cap: caps.limits.get(CapKind::DailyClicks)?,
                    counters: Arc::clone(&caps.counters),
                })
            })
            .collect();
        let mut ledger = self.lock();
        if snapshot.generation < ledger.generation {
            return;
        }
        ledger.generation = snapshot.generation;
        match ledger
            .reservations
            .tick(&offers, day, elapsed, Instant::now())
        {
            Ok(true) => self.metrics.state_saves.inc(),
            Ok(false) => {}
            Err(_) => self.metrics.state_save_failures.inc(),
        }
    }
}

impl Reserver {
    /// Reserves for the table of `snapshot`, then starts the thread.
    pub(super) fn start(
        dir: &Path,
        snapshot: Arc<ArcSwap<Snapshot>>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Reserver> {
        let book = Arc::new(Book {
            reservations: Mutex::new(Ledger {
                reservations: Reservations::new(dir),
                generation: 0,
            }),
            metrics,
        });
        book.tick(&snapshot.load(), 0.0);
        let (stop, rx) = mpsc::channel::<()>();
        let thread = {
            let book = Arc::clone(&book);
            std::thread::Builder::new()
                .name("reservations".into())
                .spawn(move || {
                    let mut last = Instant::now();
                    while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                        let now = Instant::now();
                        let elapsed = (now - last).as_secs_f64().max(0.001);
                        last = now;
                        book.tick(&snapshot.load(), elapsed);
                    }
                })?
        };
        Ok(Reserver {
            book,
            stop,
            thread: Some(thread),
        })
    }

    /// Reserves for the capped offers of `next` before it is served.
    pub(super) fn prepare(&self, next: &Snapshot) {
        self.book.tick(next, 0.0);
    }

    /// Stops the thread and gives every lease back (after the last request).
    pub(super) fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Err(e) = self.book.lock().reservations.give_back_all() {
            self.book.metrics.state_save_failures.inc();
            tracing::error!(error = %e, "click reservations not given back at shutdown; the next start counts them as spent");
        }
    }
}
