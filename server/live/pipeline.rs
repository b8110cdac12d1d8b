//! From pings to alerts in one transaction: [`accept`] stores the batches, asks the proximity
//! engine which accounts qualify, raises the alerts the database's rules allow, queues the
//! fan-out notification, commits, and only then answers and pushes. Socket frames of many reps
//! go through [`Committer`], which gathers whatever arrived while the last flush ran into the
//! next one (group commit: no added wait when idle, one commit for many pings under load).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use super::Live;
use super::alerts::{self, Alert};
use super::envelope::RawPing;
use super::fanout::{self, Position};
use super::ingest::{self, Batch, LiveError, PingResult};
use super::rules;

/// Most socket frames one flush takes.
const FLUSH_MAX: usize = 500;
/// Flushes that may run at once (one builds while another waits for its commit).
pub const FLUSHERS: usize = 2;
/// Frames waiting for a flush before senders wait (backpressure on the sockets).
const QUEUE: usize = 20_000;

/// Stores `batches` at `now`, raises their alerts, commits, then pushes alerts and positions
/// to this instance's sockets. Returns each batch's answer.
pub async fn accept(
    db: &PgPool,
    live: &Live,
    batches: &[Batch<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<Result<Vec<PingResult>, LiveError>>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let ingested = ingest::ingest(db, &mut tx, live, batches, now).await?;
    let mut reps: Vec<Uuid> = ingested.stored.iter().map(|s| s.rep).collect();
    reps.sort_unstable();
    reps.dedup();
    let rules = rules::for_reps(db, &reps).await?;
    let qualifying = live.proximity.consider(&ingested.stored, &rules);
    let raised = alerts::raise(&mut tx, &qualifying).await?;
    fanout::notify(&mut tx, live.instance, &raised, &ingested.stored).await?;
    tx.commit().await?;

    let pairs: Vec<(Uuid, Uuid)> = raised.iter().map(|a| (a.rep_id, a.account_id)).collect();
    live.proximity.settle(&qualifying, &pairs, now);
    let team = |rep: Uuid| rules.get(&rep).and_then(|r| r.team);
    let with_teams: Vec<(Alert, Option<Uuid>)> = raised
        .into_iter()
        .map(|a| {
            let t = team(a.rep_id);
            (a, t)
        })
        .collect();
    // Each rep's newest current position of the batch moves their dot.
    let mut newest: HashMap<Uuid, &ingest::Stored> = HashMap::new();
    for s in ingested.stored.iter().filter(|s| !s.late) {
        let slot = newest.entry(s.rep).or_insert(s);
        if s.recorded_at > slot.recorded_at {
            *slot = s;
        }
    }
    let positions: Vec<Position> = newest
        .into_values()
        .filter(|s| live.hub.wants(s.rep, team(s.rep)))
        .map(|s| Position::of(s, team(s.rep)))
        .collect();
    fanout::deliver(&live.hub, &with_teams, &positions);
    metrics::counter!("terrane_live_alerts_total").increment(pairs.len() as u64);
    Ok(ingested.answers)
}

/// One socket frame waiting for a flush.
struct Job {
    rep: Uuid,
    ping: RawPing,
    reply: oneshot::Sender<Result<PingResult, LiveError>>,
}

/// Gathers socket frames of all reps into flushes of [`accept`].
pub struct Committer {
    tx: mpsc::Sender<Job>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
}

impl Default for Committer {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Self {
            tx,
            rx: Arc::new(Mutex::new(rx)),
        }
    }
}

impl Committer {
    /// Hands one rep's ping to the next flush and waits for its answer (after the commit).
    pub async fn submit(&self, rep: Uuid, ping: RawPing) -> Result<PingResult, LiveError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { rep, ping, reply })
            .await
            .map_err(|_| LiveError::Unstored)?;
        answer.await.unwrap_or(Err(LiveError::Unstored))
    }

    /// Flushes until `stop` turns true (run [`FLUSHERS`] of these).
    pub async fn run(db: PgPool, live: Arc<Live>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let rx = Arc::clone(&live.committer.rx);
        loop {
            let jobs = {
                let mut rx = rx.lock().await;
                let first = tokio::select! {
                    job = rx.recv() => job,
                    _ = stop.changed() => None,
                };
                let Some(first) = first else { return };
                let mut jobs = vec![first];
                while jobs.len() < FLUSH_MAX {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                jobs
            };
            flush(&db, &live, jobs).await;
        }
    }
}

async fn flush(db: &PgPool, live: &Live, jobs: Vec<Job>) {
    let batches: Vec<Batch<'_>> = jobs
        .iter()
        .map(|j| Batch {
            rep: j.rep,
            pings: std::slice::from_ref(&j.ping),
        })
        .collect();
    let answers = accept(db, live, &batches, Utc::now()).await;
    match answers {
        Ok(answers) => {
            for (job, answer) in jobs.into_iter().zip(answers) {
                let one = answer.and_then(|r| r.into_iter().next().ok_or(LiveError::Unstored));
                let _ = job.reply.send(one);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, frames = jobs.len(), "socket pings were not stored");
            for job in jobs {
                let _ = job.reply.send(Err(LiveError::Unstored));
            }
        }
    }
}
