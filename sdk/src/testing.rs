//! A stand-in host, so plugins can be unit-tested natively with `cargo test`.
//!
//! On `wasm32` the capability modules call the real host imports. Everywhere else they
//! call into this module instead: a per-thread [`MockHost`] that a test fills in before
//! calling its plugin and inspects afterwards. Each test thread has its own, and
//! [`reset`] starts a fresh one, so tests running in parallel never share state.
//!
//! ```
//! use agentx_sdk::testing::{self, MockHost};
//! use agentx_sdk::{log::Level, memory};
//!
//! testing::reset();
//! testing::with_host(|host| host.add_file("faq.md", "# FAQ"));
//!
//! // ... call the plugin's `respond` here; it might do:
//! memory::set("seen", "yes").unwrap();
//! agentx_sdk::log::info("done");
//!
//! testing::with_host(|host: &mut MockHost| {
//!     assert_eq!(host.memory["seen"], "yes");
//!     assert_eq!(host.logs, [(Level::Info, "done".to_string())]);
//! });
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::history::Turn;
use crate::log::Level;
use crate::outbound_http::{Request, Response};
use crate::{Capability, Channel, HostError, Message, RequestContext};

/// The time the mock clock starts at: 2025-01-01T00:00:00Z. Fixed, so tests that print
/// times are reproducible.
pub const DEFAULT_NOW_SECONDS: u64 = 1_735_689_600;

/// Answers a mocked outbound HTTP request.
pub type HttpHandler = Box<dyn FnMut(&Request) -> Result<Response, HostError>>;

/// Everything the mocked capabilities read and write. Fields are public so tests can
/// set up and check state directly.
pub struct MockHost {
    /// The agent's key/value store.
    pub memory: BTreeMap<String, String>,
    /// Workspace files by relative path (`notes/a.md`); directories are implied by paths.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The conversation so far, oldest first.
    pub history: Vec<Turn>,
    /// Seconds since the Unix epoch that the clock reports.
    pub now_seconds: u64,
    /// Every log call, in order.
    pub logs: Vec<(Level, String)>,
    /// Capabilities to refuse with [`HostError::Denied`], to test how a plugin copes with
    /// an agent that did not grant them. `log` is always granted, as on the real host.
    pub denied: Vec<Capability>,
    /// Answers outbound HTTP requests; without one every request is denied, as on a host
    /// whose allow-list is empty.
    pub http: Option<HttpHandler>,
}

impl Default for MockHost {
    fn default() -> Self {
        MockHost {
            memory: BTreeMap::new(),
            files: BTreeMap::new(),
            history: Vec::new(),
            now_seconds: DEFAULT_NOW_SECONDS,
            logs: Vec::new(),
            denied: Vec::new(),
            http: None,
        }
    }
}

impl MockHost {
    /// Adds (or replaces) a workspace file.
    pub fn add_file(&mut self, path: &str, contents: impl Into<Vec<u8>>) {
        self.files.insert(path.to_string(), contents.into());
    }

    fn check(&self, capability: Capability) -> Result<(), HostError> {
        if self.denied.contains(&capability) {
            return Err(HostError::Denied(format!("{capability:?} is not granted")));
        }
        Ok(())
    }
}

thread_local! {
    static HOST: RefCell<MockHost> = RefCell::new(MockHost::default());
}

/// Replaces this thread's mock host with a fresh default one.
pub fn reset() {
    HOST.with(|host| *host.borrow_mut() = MockHost::default());
}

/// Runs `f` with this thread's mock host, to set it up or inspect it.
///
/// # Panics
/// If `f` itself uses a capability or calls `with_host`: the host is already borrowed.
pub fn with_host<R>(f: impl FnOnce(&mut MockHost) -> R) -> R {
    HOST.with(|host| f(&mut host.borrow_mut()))
}

/// A network request context in chat `chat_id`, from a sender labelled `tester`.
pub fn context(chat_id: &str) -> RequestContext {
    RequestContext {
        agent_id: "test-agent".to_string(),
        channel: Channel::Network,
        chat_id: chat_id.to_string(),
        sender: "tester".to_string(),
    }
}

/// An uncategorised text message with `content`.
pub fn message(content: &str) -> Message {
    Message {
        id: "test-message".to_string(),
        content: content.to_string(),
        message_type: "text".to_string(),
        category: None,
        from_agent_id: Some("test-sender".to_string()),
        thread_id: None,
        created_at: "2025-01-01T00:00:00Z".to_string(),
    }
}

