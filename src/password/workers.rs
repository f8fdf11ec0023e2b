//! A fixed pool of OS threads for CPU-heavy work (password hashing), with a bounded queue.
//!
//! Why not tokio's blocking pool: it starts new threads on demand, and every thread that
//! ever ran an Argon2 hash keeps its ~19 MiB in its own malloc arena. Under a login flood
//! that grew resident memory to ~400 MiB. A fixed set of `workers` threads bounds it to
//! about `workers × memory_kib`.
//!
//! The threads run at a lower priority (nice 5): under a flood the async runtime, which
//! answers token checks and sheds excess logins, must not wait behind hashing.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    #[error("the work queue is full")]
    Full,
    #[error("the worker pool has stopped")]
    Stopped,
}

/// Which share of the pool a job takes its place in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// The shared part: `workers + queue` places, first come, first served.
    Shared,
    /// The reserved part: its own places, run first by the reserved workers.
    Reserved,
}

/// The jobs waiting, per share. Reserved workers take a reserved job first, the others a
/// shared one first; each takes from the other queue when its own is empty.
struct Queues {
    reserved: VecDeque<Job>,
    shared: VecDeque<Job>,
    stopped: bool,
}

struct Board {
    queues: Mutex<Queues>,
    ready: Condvar,
}

impl Board {
    fn push(&self, share: Share, job: Job) -> Result<(), PoolError> {
        let mut queues = self.queues.lock().map_err(|_| PoolError::Stopped)?;
        if queues.stopped {
            return Err(PoolError::Stopped);
        }
        match share {
            Share::Shared => queues.shared.push_back(job),
            Share::Reserved => queues.reserved.push_back(job),
        }
        drop(queues);
        // An idle worker found both queues empty: whichever wakes can take this job.
        self.ready.notify_one();
        Ok(())
    }
}

pub struct WorkerPool {
    board: Arc<Board>,
    /// One permit per shared job that may be running or queued: `workers + queue`.
    admission: Arc<Semaphore>,
    /// One permit per reserved place (running or queued).
    reserved: Arc<Semaphore>,
    capacity: usize,
    reserved_capacity: usize,
}

/// A place in the pool, taken before any other work of a request, so a request that
/// would be refused for lack of capacity is refused before it costs anything else.
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    share: Share,
    board: Arc<Board>,
}

impl WorkerPool {
    /// `workers` threads named `{name}-N`; at most `queue` jobs wait for one. No reserved
    /// share (see [`WorkerPool::with_reserve`]).
    #[cfg(test)]
    pub fn new(name: &str, workers: usize, queue: usize) -> std::io::Result<Self> {
        Self::with_reserve(name, workers, queue, 0, 0)
    }

    /// `workers` threads named `{name}-N`; at most `queue` shared jobs wait for one, and
    /// `reserved_places` further places are kept for [`Share::Reserved`] jobs, which the
    /// first `reserved_workers` workers (at most all of them) run before any shared job.
    /// Memory stays bounded by the threads: the reserve adds places, not threads.
    pub fn with_reserve(
        name: &str,
        workers: usize,
        queue: usize,
        reserved_places: usize,
        reserved_workers: usize,
    ) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let board = Arc::new(Board {
            queues: Mutex::new(Queues {
                reserved: VecDeque::new(),
                shared: VecDeque::new(),
                stopped: false,
            }),
            ready: Condvar::new(),
        });
        let reserved_workers = if reserved_places == 0 {
            0
        } else {
            reserved_workers.clamp(1, workers)
        };
        for n in 0..workers {
            let board = board.clone();
            let first = if n < reserved_workers {
                Share::Reserved
            } else {
                Share::Shared
            };
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || work(&board, first))?;
        }
        let capacity = workers + queue;
        Ok(Self {
            board,
            admission: Arc::new(Semaphore::new(capacity)),
            reserved: Arc::new(Semaphore::new(reserved_places)),
            capacity,
            reserved_capacity: reserved_places,
        })
    }

    /// Takes a place for one job in `share`, or fails at once with [`PoolError::Full`].
    pub fn try_reserve(&self, share: Share) -> Result<Reservation, PoolError> {
        let semaphore = match share {
            Share::Shared => &self.admission,
            Share::Reserved => &self.reserved,
        };
        let permit = semaphore
            .clone()
            .try_acquire_owned()
            .map_err(|_| PoolError::Full)?;
        Ok(Reservation {
            permit,
            share,
            board: self.board.clone(),
        })
    }

    /// Reserves a shared place and runs `job` there (see [`Reservation::run`]).
    #[cfg(test)]
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_reserve(Share::Shared)?.run(job).await
    }

    /// Jobs reserved, queued or running right now, in both shares.
    pub fn in_flight(&self) -> usize {
        let shared = self
            .capacity
            .saturating_sub(self.admission.available_permits());
        let reserved = self
            .reserved_capacity
            .saturating_sub(self.reserved.available_permits());
        shared + reserved
    }
}

