//! Per-credential rate limiting.
//!
//! The key is a hash of the credential the request presents (API key, session token or
//! admin key), so a flood is refused before it costs a database lookup; requests without
//! one are keyed by client address.

use super::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

pub type Limiter = Arc<DefaultKeyedRateLimiter<[u8; 32]>>;

pub fn limiter(per_second: NonZeroU32, burst: NonZeroU32) -> Limiter {
    Arc::new(DefaultKeyedRateLimiter::keyed(
        Quota::per_second(per_second).allow_burst(burst),
    ))
}

pub async fn enforce(State(limiter): State<Limiter>, request: Request, next: Next) -> Response {
    let key = credential_key(&request);
    match limiter.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let refusal = ApiError::RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            };
            super::error::refuse_on(request.uri().path(), refusal)
        }
    }
}

fn credential_key(request: &Request) -> [u8; 32] {
    let headers = request.headers();
    let credential = headers
        .get(header::AUTHORIZATION)
        .or_else(|| headers.get(super::extract::ADMIN_KEY_HEADER))
        .map(|v| v.as_bytes().to_vec());
    let mut hash = Sha256::new();
    match credential {
        Some(bytes) => hash.update(&bytes),
        None => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default();
            hash.update(b"peer:");
            hash.update(peer.as_bytes());
        }
    }
    hash.finalize().into()
}
