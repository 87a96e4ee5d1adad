//! Unbounded input (issue 11, item 3): every string field has a maximum, stated in
//! `/openapi.json` as `maxLength` and enforced at exactly that length; longer values are
//! refused naming the field and change nothing. The admin lists come a page at a time.

use crate::common::{ADMIN_KEY, TestServer, assert_error, daemon};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::num::NonZeroU32;

/// Each registration field one character over its documented maximum is 422 naming it
/// and registers nothing (`framework`, documented as an enum, likewise with a long value);
/// at the maximum, it is accepted.
#[tokio::test]
async fn registration_fields_are_bounded() {
    let srv = TestServer::start().await;
    let valid = || json!({"email": "ada@example.com", "name": "Ada", "agent_name": "ada"});
    let fields = ["email", "name", "agent_name", "webhook_url"];
    for field in fields {
        let max = max_length(&srv, "Registration", field).await;
        let mut body = valid();
        body[field] = json!(string_of(field, max + 1));
        let reply = srv.register_raw(body).await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let mut body = valid();
    body["framework"] = json!(string_of("framework", 1000));
    let reply = srv.register_raw(body).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some("framework"));
    assert_eq!(admin_list(&srv, "/admin/agents").await.1, json!([]));

    let max = max_length(&srv, "Registration", "name").await;
    let mut body = valid();
    body["name"] = json!(string_of("name", max));
    body["agent_name"] = json!(string_of("agent_name", max));
    let (status, registered) = srv.register_raw(body).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let (_, agents) = admin_list(&srv, "/admin/agents").await;
    assert_eq!(agents[0]["name"].as_str().unwrap().chars().count(), max);
}

