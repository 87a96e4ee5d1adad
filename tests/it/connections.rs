//! Invites and connections: every refusal of an accept, listing, and removal cutting access
//! for both sides.

use crate::common::{TestAgent, TestServer, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn invite(srv: &TestServer, from: &TestAgent) -> String {
    let (status, invite) = srv.post("/connections/invite", &from.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{invite}");
    invite["invite_code"].as_str().unwrap().to_owned()
}

async fn accept(srv: &TestServer, by: &TestAgent, body: Value) -> (StatusCode, Value) {
    srv.post("/connections/accept", &by.key, body).await
}

/// An unknown invite code is 404; a missing one is 422 naming `invite_code`.
#[tokio::test]
async fn accept_unknown_or_missing_code() {
    let srv = TestServer::start().await;
    let bob = srv.register("bob").await;
    let reply = accept(
        &srv,
        &bob,
        json!({"invite_code": "0123456789abcdef01234567"}),
    )
    .await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
    let reply = accept(&srv, &bob, json!({})).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("invite_code"),
    );
}

/// A used invite, an expired one (moved past 24 h by the clock), one's own, one from an
/// agent already connected, and an unknown contract are each 400 and connect nobody.
#[tokio::test]
async fn accept_refusals_are_400() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let cid = srv.register("cid").await;

    // Used: Bob takes it, then Cid tries the same code.
    let code = invite(&srv, &ada).await;
    let (status, _) = accept(&srv, &bob, json!({"invite_code": code})).await;
    assert_eq!(status, StatusCode::OK);
    let reply = accept(&srv, &cid, json!({"invite_code": code})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, None);
    assert!(reply.1["detail"].as_str().unwrap().contains("used"));
    let reply = accept(&srv, &bob, json!({"invite_code": code})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, None);

    // Own.
    let own = invite(&srv, &cid).await;
    let reply = accept(&srv, &cid, json!({"invite_code": own})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, None);

    // Already connected, whichever side invites.
    let again = invite(&srv, &ada).await;
    let reply = accept(&srv, &bob, json!({"invite_code": again})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, None);
    let reverse = invite(&srv, &bob).await;
    let reply = accept(&srv, &ada, json!({"invite_code": reverse})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, None);

    // Unknown contract.
    let fresh = invite(&srv, &ada).await;
    let reply = accept(
        &srv,
        &cid,
        json!({"invite_code": fresh, "contract": "lovers"}),
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, Some("contract"));

    // Expired: the same fresh code, a day and a second later.
    srv.clock
        .advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    let reply = accept(&srv, &cid, json!({"invite_code": fresh})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, None);
    assert!(reply.1["detail"].as_str().unwrap().contains("expired"));

    // The own invite was refused, not consumed, and Cid connected to nobody.
    let (_, list) = srv.get("/connections", &cid.key).await;
    assert_eq!(list, json!([]));
    let (_, list) = srv.get("/connections", &ada.key).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "only Bob: {list}");
}

/// An invite is good until its 24 h are up: one second short of expiry it still works, and
/// `expires_at` says when.
#[tokio::test]
async fn invite_works_until_it_expires() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let (_, created) = srv.post("/connections/invite", &ada.key, json!({})).await;
    let expires: chrono::DateTime<chrono::Utc> =
        created["expires_at"].as_str().unwrap().parse().unwrap();
    let in_a_day = chrono::Utc::now() + chrono::Duration::hours(24);
    assert!((expires - in_a_day).num_seconds().abs() < 60, "{created}");
    srv.clock
        .advance(chrono::Duration::hours(24) - chrono::Duration::seconds(30));
    let (status, connection) =
        accept(&srv, &bob, json!({"invite_code": created["invite_code"]})).await;
    assert_eq!(status, StatusCode::OK, "{connection}");
}

