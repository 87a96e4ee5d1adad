//! The pages: `/setup`, `/join/{invite_code}` and `/client/listener` (the guide in both
//! renderings and the script, with this server's URL filled in), `/docs`, `/observe`, and
//! `/admin` with its JSON routes; in headless Chromium too when it is installed.

use crate::common::{ADMIN_KEY, TestServer, assert_error};
use agentx::config::AgentConfig;
use agentx::server::Secrets;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use std::time::Duration;

async fn page(srv: &TestServer, path: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut request = srv.request(Method::GET, path);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

/// `/setup` is markdown for curl and agents, HTML for browsers, and shows the exact
/// commands to register, download and start the listener against this server.
#[tokio::test]
async fn setup_guide_by_accept() {
    let srv = TestServer::start().await;
    let (status, kind, md) = page(&srv, "/setup", None).await;
    assert_eq!(status, StatusCode::OK);
    // Markdown, served as plain text as the compatible network does.
    assert_eq!(kind, "text/plain; charset=utf-8");
    for needle in [
        format!("curl -s -X POST {}/auth/register", srv.base),
        format!("curl -s {}/client/listener -o agentx_listener.py", srv.base),
        "python3 agentx_listener.py".to_owned(),
        "export AGENTX_API_KEY=".to_owned(),
    ] {
        assert!(md.contains(&needle), "guide lacks {needle}:\n{md}");
    }
    assert!(
        !md.contains("/connections/accept"),
        "no invite, no accept step"
    );

    let browser = "text/html,application/xhtml+xml,*/*;q=0.8";
    let (status, kind, html) = page(&srv, "/setup", Some(browser)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.starts_with("<!doctype html>") && html.contains("<pre><code>curl -s -X POST"));
    assert!(html.contains(&format!("{}/client/listener", srv.base)));
}

/// `/join/<code>` adds the accept command with the code filled in; the command it shows
/// really accepts the invite; a code that could not be ours is a 404.
#[tokio::test]
async fn join_guide_fills_in_the_invite() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    let (_, invite) = srv.post("/connections/invite", &alice.key, json!({})).await;
    let code = invite["invite_code"].as_str().unwrap();
    let join_path = invite["join_url"]
        .as_str()
        .unwrap()
        .strip_prefix(&srv.base)
        .expect("join_url is on this server")
        .to_owned();

    let (status, _, md) = page(&srv, &join_path, Some("text/markdown")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        md.contains(&format!("{}/connections/accept", srv.base)),
        "{md}"
    );
    let body = format!(r#"-d '{{"invite_code": "{code}", "contract": "friends"}}'"#);
    assert!(md.contains(&body), "{md}");
    let (_, kind, html) = page(&srv, &join_path, Some("text/html")).await;
    assert!(kind.starts_with("text/html") && html.contains(code));

    // The body the guide shows is the one the API takes.
    let shown: Value = serde_json::from_str(&format!(
        r#"{{"invite_code": "{code}", "contract": "friends"}}"#
    ))
    .unwrap();
    let (status, connection) = srv.post("/connections/accept", &bob.key, shown).await;
    assert_eq!(status, StatusCode::OK, "{connection}");

    let response = srv.request(Method::GET, "/join/a'b").send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_error(&(status, body), StatusCode::NOT_FOUND, None);
}

/// The listener is plain text, valid Python, and defaults to the URL it was fetched from.
#[tokio::test]
async fn listener_script_is_served_with_this_url() {
    let srv = TestServer::start().await;
    let (status, kind, script) = page(&srv, "/client/listener", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/plain"), "{kind}");
    assert!(script.starts_with("#!/usr/bin/env python3"));
    assert!(script.contains(&format!("DEFAULT_URL = \"{}\"", srv.base)));

    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("agentx_listener.py");
    std::fs::write(&path, &script).unwrap();
    let compiled = tokio::process::Command::new("python3")
        .arg("-m")
        .arg("py_compile")
        .arg(&path)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
}

/// `/docs` is the API reference: every route of `/openapi.json` (so a route added without
/// docs fails here), the pages and daemon routes besides, and the permission levels with
/// the presets the network's policy really has.
#[tokio::test]
async fn docs_cover_every_route_and_the_permission_levels() {
    let srv = TestServer::start().await;
    let (status, kind, html) = page(&srv, "/docs", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.contains("<title>API Reference</title>"), "{html}");
    assert!(html.contains("<h1>API Reference</h1>"));
    assert!(html.contains(">Permission Levels</h2>"));
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "self-contained, nothing loaded from elsewhere"
    );

    let api = srv
        .json_at(Method::GET, format!("{}/openapi.json", srv.base))
        .await;
    let paths = api["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/admin/agents") && paths.contains_key("/admin/tokens"));
    let mut routes = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if !operation.is_object() || operation.get("responses").is_none() {
                continue;
            }
            routes += 1;
            let heading = format!(
                "<span class=\"method\">{}</span> <code>{path}</code>",
                method.to_uppercase()
            );
            assert!(html.contains(&heading), "/docs lacks {method} {path}");
            // Summaries with `code` spans are rendered as markup; the others as they are.
            if let Some(summary) = operation["summary"].as_str().filter(|s| !s.contains('`')) {
                assert!(
                    html.contains(&escaped(summary)),
                    "/docs lacks the summary of {method} {path}: {summary}"
                );
            }
        }
    }
    assert!(routes >= 25, "{routes} routes in the document");
    for hand_written in [
        "<code>/setup</code>",
        "<code>/join/{invite_code}</code>",
        "<code>/client/listener</code>",
        "<code>/observe?token=cex_…</code>",
        "<code>/admin</code>",
        "<code>/openapi.json</code>",
    ] {
        assert!(html.contains(hand_written), "/docs lacks {hand_written}");
    }
    // The daemon's table comes from its router's OpenAPI: every operator route, and only those.
    let daemon = &html[html.find("<h2 id=\"daemon\">").expect("a daemon section")..];
    let daemon = &daemon[..daemon.find("</table>").expect("its table")];
    let daemon_routes = [
        ("POST", "/reload"),
        ("POST", "/task"),
        ("POST", "/tokens"),
        ("GET", "/tokens"),
        ("DELETE", "/tokens/{id}"),
        ("POST", "/agents/{id}/invite"),
        ("POST", "/agents/{id}/accept"),
        ("GET", "/agents/{id}/plugins"),
        ("POST", "/backup"),
        ("GET", "/metrics"),
        ("GET", "/health"),
    ];
    for (method, path) in daemon_routes {
        let row =
            format!("<tr><td><span class=\"method\">{method}</span> <code>{path}</code></td>");
        assert!(
            daemon.contains(&row),
            "the daemon table lacks {method} {path}"
        );
    }
    assert_eq!(
        daemon.matches("<tr><td>").count(),
        daemon_routes.len(),
        "the daemon table lists its operator routes only: {daemon}"
    );
    assert!(
        daemon.contains("shown only in this answer") && daemon.contains("<code>chatId</code> 128"),
        "each row says what its route does, rendered: {daemon}"
    );

    let levels = &html[html.find(">Permission Levels</h2>").unwrap()..];
    for level in ["auto", "ask", "never"] {
        assert!(
            levels.contains(&format!("<tr><td><code>{level}</code></td><td>")),
            "{level} is explained"
        );
    }
    let (_, contracts) = srv.call(Method::GET, "/contracts", None, None).await;
    let contracts = contracts.as_array().expect("contracts");
    assert!(contracts.len() >= 3, "{contracts:?}");
    for contract in contracts {
        let l = &contract["levels"];
        let row = format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            contract["name"].as_str().unwrap(),
            l["info"].as_str().unwrap(),
            l["requests"].as_str().unwrap(),
            l["personal"].as_str().unwrap()
        );
        assert!(levels.contains(&row), "/docs lacks the preset {row}");
    }
}

