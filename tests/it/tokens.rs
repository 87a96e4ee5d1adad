//! `agx_live_` tokens: managed through the daemon, refused at once when expired or revoked.

use crate::common::{ADMIN_KEY, TestServer, agents, assert_refused, daemon, public, revoke, token};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Tokens are made, listed and revoked through the daemon behind the admin key; the token
/// is `agx_live_` + 64 hex, shown only on creation; bad scopes are refused by name.
#[tokio::test]
async fn tokens_are_managed_through_the_daemon() {
    let srv = TestServer::start().await;
    let body = json!({"name": "app", "scopes": ["agent:support"]});
    let missing = daemon(&srv, Method::POST, "/tokens", None, Some(body.clone())).await;
    assert_refused(&missing, StatusCode::UNAUTHORIZED);
    let wrong = daemon(&srv, Method::POST, "/tokens", Some("nope"), Some(body)).await;
    assert_refused(&wrong, StatusCode::FORBIDDEN);

    let (status, created) = daemon(
        &srv,
        Method::POST,
        "/tokens",
        Some(ADMIN_KEY),
        Some(json!({"name": "app", "scopes": ["agent:support", "dashboard:read"], "expires_days": 30})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let token = created["token"].as_str().unwrap();
    let hex = token.strip_prefix("agx_live_").expect("agx_live_ prefix");
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    assert_eq!(created["name"], "app");
    assert!(created["expires_at"].is_string(), "{created}");

    for bad in [json!(["agent:"]), json!(["root"]), json!([])] {
        let refused = daemon(
            &srv,
            Method::POST,
            "/tokens",
            Some(ADMIN_KEY),
            Some(json!({"name": "x", "scopes": bad})),
        )
        .await;
        assert_refused(&refused, StatusCode::BAD_REQUEST);
        assert!(
            refused.1["error"].as_str().unwrap().contains("scopes"),
            "{}",
            refused.1
        );
    }

    let (status, list) = daemon(&srv, Method::GET, "/tokens", Some(ADMIN_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], created["id"]);
    assert!(
        list[0]["revoked_at"].is_null() && list[0]["token"].is_null(),
        "{list:?}"
    );
    assert!(
        !list[0].to_string().contains(hex),
        "the token is never listed"
    );

    let id = created["id"].as_str().unwrap();
    assert_eq!(revoke(&srv, id).await.0, StatusCode::NO_CONTENT);
    let (_, list) = daemon(&srv, Method::GET, "/tokens", Some(ADMIN_KEY), None).await;
    assert!(list[0]["revoked_at"].is_string(), "{list}");
    assert_refused(&revoke(&srv, "nope").await, StatusCode::NOT_FOUND);
}

/// An expired token and a token revoked while the server runs are refused on the very
/// next request.
#[tokio::test]
async fn expiry_and_revocation_take_effect_at_once() {
    let srv = TestServer::start_with(agents).await;
    let (_, expiring) = token(&srv, &["agent:echo"], Some(1)).await;
    let (id, revoked) = token(&srv, &["agent:echo"], None).await;
    let hi = json!({"message": "hi"});
    assert_eq!(
        public(&srv, "echo", Some(&expiring), hi.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        public(&srv, "echo", Some(&revoked), hi.clone()).await.0,
        StatusCode::OK
    );

    srv.clock.advance(chrono::Duration::hours(25));
    assert_refused(
        &public(&srv, "echo", Some(&expiring), hi.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_eq!(revoke(&srv, &id).await.0, StatusCode::NO_CONTENT);
    assert_refused(
        &public(&srv, "echo", Some(&revoked), hi).await,
        StatusCode::UNAUTHORIZED,
    );
}
