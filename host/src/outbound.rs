//! HTTP requests agentx makes on someone else's behalf (webhooks, plugins'
//! `outbound-http`), so that they cannot be turned against its own network (SSRF).
//!
//! The clients follow no redirect (a redirect could point anywhere: the caller gets the 3xx
//! and any next request is checked like the first), honour no proxy settings from the
//! environment (a proxy would connect for us, beyond any address check), and, for names,
//! connect only to the addresses [`crate::network::address`] allows. That check is made on
//! what the name resolves to at connection time, since what it resolves to can change
//! (DNS rebinding). Literal addresses in URLs never reach a resolver: callers check them.

use crate::network::address::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;

/// A client builder with the rules above; `public_only: false` (operators testing
/// locally) keeps the system resolver.
pub fn client_builder(public_only: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if public_only {
        builder.dns_resolver(Arc::new(PublicOnly))
    } else {
        builder
    }
}

/// Whether a request failed because its host resolved to no address it may reach.
pub fn is_refused(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<Refused>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The resolver's refusal.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0} resolves to no public address")]
pub struct Refused(String);

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
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
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