/// Each contract named at accept is the connection's contract type, as both sides see it.
#[tokio::test]
async fn accept_under_each_contract() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    for contract in ["friends", "coworkers", "casual"] {
        let peer = srv.register(contract).await;
        let code = invite(&srv, &ada).await;
        let (status, connection) = accept(
            &srv,
            &peer,
            json!({"invite_code": code, "contract": contract}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{connection}");
        assert_eq!(connection["contract_type"], contract);
        assert_eq!(connection["status"], "active");
        assert!(connection["created_at"].is_string());
        let summary = &connection["connected_agent"];
        assert_eq!(summary["id"], ada.id.as_str());
        assert_eq!(summary["name"], "ada");
        for field in ["framework", "status", "last_seen_at"] {
            assert!(summary.get(field).is_some(), "{field}: {summary}");
        }
        let (_, theirs) = srv.get("/connections", &peer.key).await;
        assert_eq!(theirs[0]["contract_type"], contract);
        assert_eq!(theirs[0]["id"], connection["id"]);
    }
    let (_, mine) = srv.get("/connections", &ada.key).await;
    assert_eq!(mine.as_array().unwrap().len(), 3);
}

/// DELETE answers 204; afterwards the connection is gone from both lists, neither side can
/// send on it or read its thread, the thread leaves both thread lists, and a second DELETE
/// is 404.
#[tokio::test]
async fn removal_cuts_access_for_both_sides() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let cid = srv.register("cid").await;
    let id = srv.connect(&ada, &bob, "friends").await;
    let kept = srv.connect(&ada, &cid, "friends").await;
    let message = srv.sent(&ada, &bob, json!({"content": "before"})).await;
    let thread = message["thread_id"].as_str().unwrap().to_owned();
    srv.sent(&ada, &cid, json!({"content": "to cid"})).await;

    let (status, body) = srv.delete(&format!("/connections/{id}"), &bob.key).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));

    let (_, list) = srv.get("/connections", &ada.key).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept.as_str()], "active only");
    let (_, list) = srv.get("/connections", &bob.key).await;
    assert_eq!(list, json!([]));

    for (from, to) in [(&ada, &bob), (&bob, &ada)] {
        let reply = srv.send(from, to, json!({"content": "after"})).await;
        assert_error(&reply, StatusCode::FORBIDDEN, None);
        let reply = srv
            .send(from, to, json!({"content": "after", "thread_id": thread}))
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, None);
        let reply = srv
            .get(&format!("/messages/thread/{thread}"), &from.key)
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, None);
        assert!(!reply.1.to_string().contains("before"));
        let (_, threads) = srv.get("/messages/threads", &from.key).await;
        assert!(
            !threads.to_string().contains(&thread),
            "the thread is gone from the list: {threads}"
        );
        let reply = srv
            .get(&format!("/connections/{id}/permissions"), &from.key)
            .await;
        assert_error(&reply, StatusCode::NOT_FOUND, None);
    }
    let (_, threads) = srv.get("/messages/threads", &ada.key).await;
    assert_eq!(threads.as_array().unwrap().len(), 1, "Cid's thread stays");

    let reply = srv.delete(&format!("/connections/{id}"), &ada.key).await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
}

/// DELETE of an unknown connection is 404; of someone else's, 403, and it stays.
#[tokio::test]
async fn delete_unknown_or_not_yours() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let eve = srv.register("eve").await;
    let id = srv.connect(&ada, &bob, "friends").await;
    let reply = srv
        .delete("/connections/no-such-connection", &ada.key)
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
    let reply = srv.delete(&format!("/connections/{id}"), &eve.key).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    let (_, list) = srv.get("/connections", &ada.key).await;
    assert_eq!(list[0]["id"], id.as_str());
    srv.sent(&bob, &ada, json!({"content": "still here"})).await;
}

