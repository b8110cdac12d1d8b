//! The loop of the background workers that drain a table (CRM inbox, CRM write-back outbox,
//! geocoding queue): batch after batch while there is work, a pause when there is none.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// Longest pause after failures in a row (one more second per failure, from one).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs `batch` (which returns how many rows it claimed) until `shutdown` says stop; a batch
/// in hand is finished first. The next batch starts at once after one that claimed rows,
/// after `idle` (or as soon as `wake` is notified; a worker nobody wakes passes a fresh
/// [`Notify`]) after one that found none, and after 1 to
/// 5 seconds (one more per failure in a row) when the database could not be reached. `worker`
/// names the loop in the warning.
pub async fn run_batches<F, Fut>(
    worker: &'static str,
    idle: Duration,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    mut batch: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, sqlx::Error>>,
{
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Listening before the batch runs: a wake-up sent while it runs (work committed after
        // its claim found nothing) is kept, not lost until the next idle poll.
        let mut woken = std::pin::pin!(wake.notified());
        woken.as_mut().enable();
        let pause = match batch().await {
            Ok(claimed) if claimed > 0 => {
                failures = 0;
                continue;
            }
            Ok(_) => {
                failures = 0;
                idle
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, worker, "could not reach the database; retrying");
                Duration::from_secs(u64::from(failures)).min(MAX_BACKOFF)
            }
        };
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(pause) => {}
            changed = shutdown.changed() => {
                // The sender is gone: nobody can stop the loop any more, so stop now.
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Work is drained without pausing, an empty batch pauses until woken, and shutdown ends
    /// the loop.
    #[tokio::test(start_paused = true)]
    async fn batches_run_while_there_is_work_then_wait_to_be_woken() {
        let calls = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let (stop, shutdown) = watch::channel(false);
        let counted = Arc::clone(&calls);
        let task = tokio::spawn(run_batches(
            "test",
            Duration::from_secs(3600),
            Arc::clone(&wake),
            shutdown,
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                // Three batches with work, then none.
                async move { Ok(if n < 3 { 10 } else { 0 }) }
            },
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "three full batches and one empty"
        );
        wake.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 5, "woken once, polled once");
        // Shutdown ends the idle wait at once, not when the hour is up.
        let asked = tokio::time::Instant::now();
        stop.send(true).expect("loop alive");
        task.await.expect("loop ends");
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    /// A wake-up sent while a batch runs (as the webhook intake does, with `notify_waiters`,
    /// which keeps no permit) starts the next batch at once.
    #[tokio::test(start_paused = true)]
    async fn a_wake_up_during_a_batch_is_not_lost() {
        let calls = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let (stop, shutdown) = watch::channel(false);
        let (counted, waker) = (Arc::clone(&calls), Arc::clone(&wake));
        let task = tokio::spawn(run_batches(
            "test",
            Duration::from_secs(3600),
            Arc::clone(&wake),
            shutdown,
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                let waker = Arc::clone(&waker);
                async move {
                    // The first batch finds nothing, and work arrives while it finishes.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    if n == 0 {
                        waker.notify_waiters();
                    }
                    Ok(0)
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "woken during the first batch"
        );
        stop.send(true).expect("loop alive");
        task.await.expect("loop ends");
    }

    /// Failures back off one second more each time, up to five.
    #[tokio::test(start_paused = true)]
    async fn failures_back_off_up_to_five_seconds() {
        let calls = Arc::new(AtomicUsize::new(0));
        let (stop, shutdown) = watch::channel(false);
        let counted = Arc::clone(&calls);
        let task = tokio::spawn(run_batches(
            "test",
            Duration::from_secs(3600),
            Arc::new(Notify::new()),
            shutdown,
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Err(sqlx::Error::PoolTimedOut) }
            },
        ));
        // Attempts at 0, 1, 3, 6, 10, 15, 20, 25 s (uncapped, the eighth would be at 28 s).
        tokio::time::sleep(Duration::from_millis(25_500)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 8);
        stop.send(true).expect("loop alive");
        task.await.expect("loop ends");
    }
}
