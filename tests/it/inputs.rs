//! Hostile and odd input: every answer is a 4xx in the contract's JSON error shape, never a
//! 500 and never an empty body.

use crate::common::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Odd path ids, wrong JSON types, deep nesting, huge numbers and non-UTF-8 bodies each get a
/// 4xx JSON error naming what is wrong.
#[tokio::test]
async fn odd_input_is_a_client_error() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    srv.connect(&ada, &bob, "friends").await;

    let long = "a".repeat(4000);
    for id in [long.as_str(), "%00", "..%2F..%2Fetc", "%F0%9F%A6%80", "%20"] {
        for (method, path) in [
            (Method::GET, format!("/messages/thread/{id}")),
            (Method::POST, format!("/messages/{id}/ack")),
            (Method::DELETE, format!("/connections/{id}")),
            (Method::GET, format!("/connections/{id}/permissions")),
        ] {
            let (status, body) = srv.call(method, &path, Some(&ada.key), None).await;
            assert!(status.is_client_error(), "{path}: {status} {body}");
            assert!(body["detail"].is_string(), "{path}: {body}");
        }
    }

    for (body, field) in [
        (json!({"to_agent_id": 5, "content": "x"}), "to_agent_id"),
        (json!({"to_agent_id": bob.id, "content": ["x"]}), "content"),
        (
            json!({"to_agent_id": bob.id, "content": "x", "category": 1}),
            "category",
        ),
        (
            json!({"to_agent_id": bob.id, "content": "x", "thread_id": {}}),
            "thread_id",
        ),
        (
            json!({"to_agent_id": bob.id, "content": "x", "message_type": true}),
            "message_type",
        ),
    ] {
        let reply = srv.post("/messages", &ada.key, body).await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }

    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let raw_bodies: Vec<Vec<u8>> = vec![
        deep.into_bytes(),
        b"{\"to_agent_id\": 1e999999}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"\xef\xbb\xbf{}".to_vec(),
        b"null".to_vec(),
    ];
    for raw in raw_bodies {
        let request = srv
            .request(Method::POST, "/messages")
            .bearer_auth(&ada.key)
            .header("content-type", "application/json")
            .body(raw);
        let (status, _, body) = srv.exec(request).await;
        assert_error(&(status, body), StatusCode::UNPROCESSABLE_ENTITY, None);
    }

    for query in [
        "/messages/inbox?limit=99999999999999999999999999",
        "/messages/inbox?limit=%00",
        "/messages/stream?timeout=1e3",
    ] {
        let (status, body) = srv.get(query, &ada.key).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
    }
}

/// Unknown routes are 404 and known routes with the wrong method 405, both as JSON errors.
#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let (status, body) = srv.get("/no/such/route", &ada.key).await;
    assert_error(&(status, body), StatusCode::NOT_FOUND, None);
    for (method, path) in [
        (Method::DELETE, "/auth/me"),
        (Method::GET, "/auth/register"),
        (Method::PATCH, "/messages"),
        (Method::PUT, "/messages/inbox"),
        (Method::POST, "/contracts"),
    ] {
        let (status, headers, body) = srv
            .exec(srv.request(method.clone(), path).bearer_auth(&ada.key))
            .await;
        assert_error(
            &(status, body.clone()),
            StatusCode::METHOD_NOT_ALLOWED,
            None,
        );
        assert!(headers.contains_key("allow"), "{method} {path}");
        assert_ne!(body, Value::Null);
    }
}
