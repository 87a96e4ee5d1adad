//! Threads, messages, the recipients' queues, acknowledgements and announcements.

use super::*;
use agentx::notify::{Notifier, Topic};
use agentx::store::{Page, Rejection};
use std::collections::HashSet;

fn ids(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

pub async fn messages_open_and_continue_threads(s: &Backend) {
    let c = pair(s, "ada", "bob").await;
    let mut woken = s.notifier.subscribe(&Topic::Inbox("bob".into()));
    let first = send_new(s, &c, "ada", "bob", "hello").await;
    assert!(!first.replayed);
    assert!(
        woken.changed().now_or_never().is_some(),
        "the recipient is woken"
    );
    let thread_id = first.message.thread_id.clone();
    let reply = message("bob", "ada", &thread_id, "hi back");
    s.store
        .send_message(NewMessage {
            message: reply.clone(),
            new_thread: None,
            idempotency: None,
        })
        .await
        .unwrap();

    let thread = s.store.thread(&thread_id).await.unwrap().unwrap();
    assert_eq!(thread.connection_id, c.id);
    assert_eq!(thread.last_message_at, reply.created_at);
    let in_thread = s.store.thread_messages(&thread_id).await.unwrap();
    assert_eq!(
        ids(&in_thread),
        [first.message.id.clone(), reply.id.clone()],
        "send order"
    );
    let threads = s.store.threads_of(&c.id).await.unwrap();
    assert_eq!(
        threads.iter().map(|t| &t.id).collect::<Vec<_>>(),
        [&thread_id]
    );
    let stored = s.store.message(&reply.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.content.as_str(), stored.status),
        ("hi back", MessageStatus::Sent)
    );
    assert!(s.store.message("nope").await.unwrap().is_none());
}

pub async fn sends_need_an_active_connection_and_a_thread(s: &Backend) {
    let c = pair(s, "ada", "bob").await;
    let orphan = message("ada", "bob", "no-such-thread", "x");
    let missing = s
        .store
        .send_message(NewMessage {
            message: orphan,
            new_thread: None,
            idempotency: None,
        })
        .await;
    assert_eq!(rejection(missing), Rejection::NotFound);

    let open = send_new(s, &c, "ada", "bob", "before")
        .await
        .message
        .thread_id;
    s.store.remove_connection(&c.id).await.unwrap();
    let late = message("ada", "bob", &open, "after");
    let refused = s
        .store
        .send_message(NewMessage {
            message: late.clone(),
            new_thread: None,
            idempotency: None,
        })
        .await;
    assert_eq!(rejection(refused), Rejection::ConnectionInactive);
    let new_thread = thread(&c);
    let refused = s
        .store
        .send_message(NewMessage {
            message: message("ada", "bob", &new_thread.id, "new"),
            new_thread: Some(new_thread.clone()),
            idempotency: None,
        })
        .await;
    assert_eq!(rejection(refused), Rejection::ConnectionInactive);
    assert!(
        s.store.message(&late.id).await.unwrap().is_none(),
        "nothing stored"
    );
    assert!(
        s.store.thread(&new_thread.id).await.unwrap().is_none(),
        "no thread opened"
    );
}

pub async fn idempotency_keys_replay_within_their_window(s: &Backend) {
    let c = pair(s, "ada", "bob").await;
    let thread = send_new(s, &c, "ada", "bob", "first")
        .await
        .message
        .thread_id;
    let keyed = |content: &str, since| NewMessage {
        message: message("ada", "bob", &thread, content),
        new_thread: None,
        idempotency: Some(("key-1".to_owned(), since)),
    };
    let long_ago = now() - chrono::Duration::days(1);
    let original = s.store.send_message(keyed("one", long_ago)).await.unwrap();
    let replay = s.store.send_message(keyed("two", long_ago)).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.message.id, original.message.id);
    let found = s
        .store
        .idempotent_message("ada", "key-1", long_ago)
        .await
        .unwrap();
    assert_eq!(found.unwrap().id, original.message.id);
    assert!(
        s.store
            .idempotent_message("bob", "key-1", long_ago)
            .await
            .unwrap()
            .is_none()
    );

    // Past the window (the first use is older than `since`), the key makes a new message.
    let later = now() + chrono::Duration::seconds(1);
    assert!(
        s.store
            .idempotent_message("ada", "key-1", later)
            .await
            .unwrap()
            .is_none()
    );
    let fresh = s.store.send_message(keyed("three", later)).await.unwrap();
    assert!(!fresh.replayed);
    assert_ne!(fresh.message.id, original.message.id);
    assert_eq!(s.store.thread_messages(&thread).await.unwrap().len(), 3);
}

