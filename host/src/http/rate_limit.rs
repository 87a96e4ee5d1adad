//! Rate limiting on the public listener: who pays for a request, and when to refuse it.
//!
//! A request without a credential is charged to its client address; one with a credential
//! not proven yet, to that credential (as presented, without the spaces around it); once a
//! credential has been proven (an agent's key or session, an `agx_live_` token, the admin
//! key), its requests are charged to the identity it proved, before any lookup. Which identity a credential stands for is learned from the extractors: each one
//! that verifies a credential records it in the request's [`Proof`], and this layer
//! remembers the credential's hash for next time. A key written with extra spaces is still
//! the same key, and agents behind one NAT keep budgets of their own.
//!
//! What stops guessing: a refused credential (401, or 403 without a proven identity) costs
//! its address a cell of a far smaller budget; while that one is spent, every unproven
//! request from the address is refused outright, whatever credential it makes up.
//!
//! Every map here is bounded: see [`Buckets`].

use super::error::ApiError;
use crate::config::TrustedProxies;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Keys tracked per map at most: ~100 bytes each, so a few MiB whatever the traffic.
const MAX_TRACKED_KEYS: usize = 100_000;
/// A full map is swept for keys back to a full budget at most this often, so a flood of
/// new keys costs one sweep a second, not one per request.
const SWEEP_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// The public listener's request budgets, per [`crate::config::ServerConfig`].
#[derive(Debug, Clone)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
    /// Refused credentials an address may present per minute (also its burst).
    pub failed_auth_per_minute: NonZeroU32,
    /// Registrations an address may make per hour (also its burst).
    pub registrations_per_hour: NonZeroU32,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

/// Who pays for a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Payer {
    /// A client address (an IPv6 client by its /64: one host usually holds a whole one).
    Address(IpAddr),
    /// A credential not proven yet, by the hash of its token (so however it is spaced):
    /// a new agent's first concurrent requests do not crowd its address's budget.
    Unproven([u8; 32]),
    Proven(Identity),
}

/// What a verified credential stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    Agent(String),
    /// An `agx_live_` token, by the SHA-256 it is stored under.
    Token([u8; 32]),
    Admin,
}

/// The slot in which an extractor records the identity a request's credential proved.
/// As an extractor it is the request's slot, or (off the public listener, where nothing is
/// limited) a slot nobody reads.
#[derive(Clone, Default)]
pub struct Proof(Arc<OnceLock<Identity>>);

impl<S: Send + Sync> FromRequestParts<S> for Proof {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Proof>().cloned().unwrap_or_default())
    }
}

impl Proof {
    /// Records `identity` for the request of `parts` (a no-op off the public listener).
    pub fn record(parts: &Parts, identity: Identity) {
        if let Some(proof) = parts.extensions.get::<Proof>() {
            proof.set(identity);
        }
    }

    pub fn set(&self, identity: Identity) {
        let _ = self.0.set(identity);
    }
}

impl Identity {
    /// The `agx_live_` token `raw`.
    pub fn token(raw: &str) -> Self {
        Identity::Token(crate::auth::tokens::token_hash(raw))
    }
}

/// The limiter's state, shared by every request of one listener.
pub struct Limits {
    requests: Buckets<Payer>,
    failures: Buckets<IpAddr>,
    registrations: Buckets<IpAddr>,
    /// Hashes of credentials proven before, and what they proved.
    proven: Mutex<HashMap<[u8; 32], Identity>>,
    trusted_proxies: TrustedProxies,
}

impl Limits {
    pub fn new(rate: RateLimit) -> Arc<Self> {
        let minute = Duration::from_secs(60);
        let hour = Duration::from_secs(3600);
        Arc::new(Self {
            requests: Buckets::new(Duration::from_secs(1) / rate.per_second.get(), rate.burst),
            failures: Buckets::new(
                minute / rate.failed_auth_per_minute.get(),
                rate.failed_auth_per_minute,
            ),
            registrations: Buckets::new(
                hour / rate.registrations_per_hour.get(),
                rate.registrations_per_hour,
            ),
            proven: Mutex::new(HashMap::new()),
            trusted_proxies: rate.trusted_proxies,
        })
    }

    /// Forgets keys whose budget is full again (they are as good as new).
    pub fn sweep(&self) {
        self.requests.sweep();
        self.failures.sweep();
        self.registrations.sweep();
    }

    fn proven(&self, credential: &[u8; 32]) -> Option<Identity> {
        lock(&self.proven).get(credential).cloned()
    }

