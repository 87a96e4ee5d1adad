//! The example plugins of examples/plugins, one per guest language (WAT, JavaScript, Python,
//! C), each hosted from the sample examples/plugins/agentx.json and answering real tasks
//! through the daemon's `POST /task`. The Python and C ones import WASI; the host links a
//! deny-all WASI for them, which the `sandbox` probe shows: no host file, no environment.

use crate::common::{ADMIN_KEY, TestServer};
use crate::common::{daemon, repo};
use agentx::clock::Clock;
use agentx::config::Config;
use chrono::{DateTime, TimeDelta, Timelike};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A server hosting only `agent`, as examples/plugins/agentx.json configures it, so each
/// test compiles only its own example.
async fn host(agent: &str) -> TestServer {
    let path = repo("examples/plugins/agentx.json");
    let mut sample = Config::load(&path).expect("the examples' agentx.json loads");
    let agent_config = sample
        .agents
        .remove(agent)
        .expect("the agent is configured");
    TestServer::start_with(move |c| {
        c.agents.insert(agent.to_owned(), agent_config);
    })
    .await
}

/// `POST /task` to `agent` from `sender` in `chat`; the reply's content.
async fn task(srv: &TestServer, agent: &str, sender: &str, chat: &str, message: &str) -> String {
    let (status, reply) = daemon(
        srv,
        Method::POST,
        "/task",
        Some(ADMIN_KEY),
        Some(json!({"agent": agent, "message": message,
                    "context": {"sender": sender, "chatId": chat}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply["content"].as_str().expect("content").to_owned()
}

/// A file and an environment variable that certainly exist in the host process, for the
/// sandbox probes to fail to see.
fn host_secrets() -> (String, &'static str) {
    let file = repo("Cargo.toml").canonicalize().unwrap();
    assert!(std::fs::read(&file).is_ok() && std::env::var_os("PATH").is_some());
    (file.display().to_string(), "PATH")
}

/// The hand-written WAT greeter quotes the message and, granted `clock`, gives the host's
/// time (the test server's clock, moved far from the system's); an empty message gets no
/// reply.
/// The agent's `sandbox <file> <var>` probe finds neither a host file nor a host
/// environment variable (nor any variable at all) through WASI.
async fn assert_sees_nothing_of_the_host(srv: &TestServer, agent: &str) {
    let (file, var) = host_secrets();
    let report = task(srv, agent, "alice", "c2", &format!("sandbox {file} {var}")).await;
    assert!(
        report.starts_with(&format!("file {file}: unreadable (")),
        "{report}"
    );
    assert!(
        report.ends_with(&format!("env {var}: unset; environment: 0 variables")),
        "{report}"
    );
}

#[tokio::test]
async fn wat_greeter_quotes_and_tells_the_time() {
    let srv = host("wat-greeter").await;
    srv.clock.advance(TimeDelta::days(400));
    let before = srv.clock.now();
    let reply = task(&srv, "wat-greeter", "alice", "c1", "good morning").await;
    let after = srv.clock.now();
    let time = reply
        .strip_prefix("hello, alice! you said \"good morning\" at ")
        .unwrap_or_else(|| panic!("{reply}"));
    let time = DateTime::parse_from_rfc3339(time).expect("an RFC 3339 time");
    assert!(before <= time && time <= after, "{reply}");
    assert_eq!(task(&srv, "wat-greeter", "alice", "c1", "").await, "");
}

/// The JavaScript greeter counts each sender's messages in the agent's memory.
#[tokio::test]
async fn js_greeter_counts_messages_in_memory() {
    let srv = host("js-greeter").await;
    assert_eq!(
        task(&srv, "js-greeter", "alice", "c1", "hi").await,
        "Hello, alice! You said \"hi\" (your 1st message)."
    );
    assert_eq!(
        task(&srv, "js-greeter", "bob", "c2", "hey").await,
        "Hello, bob! You said \"hey\" (your 1st message)."
    );
    assert_eq!(
        task(&srv, "js-greeter", "alice", "c3", "again").await,
        "Hello, alice! You said \"again\" (your 2nd message)."
    );
}

/// The Python greeter recalls the previous message of the chat from memory, and its
/// runtime's WASI reaches neither the host's files nor its environment.
#[tokio::test]
async fn python_greeter_remembers_and_sees_nothing_of_the_host() {
    let srv = host("python-greeter").await;
    assert_eq!(
        task(&srv, "python-greeter", "alice", "c1", "first").await,
        "Hello, alice! You said \"first\"."
    );
    assert_eq!(
        task(&srv, "python-greeter", "alice", "c1", "second").await,
        "Hello, alice! You said \"second\". Last time you said \"first\"."
    );
    assert_sees_nothing_of_the_host(&srv, "python-greeter").await;
}

/// The C greeter says good morning or good afternoon by the host's clock (moved to 09:30
/// UTC, then to 17:30), and wasi-libc, like Python, reaches no host file or variable.
#[tokio::test]
async fn c_greeter_greets_by_the_clock_and_sees_nothing_of_the_host() {
    let srv = host("c-greeter").await;
    let since_midnight = srv.clock.now().num_seconds_from_midnight() as i64;
    let to_morning = (86_400 + 9 * 3600 + 1800 - since_midnight) % 86_400;
    srv.clock.advance(TimeDelta::seconds(to_morning));
    assert_eq!(
        task(&srv, "c-greeter", "alice", "c1", "  hi there ").await,
        "Good morning, alice! You said \"hi there\"."
    );
    srv.clock.advance(TimeDelta::hours(8));
    assert_eq!(
        task(&srv, "c-greeter", "bob", "c1", "hi").await,
        "Good afternoon, bob! You said \"hi\"."
    );
    assert_eq!(task(&srv, "c-greeter", "bob", "c1", "").await, "");

    assert_sees_nothing_of_the_host(&srv, "c-greeter").await;
    // What the guest wrote to its WASI stderr is in the agent's plugin log, as a warning.
    let (_, status) = daemon(
        &srv,
        Method::GET,
        "/agents/c-greeter/plugins",
        Some(ADMIN_KEY),
        None,
    )
    .await;
    let log = status["responder"]["log"].as_array().unwrap();
    let printed = log.iter().find(|e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("sandbox probe of "))
    });
    let printed = printed.unwrap_or_else(|| panic!("stderr in the log: {status}"));
    assert_eq!(
        (&printed["source"], &printed["level"]),
        (&json!("plugin"), &json!("warn"))
    );
}
