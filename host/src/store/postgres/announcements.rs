//! Announcements to every agent. Each agent's cursor into them is advanced by
//! [`super::messages::take_pending`], which hands them over with the queued messages.

use super::db::{self, Conn, json};
use super::outbox;
use crate::model::Announcement;
use crate::notify::Topic;
use crate::store::{Page, Paged, Result};
use deadpool_postgres::Transaction;

pub(super) async fn insert_announcement(
    tx: &Transaction<'_>,
    wakes: &mut Vec<Topic>,
    announcement: &Announcement,
) -> Result<()> {
    // One at a time, so announcements commit in the order of their numbers and a cursor
    // that has passed a number never meets a lower one committing later. (The lock does
    // not block readers.)
    tx.batch_execute("LOCK TABLE announcements IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    db::exec(
        tx,
        "INSERT INTO announcements (doc) VALUES ($1)",
        &[&json(announcement)?],
    )
    .await?;
    outbox::queue_announcement(tx, announcement, wakes).await?;
    wakes.push(Topic::AllInboxes);
    Ok(())
}

pub(super) async fn announcements(c: &impl Conn, page: Page) -> Result<Paged<Announcement>> {
    db::paged(c, "announcements", "seq DESC", page).await
}
