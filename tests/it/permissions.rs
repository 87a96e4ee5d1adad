//! Contracts and permission levels: the preset table, what each preset lets through, and
//! changes by either side.

use crate::common::{TestAgent, TestServer, assert_error, sent_order};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const UNDELIVERABLE: &str = "Message could not be delivered";

/// GET /contracts needs no credentials and lists exactly the three presets.
#[tokio::test]
async fn contracts_are_the_preset_table() {
    let srv = TestServer::start().await;
    let (status, contracts) = srv.call(Method::GET, "/contracts", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        contracts,
        json!([
            {"name": "friends", "levels": {"info": "auto", "requests": "ask", "personal": "ask"}},
            {"name": "coworkers", "levels": {"info": "auto", "requests": "auto", "personal": "never"}},
            {"name": "casual", "levels": {"info": "auto", "requests": "never", "personal": "never"}},
        ])
    );
}

/// Under each preset, each category has the outcome of its level, in both directions: `auto`
/// and `ask` deliver with that `permission`, `never` is 403 and delivers nothing; a message
/// without a category is always delivered with `permission: null`.
#[tokio::test]
async fn each_preset_and_category() {
    let srv = TestServer::start().await;
    let table = [
        ("friends", ["auto", "ask", "ask"]),
        ("coworkers", ["auto", "auto", "never"]),
        ("casual", ["auto", "never", "never"]),
    ];
    for (contract, levels) in table {
        let ada = srv.register("ada").await;
        let bob = srv.register("bob").await;
        srv.connect(&ada, &bob, contract).await;
        for (from, to) in [(&ada, &bob), (&bob, &ada)] {
            let mut delivered = Vec::new();
            for (category, level) in ["info", "requests", "personal"].into_iter().zip(levels) {
                let reply = srv
                    .send(from, to, json!({"category": category, "content": category}))
                    .await;
                if level == "never" {
                    assert_error(&reply, StatusCode::FORBIDDEN, None);
                } else {
                    let (status, message) = reply;
                    assert_eq!(status, StatusCode::OK, "{contract}/{category}: {message}");
                    assert_eq!(message["permission"], level, "{contract}/{category}");
                    assert_eq!(message["category"], category);
                    delivered.push(message["id"].clone());
                }
            }
            let (status, plain) = srv.send(from, to, json!({"content": "plain"})).await;
            assert_eq!(status, StatusCode::OK, "{contract}: {plain}");
            assert_eq!(plain["permission"], Value::Null);
            assert_eq!(plain["category"], Value::Null);
            delivered.push(plain["id"].clone());

            let inbox = srv.inbox(to, 200).await;
            let got: Vec<Value> = sent_order(&inbox).into_iter().map(Value::from).collect();
            assert_eq!(
                got, delivered,
                "{contract}: refused messages are not delivered"
            );
        }
    }
}

/// GET permissions shows the caller's own side, one entry per category, from the preset.
#[tokio::test]
async fn permissions_show_own_side() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let id = srv.connect(&ada, &bob, "coworkers").await;
    let expected = json!({
        "connection_id": id,
        "permissions": [
            {"category": "info", "level": "auto"},
            {"category": "requests", "level": "auto"},
            {"category": "personal", "level": "never"},
        ]
    });
    for agent in [&ada, &bob] {
        let (status, body) = srv
            .get(&format!("/connections/{id}/permissions"), &agent.key)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, expected);
    }

    // A change by Ada shows on her side only.
    let (status, body) = srv
        .put(
            &format!("/connections/{id}/permissions"),
            &ada.key,
            json!({"category": "personal", "level": "ask"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"category": "personal", "level": "ask"}));
    let (_, mine) = srv
        .get(&format!("/connections/{id}/permissions"), &ada.key)
        .await;
    assert_eq!(
        mine["permissions"][2],
        json!({"category": "personal", "level": "ask"})
    );
    let (_, theirs) = srv
        .get(&format!("/connections/{id}/permissions"), &bob.key)
        .await;
    assert_eq!(theirs, expected);
}