/// The review's attack: unauthenticated registrations with 125 KB names. Every one is
/// refused with a short answer, and the database gains no agent.
#[tokio::test]
async fn a_flood_of_huge_names_stores_nothing() {
    let srv = TestServer::start().await;
    let huge = "n".repeat(125_000);
    for n in 0..50 {
        let (status, body) = srv
            .register_raw(json!({"email": format!("f{n}@example.com"), "name": huge,
                "agent_name": huge}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.to_string().len() < 300, "{body}");
    }
    assert_eq!(admin_list(&srv, "/admin/agents").await.1, json!([]));
}

/// Message fields over their maximum are 422 naming them and send nothing; a subject at
/// the maximum is kept whole.
#[tokio::test]
async fn message_fields_are_bounded() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    srv.connect(&ada, &bob, "friends").await;
    for field in ["thread_subject", "thread_id", "to_agent_id"] {
        let max = max_length(&srv, "OutgoingMessage", field).await;
        let mut body = json!({"to_agent_id": bob.id, "content": "hi"});
        body[field] = json!(string_of(field, max + 1));
        let reply = srv.post("/messages", &ada.key, body).await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    assert_eq!(srv.inbox(&bob, 50).await["count"], 0);

    let max = max_length(&srv, "OutgoingMessage", "thread_subject").await;
    let subject = string_of("thread_subject", max);
    let message = srv
        .sent(
            &ada,
            &bob,
            json!({"content": "hi", "thread_subject": subject}),
        )
        .await;
    let (_, thread) = srv
        .get(
            &format!(
                "/messages/thread/{}",
                message["thread_id"].as_str().unwrap()
            ),
            &bob.key,
        )
        .await;
    assert_eq!(thread["thread"]["subject"], subject.as_str());
}

/// Announcement fields over their maximum are 422 naming them; nothing is published.
#[tokio::test]
async fn announcement_fields_are_bounded() {
    let srv = TestServer::start().await;
    for field in ["title", "content", "version"] {
        let max = max_length(&srv, "NewAnnouncement", field).await;
        let mut body = json!({"title": "t", "content": "c", "version": "5"});
        body[field] = json!(string_of(field, max + 1));
        let reply = srv
            .admin(
                Method::POST,
                "/admin/announcements",
                Some(ADMIN_KEY),
                Some(body),
            )
            .await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    assert_eq!(admin_list(&srv, "/admin/announcements").await.1, json!([]));
}

/// Every string property of every request body in `/openapi.json` states a `maxLength`,
/// except the message contents, which the body limit bounds.
#[tokio::test]
async fn every_request_string_has_a_documented_maximum() {
    let srv = TestServer::start().await;
    let document = srv
        .json_at(Method::GET, format!("{}/openapi.json", srv.base))
        .await;
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let bodies = [
        "Registration",
        "Credentials",
        "ProfileUpdate",
        "OutgoingMessage",
        "AcceptInvite",
        "PermissionChange",
        "NewAnnouncement",
        "PublicContext",
    ];
    for name in bodies {
        let properties = schemas[name]["properties"].as_object().expect(name);
        for (field, property) in properties {
            // The property, or each of its alternatives; an enum is bounded by its values.
            let alternatives = property["oneOf"].as_array().cloned();
            for schema in alternatives.unwrap_or_else(|| vec![property.clone()]) {
                let string = schema["type"] == "string"
                    || schema["type"]
                        .as_array()
                        .is_some_and(|t| t.contains(&json!("string")));
                if string
                    && schema["enum"].is_null()
                    && !(name == "OutgoingMessage" && field == "content")
                {
                    assert!(schema["maxLength"].is_u64(), "{name}.{field}: {property}");
                }
            }
        }
    }
}

/// The admin lists are paged: 100 entries by default, `limit` up to 1000, `offset`, the
/// whole count in `X-Total-Count` and the next page in `Link`; following the links yields
/// the whole list once, in order. A page size out of range is 422.
#[tokio::test]
async fn admin_lists_are_paged() {
    let srv = TestServer::start_with(|c| {
        c.server.limits.registrations_per_hour = NonZeroU32::new(1000).unwrap();
    })
    .await;
    for n in 0..101 {
        srv.register(&format!("agent{n}")).await;
    }
    let (headers, first) = admin_list(&srv, "/admin/agents").await;
    assert_eq!(first.as_array().unwrap().len(), 100);
    assert_eq!(headers["x-total-count"], "101");
    let (_, all) = admin_list(&srv, "/admin/agents?limit=1000").await;
    assert_eq!(all.as_array().unwrap().len(), 101);

    let mut path = "/admin/agents?limit=7".to_owned();
    let mut walked = Vec::new();
    loop {
        let (headers, page) = admin_list(&srv, &path).await;
        walked.extend(page.as_array().unwrap().iter().cloned());
        let Some(link) = headers.get("link") else {
            break;
        };
        let link = link.to_str().unwrap();
        assert!(link.ends_with(r#">; rel="next""#), "{link}");
        path = link[1..link.find('>').unwrap()].to_owned();
    }
    assert_eq!(Value::Array(walked), all);

    for bad in ["limit=0", "limit=1001", "limit=x", "offset=-1"] {
        let (status, _, body) = srv
            .exec(
                srv.request(Method::GET, &format!("/admin/agents?{bad}"))
                    .header("X-Admin-Key", ADMIN_KEY),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
}

/// The daemon's `POST /task` context: `channel` and `sender` over 100 characters and
/// `chatId` over 128 are 422 naming the field, and the refused task leaves no turn in its
/// chat; at the maximum each is accepted.
#[tokio::test]
async fn task_context_fields_are_bounded() {
    let srv = TestServer::start_with(|c| {
        crate::common::agents(c);
        let echo = c.agents.get_mut("echo").unwrap();
        echo.grants = vec![agentx::plugins::Capability::History];
    })
    .await;
    let task = |context: Value, message: &str| {
        let body = json!({"agent": "echo", "message": message, "context": context});
        daemon(&srv, Method::POST, "/task", Some(ADMIN_KEY), Some(body))
    };
    for (field, max) in [("channel", 100), ("sender", 100), ("chatId", 128)] {
        let mut context = json!({"chatId": "bounded"});
        context[field] = json!(string_of(field, max + 1));
        let (status, body) = task(context, "remember this").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(&format!("context.{field}")), "{error}");
        assert!(error.contains(&max.to_string()), "{error}");
    }
    let (status, body) = task(json!({"chatId": "bounded"}), "/history").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["content"], "history: 0 earlier turns",
        "nothing was kept"
    );

    let context = json!({
        "channel": string_of("channel", 100),
        "sender": string_of("sender", 100),
        "chatId": string_of("chatId", 128),
    });
    let (status, body) = task(context.clone(), "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chat_id"], context["chatId"]);
    assert_eq!(body["channel"], context["channel"]);
}

/// A string of exactly `chars` characters that is valid for `field` but for its length.
fn string_of(field: &str, chars: usize) -> String {
    let fill = |prefix: &str, suffix: &str| {
        format!(
            "{prefix}{}{suffix}",
            "é".repeat(chars - prefix.len() - suffix.len())
        )
    };
    match field {
        "email" => format!("{}@example.com", "a".repeat(chars - "@example.com".len())),
        "webhook_url" => fill("https://example.com/", ""),
        _ => fill("", ""),
    }
}

/// The `maxLength` `/openapi.json` gives `schema.field`.
async fn max_length(srv: &TestServer, schema: &str, field: &str) -> usize {
    let document = srv
        .json_at(Method::GET, format!("{}/openapi.json", srv.base))
        .await;
    let property = &document["components"]["schemas"][schema]["properties"][field];
    // The property's own, or that of its string alternative.
    let alternatives = property["oneOf"].as_array().into_iter().flatten();
    std::iter::once(property)
        .chain(alternatives)
        .find_map(|schema| schema["maxLength"].as_u64())
        .unwrap_or_else(|| panic!("{schema}.{field}: {property}")) as usize
}

/// An admin list with the admin key, asserting 200: its headers and its JSON.
async fn admin_list(srv: &TestServer, path: &str) -> (HeaderMap, Value) {
    let request = srv
        .request(Method::GET, path)
        .header("X-Admin-Key", ADMIN_KEY);
    let (status, headers, body) = srv.exec(request).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (headers, body)
}