/// After a removal, a new invite connects the pair again under a new connection and a new
/// contract; the old thread stays closed, new messages flow.
#[tokio::test]
async fn reconnecting_after_removal() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let old = srv.connect(&ada, &bob, "friends").await;
    let old_thread = srv.sent(&ada, &bob, json!({"content": "one"})).await["thread_id"].clone();
    let (status, _) = srv.delete(&format!("/connections/{old}"), &ada.key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let new = srv.connect(&bob, &ada, "coworkers").await;
    assert_ne!(new, old);
    let (_, list) = srv.get("/connections", &ada.key).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["contract_type"], "coworkers");

    let reply = srv
        .send(
            &bob,
            &ada,
            json!({"content": "two", "thread_id": old_thread}),
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    let reply = srv
        .get(
            &format!("/messages/thread/{}", old_thread.as_str().unwrap()),
            &ada.key,
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);

    let message = srv
        .sent(
            &bob,
            &ada,
            json!({"content": "two", "category": "requests"}),
        )
        .await;
    assert_eq!(message["permission"], "auto", "the new contract applies");
    let (_, threads) = srv.get("/messages/threads", &ada.key).await;
    assert_eq!(threads.as_array().unwrap().len(), 1);
    assert_eq!(threads[0]["connection_id"], new.as_str());
}

/// The join URL uses the configured public URL when there is one.
#[tokio::test]
async fn join_url_uses_the_public_url() {
    let srv = TestServer::start_with(|c| {
        c.server.public_url = Some("https://agents.example.org/".into());
    })
    .await;
    let ada = srv.register("ada").await;
    let (_, created) = srv.post("/connections/invite", &ada.key, json!({})).await;
    let code = created["invite_code"].as_str().unwrap();
    assert_eq!(
        created["join_url"],
        format!("https://agents.example.org/join/{code}")
    );
}

/// Racing accepts of one invite connect exactly one agent; racing cross-invites between the
/// same two agents make exactly one connection.
#[tokio::test]
async fn racing_accepts_make_one_connection() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let mut takers = Vec::new();
    for i in 0..8 {
        takers.push(srv.register(&format!("taker{i}")).await);
    }
    let code = invite(&srv, &ada).await;
    let replies = futures::future::join_all(
        takers
            .iter()
            .map(|t| accept(&srv, t, json!({"invite_code": code}))),
    )
    .await;
    let won = replies.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(won, 1, "{replies:?}");
    for reply in replies.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error(reply, StatusCode::BAD_REQUEST, None);
    }
    let (_, list) = srv.get("/connections", &ada.key).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let bob = srv.register("bob").await;
    for _ in 0..5 {
        let (to_bob, to_ada) = tokio::join!(invite(&srv, &ada), invite(&srv, &bob));
        let (a, b) = tokio::join!(
            accept(&srv, &bob, json!({"invite_code": to_bob})),
            accept(&srv, &ada, json!({"invite_code": to_ada})),
        );
        let ok = [&a, &b]
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .count();
        assert!(ok <= 1, "{a:?} {b:?}");
        let (_, list) = srv.get("/connections", &bob.key).await;
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        let id = list[0]["id"].as_str().unwrap().to_owned();
        let (status, _) = srv.delete(&format!("/connections/{id}"), &ada.key).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
}

/// Messages still queued when their connection is removed are not handed out afterwards,
/// in either direction (both sides lost access to the thread), and they do not use up an
/// inbox's limit: messages from other connections still come through.
#[tokio::test]
async fn removal_withdraws_queued_messages() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let cid = srv.register("cid").await;
    let id = srv.connect(&ada, &bob, "friends").await;
    srv.connect(&cid, &bob, "friends").await;
    srv.sent(&ada, &bob, json!({"content": "queued 1"})).await;
    srv.sent(&ada, &bob, json!({"content": "queued 2"})).await;
    srv.sent(&bob, &ada, json!({"content": "queued back"}))
        .await;
    let kept = srv.sent(&cid, &bob, json!({"content": "from cid"})).await;
    let (status, _) = srv.delete(&format!("/connections/{id}"), &bob.key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let inbox = srv.inbox(&bob, 1).await;
    assert_eq!(
        crate::common::message_ids(&inbox),
        [kept["id"].as_str().unwrap()]
    );
    assert_eq!(srv.inbox(&bob, 200).await["count"], 0);
    assert_eq!(srv.inbox(&ada, 200).await["count"], 0);
    assert_eq!(srv.stream(&ada, 1).await["count"], 0);
}
