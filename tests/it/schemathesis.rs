//! schemathesis (the OpenAPI fuzzer from PyPI) against a live server's `/openapi.json`
//! (issue 11, "suites that keep finding"): every operation, authenticated as an agent, with
//! an `agx_live_` token and with the admin key as each operation's security says, every
//! check, with a fixed seed and a bounded number of examples so a red run reproduces
//! (`tests/py/schemathesis.toml` holds the few exceptions, each with its reason). The
//! document must say exactly what the server does: every status a route can answer, every
//! bound of its input, every security scheme.

use crate::common::{ADMIN_KEY, TestServer, agents, python_clients, repo, run_tool, token};
use std::num::NonZeroU32;
use std::time::Duration;

/// Examples per operation and phase; with the seed, what makes a run reproducible.
const EXAMPLES: &str = "25";
const SEED: &str = "4202";

/// Streams never end by themselves: schemathesis would wait on them until its timeout.
const STREAMS: &[&str] = &["/messages/stream", "/api/task/stream"];

/// schemathesis reports no failure: a failure prints its report (each with a `curl` that
/// reproduces it) in the panic.
#[tokio::test]
async fn schemathesis_finds_the_openapi_document_exact() {
    let Some(python) = python_clients("schemathesis_finds_the_openapi_document_exact") else {
        return;
    };
    let srv = TestServer::start_with(|c| {
        agents(c);
        // Thousands of requests from one address, many with made-up or no credentials:
        // what is tested here is the document, not the limiter.
        let plenty = NonZeroU32::new(1_000_000).unwrap();
        crate::common::rate_limit(c, plenty.get(), plenty.get());
        c.server.rate_limit.failed_auth_per_minute = plenty;
        c.server.limits.registrations_per_hour = plenty;
    })
    .await;
    let alice = srv.register("alice").await;
    let bob = srv.register("bob").await;
    srv.connect(&alice, &bob, "friends").await;
    let (_, app) = token(&srv, &["agent:*", "dashboard:write"], None).await;

    let config = repo("tests/py/schemathesis.toml");
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("{}/openapi.json", srv.base);
    let report = dir.path().join("report");
    let mut args = vec![
        "--config-file",
        config.to_str().unwrap(),
        "run",
        &schema,
        // Every check runs (schemathesis 4's default); `--checks all` here would also
        // override the exceptions the config file makes per operation.
        "--seed",
        SEED,
        "--max-examples",
        EXAMPLES,
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
        "--report-dir",
        report.to_str().unwrap(),
    ];
    for path in STREAMS {
        args.extend(["--exclude-path", path]);
    }
    let env = [
        ("AGENTX_API_KEY", alice.key.as_str()),
        ("AGENTX_TOKEN", app.as_str()),
        ("AGENTX_ADMIN_KEY", ADMIN_KEY),
    ];
    // In the temporary directory: schemathesis keeps a cache of crashes where it runs.
    let run = (args.as_slice(), dir.path());
    let output = run_tool(&python, "schemathesis", run, &env, Duration::from_secs(300)).await;
    eprintln!("{output}");
}