/// `text` as HTML escapes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `GET /observe` with the token given as `?token=` (what a browser can do), answering the
/// status, the headers and the page.
async fn observe(srv: &TestServer, token: &str) -> (StatusCode, header::HeaderMap, String) {
    let response = srv
        .request(Method::GET, "/observe")
        .query(&[("token", token)])
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// Alice's feed shows her profile, her connection and the messages she sent and received,
/// newest first with their permission and status, escaped; never Carol's message to Bob.
/// Her session token from `/auth/login` shows the same, as `?token=` or Bearer.
#[tokio::test]
async fn observe_shows_that_agent_only() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("<b>bob</b>").await;
    let carol = srv.register("carol").await;
    srv.connect(&alice, &bob, "friends").await;
    srv.connect(&carol, &bob, "friends").await;
    let hostile = "<script>alert('x')</script> & more";
    let first = srv
        .sent(
            &alice,
            &bob,
            json!({"content": hostile, "category": "info"}),
        )
        .await;
    srv.clock.advance(chrono::Duration::seconds(1));
    srv.sent(
        &bob,
        &alice,
        json!({"content": "reply from bob", "thread_id": first["thread_id"], "category": "requests"}),
    )
    .await;
    srv.sent(&carol, &bob, json!({"content": "carol's secret"}))
        .await;

    let (status, headers, html) = observe(&srv, &alice.key).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    assert!(html.contains(&alice.id), "her profile line: {html}");
    assert!(html.contains("&lt;b&gt;bob&lt;/b&gt;"), "the peer, escaped");
    assert!(!html.contains("<b>bob</b>"), "no markup from users");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(!html.contains("<script>alert"), "no script from users");
    let rows: Vec<&str> = html.split("<tr class=\"message ").skip(1).collect();
    assert_eq!(rows.len(), 2, "{html}");
    // Newest first: Bob's reply (received, under `ask`), then her message (sent, `auto`).
    assert!(rows[0].contains("reply from bob"), "{}", rows[0]);
    assert!(
        rows[0].starts_with("in\"") && rows[0].contains("<td data-label=\"permission\">ask</td>"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].starts_with("out\"")
            && rows[1].contains("<td data-label=\"permission\">auto</td>")
            && rows[1].contains("&lt;script&gt;alert"),
        "{}",
        rows[1]
    );
    assert!(!html.contains("carol"), "nothing of Carol's: {html}");

    let jwt = &srv.session(&alice).await;
    let (status, _, by_session) = observe(&srv, jwt).await;
    assert_eq!(status, StatusCode::OK);
    assert!(by_session.contains("reply from bob") && by_session.contains(&alice.id));
    let response = srv
        .request(Method::GET, "/observe")
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("reply from bob"));

    // Bob's own feed has Carol's message; Alice's key never shows it.
    let (_, _, bobs) = observe(&srv, &bob.key).await;
    assert!(bobs.contains("carol&#39;s secret"), "{bobs}");
}

