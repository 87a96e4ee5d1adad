//! Messages: send refusals, long-poll and inbox, acknowledgement, idempotency, threads, and
//! durability across a restart.

use crate::common::{TestAgent, TestServer, assert_error, message_ids, sent_order};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Two agents connected as friends.
async fn pair(srv: &TestServer) -> (TestAgent, TestAgent, String) {
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    let connection = srv.connect(&ada, &bob, "friends").await;
    (ada, bob, connection)
}

/// A send to oneself is 400, to an unknown agent 404, to an agent one is not connected to
/// 403; none of them creates anything.
#[tokio::test]
async fn send_refusals_about_the_recipient() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let stranger = srv.register("stranger").await;
    let reply = srv.send(&ada, &ada, json!({})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, None);
    assert_eq!(reply.1["field"], "to_agent_id");
    let reply = srv
        .post(
            "/messages",
            &ada.key,
            json!({"to_agent_id": "00000000-0000-4000-8000-000000000000", "content": "hi"}),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
    let reply = srv.send(&ada, &stranger, json!({})).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    for agent in [&ada, &bob, &stranger] {
        assert_eq!(srv.inbox(agent, 50).await["count"], 0);
        let (_, threads) = srv.get("/messages/threads", &agent.key).await;
        assert_eq!(threads, json!([]));
    }
}

/// An unknown thread is 404; a thread of another connection is 403, whether the sender is
/// in that connection or not.
#[tokio::test]
async fn send_refusals_about_the_thread() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let cid = srv.register("cid").await;
    srv.connect(&ada, &cid, "friends").await;
    let thread = srv.sent(&ada, &bob, json!({})).await["thread_id"].clone();

    let reply = srv
        .send(&ada, &bob, json!({"thread_id": "no-such-thread"}))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
    // Ada is in the thread's connection, but Cid is not.
    let reply = srv.send(&ada, &cid, json!({"thread_id": thread})).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    // Cid is not in it at all.
    let reply = srv.send(&cid, &ada, json!({"thread_id": thread})).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert_eq!(srv.inbox(&cid, 50).await["count"], 0);
    assert_eq!(srv.inbox(&ada, 50).await["count"], 0);
}

/// Missing, empty or blank content, an unknown message_type and an unknown category are 422
/// naming the field; a missing recipient too.
#[tokio::test]
async fn send_validation_names_the_field() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    for (body, field) in [
        (json!({"to_agent_id": bob.id}), "content"),
        (json!({"to_agent_id": bob.id, "content": ""}), "content"),
        (
            json!({"to_agent_id": bob.id, "content": "  \n "}),
            "content",
        ),
        (json!({"to_agent_id": bob.id, "content": 7}), "content"),
        (json!({"content": "hi"}), "to_agent_id"),
        (
            json!({"to_agent_id": bob.id, "content": "hi", "message_type": "shout"}),
            "message_type",
        ),
        (
            json!({"to_agent_id": bob.id, "content": "hi", "category": "gossip"}),
            "category",
        ),
    ] {
        let reply = srv.post("/messages", &ada.key, body).await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    assert_eq!(srv.inbox(&bob, 50).await["count"], 0);
}

/// A sent message has the contract's shape: every type is accepted and echoed, the subject
/// is the one given or the content's first line, content is kept as sent.
#[tokio::test]
async fn message_shape_types_and_subjects() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    for kind in ["text", "query", "response", "update", "request"] {
        let message = srv
            .sent(&ada, &bob, json!({"message_type": kind, "content": kind}))
            .await;
        assert_eq!(message["message_type"], kind);
    }
    let message = srv
        .sent(
            &ada,
            &bob,
            json!({"content": "  first line\nsecond line", "category": "info"}),
        )
        .await;
    for field in [
        "id",
        "thread_id",
        "from_agent_id",
        "to_agent_id",
        "message_type",
        "category",
        "content",
        "status",
        "created_at",
        "acknowledged_at",
        "permission",
    ] {
        assert!(message.get(field).is_some(), "{field}: {message}");
    }
    assert_eq!(message["from_agent_id"], ada.id.as_str());
    assert_eq!(message["to_agent_id"], bob.id.as_str());
    assert_eq!(message["content"], "  first line\nsecond line");
    assert_eq!(message["status"], "sent");
    assert_eq!(message["acknowledged_at"], Value::Null);
    let thread = message["thread_id"].as_str().unwrap();
    let (_, body) = srv
        .get(&format!("/messages/thread/{thread}"), &bob.key)
        .await;
    assert_eq!(body["thread"]["subject"], "first line");
    for field in [
        "id",
        "connection_id",
        "subject",
        "status",
        "created_at",
        "last_message_at",
    ] {
        assert!(body["thread"].get(field).is_some(), "{field}: {body}");
    }
}