/// The mocked imports, with the same signatures as the generated ones so each capability
/// module can pick either with one `use`.
pub(crate) mod host {
    use super::{with_host, HOST};
    use crate::{Capability, HostError};

    pub mod log {
        use crate::log::Level;

        pub fn log(level: Level, message: &str) {
            super::with_host(|host| host.logs.push((level, message.to_string())));
        }
    }

    pub mod memory {
        use super::*;

        pub fn get(key: &str) -> Result<Option<String>, HostError> {
            with_host(|host| {
                host.check(Capability::Memory)?;
                Ok(host.memory.get(key).cloned())
            })
        }

        pub fn set(key: &str, value: &str) -> Result<(), HostError> {
            with_host(|host| {
                host.check(Capability::Memory)?;
                host.memory.insert(key.to_string(), value.to_string());
                Ok(())
            })
        }

        pub fn delete(key: &str) -> Result<bool, HostError> {
            with_host(|host| {
                host.check(Capability::Memory)?;
                Ok(host.memory.remove(key).is_some())
            })
        }

        pub fn list_keys(prefix: &str) -> Result<Vec<String>, HostError> {
            with_host(|host| {
                host.check(Capability::Memory)?;
                Ok(host
                    .memory
                    .keys()
                    .filter(|key| key.starts_with(prefix))
                    .cloned()
                    .collect())
            })
        }
    }

    pub mod history {
        use super::*;
        use crate::history::Turn;

        pub fn recent(limit: u32) -> Result<Vec<Turn>, HostError> {
            with_host(|host| {
                host.check(Capability::History)?;
                let skip = host.history.len().saturating_sub(limit as usize);
                Ok(host.history[skip..].to_vec())
            })
        }
    }

    pub mod workspace {
        use std::collections::BTreeMap;

        use super::*;
        use crate::workspace::Entry;

        /// The real host's path rules, so a plugin that passes here is not surprised there.
        fn normalize(path: &str) -> Result<String, HostError> {
            if path.starts_with('/') || path.split('/').any(|part| part == "..") {
                return Err(HostError::Invalid(format!(
                    "path escapes the workspace: {path}"
                )));
            }
            let parts: Vec<&str> = path
                .split('/')
                .filter(|part| !part.is_empty() && *part != ".")
                .collect();
            Ok(parts.join("/"))
        }

        pub fn read_bytes(path: &str) -> Result<Vec<u8>, HostError> {
            let path = normalize(path)?;
            with_host(|host| {
                host.check(Capability::Workspace)?;
                host.files.get(&path).cloned().ok_or(HostError::NotFound)
            })
        }

        pub fn read_string(path: &str) -> Result<String, HostError> {
            String::from_utf8(read_bytes(path)?)
                .map_err(|_| HostError::Invalid(format!("{path} is not UTF-8")))
        }

        pub fn list_dir(path: &str) -> Result<Vec<Entry>, HostError> {
            let dir = normalize(path)?;
            with_host(|host| {
                host.check(Capability::Workspace)?;
                if host.files.contains_key(&dir) {
                    return Err(HostError::Invalid(format!("{dir} is not a directory")));
                }
                let prefix = if dir.is_empty() {
                    dir.clone()
                } else {
                    format!("{dir}/")
                };
                // Keyed by name: several files below one subdirectory make one entry.
                let mut entries = BTreeMap::new();
                for (file, contents) in host.files.range(prefix.clone()..) {
                    let Some(rest) = file.strip_prefix(&prefix) else {
                        break;
                    };
                    let entry = match rest.split_once('/') {
                        Some((subdir, _)) => Entry {
                            name: subdir.to_string(),
                            is_dir: true,
                            size: 0,
                        },
                        None => Entry {
                            name: rest.to_string(),
                            is_dir: false,
                            size: contents.len() as u64,
                        },
                    };
                    entries.insert(entry.name.clone(), entry);
                }
                if entries.is_empty() && !dir.is_empty() {
                    return Err(HostError::NotFound);
                }
                Ok(entries.into_values().collect())
            })
        }
    }

    pub mod clock {
        use super::*;
        use crate::bindings::responder::agentx::plugin::clock::Datetime;

        pub fn now() -> Result<Datetime, HostError> {
            with_host(|host| {
                host.check(Capability::Clock)?;
                Ok(Datetime {
                    seconds: host.now_seconds,
                    nanoseconds: 0,
                })
            })
        }

