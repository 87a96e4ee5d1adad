//! Announcements to every agent. Each agent's cursor into them is advanced by
//! [`super::messages::take_pending`], which hands them over with the queued messages.

use super::outbox;
use super::tables::ANNOUNCEMENTS;
use super::txn::Txn;
use crate::model::Announcement;
use crate::notify::Topic;
use crate::store::{Page, Paged, Result};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata};

pub(super) fn insert_announcement(
    txn: &Txn,
    wakes: &mut Vec<Topic>,
    announcement: &Announcement,
) -> Result<()> {
    let seq = txn.next_seq()?;
    txn.open_table(ANNOUNCEMENTS)?
        .insert(seq, serde_json::to_vec(announcement)?.as_slice())?;
    outbox::queue_announcement(txn, announcement, wakes)?;
    wakes.push(Topic::AllInboxes);
    Ok(())
}

pub(super) fn announcements(txn: &ReadTransaction, page: Page) -> Result<Paged<Announcement>> {
    let table = txn.open_table(ANNOUNCEMENTS)?;
    let items = table
        .iter()?
        .rev()
        .skip(page.offset)
        .take(page.limit)
        .map(|entry| Ok(serde_json::from_slice(entry?.1.value())?))
        .collect::<Result<_>>()?;
    Ok(Paged {
        items,
        total: table.len()? as usize,
    })
}