/// The stream's timeout must be an integer from 1 to 60: anything else is 422 naming it.
#[tokio::test]
async fn stream_timeout_is_validated() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    for bad in ["0", "61", "abc", "-1", "1.5", ""] {
        let reply = srv
            .get(&format!("/messages/stream?timeout={bad}"), &ada.key)
            .await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some("timeout"));
    }
}

/// The inbox limit must be an integer from 1 to 200 (422 naming it); the limit is honoured
/// and the rest stays queued, oldest first.
#[tokio::test]
async fn inbox_limit_is_validated_and_honoured() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    for bad in ["0", "201", "many"] {
        let reply = srv
            .get(&format!("/messages/inbox?limit={bad}"), &bob.key)
            .await;
        assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some("limit"));
    }
    let mut sent = Vec::new();
    for i in 0..7 {
        let m = srv
            .sent(&ada, &bob, json!({"content": format!("m{i}")}))
            .await;
        sent.push(m["id"].as_str().unwrap().to_owned());
    }
    let first = srv.inbox(&bob, 3).await;
    assert_eq!(first["instructions_version"], "4");
    assert_eq!(first["announcements"], json!([]));
    // The oldest are taken first, so none waits behind newer ones; each answer lists its
    // messages newest first.
    assert_eq!(sent_order(&first), sent[..3]);
    let rest = srv.inbox(&bob, 200).await;
    assert_eq!(sent_order(&rest), sent[3..]);
    assert_eq!(srv.inbox(&bob, 200).await["count"], 0);
}

/// Without a limit the inbox hands out 50 at most.
#[tokio::test]
async fn inbox_default_limit_is_50() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let sends = (0..55).map(|i| srv.send(&ada, &bob, json!({"content": format!("m{i}")})));
    for (status, body) in futures::future::join_all(sends).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, first) = srv.get("/messages/inbox", &bob.key).await;
    assert_eq!(first["count"], 50);
    assert_eq!(srv.inbox(&bob, 200).await["count"], 5);
}

/// The stream answers at once when something is pending, and a stream waiting with a long
/// timeout returns promptly when a message arrives (well within 2 s of the send).
#[tokio::test]
async fn stream_returns_at_once_and_wakes_on_send() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;

    let pending = srv.sent(&ada, &bob, json!({"content": "early"})).await;
    let started = Instant::now();
    let inbox = srv.stream(&bob, 30).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered at once"
    );
    assert_eq!(message_ids(&inbox), [pending["id"].as_str().unwrap()]);
    assert_eq!(inbox["messages"][0]["status"], "delivered");

    let waiting = tokio::spawn({
        let (base, key) = (srv.base.clone(), bob.key.clone());
        async move {
            let response = reqwest::Client::new()
                .get(format!("{base}/messages/stream?timeout=30"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let answered = Instant::now();
            (response.json::<Value>().await.unwrap(), answered)
        }
    });
    // Not needed for the test to pass (a stream that starts after the send answers at once),
    // only to make it likely that the stream is already waiting when the message lands.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent_at = Instant::now();
    let message = srv.sent(&ada, &bob, json!({"content": "late"})).await;
    let (inbox, answered) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the stream answers long before its 30 s")
        .unwrap();
    assert!(
        answered.duration_since(sent_at) < Duration::from_secs(2),
        "woken promptly"
    );
    assert_eq!(message_ids(&inbox), [message["id"].as_str().unwrap()]);
}

/// With nothing pending the stream answers an empty inbox once its timeout is up.
#[tokio::test]
async fn stream_times_out_empty() {
    let srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let started = Instant::now();
    let inbox = srv.stream(&ada, 1).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        inbox,
        json!({"messages": [], "count": 0, "announcements": [], "instructions_version": "4"})
    );
}