/// PUT with a missing or unknown category or level is 400 naming the field and changes
/// nothing; an unknown connection is 404, someone else's 403.
#[tokio::test]
async fn permission_changes_are_validated() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let eve = srv.register("eve").await;
    let id = srv.connect(&ada, &bob, "friends").await;
    let path = format!("/connections/{id}/permissions");
    for (body, field) in [
        (json!({"level": "auto"}), "category"),
        (json!({"category": "gossip", "level": "auto"}), "category"),
        (json!({"category": "info"}), "level"),
        (json!({"category": "info", "level": "always"}), "level"),
        (json!({"category": "info", "level": ""}), "level"),
    ] {
        let reply = srv.put(&path, &ada.key, body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, Some(field));
    }
    let (_, levels) = srv.get(&path, &ada.key).await;
    assert_eq!(levels["permissions"][0]["level"], "auto");

    let change = json!({"category": "info", "level": "never"});
    let reply = srv
        .put("/connections/unknown/permissions", &ada.key, change.clone())
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
    let reply = srv.get("/connections/unknown/permissions", &ada.key).await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
    let reply = srv.put(&path, &eve.key, change).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    let reply = srv.get(&path, &eve.key).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    let (_, levels) = srv.get(&path, &ada.key).await;
    assert_eq!(
        levels["permissions"][0]["level"], "auto",
        "Eve changed nothing"
    );
}

async fn set(srv: &TestServer, agent: &TestAgent, connection: &str, category: &str, level: &str) {
    let (status, body) = srv
        .put(
            &format!("/connections/{connection}/permissions"),
            &agent.key,
            json!({"category": category, "level": level}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A sender who sets its own level for a category to never can no longer send that
/// category (403), while the other side is unaffected.
#[tokio::test]
async fn sender_side_never_refuses_the_sender() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let id = srv.connect(&ada, &bob, "friends").await;
    set(&srv, &ada, &id, "personal", "never").await;

    let reply = srv.send(&ada, &bob, json!({"category": "personal"})).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert_ne!(
        reply.1["detail"], UNDELIVERABLE,
        "the sender is told it is its own setting"
    );
    // Bob's side is untouched: he sends personal to Ada... who now refuses it.
    let reply = srv.send(&bob, &ada, json!({"category": "personal"})).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert_eq!(reply.1["detail"], UNDELIVERABLE);
    // Other categories still flow both ways.
    let message = srv.sent(&ada, &bob, json!({"category": "requests"})).await;
    assert_eq!(message["permission"], "ask");
    assert_eq!(srv.inbox(&bob, 50).await["count"], 1);
}

/// A recipient who raises a category to auto gets it delivered with `permission: "auto"`;
/// one who lowers a category to never refuses it with exactly "Message could not be
/// delivered", revealing nothing of its settings; raising it back delivers again.
#[tokio::test]
async fn recipient_side_levels_decide_delivery() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let id = srv.connect(&ada, &bob, "friends").await;

    let before = srv.sent(&ada, &bob, json!({"category": "requests"})).await;
    assert_eq!(before["permission"], "ask");
    set(&srv, &bob, &id, "requests", "auto").await;
    let after = srv.sent(&ada, &bob, json!({"category": "requests"})).await;
    assert_eq!(after["permission"], "auto");
    // Bob's own change does not change what Ada gets from him.
    let back = srv.sent(&bob, &ada, json!({"category": "requests"})).await;
    assert_eq!(back["permission"], "ask");

    set(&srv, &bob, &id, "info", "never").await;
    let reply = srv
        .send(&ada, &bob, json!({"category": "info", "content": "fyi"}))
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert_eq!(reply.1["detail"], UNDELIVERABLE);
    let ids = sent_order(&srv.inbox(&bob, 50).await);
    assert_eq!(
        ids,
        [
            before["id"].as_str().unwrap(),
            after["id"].as_str().unwrap()
        ]
    );
    // A side's level is its own for both directions: Bob's never also stops him sending
    // info, and he is told it is his own setting.
    let reply = srv.send(&bob, &ada, json!({"category": "info"})).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert_ne!(reply.1["detail"], UNDELIVERABLE);

    set(&srv, &bob, &id, "info", "ask").await;
    let message = srv.sent(&ada, &bob, json!({"category": "info"})).await;
    assert_eq!(message["permission"], "ask");
}

/// On a casual connection the recipient can open a category the preset closes: once the
/// sender's own level is raised too, the recipient's level applies.
#[tokio::test]
async fn both_sides_must_open_a_closed_category() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let id = srv.connect(&ada, &bob, "casual").await;
    set(&srv, &ada, &id, "requests", "ask").await;
    // Ada's side is open, Bob's still never: refused with the vague reason.
    let reply = srv.send(&ada, &bob, json!({"category": "requests"})).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert_eq!(reply.1["detail"], UNDELIVERABLE);
    set(&srv, &bob, &id, "requests", "auto").await;
    let message = srv.sent(&ada, &bob, json!({"category": "requests"})).await;
    assert_eq!(message["permission"], "auto");
}
