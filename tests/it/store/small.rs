//! Tokens, plugin memory, chat turns, and the operator's lists a page at a time.

use super::*;
use agentx::store::{MemoryQuota, Page, Paged, Rejection, StoreError};

fn token(name: &str, created_at: DateTime<Utc>) -> ApiToken {
    ApiToken {
        id: id(),
        name: name.into(),
        scopes: vec![Scope::AnyAgent],
        created_at,
        expires_at: None,
        revoked_at: None,
    }
}

pub async fn tokens_are_found_by_hash_and_revoked_once(s: &Backend) {
    let (older, newer) = (
        token("older", now()),
        token("newer", now() + chrono::Duration::seconds(1)),
    );
    s.store
        .insert_token(newer.clone(), key_hash("newer"))
        .await
        .unwrap();
    s.store
        .insert_token(older.clone(), key_hash("older"))
        .await
        .unwrap();
    let found = s
        .store
        .token_by_hash(key_hash("newer"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id.as_str(), found.scopes.clone()),
        (newer.id.as_str(), vec![Scope::AnyAgent])
    );
    assert!(
        s.store
            .token_by_hash(key_hash("none"))
            .await
            .unwrap()
            .is_none()
    );
    let names: Vec<String> = s
        .store
        .tokens(Page::ALL)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["older", "newer"], "oldest first");

    // Found once before it is revoked, so a store that keeps what it found must forget it.
    let before = s.store.token_by_hash(key_hash("older")).await.unwrap();
    assert_eq!(before.map(|t| t.revoked_at), Some(None));
    let at = now();
    let revoked = s.store.revoke_token(&older.id, at).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    let again = s
        .store
        .revoke_token(&older.id, at + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(at), "the first revocation is kept");
    let by_hash = s
        .store
        .token_by_hash(key_hash("older"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        by_hash.revoked_at,
        Some(at),
        "revoked tokens are still found, to be refused"
    );
    assert_eq!(
        rejection(s.store.revoke_token("nope", at).await),
        Rejection::NotFound
    );
}

