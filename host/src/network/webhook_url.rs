//! The rules a `webhook_url` must meet, so that agentx cannot be aimed at its own network
//! (SSRF): https, a real host name, and no address that [`super::address`] refuses.
//! Operators testing locally may allow plain http and loopback/private targets in config.

use super::address::refusal;
use crate::error::{Error, Result};
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
    use crate::network::address::tests::special_by_oracle;
    use proptest::prelude::*;

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

    /// URL-ish strings: arbitrary text, and URLs assembled from the parts the guard looks
    /// at (scheme, credentials, every host syntax `url` accepts, port, path).
    fn url_like() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec![
            "https://",
            "http://",
            "HTTPS://",
            "ftp://",
            "file://",
            "https:",
            "https:///",
            "",
        ]);
        let credentials = prop::sample::select(vec!["", "user@", "user:pw@", ":pw@", "@"]);
        let host = prop_oneof![
            any::<[u8; 4]>().prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
            any::<u32>().prop_map(|n| n.to_string()),
            any::<u32>().prop_map(|n| format!("0x{n:x}")),
            any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
            any::<[u8; 4]>().prop_map(|b| format!("[::ffff:{}.{}.{}.{}]", b[0], b[1], b[2], b[3])),
            "[a-z0-9.-]{0,20}(\\.localhost|\\.com|\\.)?",
            "\\PC{0,12}",
            Just("localhost".to_owned()),
            Just("LOCALHOST.".to_owned()),
            Just("127.1".to_owned()),
            Just("0177.0.0.1".to_owned()),
        ];
        let rest = "(:[0-9]{0,6})?(/\\PC{0,10})?";
        prop_oneof![
            "\\PC{0,40}",
            ".{0,40}",
            (scheme, credentials, host, rest).prop_map(|(s, c, h, r)| format!("{s}{c}{h}{r}")),
        ]
    }

    proptest! {
        /// Whatever the string, the strict guard answers without panicking, and what it
        /// accepts is https, carries no credentials, and names a public host: a dotted name
        /// outside localhost, or an address the independent oracle calls public.
        #[test]
        fn accepted_urls_are_https_to_a_public_host(raw in url_like()) {
            let Ok(url) = WebhookRules::default().check("webhook_url", &raw) else {
                return Ok(());
            };
            prop_assert_eq!(url.scheme(), "https", "{}", raw);
            prop_assert!(url.username().is_empty() && url.password().is_none(), "{}", raw);
            match url.host() {
                Some(Host::Domain(name)) => {
                    let name = name.trim_end_matches('.').to_ascii_lowercase();
                    prop_assert!(name.contains('.') && name != "localhost", "{}", raw);
                    prop_assert!(!name.ends_with(".localhost"), "{}", raw);
                }
                Some(Host::Ipv4(ip)) => prop_assert!(!special_by_oracle(ip.into()), "{}", raw),
                Some(Host::Ipv6(ip)) => prop_assert!(!special_by_oracle(ip.into()), "{}", raw),
                None => prop_assert!(false, "{} accepted without a host", raw),
            }
        }

        /// The relaxed rules still refuse anything but http(s), without panicking.
        #[test]
        fn relaxed_rules_keep_to_http(raw in url_like()) {
            let rules = WebhookRules { allow_http: true, allow_private: true };
            if let Ok(url) = rules.check("webhook_url", &raw) {
                prop_assert!(matches!(url.scheme(), "http" | "https"), "{}", raw);
                prop_assert!(url.host().is_some(), "{}", raw);
            }
        }
    }
}
