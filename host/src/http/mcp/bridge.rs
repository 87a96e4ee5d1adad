//! `agentx mcp`: a stdio bridge for MCP hosts that only launch local commands.
//!
//! MCP's stdio transport is one JSON-RPC message per line. Each line read is POSTed to the
//! server's `/mcp` with the caller's key, and what comes back (a JSON body, or the events of
//! an SSE body) is written out, one message per line. Requests run concurrently, so a long
//! `check_inbox` does not hold up the host's other calls; at the end of the input the bridge
//! waits for the answers still due, then exits.
//!
//! The bridge is the HTTP client the transport asks for: it sends `MCP-Protocol-Version`
//! (the version the handshake settled, or the one a request names in its `_meta`) and, from
//! 2026-07-28 on, `Mcp-Method` and `Mcp-Name`. A refusal that is not JSON-RPC (a 401, a 429,
//! a server that cannot be reached) becomes a JSON-RPC error for the request, so the host
//! hears why instead of waiting.

use super::ROUTE;
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// The first version whose requests carry their method (and name) as headers too (SEP-2243).
const STANDARD_HEADERS_VERSION: &str = "2026-07-28";
/// Where a request names its protocol version, from 2026-07-28 on.
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// A server that has not accepted the connection by then is down or unreachable; the host
/// should hear so rather than wait. (No overall timeout: `check_inbox` waits up to a minute
/// and an agent's reply takes what it takes.)
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// JSON-RPC's codes for a line that is not JSON, and for a failure of the server (here: of
/// reaching it or of its HTTP answer).
const PARSE_ERROR: i64 = -32700;
const SERVER_ERROR: i64 = -32000;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("--url {url:?} is not an http(s) URL: {reason}")]
    Url { url: String, reason: String },
    #[error("the key is not usable in an Authorization header")]
    Key,
    #[error("reading the MCP host's messages: {0}")]
    Input(std::io::Error),
    #[error("writing to the MCP host: {0}")]
    Output(std::io::Error),
}

