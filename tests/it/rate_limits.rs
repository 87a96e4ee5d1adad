//! Abuse of the rate limits (issue 11, item 2): made-up credentials, respaced keys, spoofed
//! `X-Forwarded-For`, registration floods. Each attack is made against a real server.

use crate::common::{ADMIN_KEY, TestServer, assert_error};
use agentx::config::TrustedProxies;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::num::NonZeroU32;

/// 400 requests from one address, each with a different made-up credential (Bearer keys and
/// admin keys, alternately): past the address's budget of refusals (20 a minute by default)
/// they are 429 without being looked at, while an agent and an operator whose keys were
/// proven before keep working from the same address.
#[tokio::test]
async fn made_up_credentials_share_their_address_budget() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let (status, me) = srv.get("/auth/me", &ada.key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, agents) = srv
        .admin(Method::GET, "/admin/agents", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{agents}");

    let (mut refused, mut limited) = (0, 0);
    for n in 0..400 {
        let junk = hex::encode(rand::random::<[u8; 32]>());
        let request = if n % 2 == 0 {
            srv.request(Method::GET, "/auth/me")
                .bearer_auth(format!("cex_{junk}"))
        } else {
            srv.request(Method::GET, "/admin/agents")
                .header("X-Admin-Key", junk)
        };
        let (status, headers, body) = srv.exec(request).await;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(headers.contains_key("retry-after"), "{body}");
                limited += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    // 20 a minute, plus the few that came back while the test ran.
    assert!(refused <= 25, "{refused} guesses were looked at");
    assert_eq!(refused + limited, 400);

    let (status, me) = srv.get("/auth/me", &ada.key).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a proven key keeps its own budget: {me}"
    );
    let (status, agents) = srv
        .admin(Method::GET, "/admin/agents", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, StatusCode::OK, "so does the admin key: {agents}");
}

/// `Bearer` followed by any number of spaces and the key is the same key, and so the same
/// budget: respacing it does not buy a fresh one.
#[tokio::test]
async fn respaced_keys_share_one_budget() {
    let burst = 10;
    let srv = TestServer::start_with(|c| {
        crate::common::rate_limit(c, 1, burst);
    })
    .await;
    let ada = srv.register("ada").await;
    let mut first_limited = None;
    for spaces in 1..=burst * 3 {
        let value = format!("Bearer{}{}", " ".repeat(spaces as usize), ada.key);
        let request = srv
            .request(Method::GET, "/auth/me")
            .header("Authorization", value);
        let (status, _, body) = srv.exec(request).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            first_limited = Some(spaces);
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let first_limited = first_limited.expect("the respaced key ran out of budget");
    // Its first request was charged to the address (the key was not yet proven), the
    // rest to the agent; a few cells came back meanwhile.
    assert!(
        first_limited <= burst + 4,
        "limited only at {first_limited}"
    );
}

/// Behind no trusted proxy, `X-Forwarded-For` is the caller's say-so and is ignored: every
/// request is charged to the TCP peer.
#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let srv = small_budget_server(None).await;
    let limited = contracts_limited(&srv, |n| format!("203.0.113.{n}")).await;
    assert!(limited > 0, "spoofed addresses bought fresh budgets");
}

/// From a trusted proxy, the rightmost hop of `X-Forwarded-For` that is not itself a
/// trusted proxy is the client: clients behind it get a budget each, and hops a client
/// wrote itself (left of the proxy's) change nothing.
#[tokio::test]
async fn forwarded_for_is_honoured_from_trusted_proxies() {
    let srv = small_budget_server(Some(json!(["127.0.0.1", "10.0.0.0/8"]))).await;
    let limited = contracts_limited(&srv, |n| format!("203.0.113.{n}")).await;
    assert_eq!(
        limited, 0,
        "each client behind the proxy has its own budget"
    );

    // One client (198.51.100.7) behind two trusted hops, lying about the hops before it.
    let limited = contracts_limited(&srv, |n| format!("192.0.2.{n}, 198.51.100.7, 10.1.1.1")).await;
    assert!(limited > 0, "a client's own hops bought fresh budgets");
}

