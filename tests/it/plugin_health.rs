//! A hosted agent's health (issue: "any caller can take a hosted agent offline"): only
//! host-side faults degrade a plugin, and a degraded plugin comes back by itself after a
//! backoff when a probe call succeeds.

use crate::common::{TestServer, agents, config_file, fixture, public, token};
use agentx::config::PluginHealthConfig;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// The attack of the review: public calls whose 70 KB "remember:" the faq plugin cannot
/// store (memory values are at most 64 KiB). Each fails as the plugin's own refusal; before
/// the fix five of them made `support` answer 503 to everyone until a reload.
#[tokio::test]
async fn a_callers_oversized_input_does_not_degrade_a_public_agent() {
    let srv = TestServer::start_with(agents).await;
    let (_, app) = token(&srv, &["agent:support"], None).await;
    let remember = format!("remember: {}", "x".repeat(70_000));
    for _ in 0..8 {
        let (status, body) =
            public(&srv, "support", Some(&app), json!({"message": remember})).await;
        assert_ne!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_ne!(
            status,
            StatusCode::OK,
            "the fact is too large to keep: {body}"
        );
    }
    let (status, reply) = public(
        &srv,
        "support",
        Some(&app),
        json!({"message": "what do you remember?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

/// Traps do degrade the plugin, and it recovers without a reload: after the backoff one
/// probe runs; a failing probe doubles the backoff, a good one ends the degradation.
#[tokio::test]
async fn a_degraded_agent_recovers_on_a_good_probe() {
    let dir = tempfile::TempDir::new().unwrap();
    let srv = TestServer::start_with(|c| {
        c.server.plugin_health = PluginHealthConfig {
            degraded_after: 2,
            recovery_first_delay_ms: 400,
            recovery_max_delay_ms: 2_000,
        };
        config_file(
            c,
            dir.path(),
            &json!({"flaky": {"responder": fixture("flaky").display().to_string(), "access": "public"}}),
        );
    })
    .await;
    let (_, app) = token(&srv, &["agent:flaky"], None).await;
    let call = |message: &'static str| {
        let (srv, app) = (&srv, &app);
        async move { public(srv, "flaky", Some(app), json!({"message": message})).await }
    };

    for _ in 0..2 {
        let (status, body) = call("!trap").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    }
    let (status, body) = call("hi").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "degraded: {body}");

    // The first probe fails: still degraded, now for twice as long.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        call("!trap").await.0,
        StatusCode::BAD_GATEWAY,
        "the probe ran"
    );
    assert_eq!(call("hi").await.0, StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        call("hi").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "the second backoff is 800 ms"
    );

    tokio::time::sleep(Duration::from_millis(450)).await;
    for _ in 0..3 {
        let (status, reply) = call("hi").await;
        assert_eq!(status, StatusCode::OK, "recovered: {reply}");
        assert_eq!(reply["content"], "const reply");
    }
}
