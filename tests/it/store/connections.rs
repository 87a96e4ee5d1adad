//! Invites, connections and their permission levels.

use super::*;
use agentx::store::Rejection;

pub async fn invites_open_one_connection(s: &Backend) {
    register(s, "ada").await;
    register(s, "bob").await;
    register(s, "cy").await;
    let first = invite("ada");
    s.store.insert_invite(first.clone()).await.unwrap();
    assert_eq!(
        s.store.invite(&first.code).await.unwrap().unwrap().agent_id,
        "ada"
    );
    assert!(s.store.invite("nope").await.unwrap().is_none());

    let made = s
        .store
        .accept_invite(&first.code, connection("ada", "bob"))
        .await
        .unwrap();
    let used = s.store.invite(&first.code).await.unwrap().unwrap();
    assert_eq!(used.used_by.as_deref(), Some("bob"));
    assert_eq!(
        s.store.connection(&made.id).await.unwrap().unwrap().agents,
        made.agents
    );
    let again = s
        .store
        .accept_invite(&first.code, connection("ada", "cy"))
        .await;
    assert_eq!(rejection(again), Rejection::InviteUsed);
    let unknown = s.store.accept_invite("nope", connection("ada", "cy")).await;
    assert_eq!(rejection(unknown), Rejection::NotFound);

    // A second invite between the same pair, either way round, is refused while active.
    let second = invite("bob");
    s.store.insert_invite(second.clone()).await.unwrap();
    let twice = s
        .store
        .accept_invite(&second.code, connection("bob", "ada"))
        .await;
    assert_eq!(rejection(twice), Rejection::AlreadyConnected);
    let ids = |cs: Vec<Connection>| cs.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.store.connections_of("ada").await.unwrap()),
        [made.id.as_str()]
    );
    assert_eq!(
        ids(s.store.connections_of("bob").await.unwrap()),
        [made.id.as_str()]
    );
    assert!(s.store.connections_of("cy").await.unwrap().is_empty());

    // Once removed, the pair may connect again; the old connection is kept, removed.
    s.store.remove_connection(&made.id).await.unwrap();
    let removed = s.store.connection(&made.id).await.unwrap().unwrap();
    assert_eq!(removed.status, ConnectionStatus::Removed);
    s.store
        .accept_invite(&second.code, connection("bob", "ada"))
        .await
        .unwrap();
    assert_eq!(s.store.connections_of("ada").await.unwrap().len(), 2);
    assert_eq!(
        rejection(s.store.remove_connection("nope").await),
        Rejection::NotFound
    );
}

pub async fn racing_acceptances_open_one_connection(s: &Backend) {
    register(s, "ada").await;
    let open = invite("ada");
    s.store.insert_invite(open.clone()).await.unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
    for name in &names {
        register(s, name).await;
    }
    let accepts = names.iter().map(|name| {
        let store = s.store.clone();
        let (code, c) = (open.code.clone(), connection("ada", name));
        tokio::spawn(async move { store.accept_invite(&code, c).await })
    });
    let results = futures::future::join_all(accepts).await;
    let won = results
        .iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(won, 1, "{results:?}");
    for result in results {
        if let Err(e) = result.unwrap() {
            assert!(matches!(
                e,
                agentx::store::StoreError::Rejected(Rejection::InviteUsed)
            ));
        }
    }
    assert_eq!(s.store.connections_of("ada").await.unwrap().len(), 1);
}

pub async fn levels_change_only_on_active_connections(s: &Backend) {
    let c = pair(s, "ada", "bob").await;
    let changed = s
        .store
        .set_level(&c.id, "bob", Category::Personal, Level::Never)
        .await
        .unwrap();
    assert_eq!(changed.permissions["bob"].personal, Level::Never);
    assert_eq!(
        changed.permissions["ada"].personal,
        Level::Auto,
        "one side only"
    );
    let stored = s.store.connection(&c.id).await.unwrap().unwrap();
    assert_eq!(stored.permissions["bob"].personal, Level::Never);

    let stranger = s
        .store
        .set_level(&c.id, "cy", Category::Info, Level::Ask)
        .await;
    assert_eq!(rejection(stranger), Rejection::NotFound);
    let unknown = s
        .store
        .set_level("nope", "bob", Category::Info, Level::Ask)
        .await;
    assert_eq!(rejection(unknown), Rejection::NotFound);
    s.store.remove_connection(&c.id).await.unwrap();
    let inactive = s
        .store
        .set_level(&c.id, "bob", Category::Info, Level::Ask)
        .await;
    assert_eq!(rejection(inactive), Rejection::ConnectionInactive);
}