    fn remember(&self, credential: [u8; 32], identity: Identity) {
        let mut proven = lock(&self.proven);
        if proven.len() >= MAX_TRACKED_KEYS && !proven.contains_key(&credential) {
            // Forgetting costs each credential one request on its address's budget.
            proven.clear();
        }
        proven.insert(credential, identity);
    }

    fn forget(&self, credential: &[u8; 32]) {
        lock(&self.proven).remove(credential);
    }
}

/// The client a request comes from (the TCP peer, or behind a trusted proxy the client it
/// names), for handlers with budgets of their own.
#[derive(Clone)]
pub struct Client {
    /// As budgets know it: see [`bucket_of`].
    address: IpAddr,
    limits: Arc<Limits>,
}

impl Client {
    /// Charges one registration to the client's address: 429 past its hourly budget.
    pub fn register(&self) -> Result<(), ApiError> {
        self.limits
            .registrations
            .check(&self.address, 1)
            .map_err(|retry_after| ApiError::RateLimited { retry_after })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Client>().cloned().ok_or_else(|| {
            crate::error::Error::new(
                crate::error::ErrorKind::Internal,
                "internal",
                "the rate-limit layer is missing",
            )
            .into()
        })
    }
}

/// The limiter in front of every route of a public listener (a layer of
/// [`super::around::AroundLayer`]): refuses what is over budget, and once the route has
/// answered learns what the request's credential proved, or charges its refusal.
#[derive(Clone)]
pub struct Enforce(Arc<Limits>);

/// [`Enforce`] over `limits`, as a layer.
pub fn limiter(limits: Arc<Limits>) -> super::around::AroundLayer<Enforce> {
    super::around::AroundLayer(Enforce(limits))
}

/// What [`Enforce`] needs from the response.
pub struct Charged {
    proof: Proof,
    credential: Option<[u8; 32]>,
    address: IpAddr,
    limits: Arc<Limits>,
}

impl super::around::Around for Enforce {
    type Ticket = Charged;

    fn before(&self, request: &mut Request) -> Result<Charged, Response> {
        let limits = &self.0;
        let address = bucket_of(client_address(request, &limits.trusted_proxies));
        let credential = presented_credential(request.headers());
        let payer = match credential {
            Some(c) => limits.proven(&c).map_or(Payer::Unproven(c), Payer::Proven),
            None => Payer::Address(address),
        };
        let refused = match payer {
            Payer::Proven(_) => None,
            _ => limits.failures.exhausted(&address),
        }
        .or_else(|| limits.requests.check(&payer, 1).err());
        if let Some(retry_after) = refused {
            return Err(super::error::refuse_on(
                request.uri().path(),
                ApiError::RateLimited { retry_after },
            ));
        }

        let proof = Proof::default();
        request.extensions_mut().insert(proof.clone());
        request.extensions_mut().insert(Client {
            address,
            limits: limits.clone(),
        });
        Ok(Charged {
            proof,
            credential,
            address,
            limits: limits.clone(),
        })
    }
}

impl super::around::Ticket for Charged {
    fn after(self, status: StatusCode) {
        let Charged {
            proof,
            credential,
            address,
            limits,
        } = self;
        match (proof.0.get(), credential) {
            (Some(identity), Some(credential)) => limits.remember(credential, identity.clone()),
            (Some(_), None) => {}
            (None, credential) => {
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    if let Some(credential) = credential {
                        limits.forget(&credential);
                    }
                    let _ = limits.failures.check(&address, 1);
                }
            }
        }
    }
}

/// The hash of the credential a request presents: its Bearer token (however spaced) or its
/// `X-Admin-Key`.
fn presented_credential(headers: &HeaderMap) -> Option<[u8; 32]> {
    let (kind, value): (&[u8], &str) = match super::extract::bearer_header(headers) {
        Some(token) => (b"bearer\0", token),
        None => (
            b"admin\0",
            headers
                .get(super::extract::ADMIN_KEY_HEADER)?
                .to_str()
                .ok()?,
        ),
    };
    let mut hash = Sha256::new();
    hash.update(kind);
    hash.update(value.as_bytes());
    Some(hash.finalize().into())
}