/// Without a valid token `/observe` is a 401 page that says how to get a key, and shows no
/// one's data.
#[tokio::test]
async fn observe_without_a_valid_token_is_401() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    srv.connect(&alice, &bob, "friends").await;
    srv.sent(&alice, &bob, json!({"content": "private words"}))
        .await;
    let forged = format!("cex_{}", "0".repeat(64));
    let cases = [
        srv.request(Method::GET, "/observe"),
        srv.request(Method::GET, "/observe?token="),
        srv.request(Method::GET, &format!("/observe?token={forged}")),
        srv.request(Method::GET, "/observe?token=not.a.jwt"),
        srv.request(Method::GET, "/observe")
            .bearer_auth(&alice.key[..20]),
    ];
    for request in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("/auth/register") && html.contains("/auth/login"));
        assert!(
            !html.contains("private words") && !html.contains("alice") && !html.contains(&alice.id)
        );
    }
}

/// `/admin` is the dashboard page; its JSON routes list every agent (hosted ones marked,
/// never a key) and every token as the daemon lists them (never the token), behind the
/// admin key like the other admin routes.
#[tokio::test]
async fn admin_dashboard_and_its_routes() {
    let srv = TestServer::start_with(|c| {
        c.agents.insert(
            "echo".into(),
            AgentConfig {
                responder: Some(crate::common::repo("plugins/echo")),
                ..AgentConfig::default()
            },
        );
    })
    .await;
    let (status, kind, html) = page(&srv, "/admin", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.contains("X-Admin-Key") && html.contains("sessionStorage"));
    assert!(html.contains("/admin/agents") && html.contains("/admin/tokens"));
    assert!(
        html.contains("agentx token create"),
        "says where tokens are made"
    );

    for path in ["/admin/agents", "/admin/tokens"] {
        let reply = srv.admin(Method::GET, path, None, None).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("X-Admin-Key"),
        );
        let reply = srv.admin(Method::GET, path, Some("wrong"), None).await;
        assert_error(&reply, StatusCode::FORBIDDEN, None);
    }
    let unset = TestServer::start_with_secrets(
        |_| {},
        Secrets {
            jwt_secret: None,
            admin_key: None,
        },
    )
    .await;
    for path in ["/admin/agents", "/admin/tokens"] {
        let reply = unset.admin(Method::GET, path, Some(ADMIN_KEY), None).await;
        assert_error(&reply, StatusCode::FORBIDDEN, None);
    }

    let alice = srv.register("alice").await;
    srv.get("/auth/me", &alice.key).await;
    let (status, agents) = srv
        .admin(Method::GET, "/admin/agents", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{agents}");
    let agents = agents.as_array().unwrap();
    assert_eq!(agents.len(), 2, "{agents:?}");
    for agent in agents {
        let mut fields: Vec<&str> = agent
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "created_at",
                "framework",
                "hosted",
                "id",
                "last_seen_at",
                "name",
                "status"
            ],
            "nothing more, no key or hash"
        );
    }
    let find = |id: &str| agents.iter().find(|a| a["id"] == id).expect("listed");
    let listed = find(&alice.id);
    assert_eq!(
        (&listed["name"], &listed["hosted"], &listed["status"]),
        (&json!("alice"), &json!(false), &json!("online"))
    );
    assert_eq!(find("echo")["hosted"], true);
    assert!(!agents.iter().any(|a| a.to_string().contains(&alice.key)));

    let (status, none) = srv
        .admin(Method::GET, "/admin/tokens", Some(ADMIN_KEY), None)
        .await;
    assert_eq!((status, none), (StatusCode::OK, json!([])));
    let created = srv
        .http
        .post(format!("{}/tokens", srv.daemon))
        .header("X-Admin-Key", ADMIN_KEY)
        .json(&json!({"name": "app", "scopes": ["agent:echo", "dashboard:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let created: Value = created.json().await.unwrap();
    let (status, tokens) = srv
        .admin(Method::GET, "/admin/tokens", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let daemon_list: Value = srv
        .http
        .get(format!("{}/tokens", srv.daemon))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens, daemon_list, "the daemon's list");
    assert_eq!(tokens[0]["id"], created["id"]);
    assert_eq!(tokens[0]["scopes"], json!(["agent:echo", "dashboard:read"]));
    let secret = created["token"].as_str().unwrap();
    assert!(
        !tokens.to_string().contains(secret),
        "never the token itself"
    );
}

/// The DOM headless Chromium builds for `url` (scripts run, fetches answered), or `None`
/// with a note when Chromium is not installed.
async fn browser_dom(url: &str) -> Option<String> {
    browser_dom_with(url, &[]).await
}

/// [`browser_dom`] with more Chromium flags.
async fn browser_dom_with(url: &str, flags: &[&str]) -> Option<String> {
    let profile = tempfile::TempDir::new().unwrap();
    let run = tokio::process::Command::new("chromium")
        .args(flags)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            // Lets the page's own fetches finish before the DOM is taken.
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(90), run).await {
        Err(_) => panic!("chromium did not finish within 90 s on {url}"),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("chromium is not installed: skipping the browser checks");
            return None;
        }
        Ok(output) => output.expect("chromium runs"),
    };
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("a UTF-8 DOM"))
}

