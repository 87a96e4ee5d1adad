//! The signature on every delivery, so a receiver can tell agentx sent it, unchanged and
//! recently: `X-Agentx-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! Signing the timestamp with the body stops a captured delivery being replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-agentx-signature";
/// The delivery id: the same on every retry, for receivers to de-duplicate.
pub const DELIVERY_HEADER: &str = "x-agentx-delivery";
/// `message` or `announcement`.
pub const EVENT_HEADER: &str = "x-agentx-event";

/// The header value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body))
    )
}

/// Whether `header` is a valid signature of `body` made within `tolerance_seconds` of `now`.
/// What a receiver does; agentx uses it in its tests.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_seconds: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_seconds {
        return false;
    }
    let expected = mac(secret, timestamp, body);
    signatures
        .iter()
        .any(|s| bool::from(s.as_slice().ct_eq(&expected)))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signature verifies with its secret and body within the tolerance, and not with
    /// another secret, another body, or too late.
    #[test]
    fn sign_then_verify() {
        let header = sign("whsec_a", 1_700_000_000, b"{\"x\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_a", &header, b"{\"x\":1}", 1_700_000_100, 300));
        assert!(!verify(
            "whsec_b",
            &header,
            b"{\"x\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify(
            "whsec_a",
            &header,
            b"{\"x\":2}",
            1_700_000_100,
            300
        ));
        assert!(!verify(
            "whsec_a",
            &header,
            b"{\"x\":1}",
            1_700_000_400,
            300
        ));
        assert!(!verify("whsec_a", "v1=00", b"", 0, 300));
    }
}
