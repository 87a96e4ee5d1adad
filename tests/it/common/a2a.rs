//! A2A's JSON-RPC as a client sends it, to agentx processes a test starts itself.

use reqwest::StatusCode;
use serde_json::{Value, json};

/// An A2A 1.0 call of `method` with `params` to the public agent `agent` at `base`, with
/// `token`: the JSON-RPC answer (a result or an error object; either comes with a 200).
pub async fn a2a_call(
    http: &reqwest::Client,
    base: &str,
    agent: &str,
    token: &str,
    method: &str,
    params: Value,
) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let request = http
        .post(format!("{base}/a2a/{agent}"))
        .bearer_auth(token)
        .header("A2A-Version", "1.0")
        .json(&body);
    let (status, _, answer) = super::send(request).await;
    assert_eq!(status, StatusCode::OK, "{method} at {base}: {answer}");
    answer
}
