//! The webhook outbox: deliveries queued with what they carry, attempts, dead letters and
//! replays.

use super::*;
use agentx::store::Rejection;
use agentx::store::outbox::{AttemptOutcome, DueQuery, Outgoing};

/// Up to `limit` deliveries due at `now`, of every agent.
async fn due(s: &Backend, now: DateTime<Utc>, limit: usize) -> Vec<Outgoing> {
    let query = DueQuery {
        now,
        after: None,
        per_agent: limit,
        skip: Default::default(),
        limit,
    };
    s.store.deliveries_due(query).await.unwrap()
}

pub async fn webhook_secrets_are_made_once_and_replaced(s: &Backend) {
    let made = s.store.webhook_secret("ada", None).await.unwrap();
    assert!(made.starts_with(SECRET_PREFIX), "{made}");
    assert_eq!(s.store.webhook_secret("ada", None).await.unwrap(), made);
    assert_ne!(s.store.webhook_secret("bob", None).await.unwrap(), made);
    let replaced = s
        .store
        .webhook_secret("ada", Some("whsec_new".into()))
        .await
        .unwrap();
    assert_eq!(replaced, "whsec_new");
    assert_eq!(
        s.store.webhook_secret("ada", None).await.unwrap(),
        "whsec_new"
    );
}

/// `ada` and `bob` connected, `bob` with a webhook.
async fn hooked(s: &Backend) -> Connection {
    let c = pair(s, "ada", "bob").await;
    s.store
        .set_webhook("bob", Some("https://example.com/hook".into()))
        .await
        .unwrap();
    c
}