/// Each message is handed out once across stream and inbox together, and stays readable in
/// its thread afterwards.
#[tokio::test]
async fn each_message_is_handed_out_once() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let m = srv
            .sent(&ada, &bob, json!({"content": format!("m{i}")}))
            .await;
        sent.push(m["id"].as_str().unwrap().to_owned());
    }
    let mut seen = sent_order(&srv.inbox(&bob, 2).await);
    seen.extend(sent_order(&srv.stream(&bob, 5).await));
    seen.extend(sent_order(&srv.inbox(&bob, 200).await));
    assert_eq!(seen, sent);
    // Nothing more is pending: a concurrent inbox and stream both come back empty.
    let (inbox, stream) = tokio::join!(srv.inbox(&bob, 200), srv.stream(&bob, 1));
    assert_eq!(
        (inbox["count"].clone(), stream["count"].clone()),
        (json!(0), json!(0))
    );

    let thread = srv.sent(&ada, &bob, json!({"content": "x"})).await["thread_id"].clone();
    let (_, threads) = srv.get("/messages/threads", &bob.key).await;
    assert_eq!(threads.as_array().unwrap().len(), 6);
    let (_, body) = srv
        .get(
            &format!("/messages/thread/{}", thread.as_str().unwrap()),
            &bob.key,
        )
        .await;
    assert_eq!(body["messages"][0]["status"], "sent");
}

/// Acknowledging marks a message read with `acknowledged_at`; unknown ids are 404 and only
/// the recipient may acknowledge (403, also for the sender). Repeating an ack is harmless.
#[tokio::test]
async fn acknowledge_rules() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let eve = srv.register("eve").await;
    let message = srv.sent(&ada, &bob, json!({"content": "ack me"})).await;
    let id = message["id"].as_str().unwrap();
    let path = format!("/messages/{id}/ack");

    let reply = srv.post("/messages/unknown/ack", &bob.key, json!({})).await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
    for other in [&ada, &eve] {
        let reply = srv.post(&path, &other.key, json!({})).await;
        assert_error(&reply, StatusCode::FORBIDDEN, None);
    }
    srv.inbox(&bob, 50).await;
    for _ in 0..2 {
        let (status, body) = srv.post(&path, &bob.key, json!({})).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"status": "acknowledged"}))
        );
    }
    // An ack needs no body.
    let request = srv.request(Method::POST, &path).bearer_auth(&bob.key);
    let (status, _, _) = srv.exec(request).await;
    assert_eq!(status, StatusCode::OK);

    let (_, body) = srv
        .get(
            &format!(
                "/messages/thread/{}",
                message["thread_id"].as_str().unwrap()
            ),
            &ada.key,
        )
        .await;
    let stored = &body["messages"][0];
    assert_eq!(stored["status"], "read");
    assert!(stored["acknowledged_at"].is_string(), "{stored}");
}

/// A message acknowledged before any poll took it is not handed out afterwards.
#[tokio::test]
async fn ack_before_poll_is_not_handed_out() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let first = srv.sent(&ada, &bob, json!({"content": "one"})).await;
    let second = srv.sent(&ada, &bob, json!({"content": "two"})).await;
    let id = first["id"].as_str().unwrap();
    let (status, _) = srv
        .post(&format!("/messages/{id}/ack"), &bob.key, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let inbox = srv.inbox(&bob, 50).await;
    assert_eq!(message_ids(&inbox), [second["id"].as_str().unwrap()]);
    assert_eq!(srv.stream(&bob, 1).await["count"], 0);
}

/// A client that gives up on a stream mid-wait loses nothing: a message sent afterwards is
/// returned by its next poll.
#[tokio::test]
async fn dropped_poll_loses_nothing() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    for _ in 0..3 {
        // The client gives up after 200 ms and closes its connection.
        let impatient = reqwest::Client::new();
        let result = impatient
            .get(format!("{}/messages/stream?timeout=30", srv.base))
            .bearer_auth(&bob.key)
            .timeout(Duration::from_millis(200))
            .send()
            .await;
        assert!(result.unwrap_err().is_timeout());
        drop(impatient);

        let message = srv
            .sent(&ada, &bob, json!({"content": "after the drop"}))
            .await;
        let inbox = srv.stream(&bob, 10).await;
        assert_eq!(message_ids(&inbox), [message["id"].as_str().unwrap()]);
    }
}

