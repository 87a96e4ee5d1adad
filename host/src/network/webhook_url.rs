//! The rules a `webhook_url` must meet, so that agentx cannot be aimed at its own network
//! (SSRF): https, a real host name, and no address that [`super::address`] refuses.
//! Operators testing locally may allow plain http and loopback/private targets in config.

use super::address::refusal;
use super::{Error, Result};
use std::net::IpAddr;
use url::{Host, Url};

#[derive(Debug, Clone, Default)]
pub struct WebhookRules {
    /// Accept `http://` as well as `https://`.
    pub allow_http: bool,
    /// Accept localhost and private, loopback and link-local addresses.
    pub allow_private: bool,
}

impl WebhookRules {
    /// Validates a webhook URL; `field` names it in the error.
    pub fn check(&self, field: &str, raw: &str) -> Result<Url> {
        let bad =
            |why: &str| Error::invalid("invalid_webhook_url", format!("{field} {why}")).on(field);
        let url = Url::parse(raw).map_err(|e| bad(&format!("is not a valid URL ({e})")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            // The compatible network's exact words; clients match on them.
            _ => {
                return Err(
                    Error::invalid("invalid_webhook_url", "Webhook URL must use HTTPS").on(field),
                );
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry credentials"));
        }
        let host = url.host().ok_or_else(|| bad("must have a host"))?;
        if self.allow_private {
            return Ok(url);
        }
        let refused = match &host {
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                (name == "localhost" || name.ends_with(".localhost") || !name.contains('.'))
                    .then(|| "localhost or a name outside any domain".to_owned())
            }
            Host::Ipv4(ip) => refusal(IpAddr::V4(*ip)).map(|r| r.to_string()),
            Host::Ipv6(ip) => refusal(IpAddr::V6(*ip)).map(|r| r.to_string()),
        };
        if let Some(why) = refused {
            return Err(bad(&format!("must point to a public host, not {why}")));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_rules() {
        let rules = WebhookRules::default();
        assert!(
            rules
                .check("webhook_url", "https://hooks.example.com/x")
                .is_ok()
        );
        for bad in [
            "http://hooks.example.com/x",
            "ftp://example.com",
            "not a url",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://intranet/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://user:pw@example.com/",
        ] {
            let e = rules.check("webhook_url", bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("webhook_url"), "{bad}");
        }
    }

    #[test]
    fn relaxed_rules_for_local_testing() {
        let rules = WebhookRules {
            allow_http: true,
            allow_private: true,
        };
        assert!(
            rules
                .check("webhook_url", "http://127.0.0.1:9000/hook")
                .is_ok()
        );
        assert!(rules.check("webhook_url", "ftp://127.0.0.1/").is_err());
    }
}