pub async fn racing_idempotent_sends_store_one_message(s: &Backend) {
    let c = pair(s, "ada", "bob").await;
    let thread = send_new(s, &c, "ada", "bob", "first")
        .await
        .message
        .thread_id;
    let sends = (0..16).map(|i| {
        let store = s.store.clone();
        let new = NewMessage {
            message: message("ada", "bob", &thread, &format!("try {i}")),
            new_thread: None,
            idempotency: Some(("same".to_owned(), now() - chrono::Duration::hours(1))),
        };
        tokio::spawn(async move { store.send_message(new).await.unwrap() })
    });
    let sent: Vec<Sent> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(sent.iter().filter(|s| !s.replayed).count(), 1);
    let distinct: HashSet<_> = sent.iter().map(|s| s.message.id.clone()).collect();
    assert_eq!(distinct.len(), 1, "every caller gets the one message");
    assert_eq!(s.store.thread_messages(&thread).await.unwrap().len(), 2);
}

pub async fn pending_messages_are_handed_over_once_in_order(s: &Backend) {
    let c = pair(s, "ada", "bob").await;
    assert!(s.store.take_pending("bob", 10).await.unwrap().is_empty());
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            send_new(s, &c, "ada", "bob", &format!("m{i}"))
                .await
                .message
                .id,
        );
    }
    let first = s.store.take_pending("bob", 3).await.unwrap();
    assert_eq!(ids(&first.messages), sent[..3]);
    assert!(
        first
            .messages
            .iter()
            .all(|m| m.status == MessageStatus::Delivered)
    );
    let stored = s.store.message(&sent[0]).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Delivered);
    let rest = s.store.take_pending("bob", 10).await.unwrap();
    assert_eq!(ids(&rest.messages), sent[3..]);
    assert!(s.store.take_pending("bob", 10).await.unwrap().is_empty());
    assert!(
        s.store.take_pending("ada", 10).await.unwrap().is_empty(),
        "per recipient"
    );
}

pub async fn concurrent_takers_get_each_message_once(s: &Backend) {
    let c = pair(s, "ada", "bob").await;
    let sends = (0..60).map(|i| {
        let thread = thread(&c);
        let new = NewMessage {
            message: message("ada", "bob", &thread.id, &format!("m{i}")),
            new_thread: Some(thread),
            idempotency: None,
        };
        let store = s.store.clone();
        tokio::spawn(async move { store.send_message(new).await.unwrap().message.id })
    });
    let sent: HashSet<String> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let takers = (0..8).map(|_| {
        let store = s.store.clone();
        tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let delivery = store.take_pending("bob", 7).await.unwrap();
                if delivery.is_empty() {
                    return taken;
                }
                taken.extend(delivery.messages.into_iter().map(|m| m.id));
            }
        })
    });
    let taken: Vec<String> = futures::future::join_all(takers)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    let distinct: HashSet<String> = taken.iter().cloned().collect();
    assert_eq!(
        taken.len(),
        distinct.len(),
        "a message was handed over twice"
    );
    assert_eq!(distinct, sent, "every message handed over");
}

