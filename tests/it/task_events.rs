//! Task events over SSE: the public listener's task stream and the daemon's streamed task.

use crate::common::{ADMIN_KEY, TestServer, agents, daemon, public, read_events, token};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `GET /api/task/stream` needs `dashboard:read` (header or `?token=`) and shows start,
/// text and done of tasks on both channels: a public call and a network message.
#[tokio::test]
async fn task_stream_sees_both_channels() {
    let srv = TestServer::start_with(agents).await;
    let (_, caller) = token(&srv, &["agent:echo"], None).await;
    let (_, viewer) = token(&srv, &["dashboard:read"], None).await;
    let (status, _, _) = srv.exec(srv.request(Method::GET, "/api/task/stream")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = srv
        .exec(srv.request(Method::GET, &format!("/api/task/stream?token={caller}")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let stream = srv
        .request(
            Method::GET,
            &format!("/api/task/stream?agent=echo&token={viewer}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    // A network message to echo, from a connected agent.
    let alice = srv.register("alice").await;
    let (_, invite) = daemon(
        &srv,
        Method::POST,
        "/agents/echo/invite",
        Some(ADMIN_KEY),
        None,
    )
    .await;
    let (status, _) = srv
        .post(
            "/connections/accept",
            &alice.key,
            json!({"invite_code": invite["invite_code"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let network = json!({"to_agent_id": "echo", "content": "over the network", "category": "info"});
    assert_eq!(
        srv.post("/messages", &alice.key, network).await.0,
        StatusCode::OK
    );
    // Another agent's task, which the filter hides.
    let other = json!({"agent": "support", "message": "hello"});
    assert_eq!(
        daemon(&srv, Method::POST, "/task", Some(ADMIN_KEY), Some(other))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        public(&srv, "echo", Some(&caller), json!({"message": "over http"}))
            .await
            .0,
        StatusCode::OK
    );

    let done_on = |events: &[(String, Value)], channel: &str| {
        events
            .iter()
            .any(|(e, d)| e == "done" && d["channel"] == channel)
    };
    let events = read_events(stream, |events| {
        done_on(events, "network") && done_on(events, "public-api")
    })
    .await;
    assert!(
        done_on(&events, "network") && done_on(&events, "public-api"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|(_, d)| d["agent"] == "echo"),
        "{events:?}"
    );
    let public_task: Vec<&str> = events
        .iter()
        .filter(|(_, d)| d["channel"] == "public-api")
        .map(|(e, _)| e.as_str())
        .collect();
    assert_eq!(public_task, ["start", "text", "done"]);
    let text = events
        .iter()
        .find(|(e, d)| e == "text" && d["channel"] == "network")
        .unwrap();
    assert_eq!(text.1["content"], "echo: over the network");
}

/// `POST /task` with `Accept: text/event-stream`, or `"stream": true`, streams that one
/// task's events and ends.
#[tokio::test]
async fn daemon_task_streams_its_events() {
    let srv = TestServer::start_with(agents).await;
    let task = srv
        .http
        .post(format!("{}/task", srv.daemon))
        .header("X-Admin-Key", ADMIN_KEY);
    let by_header = task
        .try_clone()
        .unwrap()
        .header("accept", "text/event-stream")
        .json(&json!({"agent": "echo", "message": "streamed"}));
    let by_field = task.json(&json!({"agent": "echo", "message": "streamed", "stream": true}));
    for request in [by_header, by_field] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let events = read_events(response, |_| false).await;
        let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            kinds,
            ["start", "text", "done"],
            "the stream ends after done: {events:?}"
        );
        assert_eq!(events[2].1["content"], "echo: streamed");
        assert_eq!(events[0].1["channel"], "daemon");
    }
}
