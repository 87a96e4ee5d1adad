//! Loose ends of issue 11, item 11 on the HTTP side: a path that is not UTF-8, and join URLs
//! built from request headers.

use crate::common::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// `/messages/%ff/ack` answers the contract's JSON error (it used to be `text/plain`), on
/// any route; a valid escaped path still reaches its handler.
#[tokio::test]
async fn a_path_that_is_not_utf8_is_a_json_error() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    for path in ["/messages/%ff/ack", "/connections/%c3%28", "/nowhere/%80"] {
        let request = srv.request(Method::POST, path).bearer_auth(&ada.key);
        let (status, headers, body) = srv.exec(request).await;
        assert_eq!(
            headers["content-type"], "application/json",
            "{path}: {body}"
        );
        assert_error(
            &(status, body),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("path"),
        );
    }
    let (status, body) = srv.post("/messages/%41bc/ack", &ada.key, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// Without `public_url`, a join URL takes its base from `Host` and `X-Forwarded-Proto` only
/// when they are a host name and http/https; otherwise it falls back to the listener's URL.
#[tokio::test]
async fn join_urls_take_only_valid_hosts_and_schemes() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let join_url = |host: &str, proto: Option<&str>| {
        let mut request = srv
            .request(Method::POST, "/connections/invite")
            .bearer_auth(&ada.key)
            .header("Host", host)
            .json(&json!({}));
        if let Some(proto) = proto {
            request = request.header("X-Forwarded-Proto", proto);
        }
        let srv = &srv;
        async move {
            let (status, _, body) = srv.exec(request).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["join_url"].as_str().unwrap().to_owned()
        }
    };
    let listener = format!("{}/join/", srv.base);
    assert!(
        join_url("agents.example.com", Some("https"))
            .await
            .starts_with("https://agents.example.com/join/")
    );
    assert!(
        join_url("[::1]:4202", None)
            .await
            .starts_with("http://[::1]:4202/join/")
    );
    for (host, proto) in [
        ("agents.example.com", Some("javascript")),
        ("agents.example.com", Some("https://evil.example/x?")),
        ("evil.example/phish?x=", None),
        ("user@evil.example", None),
        ("agents.example.com:notaport", None),
    ] {
        let url = join_url(host, proto).await;
        assert!(url.starts_with(&listener), "{host} {proto:?}: {url}");
    }
}
