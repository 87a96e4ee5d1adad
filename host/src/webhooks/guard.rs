//! The SSRF guard at delivery time. A URL's host name was checked when it was set, but
//! what it resolves to can change (DNS rebinding), so every connection is made only to
//! addresses that are public, unless the operator allowed private targets.

use crate::network::address::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;

/// A resolver that drops loopback, private, link-local and reserved addresses, and fails
/// when nothing else is left.
#[derive(Debug, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = public_only(found);
            if public.is_empty() {
                return Err(format!("refused: {host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

fn public_only(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    addrs.into_iter().filter(|a| is_public(a.ip())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only public addresses survive, in their order.
    #[test]
    fn keeps_public_addresses_only() {
        let addrs = [
            "127.0.0.1:0",
            "10.0.0.1:0",
            "93.184.216.34:0",
            "[::1]:0",
            "[2606:4700::1]:0",
        ]
        .map(|a| a.parse().unwrap())
        .to_vec();
        let kept: Vec<String> = public_only(addrs).iter().map(|a| a.to_string()).collect();
        assert_eq!(kept, ["93.184.216.34:0", "[2606:4700::1]:0"]);
    }

    /// A name that resolves only to loopback is refused.
    #[tokio::test]
    async fn loopback_names_are_refused() {
        let Ok(name) = "localhost".parse::<Name>() else {
            panic!("localhost is a valid name")
        };
        let error = PublicOnly.resolve(name).await.err().expect("refused");
        assert!(error.to_string().contains("no public address"), "{error}");
    }
}
