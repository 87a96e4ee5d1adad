//! A batch's write transaction: redb's, with the file-wide sequence counter kept in memory
//! while it is open.
//!
//! Every job of a batch that queues, threads or chats something takes numbers from the one
//! counter in [`META`](super::tables::META). Read and written back per job (a table opened,
//! a lookup and an insert each time), it was 8% of the writer's time under the public load
//! (issue 16): so the counter is read once, when a job first asks for a number, and written
//! once, when the transaction commits. A job sees exactly what it did before
//! (one thread, one transaction: nothing else reads the counter meanwhile), and an aborted
//! transaction drops what it handed out with everything else it wrote.

use super::tables;
use crate::store::Result;
use redb::{Database, Durability, WriteTransaction};
use std::cell::Cell;
use std::ops::Deref;

pub(super) struct Txn {
    txn: WriteTransaction,
    /// The next number of the sequence, once a job has asked for one.
    next_seq: Cell<Option<u64>>,
}

impl Deref for Txn {
    type Target = WriteTransaction;

    fn deref(&self) -> &WriteTransaction {
        &self.txn
    }
}

impl Txn {
    pub(super) fn begin(db: &Database) -> Result<Self> {
        Ok(Self {
            txn: db.begin_write()?,
            next_seq: Cell::new(None),
        })
    }

    /// The next number of the file-wide sequence that orders queues, threads and chats.
    pub(super) fn next_seq(&self) -> Result<u64> {
        self.next_seqs(1)
    }

    /// The first of the next `n` numbers of the sequence.
    pub(super) fn next_seqs(&self, n: u64) -> Result<u64> {
        let first = match self.next_seq.get() {
            Some(next) => next,
            None => tables::stored_seq(&self.txn)?,
        };
        self.next_seq.set(Some(first + n));
        Ok(first)
    }

    /// Writes the counter back, then commits with `durability`.
    pub(super) fn commit(self, durability: Durability) -> Result<()> {
        let Self { mut txn, next_seq } = self;
        if let Some(next) = next_seq.get() {
            tables::store_seq(&txn, next)?;
        }
        txn.set_durability(durability)?;
        txn.commit()?;
        Ok(())
    }

    pub(super) fn abort(self) -> Result<()> {
        Ok(self.txn.abort()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Database {
        Database::create(dir.join("seq.redb")).unwrap()
    }

    /// Numbers handed out in a transaction are taken for good once it commits, whatever its
    /// durability, and for nothing when it aborts; a commit that asked for none leaves the
    /// counter alone. The file, reopened, continues where the last commit left off.
    #[test]
    fn the_counter_is_written_back_by_a_commit_and_dropped_by_an_abort() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());

        let txn = Txn::begin(&db).unwrap();
        assert_eq!(txn.next_seqs(3).unwrap(), 1);
        assert_eq!(txn.next_seq().unwrap(), 4);
        txn.commit(Durability::None).unwrap();

        let txn = Txn::begin(&db).unwrap();
        assert_eq!(txn.next_seqs(10).unwrap(), 5);
        txn.abort().unwrap();

        Txn::begin(&db)
            .unwrap()
            .commit(Durability::Immediate)
            .unwrap();
        let txn = Txn::begin(&db).unwrap();
        assert_eq!(txn.next_seq().unwrap(), 5);
        txn.commit(Durability::Immediate).unwrap();
        drop(db);

        let txn = Txn::begin(&open(dir.path())).unwrap();
        assert_eq!(txn.next_seq().unwrap(), 6);
    }
}
