//! The one place the background workers of `terrane serve` start and stop: CRM inbox workers,
//! the owner write-back, the nightly reconciliation, geocoding, arrivals into published plans,
//! the job workers (plans, "reconcile now", upkeep), the hourly queuing of the location
//! retention purge and the expired-session sweeper.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::crm::reconcile;
use crate::crm::worker::{self, Worker};
use crate::jobs::{self, Lane};

/// The running workers; [`Workers::stop`] ends them.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Stopped by abort (it holds no work in hand).
    sweeper: JoinHandle<()>,
}

impl Workers {
    /// Starts every worker the configuration asks for.
    pub fn start(state: &AppState) -> Self {
        let (stop, rx) = watch::channel(false);
        let config = &state.config;
        let mut tasks = Vec::new();
        let reader: Arc<dyn worker::RecordReader> = state.crm.clone();
        let guard = config.crm.clock_guard();
        for _ in 0..config.crm.workers {
            let w = Worker::new(state.db.clone(), reader.clone(), guard);
            tasks.push(tokio::spawn(worker::run(
                w,
                state.intake.wake.clone(),
                rx.clone(),
            )));
        }
        // One owner write-back loop: the outbox is claimed with `skip locked`, so instances
        // share it.
        tasks.push(tokio::spawn(
            crate::crm::writeback::WritebackWorker::new(state.db.clone(), state.crm.clone())
                .run(rx.clone()),
        ));
        if let Some(at) = config.crm.reconcile_at {
            tasks.push(tokio::spawn(reconcile::nightly(
                state.db.clone(),
                state.crm.clone(),
                at,
                config.crm.inbox_retention_days,
                guard,
                rx.clone(),
            )));
        }
        for _ in 0..config.geocode.workers {
            tasks.push(tokio::spawn(crate::geocode::worker::run(
                state.geocoding.worker(),
                rx.clone(),
            )));
        }
        // Accounts the geocoder locates go into their team's published plan at once; a sweep
        // every 30 s catches any that arrived another way.
        tasks.push(tokio::spawn(crate::territory::arrival::run(
            state.db.clone(),
            state.geocoding.subscribe(),
            Duration::from_secs(30),
            rx.clone(),
        )));
        // At most `plan_jobs` plans compute at once here (each worker runs one at a time).
        for _ in 0..config.jobs.plan_jobs {
            tasks.push(tokio::spawn(jobs::run(
                state.jobs.clone(),
                Lane::Plans,
                rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(jobs::run(
            state.jobs.clone(),
            Lane::Crm,
            rx.clone(),
        )));
        tasks.push(tokio::spawn(jobs::run(
            state.jobs.clone(),
            Lane::Upkeep,
            rx.clone(),
        )));
        // The location retention purge is queued hourly (one at a time across instances).
        tasks.push(tokio::spawn(queue_track_purges(
            state.jobs.clone(),
            config.live.retention_days,
            rx.clone(),
        )));
        // Expired sessions are deleted hourly (reads already ignore them).
        let sweeper = tokio::spawn({
            use tower_sessions::ExpiredDeletion;
            let store = crate::web::session_store(state);
            async move {
                if let Err(e) = store
                    .continuously_delete_expired(Duration::from_secs(3600))
                    .await
                {
                    tracing::warn!(error = %e, "the expired-session sweeper stopped");
                }
            }
        });
        tracing::info!(
            geocode_workers = config.geocode.workers,
            geocoders = ?state.geocoding.circuits().iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            "geocoding running"
        );
        tracing::info!(
            workers = config.crm.workers,
            nightly_reconcile = ?config.crm.reconcile_at.map(|t| t.format("%H:%M UTC").to_string()),
            "CRM sync running"
        );
        tracing::info!(
            plan_jobs = config.jobs.plan_jobs,
            job_db_connections = config.jobs.db_connections,
            "job workers running"
        );
        Self {
            stop,
            tasks,
            sweeper,
        }
    }

    /// Stops every worker and waits for them: queue workers finish the batch in hand (its
    /// transaction commits or rolls back whole); job workers hand their running job back.
    pub async fn stop(self) {
        self.sweeper.abort();
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Queues the location retention purge now and every hour until `shutdown`.
async fn queue_track_purges(jobs: jobs::Jobs, days: u32, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = every.tick() => {
                if let Err(e) = jobs.queue_track_purge(days).await {
                    tracing::warn!(error = %e, "could not queue the location retention purge");
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