        pub fn now_iso8601() -> Result<String, HostError> {
            let seconds = now()?.seconds;
            let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
            let time = seconds % 86_400;
            Ok(format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
                time / 3600,
                time / 60 % 60,
                time % 60
            ))
        }

        /// Days since 1970-01-01 to a proleptic Gregorian date: Howard Hinnant's
        /// `civil_from_days`, which avoids pulling a date crate into every plugin's tests.
        fn civil_from_days(days: i64) -> (i64, u32, u32) {
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z.rem_euclid(146_097);
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
            let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
            let year = yoe + era * 400 + i64::from(month <= 2);
            (year, month, day)
        }
    }

    pub mod outbound_http {
        use super::*;
        use crate::outbound_http::{Request, Response};

        pub fn send(request: &Request) -> Result<Response, HostError> {
            // NB: the handler is taken out of the host while it runs, so it may itself use
            // `with_host` (e.g. to record requests) without a double borrow.
            let handler = with_host(|host| {
                host.check(Capability::OutboundHttp)?;
                Ok::<_, HostError>(host.http.take())
            })?;
            let Some(mut handler) = handler else {
                return Err(HostError::Denied(format!(
                    "no HTTP handler for {}",
                    request.url
                )));
            };
            let response = handler(request);
            HOST.with(|host| host.borrow_mut().http = Some(handler));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock, history, outbound_http, workspace};

    /// Directory listings are derived from file paths, one entry per child.
    #[test]
    fn read_dir_lists_immediate_children() {
        reset();
        with_host(|host| {
            host.add_file("faq.md", "q");
            host.add_file("docs/a.md", "aa");
            host.add_file("docs/deep/b.md", "b");
        });
        let names = |path| -> Vec<(String, bool)> {
            workspace::read_dir(path)
                .unwrap()
                .into_iter()
                .map(|entry| (entry.name, entry.is_dir))
                .collect()
        };
        assert_eq!(names(""), [("docs".into(), true), ("faq.md".into(), false)]);
        assert_eq!(
            names("./docs/"),
            [("a.md".into(), false), ("deep".into(), true)]
        );
        assert_eq!(workspace::read_dir("nope"), Err(HostError::NotFound));
    }

    /// Paths that would leave the workspace are refused the way the host refuses them.
    #[test]
    fn escaping_paths_are_invalid() {
        reset();
        for path in ["/etc/passwd", "../secret", "docs/../../x"] {
            assert!(
                matches!(workspace::read(path), Err(HostError::Invalid(_))),
                "{path}"
            );
        }
    }

    /// A capability listed in `denied` fails like an ungranted one on the real host.
    #[test]
    fn denied_capabilities_fail() {
        reset();
        with_host(|host| host.denied.push(Capability::Memory));
        assert!(matches!(crate::memory::get("k"), Err(HostError::Denied(_))));
        assert!(matches!(
            outbound_http::get("https://example.com"),
            Err(HostError::Denied(_))
        ));
    }

    /// The mock clock formats dates correctly, including leap days.
    #[test]
    fn clock_formats_iso8601() {
        reset();
        assert_eq!(clock::now_iso8601().unwrap(), "2025-01-01T00:00:00Z");
        with_host(|host| host.now_seconds = 951_827_696); // 2000 was a leap year.
        assert_eq!(clock::now_iso8601().unwrap(), "2000-02-29T12:34:56Z");
    }

    /// History returns the last turns, oldest first.
    #[test]
    fn history_returns_the_most_recent_turns() {
        reset();
        with_host(|host| {
            host.history = (0..5)
                .map(|i| Turn {
                    role: history::Role::Incoming,
                    sender: "a".into(),
                    content: i.to_string(),
                    at: String::new(),
                })
                .collect();
        });
        let recent: Vec<String> = history::recent(2)
            .unwrap()
            .into_iter()
            .map(|t| t.content)
            .collect();
        assert_eq!(recent, ["3", "4"]);
    }

    /// An HTTP handler may use the mock host itself, e.g. to record what it was sent.
    #[test]
    fn http_handler_can_use_the_host() {
        reset();
        with_host(|host| {
            host.http = Some(Box::new(|request| {
                crate::log::info(&request.url);
                Ok(Response {
                    status: 200,
                    headers: Vec::new(),
                    body: b"ok".to_vec(),
                })
            }))
        });
        let response = outbound_http::get("https://example.com/x").unwrap();
        assert_eq!(response.text(), Ok("ok"));
        with_host(|host| assert_eq!(host.logs[0].1, "https://example.com/x"));
    }
}
