//! `outbound-http`: requests to the hosts on the agent's allow-list, bounded in body size
//! both ways and in time.

use super::{CallState, Outcome, failed};
use crate::plugins::bindings::responder::agentx::plugin::{outbound_http, types::HostError};
use crate::plugins::manifest::Capability;
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
        let host = url.host_str().unwrap_or_default();
        if !self.allows_host(host) {
            let message = format!("host {host:?} is not on this agent's outbound-http allow-list");
            self.log.push("warn", "host", message.clone());
            return Ok(Err(HostError::Denied(message)));
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
            let mut response = builder.body(request.body).send().await.map_err(failed)?;
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