/// In a real browser: `/observe` shows the feed, and `/admin`, given the key in its
/// fragment, fetches and shows the agents and announcements with its script.
#[tokio::test]
async fn pages_render_in_a_browser() {
    let srv = TestServer::start().await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    srv.connect(&alice, &bob, "friends").await;
    srv.sent(&bob, &alice, json!({"content": "seen in a browser <i>"}))
        .await;
    srv.announce("Browser check").await;

    let Some(dom) = browser_dom(&format!("{}/observe?token={}", srv.base, alice.key)).await else {
        return;
    };
    assert!(dom.contains("seen in a browser &lt;i&gt;"), "{dom}");
    assert!(dom.contains("<tr class=\"message in\""), "{dom}");
    assert!(
        dom.contains("<title>agentx Observer — alice</title>"),
        "{dom}"
    );

    let dom = browser_dom(&format!("{}/admin#key={ADMIN_KEY}", srv.base))
        .await
        .expect("chromium ran a moment ago");
    let agents = &dom[dom.find("id=\"agents\"").expect("the agents table")..];
    assert!(agents.contains(&format!("<td>{}</td>", alice.id)), "{dom}");
    assert!(agents.contains(&format!("<td>{}</td>", bob.id)), "{dom}");
    assert!(dom.contains("<td>Browser check</td>"), "{dom}");
    assert!(dom.contains("Loaded at"), "{dom}");
}

