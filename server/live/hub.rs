//! This instance's live sockets and what is pushed to them: each rep's sockets get their
//! alerts, each team's live-map sockets get positions and alerts. Every socket has a small
//! queue of its own: a socket that stops reading loses frames (counted), never delays the
//! others or holds memory (`docs/live.md`, "Slow sockets").

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use uuid::Uuid;

/// Frames one socket may have waiting; beyond it new frames are dropped for that socket.
pub const QUEUE_FRAMES: usize = 32;

/// A frame's text, shared by every socket it goes to.
pub type Frame = Arc<str>;

struct Sub {
    id: u64,
    tx: mpsc::Sender<Frame>,
    /// A live-map socket allowed precise positions.
    precise: bool,
}

#[derive(Default)]
struct Inner {
    reps: Mutex<HashMap<Uuid, Vec<Sub>>>,
    teams: Mutex<HashMap<Uuid, Vec<Sub>>>,
    next: AtomicU64,
    dropped: AtomicU64,
}

/// The registry of this instance's sockets.
#[derive(Default, Clone)]
pub struct Hub(Arc<Inner>);

/// Which list a subscription is in.
#[derive(Clone, Copy)]
enum Key {
    Rep(Uuid),
    Team(Uuid),
}

/// A socket's place in the hub: frames arrive on `rx`; dropping it leaves the hub.
pub struct Subscription {
    hub: Hub,
    key: Key,
    id: u64,
    pub rx: mpsc::Receiver<Frame>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let (map, key) = match self.key {
            Key::Rep(k) => (&self.hub.0.reps, k),
            Key::Team(k) => (&self.hub.0.teams, k),
        };
        let mut map = lock(map);
        if let Some(subs) = map.get_mut(&key) {
            subs.retain(|s| s.id != self.id);
            if subs.is_empty() {
                map.remove(&key);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Hub {
    /// A rep's device socket: it receives the rep's alerts.
    pub fn rep(&self, rep: Uuid) -> Subscription {
        self.subscribe(Key::Rep(rep), false)
    }

    /// A live-map socket on `team`: positions (precise ones only when `precise`) and alerts.
    pub fn team(&self, team: Uuid, precise: bool) -> Subscription {
        self.subscribe(Key::Team(team), precise)
    }

    fn subscribe(&self, key: Key, precise: bool) -> Subscription {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        let sub = Sub { id, tx, precise };
        match key {
            Key::Rep(k) => lock(&self.0.reps).entry(k).or_default().push(sub),
            Key::Team(k) => lock(&self.0.teams).entry(k).or_default().push(sub),
        }
        Subscription {
            hub: self.clone(),
            key,
            id,
            rx,
        }
    }

    /// Whether any socket here would take frames about `rep` (or, with `team`, its team).
    pub fn wants(&self, rep: Uuid, team: Option<Uuid>) -> bool {
        lock(&self.0.reps).contains_key(&rep)
            || team.is_some_and(|t| lock(&self.0.teams).contains_key(&t))
    }

    /// Whether any live-map socket is open here.
    pub fn has_team_sockets(&self) -> bool {
        !lock(&self.0.teams).is_empty()
    }

    /// Sends `frame` to the rep's sockets.
    pub fn to_rep(&self, rep: Uuid, frame: &Frame) {
        if let Some(subs) = lock(&self.0.reps).get(&rep) {
            for s in subs {
                self.offer(&s.tx, frame);
            }
        }
    }

    /// Sends `precise` to the team's sockets allowed it and `blurred` to the others.
    pub fn to_team(&self, team: Uuid, precise: &Frame, blurred: &Frame) {
        if let Some(subs) = lock(&self.0.teams).get(&team) {
            for s in subs {
                self.offer(&s.tx, if s.precise { precise } else { blurred });
            }
        }
    }

    /// Frames dropped because a socket's queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    fn offer(&self, tx: &mpsc::Sender<Frame>, frame: &Frame) {
        if tx.try_send(Arc::clone(frame)).is_err() {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("terrane_live_frames_dropped_total").increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_for_that_socket_only() {
        let hub = Hub::default();
        let rep = Uuid::new_v4();
        let mut slow = hub.rep(rep);
        let mut quick = hub.rep(rep);
        let frame: Frame = Arc::from("{}");
        for _ in 0..QUEUE_FRAMES {
            hub.to_rep(rep, &frame);
            assert!(quick.rx.recv().await.is_some());
        }
        assert_eq!(hub.dropped(), 0);
        hub.to_rep(rep, &frame);
        assert_eq!(hub.dropped(), 1, "the slow socket's queue was full");
        assert!(
            quick.rx.recv().await.is_some(),
            "the quick one still got it"
        );
        assert!(slow.rx.try_recv().is_ok());
        drop(slow);
        drop(quick);
        assert!(!hub.wants(rep, None), "closed sockets leave the hub");
    }

    #[tokio::test]
    async fn team_sockets_get_the_frame_for_their_view() {
        let hub = Hub::default();
        let team = Uuid::new_v4();
        let mut precise = hub.team(team, true);
        let mut blurred = hub.team(team, false);
        hub.to_team(team, &Arc::from("p"), &Arc::from("b"));
        assert_eq!(precise.rx.recv().await.as_deref(), Some("p"));
        assert_eq!(blurred.rx.recv().await.as_deref(), Some("b"));
        assert!(hub.wants(Uuid::new_v4(), Some(team)));
    }
}
