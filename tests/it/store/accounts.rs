//! Accounts, hosted agents and the store's secrets.

use super::*;
use agentx::store::{Page, Rejection};

pub async fn accounts_are_unique_by_email_and_found_by_key(s: &Backend) {
    let ada = register(s, "ada").await;
    let (mut user, agent) = account("ada2");
    user.email = "ADA@Example.com".into();
    let taken = s.store.insert_account(user, agent, key_hash("ada2")).await;
    assert_eq!(rejection(taken), Rejection::EmailTaken);
    assert!(
        s.store.agent("ada2").await.unwrap().is_none(),
        "a refusal changes nothing"
    );

    let found = s.store.agent_by_key_hash(key_hash("ada")).await.unwrap();
    assert_eq!(found.unwrap().id, ada.id);
    assert!(
        s.store
            .agent_by_key_hash(key_hash("nobody"))
            .await
            .unwrap()
            .is_none()
    );
    let (user, agent, hash) = s
        .store
        .account_by_email("Ada@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.id.as_str(), agent.id.as_str(), hash),
        ("user-ada", "ada", key_hash("ada"))
    );
    assert!(
        s.store
            .account_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    register(s, "bob").await;
    let ids: Vec<String> = s
        .store
        .agents(Page::ALL)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["ada", "bob"], "oldest first");
}

pub async fn hosted_agents_are_created_once_and_renamed(s: &Backend) {
    let first = Agent::hosted("bot", "Bot", now());
    let other = Agent::hosted("other", "Other", now());
    s.store
        .ensure_hosted_agents(vec![first.clone(), other])
        .await
        .unwrap();
    let later = now() + chrono::Duration::hours(1);
    let renamed = Agent::hosted("bot", "Bot 2", later);
    let added = Agent::hosted("third", "Third", later);
    s.store
        .ensure_hosted_agents(vec![renamed, added])
        .await
        .unwrap();
    let stored = s.store.agent("bot").await.unwrap().unwrap();
    assert_eq!(stored.name, "Bot 2");
    assert_eq!(stored.created_at, first.created_at, "created once");
    assert!(stored.is_hosted());
    for (id, name) in [("other", "Other"), ("third", "Third")] {
        let stored = s.store.agent(id).await.unwrap().unwrap();
        assert_eq!(stored.name, name, "every agent of a call is kept");
        assert!(stored.is_hosted());
    }
}

pub async fn webhook_urls_and_last_seen_times(s: &Backend) {
    register(s, "ada").await;
    let url = Some("https://example.com/hook".to_owned());
    let agent = s.store.set_webhook("ada", url.clone()).await.unwrap();
    assert_eq!(agent.webhook_url, url);
    assert_eq!(
        s.store.agent("ada").await.unwrap().unwrap().webhook_url,
        url
    );
    let none = s.store.set_webhook("ghost", None).await;
    assert_eq!(rejection(none), Rejection::NotFound);

    let (early, late) = (now(), now() + chrono::Duration::minutes(5));
    let seen = vec![("ada".to_owned(), late), ("ghost".to_owned(), late)];
    s.store.record_last_seen(seen).await.unwrap();
    s.store
        .record_last_seen(vec![("ada".to_owned(), early)])
        .await
        .unwrap();
    let ada = s.store.agent("ada").await.unwrap().unwrap();
    assert_eq!(
        ada.last_seen_at,
        Some(late),
        "an older sighting never moves it back"
    );
    assert!(
        s.store.agent("ghost").await.unwrap().is_none(),
        "unknown agents are skipped"
    );
}

pub async fn secrets_are_made_once(s: &Backend) {
    let first = s.store.secret("jwt").await.unwrap();
    assert_eq!(first.len(), 32);
    assert_eq!(s.store.secret("jwt").await.unwrap(), first);
    assert_ne!(s.store.secret("pepper").await.unwrap(), first);
}
