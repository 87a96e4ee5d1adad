//! `outbound-http`: requests to the hosts on the agent's allow-list, bounded in body size
//! both ways and in time.
//!
//! The allow-list names hosts, but a name can resolve to anything, so requests go through
//! [`crate::outbound`]'s client: no redirects (a 3xx is the answer; following it is a new,
//! checked request), no proxies, and names connect only to public addresses. A private or
//! loopback address is reachable only when the grant lists that literal address. The
//! plugin may not set `Host`: the name it asked for is the one checked.

use super::{CallState, Outcome, failed};
use crate::network::address::is_public;
use crate::plugins::bindings::responder::agentx::plugin::{outbound_http, types::HostError};
use crate::plugins::manifest::Capability;
use std::net::IpAddr;
use std::time::Duration;

const MAX_HTTP_BODY_BYTES: usize = 1 << 20;
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

impl CallState {
    fn allows_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.grants.http_allow.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            match allowed.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == allowed,
            }
        })
    }

    /// Whether `ip`, a literal address in a URL, may be reached: a public one if the
    /// allow-list matches it, any other only if the allow-list has it exactly.
    fn allows_address(&self, ip: IpAddr) -> bool {
        is_public(ip)
            || self.grants.http_allow.iter().any(|allowed| {
                let literal = allowed.trim_start_matches('[').trim_end_matches(']');
                literal.parse::<IpAddr>() == Ok(ip)
            })
    }
}

/// The URL's host as an address, when it is one.
fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

impl outbound_http::Host for CallState {
    async fn send(&mut self, request: outbound_http::Request) -> Outcome<outbound_http::Response> {
        if let Err(e) = self.require(Capability::OutboundHttp) {
            return Ok(Err(e));
        }
        let url = match reqwest::Url::parse(&request.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                return Ok(Err(HostError::Invalid(format!(
                    "{:?} is not an http(s) URL",
                    request.url
                ))));
            }
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        let refusal = if !self.allows_host(&host) {
            Some(format!(
                "host {host:?} is not on this agent's outbound-http allow-list"
            ))
        } else if literal_address(&url).is_some_and(|ip| !self.allows_address(ip)) {
            Some(format!(
                "address {host} is not public and not listed as such on this agent's outbound-http allow-list"
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            self.log.push("warn", "host", message.clone());
            return Ok(Err(HostError::Denied(message)));
        }
        if request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            return Ok(Err(HostError::Invalid(
                "the Host header is set by the host, from the URL".into(),
            )));
        }
        if request.body.len() > MAX_HTTP_BODY_BYTES {
            return Ok(Err(HostError::TooLarge));
        }
        use outbound_http::Method;
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .services
            .http
            .request(method, url)
            .timeout(HTTP_TIMEOUT);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let exchange = async move {
            let mut response = builder.body(request.body).send().await.map_err(|e| {
                if crate::outbound::is_refused(&e) {
                    HostError::Denied(format!(
                        "host {host:?} resolves to no public address; list an address itself to reach it"
                    ))
                } else {
                    failed(e)
                }
            })?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(failed)? {
                if body.len() + chunk.len() > MAX_HTTP_BODY_BYTES {
                    return Err(HostError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(outbound_http::Response {
                status,
                headers,
                body,
            })
        };
        Ok(tokio::time::timeout(HTTP_TIMEOUT, exchange)
            .await
            .unwrap_or(Err(HostError::Timeout)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Session, testing::call_state};
    use super::*;
    use outbound_http::{Host, Method, Request};

    fn get(url: &str) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn the_allow_list_matches_exact_names_and_subdomains_only() {
        let mut h = call_state(&[Capability::OutboundHttp], Session::None);
        h.grants().http_allow = vec!["API.example.com".into(), "*.svc.test".into()];
        let s = &h.state;
        assert!(s.allows_host("api.example.com"));
        assert!(s.allows_host("Api.Example.Com"));
        assert!(!s.allows_host("example.com"));
        assert!(!s.allows_host("evil-api.example.com"));
        assert!(s.allows_host("a.svc.test"));
        assert!(s.allows_host("a.b.svc.test"));
        assert!(!s.allows_host("svc.test"));
        assert!(!s.allows_host("evilsvc.test"));
    }

    /// A literal private or loopback address needs an exact entry: a wildcard or a
    /// name does not reach it. Public addresses follow the allow-list as names do.
    #[test]
    fn private_addresses_only_when_listed_as_such() {
        let mut h = call_state(&[Capability::OutboundHttp], Session::None);
        h.grants().http_allow = vec!["10.0.0.7".into(), "[::1]".into(), "*.0.0.1".into()];
        let s = &h.state;
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        assert!(s.allows_address(ip("10.0.0.7")));
        assert!(s.allows_address(ip("::1")));
        assert!(s.allows_address(ip("8.8.8.8")));
        assert!(
            !s.allows_address(ip("127.0.0.1")),
            "a wildcard is not explicit"
        );
        assert!(!s.allows_address(ip("::ffff:10.0.0.7")));
    }

    #[tokio::test]
    async fn a_caller_set_host_header_is_refused_before_any_request() {
        let mut h = call_state(&[Capability::OutboundHttp], Session::None);
        h.grants().http_allow = vec!["example.com".into()];
        let mut request = get("http://example.com/");
        request.headers = vec![("HOST".into(), "internal.example".into())];
        let answer = h.state.send(request).await.unwrap();
        assert!(matches!(answer, Err(HostError::Invalid(_))), "{answer:?}");
    }

    #[tokio::test]
    async fn denied_without_the_grant() {
        let mut h = call_state(&[], Session::None);
        h.grants().http_allow = vec!["example.com".into()];
        let answer = h.state.send(get("http://example.com/")).await.unwrap();
        assert!(matches!(answer, Err(HostError::Denied(_))));
        assert!(h.logged_denial());
    }

    #[tokio::test]
    async fn refuses_other_schemes_unlisted_hosts_and_big_bodies_before_any_request() {
        let mut h = call_state(&[Capability::OutboundHttp], Session::None);
        h.grants().http_allow = vec!["example.com".into()];
        let s = &mut h.state;
        for url in ["file:///etc/passwd", "ftp://example.com/", "not a url"] {
            assert!(
                matches!(s.send(get(url)).await.unwrap(), Err(HostError::Invalid(_))),
                "{url}"
            );
        }
        let unlisted = s.send(get("http://other.example/")).await.unwrap();
        assert!(matches!(unlisted, Err(HostError::Denied(_))));
        let mut big = get("http://example.com/");
        big.method = Method::Post;
        big.body = vec![0; MAX_HTTP_BODY_BYTES + 1];
        assert!(matches!(
            s.send(big).await.unwrap(),
            Err(HostError::TooLarge)
        ));
        assert!(h.logged_denial());
    }
}
