//! A fixed pool of OS threads for CPU-heavy work (password hashing), with a bounded queue.
//!
//! Why not tokio's blocking pool: it starts new threads on demand, and every thread that
//! ever ran an Argon2 hash keeps its ~19 MiB in its own malloc arena. Under a login flood
//! that grew resident memory to ~400 MiB. A fixed set of `workers` threads bounds it to
//! about `workers × memory_kib`.
//!
//! The threads run at a lower priority (nice 5): under a flood the async runtime, which
//! answers token checks and sheds excess logins, must not wait behind hashing.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    #[error("the work queue is full")]
    Full,
    #[error("the worker pool has stopped")]
    Stopped,
}

pub struct WorkerPool {
    sender: SyncSender<Job>,
    /// One permit per job that may be running or queued: `workers + queue`.
    admission: Arc<Semaphore>,
    capacity: usize,
}

/// A place in the pool, taken before any other work of a request, so a request that
/// would be refused for lack of capacity is refused before it costs anything else.
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    sender: SyncSender<Job>,
}

impl WorkerPool {
    /// `workers` threads named `{name}-N`; at most `queue` jobs wait for one.
    pub fn new(name: &str, workers: usize, queue: usize) -> std::io::Result<Self> {
        let workers = workers.max(1);
        // Room for every admitted job: a worker between two jobs is not receiving.
        let (sender, receiver) = sync_channel::<Job>(workers + queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || work(&receiver))?;
        }
        let capacity = workers + queue;
        Ok(Self {
            sender,
            admission: Arc::new(Semaphore::new(capacity)),
            capacity,
        })
    }

    /// Takes a place for one job, or fails at once with [`PoolError::Full`].
    pub fn try_reserve(&self) -> Result<Reservation, PoolError> {
        let permit = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| PoolError::Full)?;
        Ok(Reservation {
            permit,
            sender: self.sender.clone(),
        })
    }

    /// Reserves a place and runs `job` there (see [`Reservation::run`]).
    #[cfg(test)]
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_reserve()?.run(job).await
    }

    /// Jobs reserved, queued or running right now.
    pub fn in_flight(&self) -> usize {
        self.capacity
            .saturating_sub(self.admission.available_permits())
    }
}

impl Reservation {
    /// Runs `job` on a worker thread, inside the caller's tracing span. The place is given
    /// back when the job ends.
    pub async fn run<T, F>(self, job: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (result_tx, result_rx) = oneshot::channel();
        let span = tracing::Span::current();
        let permit = self.permit;
        let wrapped: Job = Box::new(move || {
            // A caller that went away (client disconnected, request timed out) no longer
            // needs the result: skip the work instead of burning a core on it.
            if result_tx.is_closed() {
                return drop(permit);
            }
            let result = {
                let _entered = span.enter();
                job()
            };
            // Give the place back first, so the caller never sees its own job counted.
            drop(permit);
            let _ = result_tx.send(result);
        });
        // Cannot be full: the channel has room for every permit.
        self.sender.try_send(wrapped).map_err(|e| match e {
            TrySendError::Full(_) => PoolError::Full,
            TrySendError::Disconnected(_) => PoolError::Stopped,
        })?;
        result_rx.await.map_err(|_| PoolError::Stopped)
    }
}

thread_local! {
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread is one of a pool's workers (they may keep per-thread buffers).
pub fn on_worker_thread() -> bool {
    ON_WORKER.with(std::cell::Cell::get)
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    ON_WORKER.with(|flag| flag.set(true));
    lower_priority();
    loop {
        // Hold the lock only while taking a job, not while running it.
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return, // the pool was dropped
        }
    }
}

fn lower_priority() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    // 34 on thread-priority's 0..99 scale is nice 5 on Linux.
    let result = ThreadPriorityValue::try_from(34u8)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(p))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = result {
        tracing::debug!(error = %e, "could not lower the worker thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn jobs_run_and_return_their_results() {
        let pool = WorkerPool::new("test", 2, 4).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
        assert_eq!(pool.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = Arc::new(WorkerPool::new("test", 1, 1).unwrap_or_else(|e| panic!("{e}")));
        let slow = |pool: Arc<WorkerPool>| {
            tokio::spawn(async move {
                pool.run(|| std::thread::sleep(Duration::from_millis(300)))
                    .await
            })
        };
        let running = slow(pool.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = slow(pool.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.run(|| ()).await, Err(PoolError::Full));
        assert!(running.await.is_ok_and(|r| r.is_ok()));
        assert!(queued.await.is_ok_and(|r| r.is_ok()));
    }
}
