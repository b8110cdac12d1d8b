//! The geocoding capability as the app holds it: the configured provider chain (with the
//! built-in geocoder), the "account located" event channel, and the worker factory.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::broadcast;

use super::osm::OsmGeocoder;
use super::provider::{self, Chain, ProviderSpec};
use super::worker::{AccountLocated, GeocodeWorker};
use super::{Geocoder, Precision};

/// Geocoding settings parsed from the environment (`TERRANE_GEOCODERS` and friends).
#[derive(Debug, Clone)]
pub struct GeocodeConfig {
    pub providers: Vec<ProviderSpec>,
    /// A result at least this precise stops the chain.
    pub accept: Precision,
    /// Geocoding worker tasks in this process (`TERRANE_GEOCODE_WORKERS`; 0 = none).
    pub workers: usize,
}

pub struct Geocoding {
    chain: Arc<Chain>,
    events: broadcast::Sender<AccountLocated>,
    db: PgPool,
}

impl Geocoding {
    pub fn new(
        db: PgPool,
        config: &GeocodeConfig,
        http: reqwest::Client,
    ) -> Result<Self, provider::BuildError> {
        let osm: Arc<dyn Geocoder> = Arc::new(OsmGeocoder::new(db.clone()));
        let chain = provider::build_chain(&config.providers, Some(osm), config.accept, http)?;
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            chain: Arc::new(chain),
            events,
            db,
        })
    }

    /// The chain as a [`Geocoder`].
    pub fn geocoder(&self) -> Arc<dyn Geocoder> {
        self.chain.clone()
    }

    /// Subscribes to accounts getting a location (territory assignment hooks here).
    pub fn subscribe(&self) -> broadcast::Receiver<AccountLocated> {
        self.events.subscribe()
    }

    pub fn worker(&self) -> GeocodeWorker {
        GeocodeWorker::new(self.db.clone(), self.geocoder(), self.events.clone())
    }

    /// Each provider's circuit state, for the geocoding page.
    pub fn circuits(&self) -> Vec<(String, String)> {
        self.chain.circuits()
    }
}