/// The same Idempotency-Key from the same agent returns the first message and creates
/// nothing; from another agent it is a different message; a day later it is new again.
#[tokio::test]
async fn idempotency_key() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let srv = &srv;
    let send = |from: &TestAgent, to: &TestAgent, key: &str, content: &str| {
        let request = srv
            .request(Method::POST, "/messages")
            .bearer_auth(&from.key)
            .header("Idempotency-Key", key)
            .json(&json!({"to_agent_id": to.id, "content": content}));
        async move {
            let (status, _, body) = srv.exec(request).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let first = send(&ada, &bob, "retry-1", "hello").await;
    let again = send(&ada, &bob, "retry-1", "hello").await;
    assert_eq!(again["id"], first["id"]);
    let altered = send(&ada, &bob, "retry-1", "something else").await;
    assert_eq!(altered["id"], first["id"], "the key decides, not the body");
    assert_eq!(altered["content"], "hello");

    let thread = first["thread_id"].as_str().unwrap();
    let (_, body) = srv
        .get(&format!("/messages/thread/{thread}"), &ada.key)
        .await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    let (_, threads) = srv.get("/messages/threads", &ada.key).await;
    assert_eq!(threads.as_array().unwrap().len(), 1);
    assert_eq!(message_ids(&srv.inbox(&bob, 50).await).len(), 1);

    let theirs = send(&bob, &ada, "retry-1", "hello").await;
    assert_ne!(theirs["id"], first["id"], "keys are per sender");
    let other_key = send(&ada, &bob, "retry-2", "hello").await;
    assert_ne!(other_key["id"], first["id"]);

    // Concurrent retries with one key still make one message.
    let racing =
        futures::future::join_all((0..8).map(|_| send(&ada, &bob, "retry-3", "race"))).await;
    let ids: HashSet<&Value> = racing.iter().map(|m| &m["id"]).collect();
    assert_eq!(ids.len(), 1, "{racing:?}");

    srv.clock
        .advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    let later = send(&ada, &bob, "retry-1", "hello").await;
    assert_ne!(later["id"], first["id"], "the window is 24 h");
    let repeat = send(&ada, &bob, "retry-1", "hello").await;
    assert_eq!(repeat["id"], later["id"]);
    let inbox = srv.inbox(&bob, 50).await;
    assert_eq!(
        sent_order(&inbox),
        [
            other_key["id"].as_str().unwrap(),
            racing[0]["id"].as_str().unwrap(),
            later["id"].as_str().unwrap()
        ]
    );
}

/// An empty, oversized or non-ASCII Idempotency-Key is 400 naming the header.
#[tokio::test]
async fn idempotency_key_is_validated() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    for key in [String::new(), "k".repeat(256)] {
        let request = srv
            .request(Method::POST, "/messages")
            .bearer_auth(&ada.key)
            .header("Idempotency-Key", key)
            .json(&json!({"to_agent_id": bob.id, "content": "hi"}));
        let (status, _, body) = srv.exec(request).await;
        assert_error(
            &(status, body),
            StatusCode::BAD_REQUEST,
            Some("Idempotency-Key"),
        );
    }
    let request = srv
        .request(Method::POST, "/messages")
        .bearer_auth(&ada.key)
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes("clé".as_bytes()).unwrap(),
        )
        .json(&json!({"to_agent_id": bob.id, "content": "hi"}));
    let (status, _, body) = srv.exec(request).await;
    assert_error(
        &(status, body),
        StatusCode::BAD_REQUEST,
        Some("Idempotency-Key"),
    );
    assert_eq!(srv.inbox(&bob, 50).await["count"], 0);
}