pub async fn removed_connections_withdraw_queued_messages(s: &Backend) {
    let gone = pair(s, "ada", "bob").await;
    register(s, "cy").await;
    let kept = connect(s, "cy", "bob").await;
    let withdrawn = send_new(s, &gone, "ada", "bob", "withdrawn")
        .await
        .message
        .id;
    let delivered = send_new(s, &kept, "cy", "bob", "kept").await.message.id;
    s.store.remove_connection(&gone.id).await.unwrap();
    let delivery = s.store.take_pending("bob", 1).await.unwrap();
    assert_eq!(
        ids(&delivery.messages),
        [delivered],
        "withdrawn ones do not count"
    );
    let stays = s.store.message(&withdrawn).await.unwrap().unwrap();
    assert_eq!(stays.status, MessageStatus::Sent);
    assert!(s.store.take_pending("bob", 10).await.unwrap().is_empty());
}

pub async fn acknowledgement_rules(s: &Backend) {
    let c = pair(s, "ada", "bob").await;
    let taken = send_new(s, &c, "ada", "bob", "taken").await.message.id;
    let early = send_new(s, &c, "ada", "bob", "acked before any poll")
        .await
        .message
        .id;
    assert_eq!(
        ids(&s.store.take_pending("bob", 1).await.unwrap().messages),
        [taken.as_str()]
    );

    let not_mine = s.store.acknowledge(&taken, "ada", now()).await;
    assert_eq!(rejection(not_mine), Rejection::NotRecipient);
    assert_eq!(
        rejection(s.store.acknowledge("nope", "bob", now()).await),
        Rejection::NotFound
    );

    let at = now();
    let read = s.store.acknowledge(&taken, "bob", at).await.unwrap();
    assert_eq!(
        (read.status, read.acknowledged_at),
        (MessageStatus::Read, Some(at))
    );
    let again = s
        .store
        .acknowledge(&taken, "bob", at + chrono::Duration::hours(1))
        .await;
    assert_eq!(
        again.unwrap().acknowledged_at,
        Some(at),
        "the first time is kept"
    );

    s.store.acknowledge(&early, "bob", now()).await.unwrap();
    assert!(
        s.store.take_pending("bob", 10).await.unwrap().is_empty(),
        "an acknowledged message is not handed over afterwards"
    );
    assert_eq!(
        s.store.message(&early).await.unwrap().unwrap().status,
        MessageStatus::Read
    );
}

pub fn announcement(title: &str) -> Announcement {
    Announcement {
        id: id(),
        title: title.into(),
        content: "content".into(),
        version: serde_json::json!("1"),
        created_at: now(),
        source: "admin".into(),
    }
}

pub async fn announcements_reach_every_agent_once(s: &Backend) {
    register(s, "ada").await;
    let mut woken = s.notifier.subscribe(&Topic::Inbox("ada".into()));
    s.store
        .insert_announcement(announcement("one"))
        .await
        .unwrap();
    assert!(
        woken.changed().now_or_never().is_some(),
        "everyone is woken"
    );
    s.store
        .insert_announcement(announcement("two"))
        .await
        .unwrap();
    let titles = |a: Vec<Announcement>| a.into_iter().map(|a| a.title).collect::<Vec<_>>();
    assert_eq!(
        titles(s.store.announcements(Page::ALL).await.unwrap().items),
        ["two", "one"],
        "newest first"
    );

    let got = s.store.take_pending("ada", 0).await.unwrap();
    assert_eq!(
        titles(got.announcements),
        ["one", "two"],
        "in order, whatever the limit"
    );
    assert!(
        s.store.take_pending("ada", 10).await.unwrap().is_empty(),
        "once"
    );
    // An agent's cursor is its own: one registered later still gets them all.
    register(s, "bob").await;
    assert_eq!(
        s.store
            .take_pending("bob", 10)
            .await
            .unwrap()
            .announcements
            .len(),
        2
    );
    s.store
        .insert_announcement(announcement("three"))
        .await
        .unwrap();
    assert_eq!(
        titles(s.store.take_pending("ada", 10).await.unwrap().announcements),
        ["three"]
    );
}

use futures::FutureExt;
