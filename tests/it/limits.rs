//! Request limits: body size (413) and request rate (429 with Retry-After), both answered in
//! the contract's error shape.

use crate::common::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::num::NonZeroU32;

/// A body over the configured limit is 413 with a JSON detail, on authenticated and
/// unauthenticated routes alike; a body just under it is served, and nothing was stored.
#[tokio::test]
async fn oversized_body_is_413() {
    let limit = 2048;
    let srv = TestServer::start_with(|c| c.server.body_limit_bytes = limit).await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    srv.connect(&ada, &bob, "friends").await;

    let big = "x".repeat(limit * 4);
    let reply = srv
        .post(
            "/messages",
            &ada.key,
            json!({"to_agent_id": bob.id, "content": big}),
        )
        .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, None);
    let reply = srv
        .register_raw(json!({"email": "big@example.com", "name": big, "agent_name": "big"}))
        .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, None);

    // Without a Content-Length (a chunked body) the limit holds as well.
    let body = format!(r#"{{"to_agent_id": "{}", "content": "{big}"}}"#, bob.id);
    let (status, answer) = chunked_post(&srv, "/messages", &ada.key, &body).await;
    assert_eq!(status, 413, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
    assert!(answer["detail"].is_string(), "{answer}");
    assert_eq!(srv.inbox(&bob, 50).await["count"], 0);

    let fits = "y".repeat(limit - 200);
    let message = srv.sent(&ada, &bob, json!({"content": fits})).await;
    assert_eq!(message["content"].as_str().unwrap().len(), limit - 200);
}

/// The default body limit is 256 KiB: a 200 KiB message goes through, a 300 KiB one is 413.
#[tokio::test]
async fn default_body_limit_is_256_kib() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    srv.connect(&ada, &bob, "friends").await;
    srv.sent(&ada, &bob, json!({"content": "a".repeat(200 * 1024)}))
        .await;
    let reply = srv
        .send(&ada, &bob, json!({"content": "a".repeat(300 * 1024)}))
        .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, None);
}

/// A credential that exceeds its rate gets 429 with a `Retry-After` of whole seconds; other
/// credentials are unaffected meanwhile.
#[tokio::test]
async fn rate_limit_is_per_credential() {
    let burst = 10;
    let srv = TestServer::start_with(|c| {
        crate::common::rate_limit(c, 1, burst);
    })
    .await;
    // Registration is keyed by address: two of the ten allowed.
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;

    // One token a second comes back, so within a burst of requests ten more than the burst
    // must hit the limit unless they took over ten seconds.
    let mut limited = None;
    for _ in 0..burst * 2 {
        let request = srv.request(Method::GET, "/auth/me").bearer_auth(&ada.key);
        let (status, headers, body) = srv.exec(request).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((headers, body));
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (headers, body) = limited.expect("the burst runs out");
    assert_error(
        &(StatusCode::TOO_MANY_REQUESTS, body),
        StatusCode::TOO_MANY_REQUESTS,
        None,
    );
    let retry_after: u64 = headers
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    let (status, me) = srv.get("/auth/me", &bob.key).await;
    assert_eq!(status, StatusCode::OK, "Bob has his own budget: {me}");
}

/// POSTs `body` with chunked transfer encoding (no Content-Length) over a raw socket;
/// returns the status code and the response body.
async fn chunked_post(srv: &TestServer, path: &str, key: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = srv.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for chunk in body.as_bytes().chunks(1000) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    // The server may answer before it has read everything; a failed write is then fine.
    let _ = socket.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {answer:?}"));
    let (_, body) = answer.split_once("\r\n\r\n").unwrap_or_default();
    (status, decode_chunked(body))
}

/// The payload of a body that may itself be chunked.
fn decode_chunked(body: &str) -> String {
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') {
        return trimmed.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

/// A request refused before its body was read (a made-up key: 401, then 429 once the
/// address's refusal budget is spent) is answered with `Connection: close`: the server
/// will not read the rest of the body, so it closes the connection, and a client told it
/// could keep the connection would send its next request into a closing socket
/// ("connection closed before message completed", which the fuzzer met under load).
/// Every request of a kept-alive client is answered, and one whose body was read keeps
/// its connection.
#[tokio::test]
async fn a_refusal_before_the_body_was_read_closes_the_connection() {
    let srv = TestServer::start_with(|c| {
        c.server.rate_limit.failed_auth_per_minute = NonZeroU32::new(1).unwrap();
    })
    .await;
    // Proven before the address's budget is spent: its requests are not refused.
    let ada = srv.register("ada").await;
    assert_eq!(srv.get("/auth/me", &ada.key).await.0, StatusCode::OK);
    let url = format!("{}/messages", srv.base);
    // Past the socket buffers, so that the rest of the body is still to come.
    let body = json!({"to_agent_id": "x", "content": "x".repeat(256 * 1024 - 100)});
    for round in 0..100 {
        let answer = srv
            .http
            .post(&url)
            .bearer_auth(format!("cex_made_up_{round}"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: no answer: {e:?}"));
        let want = [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS][round.min(1)];
        assert_eq!(answer.status(), want, "round {round}");
        assert_eq!(
            answer.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "round {round}: {:?}",
            answer.headers()
        );
    }
    let answer = srv
        .request(Method::GET, "/auth/me")
        .bearer_auth(&ada.key)
        .send();
    let answer = answer.await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let connection = answer.headers().get("connection");
    assert!(connection.is_none_or(|v| v != "close"), "{connection:?}");
}