pub async fn memory_is_per_agent_with_a_key_quota(s: &Backend) {
    let m = &s.store;
    // Generous per conversation: this case is about the agent's quota.
    let quota = MemoryQuota {
        per_agent: 3,
        per_conversation: 3,
    };
    m.memory_set("ada", "c1", "notes/a", "1", quota)
        .await
        .unwrap();
    m.memory_set("ada", "c2", "notes/b", "2", quota)
        .await
        .unwrap();
    m.memory_set("ada", "c1", "other", "3", quota)
        .await
        .unwrap();
    m.memory_set("bob", "c1", "notes/a", "bob's", quota)
        .await
        .unwrap();
    assert_eq!(
        m.memory_get("ada", "notes/a").await.unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(
        m.memory_get("bob", "notes/a").await.unwrap().as_deref(),
        Some("bob's")
    );
    assert!(m.memory_get("ada", "missing").await.unwrap().is_none());
    assert_eq!(
        m.memory_keys("ada", "notes/").await.unwrap(),
        ["notes/a", "notes/b"]
    );
    assert_eq!(m.memory_keys("ada", "").await.unwrap().len(), 3);

    let over = m.memory_set("ada", "c3", "fourth", "4", quota).await;
    assert_eq!(rejection(over), Rejection::QuotaExceeded);
    assert!(m.memory_get("ada", "fourth").await.unwrap().is_none());
    m.memory_set("ada", "c3", "other", "overwritten", quota)
        .await
        .unwrap();
    assert_eq!(
        m.memory_get("ada", "other").await.unwrap().as_deref(),
        Some("overwritten")
    );

    assert!(m.memory_delete("ada", "other").await.unwrap());
    assert!(!m.memory_delete("ada", "other").await.unwrap());
    m.memory_set("ada", "c3", "fourth", "4", quota)
        .await
        .unwrap();
    assert_eq!(m.memory_keys("bob", "").await.unwrap(), ["notes/a"]);
}

pub async fn memory_quota_per_conversation(s: &Backend) {
    let m = &s.store;
    let quota = MemoryQuota {
        per_agent: 10,
        per_conversation: 2,
    };
    m.memory_set("ada", "chat:x", "a", "1", quota)
        .await
        .unwrap();
    m.memory_set("ada", "chat:x", "b", "1", quota)
        .await
        .unwrap();
    let over = m.memory_set("ada", "chat:x", "c", "1", quota).await;
    assert_eq!(rejection(over), Rejection::QuotaExceeded);
    assert!(m.memory_get("ada", "c").await.unwrap().is_none());
    // Rewriting a key, even one another conversation created, creates nothing.
    m.memory_set("ada", "chat:x", "a", "2", quota)
        .await
        .unwrap();
    m.memory_set("ada", "chat:y", "c", "1", quota)
        .await
        .unwrap();
    m.memory_set("ada", "chat:x", "c", "2", quota)
        .await
        .unwrap();
    // The same conversation name under another agent is counted apart.
    m.memory_set("bob", "chat:x", "a", "1", quota)
        .await
        .unwrap();
    // Deleting a key gives its creator the room back.
    assert!(m.memory_delete("ada", "a").await.unwrap());
    m.memory_set("ada", "chat:x", "d", "1", quota)
        .await
        .unwrap();
    assert_eq!(m.memory_keys("ada", "").await.unwrap(), ["b", "c", "d"]);
}

fn turn(role: ChatRole, content: &str) -> ChatTurn {
    ChatTurn {
        role,
        sender: "web".into(),
        content: content.into(),
        at: now(),
    }
}

pub async fn chat_turns_are_kept_per_chat(s: &Backend) {
    let turns = (0..5).map(|i| {
        turn(
            if i % 2 == 0 {
                ChatRole::Incoming
            } else {
                ChatRole::Outgoing
            },
            &format!("t{i}"),
        )
    });
    s.store
        .append_chat("bot", "c1", turns.collect())
        .await
        .unwrap();
    s.store
        .append_chat("bot", "c2", vec![turn(ChatRole::Incoming, "other chat")])
        .await
        .unwrap();
    s.store
        .append_chat("bot2", "c1", vec![turn(ChatRole::Incoming, "other agent")])
        .await
        .unwrap();
    s.store
        .append_chat("bot", "c1", vec![turn(ChatRole::Outgoing, "t5")])
        .await
        .unwrap();

    let contents = |t: Vec<ChatTurn>| t.into_iter().map(|t| t.content).collect::<Vec<_>>();
    assert_eq!(
        contents(s.store.chat_turns("bot", "c1", 3).await.unwrap()),
        ["t3", "t4", "t5"],
        "the last, oldest first"
    );
    let all = s.store.chat_turns("bot", "c1", 100).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(
        (all[0].role, all[5].role),
        (ChatRole::Incoming, ChatRole::Outgoing)
    );
    assert_eq!(
        contents(s.store.chat_turns("bot", "c2", 10).await.unwrap()),
        ["other chat"]
    );
    assert!(
        s.store
            .chat_turns("bot", "none", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn a2a_task(token: &str, agent: &str, message_id: &str, at: DateTime<Utc>) -> A2aTask {
    A2aTask {
        id: id(),
        agent: agent.into(),
        token_id: token.into(),
        context_id: "ctx".into(),
        message_id: message_id.into(),
        request: "hello".into(),
        state: A2aState::Working,
        reply: None,
        error: None,
        created_at: at,
        updated_at: at,
        runner: "runner-1".into(),
    }
}

pub async fn a2a_tasks_are_per_token_and_deduplicated_by_message_id(s: &Backend) {
    let earlier = now() - chrono::Duration::seconds(10);
    let first = s
        .store
        .insert_a2a_task(a2a_task("t1", "bot", "m1", earlier))
        .await
        .unwrap();
    let retry = s
        .store
        .insert_a2a_task(a2a_task("t1", "bot", "m1", now()))
        .await
        .unwrap();
    assert_eq!(retry, first, "the same message id gets the first task back");
    // The same message id from another token, or to another agent, is another task.
    let other_token = a2a_task("t2", "bot", "m1", now());
    assert_eq!(
        s.store.insert_a2a_task(other_token.clone()).await.unwrap(),
        other_token
    );
    let other_agent = a2a_task("t1", "bot2", "m1", now());
    assert_eq!(
        s.store.insert_a2a_task(other_agent.clone()).await.unwrap(),
        other_agent
    );
    let second = a2a_task("t1", "bot", "m2", now());
    s.store.insert_a2a_task(second.clone()).await.unwrap();

    let mut done = first.clone();
    done.state = A2aState::Completed;
    done.reply = Some("hi".into());
    s.store.update_a2a_task(done.clone()).await.unwrap();
    assert_eq!(
        s.store.a2a_task("t1", &first.id).await.unwrap(),
        Some(done.clone())
    );
    assert_eq!(
        s.store.a2a_task("t2", &first.id).await.unwrap(),
        None,
        "another token cannot read it"
    );
    let ids = |tasks: Vec<A2aTask>| tasks.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.store.a2a_tasks("t1", "bot").await.unwrap()),
        [second.id.clone(), first.id.clone()],
        "the token's tasks with the agent, newest first"
    );
    assert!(s.store.a2a_tasks("t3", "bot").await.unwrap().is_empty());

    let mut stranger = a2a_task("t1", "bot", "m3", now());
    stranger.state = A2aState::Failed;
    assert!(matches!(
        s.store.update_a2a_task(stranger).await,
        Err(StoreError::Rejected(Rejection::NotFound))
    ));
}

/// Every token's working tasks are found in one scan, and only those; a lease of a shared
/// store is held while a node holds it (a store only one node uses knows no other holder).
pub async fn working_a2a_tasks_and_held_leases(s: &Backend) {
    let working = s
        .store
        .insert_a2a_task(a2a_task("t1", "bot", "m1", now()))
        .await
        .unwrap();
    let other = s
        .store
        .insert_a2a_task(a2a_task("t2", "bot2", "m1", now()))
        .await
        .unwrap();
    let mut done = s
        .store
        .insert_a2a_task(a2a_task("t1", "bot", "m2", now()))
        .await
        .unwrap();
    done.state = A2aState::Completed;
    s.store.update_a2a_task(done).await.unwrap();
    let mut found = s.store.working_a2a_tasks().await.unwrap();
    found.sort_by(|a, b| a.token_id.cmp(&b.token_id));
    assert_eq!(found, [working, other]);

    assert!(!s.store.lease_is_held("a-lease").await.unwrap());
    let lease = s
        .store
        .lease("a-lease", tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(s.store.lease_is_held("a-lease").await.unwrap(), s.shared);
    assert!(!s.store.lease_is_held("another-lease").await.unwrap());
    drop(lease);
    if s.shared {
        // The lease is let go on its own connection's time: wait for it.
        crate::common::eventually(
            std::time::Duration::from_secs(10),
            "a dropped lease is free",
            || async { !s.store.lease_is_held("a-lease").await.unwrap() },
        )
        .await;
    }
}

/// The operator's lists (agents, tokens oldest first; announcements newest first) come a
/// page at a time with the whole list's length: the pages, in turn, are the whole list in
/// order, a page past the end is empty, and renaming a hosted agent adds no entry.
pub async fn lists_are_read_a_page_at_a_time(s: &Backend) {
    let base = now();
    let at = |seconds: i64| base + chrono::Duration::seconds(seconds);
    // Inserted out of order, ids unlike their age; two share a creation time (then by id).
    for (id, age) in [
        ("g", 3),
        ("c", 0),
        ("e", 5),
        ("a", 4),
        ("f", 1),
        ("b", 1),
        ("d", 6),
    ] {
        let agent = Agent::hosted(id, id, at(age));
        s.store.ensure_hosted_agents(vec![agent]).await.unwrap();
    }
    s.store
        .ensure_hosted_agents(vec![Agent::hosted("g", "renamed", at(9))])
        .await
        .unwrap();
    let ids = |paged: Paged<Agent>| -> (Vec<String>, usize) {
        (paged.items.into_iter().map(|a| a.id).collect(), paged.total)
    };
    let oldest_first = ["c", "b", "f", "g", "a", "e", "d"];
    let mut walked: Vec<String> = Vec::new();
    for offset in (0..7).step_by(3) {
        let (page, total) = ids(s.store.agents(Page { offset, limit: 3 }).await.unwrap());
        assert_eq!(total, 7);
        assert_eq!(page.len(), 3.min(7 - offset), "page at {offset}: {page:?}");
        walked.extend(page);
    }
    assert_eq!(walked, oldest_first);
    assert_eq!(
        ids(s.store.agents(Page::ALL).await.unwrap()).0,
        oldest_first
    );
    let past = s
        .store
        .agents(Page {
            offset: 7,
            limit: 3,
        })
        .await
        .unwrap();
    assert_eq!((past.items.len(), past.total), (0, 7));

    for (n, age) in [(0, 2), (1, 0), (2, 1)] {
        let token = token(&format!("t{age}"), at(age));
        s.store
            .insert_token(token, key_hash(&format!("t{n}")))
            .await
            .unwrap();
    }
    let tokens = s
        .store
        .tokens(Page {
            offset: 1,
            limit: 5,
        })
        .await
        .unwrap();
    let names: Vec<_> = tokens.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!((names, tokens.total), (vec!["t1", "t2"], 3));

    for title in ["one", "two", "three", "four"] {
        s.store
            .insert_announcement(announcement(title))
            .await
            .unwrap();
    }
    let page = s
        .store
        .announcements(Page {
            offset: 1,
            limit: 2,
        })
        .await
        .unwrap();
    let titles: Vec<_> = page.items.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(
        (titles, page.total),
        (vec!["three", "two"], 4),
        "newest first"
    );
    let empty = s
        .store
        .announcements(Page {
            offset: 4,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!((empty.items.len(), empty.total), (0, 4));
}