/// The TCP peer; when it is a trusted proxy, the rightmost `X-Forwarded-For` hop that is not
/// one (earlier hops were written by whoever sent the request and prove nothing).
fn client_address(request: &Request, trusted: &TrustedProxies) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| canonical(c.0.ip()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let mut client = peer;
    let hops = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        if !trusted.contains(client) {
            break;
        }
        match hop.trim().parse::<IpAddr>() {
            Ok(address) => client = canonical(address),
            // A garbled hop: the last trusted proxy is the best we know.
            Err(_) => break,
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they are.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The address budget a client shares: its IPv4 address, or its IPv6 /64.
fn bucket_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::MAX >> 64);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Token buckets per key (GCRA: one instant per key), in a bounded map. A full map first
/// forgets keys whose budget is full again; new keys that still find no room share one
/// overflow budget, so a flood of fresh keys (addresses) is limited as one client rather
/// than growing the map or evicting established clients.
struct Buckets<K> {
    /// Time one cell takes to come back.
    interval: Duration,
    /// How far ahead of now a key may have spent: `burst` cells.
    tolerance: Duration,
    /// NB: a std mutex: no `.await` inside, and each critical section is a map lookup.
    state: Mutex<BucketState<K>>,
}

struct BucketState<K> {
    /// When each key's budget is full again (its theoretical arrival time).
    full_at: HashMap<K, Instant>,
    overflow: Instant,
    swept_at: Instant,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(interval: Duration, burst: NonZeroU32) -> Self {
        let now = Instant::now();
        Self {
            interval,
            tolerance: interval * burst.get(),
            state: Mutex::new(BucketState {
                full_at: HashMap::new(),
                overflow: now,
                swept_at: now,
            }),
        }
    }

    /// Spends `cost` cells of `key`'s budget, or says how long until it could.
    fn check(&self, key: &K, cost: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let state = &mut *state;
        if !state.full_at.contains_key(key)
            && state.full_at.len() >= MAX_TRACKED_KEYS
            && now.duration_since(state.swept_at) >= SWEEP_AT_MOST_EVERY
        {
            state.full_at.retain(|_, full_at| *full_at > now);
            state.swept_at = now;
        }
        if !state.full_at.contains_key(key) && state.full_at.len() < MAX_TRACKED_KEYS {
            state.full_at.insert(key.clone(), now);
        }
        let slot = match state.full_at.get_mut(key) {
            Some(slot) => slot,
            None => &mut state.overflow,
        };
        let next = (*slot).max(now) + self.interval * cost;
        match (next - now).checked_sub(self.tolerance) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => {
                *slot = next;
                Ok(())
            }
        }
    }

    /// How long until `key` could spend a cell, when it cannot now.
    fn exhausted(&self, key: &K) -> Option<Duration> {
        let now = Instant::now();
        let full_at = *lock(&self.state).full_at.get(key)?;
        let next = full_at.max(now) + self.interval;
        (next - now)
            .checked_sub(self.tolerance)
            .filter(|w| !w.is_zero())
    }

    fn sweep(&self) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        state.full_at.retain(|_, full_at| *full_at > now);
        state.swept_at = now;
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.state).full_at.len()
    }
}

/// A poisoned lock means a panic mid-update of a map of instants; every state is valid.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(per_second: u32, burst: u32) -> Buckets<u32> {
        Buckets::new(
            Duration::from_secs(1) / per_second,
            NonZeroU32::new(burst).unwrap(),
        )
    }

    /// A key gets its burst, then waits about one interval per cell.
    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let b = buckets(1, 5);
        for _ in 0..5 {
            b.check(&1, 1).unwrap();
        }
        let wait = b.check(&1, 1).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(b.exhausted(&1).is_some());
        assert!(b.exhausted(&2).is_none());
        b.check(&2, 1).unwrap();
    }

    /// However many keys come, the map holds at most MAX_TRACKED_KEYS, and the keys that
    /// find no room share one budget (they are limited together).
    #[test]
    fn the_map_is_bounded_and_overflow_is_shared() {
        let b = buckets(1, 2);
        let keys = MAX_TRACKED_KEYS as u32 + 1000;
        let refused = (0..keys).filter(|k| b.check(k, 1).is_err()).count();
        assert_eq!(b.tracked(), MAX_TRACKED_KEYS);
        // Two of the thousand newcomers fit the shared burst; the rest are refused.
        assert_eq!(refused, 998);
        // Established keys keep their own budgets meanwhile.
        b.check(&0, 1).unwrap();
    }

    /// Keys back to a full budget are forgotten by a sweep.
    #[test]
    fn sweep_forgets_full_budgets() {
        let b = buckets(1000, 1);
        for k in 0..100 {
            b.check(&k, 1).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        b.sweep();
        assert_eq!(b.tracked(), 0);
    }

    /// IPv6 clients share their /64; IPv4-mapped addresses are IPv4.
    #[test]
    fn address_buckets() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket_of(a), bucket_of(b));
        assert_ne!(bucket_of(a), bucket_of(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(canonical(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
