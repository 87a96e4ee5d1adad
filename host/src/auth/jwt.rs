//! Dashboard sessions: HS256 JWTs issued at login.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// How long a dashboard session lasts before the owner logs in again.
const SESSION_TTL: Duration = Duration::hours(24);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub agent_id: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct SessionTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SessionTokens {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn issue(&self, user_id: &str, agent_id: &str, now: DateTime<Utc>) -> String {
        let claims = Claims {
            sub: user_id.to_owned(),
            agent_id: agent_id.to_owned(),
            iat: now.timestamp(),
            exp: (now + SESSION_TTL).timestamp(),
        };
        encode(&Header::default(), &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// The claims of a valid, unexpired token signed by this server.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &Validation::default())
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let tokens = SessionTokens::new(b"secret-secret-secret-secret-1234");
        let token = tokens.issue("u1", "a1", Utc::now());
        assert_eq!(tokens.verify(&token).unwrap().agent_id, "a1");
        let other = SessionTokens::new(b"another-secret-another-secret-12");
        assert!(other.verify(&token).is_none());
        assert!(tokens.verify("not.a.jwt").is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let tokens = SessionTokens::new(b"secret-secret-secret-secret-1234");
        let token = tokens.issue("u1", "a1", Utc::now() - Duration::days(2));
        assert!(tokens.verify(&token).is_none());
    }
}