impl Drop for WorkerPool {
    /// Stops the workers; jobs still waiting are dropped (their callers get `Stopped`).
    fn drop(&mut self) {
        let waiting = match self.board.queues.lock() {
            Ok(mut queues) => {
                queues.stopped = true;
                let mut jobs: Vec<Job> = queues.reserved.drain(..).collect();
                jobs.extend(queues.shared.drain(..));
                jobs
            }
            Err(_) => Vec::new(),
        };
        self.board.ready.notify_all();
        drop(waiting);
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
        self.board.push(self.share, wrapped)?;
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

/// A worker: takes jobs of its `first` share before the other's, until the pool stops.
fn work(board: &Board, first: Share) {
    ON_WORKER.with(|flag| flag.set(true));
    lower_priority();
    loop {
        // Hold the lock only while taking a job, not while running it.
        let job = {
            let Ok(mut queues) = board.queues.lock() else {
                return;
            };
            loop {
                if queues.stopped {
                    return;
                }
                let q = &mut *queues;
                let next = match first {
                    Share::Reserved => q.reserved.pop_front().or_else(|| q.shared.pop_front()),
                    Share::Shared => q.shared.pop_front().or_else(|| q.reserved.pop_front()),
                };
                if let Some(job) = next {
                    break job;
                }
                queues = match board.ready.wait(queues) {
                    Ok(queues) => queues,
                    Err(_) => return,
                };
            }
        };
        job();
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

    #[tokio::test]
    async fn a_reserved_job_runs_before_waiting_shared_ones_and_has_its_own_places() {
        let pool = Arc::new(
            WorkerPool::with_reserve("test", 1, 3, 1, 1).unwrap_or_else(|e| panic!("{e}")),
        );
        let order = Arc::new(Mutex::new(Vec::new()));
        let job = |pool: Arc<WorkerPool>,
                   share: Share,
                   tag: &'static str,
                   order: Arc<Mutex<Vec<&'static str>>>| {
            let reservation = pool.try_reserve(share);
            tokio::spawn(async move {
                reservation?
                    .run(move || {
                        std::thread::sleep(Duration::from_millis(100));
                        if let Ok(mut order) = order.lock() {
                            order.push(tag);
                        }
                    })
                    .await
            })
        };
        let mut handles = Vec::new();
        for tag in ["s1", "s2", "s3", "s4"] {
            handles.push(job(pool.clone(), Share::Shared, tag, order.clone()));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The shared places are all taken; the reserved one is not.
        assert!(matches!(
            pool.try_reserve(Share::Shared),
            Err(PoolError::Full)
        ));
        handles.push(job(pool.clone(), Share::Reserved, "r", order.clone()));
        assert!(matches!(
            pool.try_reserve(Share::Reserved),
            Err(PoolError::Full)
        ));
        for handle in handles {
            assert!(handle.await.is_ok_and(|r| r.is_ok()));
        }
        let order = order.lock().map(|o| o.clone()).unwrap_or_default();
        // s1 was running; r went ahead of the shared jobs that were waiting.
        assert_eq!(order, vec!["s1", "r", "s2", "s3", "s4"]);
        assert_eq!(pool.in_flight(), 0);
    }
}