/// Threads are listed by most recent activity first; a thread's messages come oldest first.
#[tokio::test]
async fn thread_ordering() {
    let srv = TestServer::start().await;
    let (ada, bob, connection) = pair(&srv).await;
    let tick = || srv.clock.advance(chrono::Duration::seconds(1));
    let first = srv
        .sent(
            &ada,
            &bob,
            json!({"content": "a1", "thread_subject": "first"}),
        )
        .await;
    tick();
    let second = srv
        .sent(
            &bob,
            &ada,
            json!({"content": "b1", "thread_subject": "second"}),
        )
        .await;
    tick();
    let t1 = first["thread_id"].as_str().unwrap();
    let t2 = second["thread_id"].as_str().unwrap();

    let subjects = |threads: &Value| -> Vec<String> {
        threads
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, threads) = srv.get("/messages/threads", &ada.key).await;
    assert_eq!(subjects(&threads), ["second", "first"]);
    assert_eq!(threads[0]["connection_id"], connection.as_str());

    let reply = srv
        .sent(
            &bob,
            &ada,
            json!({"content": "a2", "thread_id": t1, "thread_subject": "ignored"}),
        )
        .await;
    assert_eq!(reply["thread_id"], t1);
    tick();
    srv.sent(&ada, &bob, json!({"content": "a3", "thread_id": t1}))
        .await;
    for agent in [&ada, &bob] {
        let (_, threads) = srv.get("/messages/threads", &agent.key).await;
        assert_eq!(subjects(&threads), ["first", "second"]);
        let at = |i: usize| {
            threads[i]["last_message_at"]
                .as_str()
                .unwrap()
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        };
        assert!(at(0) > at(1), "{threads}");
    }

    let (status, body) = srv.get(&format!("/messages/thread/{t1}"), &bob.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["thread"]["subject"], "first");
    let contents: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["a1", "a2", "a3"]);
    let (_, body) = srv.get(&format!("/messages/thread/{t2}"), &bob.key).await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);

    let reply = srv.get("/messages/thread/no-such-thread", &bob.key).await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
}

/// After a restart on the same data directory every acknowledged message is still read with
/// its `acknowledged_at`, every thread is intact, and the queue picks up where it was.
#[tokio::test]
async fn restart_keeps_acknowledged_messages_and_threads() {
    let mut srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let mut acked = Vec::new();
    for i in 0..4 {
        let m = srv
            .sent(&ada, &bob, json!({"content": format!("acked {i}")}))
            .await;
        acked.push(m);
    }
    srv.inbox(&bob, 50).await;
    for m in &acked {
        let id = m["id"].as_str().unwrap();
        let (status, _) = srv
            .post(&format!("/messages/{id}/ack"), &bob.key, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let queued = srv.sent(&bob, &ada, json!({"content": "unread"})).await;
    let (_, threads_before) = srv.get("/messages/threads", &ada.key).await;

    srv.restart().await;

    let (_, threads_after) = srv.get("/messages/threads", &ada.key).await;
    assert_eq!(threads_after, threads_before);
    for m in &acked {
        let thread = m["thread_id"].as_str().unwrap();
        let (status, body) = srv
            .get(&format!("/messages/thread/{thread}"), &bob.key)
            .await;
        assert_eq!(status, StatusCode::OK);
        let stored = &body["messages"][0];
        assert_eq!(stored["id"], m["id"]);
        assert_eq!(stored["status"], "read");
        assert!(stored["acknowledged_at"].is_string());
    }
    assert_eq!(
        srv.inbox(&bob, 50).await["count"],
        0,
        "nothing handed out twice"
    );
    let inbox = srv.inbox(&ada, 50).await;
    assert_eq!(message_ids(&inbox), [queued["id"].as_str().unwrap()]);
}

/// The session token (JWT) from /auth/login works for messaging like the API key.
#[tokio::test]
async fn session_token_can_message() {
    let srv = TestServer::start().await;
    let (ada, bob, _) = pair(&srv).await;
    let token = &srv.session(&ada).await;
    let (status, message) = srv
        .post(
            "/messages",
            token,
            json!({"to_agent_id": bob.id, "content": "via session"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["from_agent_id"], ada.id.as_str());
}

/// A failure while looking the recipient up (here its record no longer reads) is a 500, not
/// a 404 telling the sender that the agent does not exist.
#[tokio::test]
async fn a_broken_recipient_record_is_an_internal_error_not_a_missing_recipient() {
    let mut srv = TestServer::start().await;
    let ada = srv.register("ada").await;
    let bob = srv.register("bob").await;
    srv.connect(&ada, &bob, "friends").await;
    srv.stop().await;
    {
        // Fault injection: overwrite bob's row in the store's `agents` table with bytes that
        // are not a record.
        let db = redb::Database::create(srv.data_dir().join("agentx.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let agents = redb::TableDefinition::<&str, &[u8]>::new("agents");
        txn.open_table(agents)
            .unwrap()
            .insert(bob.id.as_str(), b"not a record".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    srv.restart().await;
    let message = json!({"to_agent_id": bob.id, "content": "hi"});
    let (status, body) = srv.post("/messages", &ada.key, message).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
}
