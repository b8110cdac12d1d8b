//! Per-client-IP limit on sign-in attempts, so passwords-by-proxy and demo buttons can't be hammered.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Reverse proxies whose word on the client's address is taken (`TERRANE_TRUSTED_PROXIES`, a
/// comma-separated list of IP addresses; empty: none) and the header they put it in
/// (`TERRANE_CLIENT_IP_HEADER`, default `x-forwarded-for`). A request from any other peer is
/// judged by its own address, whatever headers it sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIpConfig {
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub header: Option<axum::http::HeaderName>,
}

/// Allows `per_minute` attempts per IP address, refilled evenly over the minute.
pub struct SignInLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    /// The size at which [`SignInLimiter::check`] prunes next: [`PRUNE_AT`], or twice what the
    /// last prune left, so a flood of recent addresses (which pruning cannot free) is not
    /// scanned again on every attempt.
    prune_at: AtomicUsize,
}

impl SignInLimiter {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            prune_at: AtomicUsize::new(PRUNE_AT),
        }
    }

    /// `Err(wait)` when `ip` must wait before trying again. Addresses whose quota has
    /// refilled are forgotten once [`PRUNE_AT`] are remembered, so a flood of addresses cannot
    /// grow the table without end.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.limiter.len() >= self.prune_at.load(Ordering::Relaxed) {
            self.prune();
        }
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets the addresses whose quota is full again (they behave as new ones).
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let next = PRUNE_AT.max(self.limiter.len().saturating_mul(2));
        self.prune_at.store(next, Ordering::Relaxed);
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// The table size at which [`SignInLimiter::check`] prunes.
pub const PRUNE_AT: usize = 10_000;

/// The client's address: the peer's own, unless the peer is a trusted reverse proxy, then the
/// right-most address of the configured header that is not itself a trusted proxy (the left
/// part of `X-Forwarded-For` is whatever the client wrote, so never trusted).
pub fn client_ip(peer: IpAddr, headers: &axum::http::HeaderMap, cfg: &ClientIpConfig) -> IpAddr {
    let Some(header) = cfg.header.as_ref() else {
        return peer;
    };
    if !cfg.trusted_proxies.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all(header)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|hop| !cfg.trusted_proxies.contains(hop))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_address_counts_only_when_a_trusted_proxy_sent_it() {
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let cfg = ClientIpConfig {
            trusted_proxies: vec![proxy],
            header: Some(axum::http::HeaderName::from_static("x-forwarded-for")),
        };
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.9, 10.0.0.5"
                .parse()
                .expect("header"),
        );
        let stranger: IpAddr = "192.0.2.1".parse().expect("ip");
        assert_eq!(
            client_ip(stranger, &headers, &cfg),
            stranger,
            "untrusted peer"
        );
        // The right-most hop that is not a trusted proxy: what our proxy saw, not what the
        // client claimed at the left.
        let seen: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(client_ip(proxy, &headers, &cfg), seen);
        assert_eq!(
            client_ip(proxy, &axum::http::HeaderMap::new(), &cfg),
            proxy,
            "no header: the proxy itself"
        );
        let off = ClientIpConfig::default();
        assert_eq!(
            client_ip(proxy, &headers, &off),
            proxy,
            "nothing trusted by default"
        );
    }

    #[test]
    fn addresses_whose_quota_refilled_are_forgotten() {
        // 6,000 a minute: one attempt is refilled after 10 ms.
        let limiter = SignInLimiter::new(NonZeroU32::new(6_000).expect("non-zero"));
        for i in 0..200u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0xC000_0200 + i));
            assert!(limiter.check(ip).is_ok());
        }
        assert_eq!(limiter.len(), 200);
        std::thread::sleep(Duration::from_millis(100));
        limiter.prune();
        assert!(limiter.is_empty(), "{} left", limiter.len());
    }

    #[test]
    fn the_attempt_past_the_quota_is_refused_per_address() {
        let limiter = SignInLimiter::new(NonZeroU32::new(3).expect("non-zero"));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
        }
        let wait = limiter.check(a).expect_err("fourth attempt refused");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            limiter.check(b).is_ok(),
            "another address has its own quota"
        );
    }
}