pub async fn deliveries_are_queued_with_their_message(s: &Backend) {
    let c = hooked(s).await;
    let to_ada = send_new(s, &c, "bob", "ada", "no webhook").await;
    let to_bob = send_new(s, &c, "ada", "bob", "hooked").await.message;
    let ready = due(s, now() + chrono::Duration::seconds(1), 10).await;
    assert_eq!(ready.len(), 1, "only agents with a webhook get deliveries");
    let delivery = &ready[0].delivery;
    assert_eq!(
        (delivery.agent_id.as_str(), delivery.event),
        ("bob", WebhookEvent::Message)
    );
    assert_eq!(
        (delivery.subject_id.as_str(), delivery.status),
        (to_bob.id.as_str(), DeliveryStatus::Pending)
    );
    let body: Message = serde_json::from_str(&ready[0].body).unwrap();
    assert_eq!(body.id, to_bob.id, "the body is the message");
    assert!(
        s.store
            .deliveries_of("ada", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let _ = to_ada;

    let announcement = Announcement {
        id: id(),
        title: "t".into(),
        content: "c".into(),
        version: serde_json::json!(1),
        created_at: now(),
        source: "admin".into(),
    };
    s.store
        .insert_announcement(announcement.clone())
        .await
        .unwrap();
    let of_bob = s.store.deliveries_of("bob", None, 10).await.unwrap();
    assert_eq!(of_bob.len(), 2);
    assert_eq!(
        (of_bob[0].event, of_bob[0].subject_id.as_str()),
        (WebhookEvent::Announcement, announcement.id.as_str()),
        "newest first"
    );
    assert_eq!(
        s.store.deliveries_of("bob", None, 1).await.unwrap().len(),
        1,
        "limited"
    );
    let limited = due(s, now() + chrono::Duration::seconds(1), 1).await;
    assert_eq!(limited.len(), 1);
}

/// The outbox's depth: deliveries pending, due or not.
async fn pending(s: &Backend) -> u64 {
    s.store.pending_deliveries().await.unwrap()
}

pub async fn attempts_retry_deliver_and_give_up(s: &Backend) {
    let c = hooked(s).await;
    assert_eq!(pending(s).await, 0);
    send_new(s, &c, "ada", "bob", "m").await;
    assert_eq!(pending(s).await, 1);
    let start = now() + chrono::Duration::seconds(1);
    let id = due(s, start, 10).await[0].delivery.id.clone();

    let retry_at = start + chrono::Duration::minutes(1);
    let retry = AttemptOutcome::Retry {
        next_at: retry_at,
        status_code: Some(500),
        error: "HTTP 500".into(),
    };
    s.store.finish_attempt(&id, start, retry).await.unwrap();
    assert!(
        due(s, start, 10).await.is_empty(),
        "not due before its time"
    );
    assert_eq!(pending(s).await, 1, "pending while it waits to retry");
    let next = s.store.next_delivery_after(start).await.unwrap().unwrap();
    assert!(
        (next - retry_at).num_milliseconds().abs() <= 1,
        "{next} vs {retry_at}"
    );
    let ready = due(s, retry_at, 10).await;
    assert_eq!(ready[0].delivery.attempts, 1);
    assert_eq!(ready[0].delivery.last_status_code, Some(500));

    let delivered = AttemptOutcome::Delivered { status_code: 204 };
    s.store
        .finish_attempt(&id, retry_at, delivered)
        .await
        .unwrap();
    let d = &s
        .store
        .deliveries_of("bob", Some(DeliveryStatus::Delivered), 10)
        .await
        .unwrap()[0];
    assert_eq!(
        (d.attempts, d.last_status_code, d.delivered_at),
        (2, Some(204), Some(retry_at))
    );
    assert!(s.store.next_delivery_after(start).await.unwrap().is_none());
    assert_eq!(pending(s).await, 0);
    // A finished delivery takes no further attempts.
    let late = AttemptOutcome::Dead {
        status_code: None,
        error: "late".into(),
    };
    s.store.finish_attempt(&id, retry_at, late).await.unwrap();
    assert_eq!(
        s.store.deliveries_of("bob", None, 10).await.unwrap()[0].status,
        DeliveryStatus::Delivered
    );
    let unknown = s
        .store
        .finish_attempt(
            "nope",
            start,
            AttemptOutcome::Delivered { status_code: 200 },
        )
        .await;
    assert_eq!(rejection(unknown), Rejection::NotFound);
}

pub async fn dead_deliveries_are_replayed(s: &Backend) {
    let c = hooked(s).await;
    send_new(s, &c, "ada", "bob", "m").await;
    let at = now() + chrono::Duration::seconds(1);
    let id = due(s, at, 10).await[0].delivery.id.clone();
    let dead = AttemptOutcome::Dead {
        status_code: Some(410),
        error: "gone".into(),
    };
    s.store.finish_attempt(&id, at, dead).await.unwrap();
    assert!(due(s, at, 10).await.is_empty());
    assert_eq!(pending(s).await, 0, "a dead delivery is no longer pending");
    let listed = s
        .store
        .deliveries_of("bob", Some(DeliveryStatus::Dead), 10)
        .await
        .unwrap();
    assert_eq!(
        (listed[0].status, listed[0].last_error.as_deref()),
        (DeliveryStatus::Dead, Some("gone"))
    );
    assert!(
        s.store
            .deliveries_of("bob", Some(DeliveryStatus::Pending), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let others = s.store.replay_delivery("ada", &id, at).await;
    assert_eq!(
        rejection(others),
        Rejection::NotFound,
        "another agent's delivery"
    );
    let replay_at = at + chrono::Duration::minutes(5);
    let replayed = s
        .store
        .replay_delivery("bob", &id, replay_at)
        .await
        .unwrap();
    assert_eq!(
        (replayed.id.as_str(), replayed.status),
        (id.as_str(), DeliveryStatus::Pending)
    );
    assert_eq!(replayed.window_start, replay_at);
    let ready = due(s, replay_at, 10).await;
    assert_eq!(ready[0].delivery.id, id, "due again under the same id");
    assert_eq!(pending(s).await, 1);
    let twice = s
        .store
        .replay_delivery("bob", &id, replay_at + chrono::Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        twice.window_start, replay_at,
        "a pending delivery is left as it is"
    );
}

/// Two nodes claiming one due delivery: one gets it; it is not due to anyone until the
/// claim lapses (its node died), then it is again, under the same id.
pub async fn claimed_deliveries_are_due_again_when_the_claim_lapses(s: &Backend) {
    let c = hooked(s).await;
    send_new(s, &c, "ada", "bob", "m").await;
    let start = now() + chrono::Duration::seconds(1);
    let id = due(s, start, 10).await[0].delivery.id.clone();
    let until = start + chrono::Duration::seconds(30);
    let (a, b) = tokio::join!(
        s.store.claim_delivery(&id, start, until),
        s.store.claim_delivery(&id, start, until)
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()].iter().filter(|won| **won).count(),
        1,
        "one claim wins"
    );
    assert!(due(s, start, 10).await.is_empty(), "not due while claimed");
    assert!(!s.store.claim_delivery(&id, start, until).await.unwrap());

    let later = until + chrono::Duration::seconds(1);
    let again = due(s, later, 10).await;
    assert_eq!(again.len(), 1, "due again once the claim lapsed");
    assert_eq!(again[0].delivery.id, id, "under the same id");
    let next = later + chrono::Duration::seconds(30);
    assert!(s.store.claim_delivery(&id, later, next).await.unwrap());
    let delivered = AttemptOutcome::Delivered { status_code: 200 };
    s.store.finish_attempt(&id, later, delivered).await.unwrap();
    assert!(
        !s.store.claim_delivery(&id, next, next).await.unwrap(),
        "a delivered one is never claimed"
    );
}