/// Bridges `input` (the host's messages) to the MCP endpoint of the agentx at `base` and its
/// answers to `output`, authenticated with `key` (an agent's API key or an `agx_live_`
/// token); returns at the end of the input, once every answer is written.
pub async fn bridge(
    base: &str,
    key: &str,
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin + Send + 'static,
) -> Result<(), BridgeError> {
    let upstream = Arc::new(Upstream::new(base, key)?);
    // NB: one writer, so the answers of concurrent requests never interleave within a line.
    let (answers, mut to_write) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(line) = to_write.recv().await {
            output.write_all(line.as_bytes()).await?;
            output.write_all(b"\n").await?;
            output.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut lines = BufReader::new(input).lines();
    let mut in_flight = JoinSet::new();
    while let Some(line) = lines.next_line().await.map_err(BridgeError::Input)? {
        if line.trim().is_empty() {
            continue;
        }
        let (upstream, answers) = (upstream.clone(), answers.clone());
        in_flight.spawn(async move { upstream.forward(line, &answers).await });
        while in_flight.try_join_next().is_some() {}
    }
    in_flight.join_all().await;
    drop(answers);
    writer
        .await
        .map_err(|e| BridgeError::Output(std::io::Error::other(e)))?
        .map_err(BridgeError::Output)
}

/// The MCP endpoint and what every request to it carries.
struct Upstream {
    http: reqwest::Client,
    endpoint: url::Url,
    authorization: HeaderValue,
    /// The version the `initialize` handshake settled, for the requests after it. A std
    /// mutex: held only to copy or set the value, never across an await.
    version: Mutex<Option<String>>,
}

impl Upstream {
    fn new(base: &str, key: &str) -> Result<Self, BridgeError> {
        let bad_url = |reason: String| BridgeError::Url {
            url: base.to_owned(),
            reason,
        };
        let mut endpoint = url::Url::parse(base).map_err(|e| bad_url(e.to_string()))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(bad_url("the scheme must be http or https".into()));
        }
        // The server's base URL or its MCP endpoint: both are what people paste.
        if !endpoint.path().trim_end_matches('/').ends_with(ROUTE) {
            let path = format!("{}{ROUTE}", endpoint.path().trim_end_matches('/'));
            endpoint.set_path(&path);
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| BridgeError::Key)?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .expect("a client with a connect timeout builds");
        Ok(Self {
            http,
            endpoint,
            authorization,
            version: Mutex::new(None),
        })
    }

    /// Sends one message from the host and passes on every message the server answers.
    async fn forward(&self, line: String, answers: &mpsc::UnboundedSender<String>) {
        let message: Value = match serde_json::from_str(&line) {
            Ok(message) => message,
            Err(e) => {
                let error = rpc_error(&Value::Null, PARSE_ERROR, format!("Parse error: {e}"));
                let _ = answers.send(error);
                return;
            }
        };
        let method = message.get("method").and_then(Value::as_str);
        // A request wants an answer; a notification (or a response to the server) does not.
        let request_id = message.get("id").filter(|_| method.is_some());
        let request = self.request(&message).body(line);
        let refusal = match self.exchange(request, method, answers).await {
            Ok(()) => return,
            Err(refusal) => refusal,
        };
        match request_id {
            Some(id) => {
                let _ = answers.send(rpc_error(id, SERVER_ERROR, refusal));
            }
            None => tracing::warn!(%refusal, "agentx refused a notification from the MCP host"),
        }
    }

    /// The POST of `message`, with the headers the transport asks of a client.
    fn request(&self, message: &Value) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream");
        let method = message.get("method").and_then(Value::as_str);
        let params = message.get("params");
        let named = params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(META_PROTOCOL_VERSION))
            .and_then(Value::as_str)
            .map(str::to_owned);
        // NB: `initialize` names its version in its body; the settled one comes after it.
        let version = named.or_else(|| {
            (method != Some("initialize"))
                .then(|| self.version.lock().expect("never poisoned").clone())
                .flatten()
        });
        let Some(version) = version else {
            return request;
        };
        if let Some(method) = method
            && version.as_str() >= STANDARD_HEADERS_VERSION
        {
            request = request.header("Mcp-Method", method);
            // Only names that are header-safe as they are; a server refuses a request whose
            // name header is missing in words the host then sees.
            if let Some(name) = params
                .and_then(|p| name_of(method, p))
                .filter(|n| n.bytes().all(|b| b.is_ascii_graphic()))
            {
                request = request.header("Mcp-Name", name);
            }
        }
        request.header("MCP-Protocol-Version", version)
    }

    /// Sends `request` and passes on the messages of the answer; `Err` says why there is
    /// none.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        method: Option<&str>,
        answers: &mpsc::UnboundedSender<String>,
    ) -> Result<(), String> {
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach agentx at {}: {e}", self.endpoint))?;
        let status = response.status();
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if is_sse && status.is_success() {
            let mut events = SseData::default();
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| format!("the answer broke off: {e}"))?;
                for data in events.feed(&chunk) {
                    self.pass_on(&data, method, answers);
                }
            }
            return Ok(());
        }
        let text = response
            .text()
            .await
            .map_err(|e| format!("the answer broke off: {e}"))?;
        if text.trim().is_empty() && status.is_success() {
            return Ok(()); // 202: a notification or response, accepted
        }
        // JSON-RPC answers (errors included, whatever the status) go to the host as they are.
        match serde_json::from_str::<Value>(&text) {
            Ok(answer) if answer.get("jsonrpc").is_some() || answer.is_array() => {
                self.pass_on(&text, method, answers);
                Ok(())
            }
            Ok(refusal) => {
                let reason = refusal["detail"]
                    .as_str()
                    .map_or(text.clone(), str::to_owned);
                Err(format!("agentx answered {status}: {reason}"))
            }
            Err(_) => Err(format!("agentx answered {status}: {}", text.trim())),
        }
    }

    /// Writes one message of the server's to the host, on one line; the answer to
    /// `initialize` also settles the protocol version of the requests after it.
    fn pass_on(&self, data: &str, method: Option<&str>, answers: &mpsc::UnboundedSender<String>) {
        let Ok(message) = serde_json::from_str::<Value>(data) else {
            tracing::warn!(data, "agentx sent a message that is not JSON; dropped");
            return;
        };
        if method == Some("initialize")
            && let Some(version) = message["result"]["protocolVersion"].as_str()
        {
            *self.version.lock().expect("never poisoned") = Some(version.to_owned());
        }
        let _ = answers.send(message.to_string());
    }
}

/// What a request's `Mcp-Name` header carries, for the methods that have one.
fn name_of<'a>(method: &str, params: &'a Value) -> Option<&'a str> {
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
        "tasks/get" | "tasks/update" | "tasks/cancel" => "taskId",
        _ => return None,
    };
    params.get(key)?.as_str()
}

fn rpc_error(id: &Value, code: i64, message: String) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }).to_string()
}

/// The `data` of Server-Sent Events, from a body read in chunks. Events without data (the
/// transport's priming events, keep-alive comments) yield nothing.
#[derive(Default)]
struct SseData {
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    /// The data lines of the event being read.
    data: Option<String>,
}

impl SseData {
    /// The events `chunk` completes.
    fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut complete = Vec::new();
        self.partial.extend_from_slice(chunk);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                complete.extend(self.data.take().filter(|d| !d.is_empty()));
            } else if let Some(value) = line.strip_prefix("data:") {
                let value = value.strip_prefix(' ').unwrap_or(value);
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                }
            }
        }
        complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events split across chunks, multi-line data, CRLF line ends and data-less events all
    /// come out as the data of each event, whole.
    #[test]
    fn sse_data_across_chunks() {
        let mut sse = SseData::default();
        assert!(
            sse.feed(b"id: 0\nretry: 3000\n\n: keep-alive\n\ndata: {\"a\"")
                .is_empty()
        );
        assert_eq!(sse.feed(b":1}\n\ndata: x\r\ndata: y\r\n"), [r#"{"a":1}"#]);
        assert_eq!(sse.feed(b"\r\n"), ["x\ny"]);
    }
}