/// More registrations from one address than `server.limits.registrations_per_hour` are
/// 429 and create nothing; another client (behind the trusted proxy) still registers.
#[tokio::test]
async fn registrations_are_capped_per_address() {
    let srv = TestServer::start_with(|c| {
        c.server.limits.registrations_per_hour = NonZeroU32::new(3).unwrap();
        c.server.trusted_proxies = serde_json::from_value(json!(["127.0.0.1"])).unwrap();
    })
    .await;
    let registration = |n: usize| json!({"email": format!("flood{n}@example.com"), "name": "flood", "agent_name": "flood"});
    for n in 0..3 {
        let (status, body) = srv.register_raw(registration(n)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = srv
        .exec(
            srv.request(Method::POST, "/auth/register")
                .json(&registration(3)),
        )
        .await;
    assert_error(&(status, body), StatusCode::TOO_MANY_REQUESTS, None);
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 60, "{retry_after}");

    let (status, _, body) = srv
        .exec(
            srv.request(Method::POST, "/auth/register")
                .header("X-Forwarded-For", "203.0.113.9")
                .json(&registration(4)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, agents) = srv
        .admin(Method::GET, "/admin/agents", Some(ADMIN_KEY), None)
        .await;
    let flood = agents
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "flood");
    assert_eq!(flood.count(), 4, "{agents}");
}

/// A server allowing one request a second with a burst of five, trusting `proxies`.
async fn small_budget_server(proxies: Option<serde_json::Value>) -> TestServer {
    TestServer::start_with(|c| {
        crate::common::rate_limit(c, 1, 5);
        if let Some(proxies) = proxies {
            c.server.trusted_proxies = serde_json::from_value::<TrustedProxies>(proxies).unwrap();
        }
    })
    .await
}

/// How many of 20 `GET /contracts` (no credential), the n-th with `X-Forwarded-For:
/// forwarded(n)`, were 429.
async fn contracts_limited(srv: &TestServer, forwarded: impl Fn(usize) -> String) -> usize {
    let mut limited = 0;
    for n in 0..20 {
        let request = srv
            .request(Method::GET, "/contracts")
            .header("X-Forwarded-For", forwarded(n));
        let (status, _, body) = srv.exec(request).await;
        match status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("{other}: {body}"),
        }
    }
    limited
}

/// The protocol front-ends (OpenAI, A2A) record the `agx_live_` token they verify, as the
/// public endpoint does: its requests are charged to the token, its refusals for scope
/// (403, the token itself was good) cost its address nothing, it keeps working while made-up
/// tokens have spent the address's budget of refusals, and it runs out of its own budget
/// while another token from the same address does not.
#[tokio::test]
async fn protocol_front_ends_charge_the_proven_token() {
    let burst = 12;
    let srv = TestServer::start_with(|c| {
        crate::common::agents(c);
        crate::common::rate_limit(c, 1, burst);
        c.server.rate_limit.failed_auth_per_minute = NonZeroU32::new(3).unwrap();
    })
    .await;
    let (_, app) = crate::common::token(&srv, &["agent:echo"], None).await;
    let (_, other) = crate::common::token(&srv, &["agent:echo"], None).await;
    let models = |token: &str| srv.request(Method::GET, "/v1/models").bearer_auth(token);
    for token in [&app, &other] {
        let (status, _, body) = srv.exec(models(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // The private agent refuses the token's scope five times; each is a 403, never a 429.
    let ask_secret = json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}});
    for n in 0..5 {
        let request = srv
            .request(Method::POST, "/a2a/secret")
            .bearer_auth(&app)
            .json(&ask_secret);
        let (status, _, body) = srv.exec(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "refusal {n}: {body}");
    }

    // Made-up tokens spend the address's budget of refusals (three a minute)...
    let mut guessed = Vec::new();
    for _ in 0..4 {
        let junk = format!("agx_live_{}", hex::encode(rand::random::<[u8; 16]>()));
        guessed.push(srv.exec(models(&junk)).await.0);
    }
    assert_eq!(
        guessed,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );

    // ...but not the proven token's: it keeps its own budget, until that runs out.
    let mut served = 0;
    let limited = loop {
        let (status, headers, body) = srv.exec(models(&app)).await;
        match status {
            StatusCode::OK => served += 1,
            StatusCode::TOO_MANY_REQUESTS => break (headers, body),
            other => panic!("{other} after {served}: {body}"),
        }
        assert!(served <= burst * 2, "the token was never limited");
    };
    assert!(served > 0, "the proven token was refused at once");
    assert!(limited.0.contains_key("retry-after"), "{}", limited.1);
    assert_eq!(
        limited.1["error"]["type"], "rate_limit_error",
        "{}",
        limited.1
    );
    let (status, _, body) = srv.exec(models(&other)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another token has its own budget: {body}"
    );
}