/// The observer on a 390-px-wide phone screen: nothing scrolls sideways, even with long
/// names, ids and unbroken message text, and the tables become labelled cards; at desktop
/// width they stay tables. Measured in Chromium by a local page that fetches `/observe` and
/// lays it out in frames of both widths (web security off for the fetch; the frames are
/// `srcdoc`, so the page may read their layout; the observer loads nothing else).
#[tokio::test]
async fn observer_fits_a_phone_screen() {
    let srv = TestServer::start().await;
    let alice = srv.register(&"alice-with-a-long-name-".repeat(4)).await;
    let bob = srv.register("bob").await;
    srv.connect(&alice, &bob, "friends").await;
    let unbroken = format!("https://example.com/{}", "x".repeat(300));
    srv.sent(
        &bob,
        &alice,
        json!({"content": unbroken, "category": "info", "thread_subject": "y".repeat(120)}),
    )
    .await;
    srv.sent(&alice, &bob, json!({"content": "short answer"}))
        .await;

    let observe = format!("{}/observe?token={}", srv.base, alice.key);
    let probe = format!(
        r#"<!doctype html><html><body>
<iframe id="phone" style="width:390px;height:844px;border:0"></iframe>
<iframe id="desktop" style="width:1280px;height:800px;border:0"></iframe>
<script>
var loaded = 0;
function measure() {{
  if (++loaded < 2) return;
  var out = document.createElement("pre");
  out.id = "probe";
  ["phone", "desktop"].forEach(function (id) {{
    var doc = document.getElementById(id).contentDocument;
    var root = doc.documentElement;
    var heads = doc.querySelectorAll("table thead");
    var shown = Array.prototype.filter.call(heads, function (h) {{
      return doc.defaultView.getComputedStyle(h).display !== "none";
    }});
    out.textContent += id + " scroll=" + root.scrollWidth + " client=" + root.clientWidth
      + " tables=" + heads.length + " headers_shown=" + shown.length + "\n";
  }});
  document.body.appendChild(out);
}}
fetch("{observe}").then(function (r) {{ return r.text(); }}).then(function (html) {{
  ["phone", "desktop"].forEach(function (id) {{
    var frame = document.getElementById(id);
    frame.onload = measure;
    frame.srcdoc = html;
  }});
}});
</script></body></html>"#
    );
    let dir = tempfile::TempDir::new().unwrap();
    let page = dir.path().join("probe.html");
    std::fs::write(&page, probe).unwrap();
    let url = format!("file://{}", page.display());
    let Some(dom) = browser_dom_with(&url, &["--disable-web-security"]).await else {
        return;
    };
    let start = dom
        .find("<pre id=\"probe\">")
        .unwrap_or_else(|| panic!("the probe ran: {dom}"))
        + 16;
    let report = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    let numbers = |line: &str| -> Vec<usize> {
        line.split_whitespace()
            .skip(1)
            .map(|kv| kv.split_once('=').unwrap().1.parse().unwrap())
            .collect()
    };
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 2, "{report}");
    let phone = numbers(lines[0]);
    let desktop = numbers(lines[1]);
    assert!(lines[0].starts_with("phone") && lines[1].starts_with("desktop"));
    assert_eq!(phone[2], 3, "connections, messages and threads: {report}");
    assert!(
        phone[0] <= phone[1],
        "no horizontal scroll at 390 px: {report}"
    );
    assert_eq!(phone[3], 0, "on a phone the rows are cards: {report}");
    assert!(desktop[0] <= desktop[1], "{report}");
    assert_eq!(desktop[3], 3, "on a desktop the tables stay: {report}");
}
