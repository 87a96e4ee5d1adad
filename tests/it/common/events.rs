//! Server-Sent Events of task streams.

use serde_json::Value;
use std::time::{Duration, Instant};

/// Reads Server-Sent Events from `response` until `done` says enough (or 20 s pass);
/// returns the `(event, data)` pairs read.
pub async fn read_events(
    mut response: reqwest::Response,
    mut done: impl FnMut(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while !done(&events) && Instant::now() < deadline {
        let chunk = tokio::time::timeout_at(deadline.into(), response.chunk()).await;
        let Ok(Ok(Some(chunk))) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                events.push((
                    event,
                    serde_json::from_str(&data).unwrap_or(Value::String(data)),
                ));
            }
        }
    }
    events
}
