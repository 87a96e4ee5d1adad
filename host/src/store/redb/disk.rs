//! The redb file's storage backend: redb's own file backend, with the file's holes filled
//! with zeros in the background.
//!
//! redb grows its file with `set_len`, which leaves the new part a hole: no disk blocks
//! behind it yet. A commit that writes a page there makes ext4 allocate the block, so its
//! `fdatasync` must also commit the filesystem journal. With chats growing the file, most
//! group commits paid for that (benches/README.md, "The store file's holes", has the
//! measurements). Blocks that already hold zeros make the commit's sync write data only.
//!
//! Zeroing at `set_len` would stall the commit that grows the file (redb doubles it: a
//! 1 GiB file grows by 1 GiB), so a thread fills the holes behind redb's back instead. It
//! never changes what the file says: it writes zeros only over a block that is still a
//! hole, and checks that while holding the lock redb's writes and resizes take, so a page
//! redb wrote is never overwritten. Each block is written on its own (4 KiB), since a larger
//! write makes the kernel cache it in larger folios, and every later page write to one of
//! them would then write the whole folio back. The filler syncs every 64 blocks, so a
//! commit's `fdatasync` never has more than that many of its zeros to write, and after each
//! sync rests as long as the sync took, so it takes at most half the disk's time: the
//! commits made meanwhile keep their latency.

use crate::error::context;
use crate::store::{Result, StoreError};
use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::fs::File;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The filesystem block the filler writes at a time.
const BLOCK: u64 = 4096;
/// Blocks the filler zeroes between two syncs of its own.
const BLOCKS_PER_SYNC: u64 = 64;
/// Free space on the file's filesystem below which the filler stops: the space it takes is
/// the file's to use, but redb may never need all of it, and a commit must not be the one
/// to find the disk full because of it.
const KEEP_FREE: u64 = 1 << 30;
/// A round of filling that takes this long is worth an operator's notice (a large file with
/// holes, on its first start with this version).
const LONG_FILL: Duration = Duration::from_secs(1);

/// A file backend whose holes a background thread fills with zeros.
#[derive(Debug)]
pub(super) struct FilledFile {
    inner: FileBackend,
    shared: Arc<Shared>,
    /// Run by redb's first write or resize, which it makes only once it holds the file's
    /// lock: a file another process has open is never filled behind that process's back.
    start: Once,
    filler: Mutex<Option<JoinHandle<()>>>,
}

/// What redb's writer and the filler share.
#[derive(Debug)]
struct Shared {
    /// The file, for the filler (its own descriptor, so seeking for holes moves no offset redb
    /// relies on; redb reads and writes at explicit offsets anyway).
    file: File,
    state: Mutex<State>,
    /// Wakes the filler when the file grew or is closing.
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// The file's length as redb last set it: the filler never writes at or past it.
    len: u64,
    /// The file grew since the filler last looked for holes.
    grew: bool,
    closed: bool,
}

type IoResult<T> = std::result::Result<T, std::io::Error>;

impl FilledFile {
    /// The backend of the file at `path`, created if missing. Its filler starts with redb's
    /// first write to it, on the holes the file has then.
    pub(super) fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::Backend(context(format!("open {}", path.display()), e)))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                len: 0,
                grew: false,
                closed: false,
            }),
            file: file
                .try_clone()
                .map_err(|e| StoreError::Backend(context("open the store file again", e)))?,
            changed: Condvar::new(),
        });
        Ok(Self {
            inner: FileBackend::new(file)?,
            shared,
            start: Once::new(),
            filler: Mutex::new(None),
        })
    }

    /// Starts the filler, once. Without it the file is only slower to commit into.
    fn start_filling(&self) {
        self.start.call_once(|| {
            let len = match self.shared.file.metadata() {
                Ok(meta) => meta.len(),
                Err(e) => return tracing::warn!(error = %e, "store filler not started"),
            };
            let mut state = self.state();
            state.len = len;
            state.grew = true;
            drop(state);
            let filling = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("agentx-store-fill".into())
                .spawn(move || filling.run());
            match spawned {
                Ok(filler) => *self.filler.lock().unwrap_or_else(|e| e.into_inner()) = Some(filler),
                Err(e) => tracing::warn!(error = %e, "store filler not started"),
            }
        });
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }

    /// Stops the filler and waits for it: once redb has closed its backend, nothing
    /// writes to the file.
    fn stop_filler(&self) {
        self.state().closed = true;
        self.shared.changed.notify_one();
        let filler = self.filler.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(filler) = filler
            && filler.join().is_err()
        {
            tracing::error!("store filler thread panicked");
        }
    }
}

impl Drop for FilledFile {
    fn drop(&mut self) {
        self.stop_filler();
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // NB: nothing can be left half-done under this lock; a panic elsewhere changes nothing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fills the file's holes each time it grows, until the backend closes. A failure only
    /// stops this round: the holes stay, and cost what they cost before.
    fn run(&self) {
        loop {
            {
                let mut state = self.state();
                while !state.grew && !state.closed {
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                if state.closed {
                    return;
                }
                state.grew = false;
            }
            let started = Instant::now();
            match self.fill_holes() {
                Ok(round) => round.log(started.elapsed()),
                Err(e) => tracing::warn!(error = %e, "could not fill the store file's holes"),
            }
        }
    }

    /// Zeroes every hole of the file, one block at a time, while the disk has room.
    fn fill_holes(&self) -> IoResult<Round> {
        let mut round = Round::default();
        let mut unsynced = 0;
        let mut at = 0;
        'holes: while let Some((start, end)) = self.next_hole(at)? {
            let mut block = start - start % BLOCK;
            while block < end {
                if unsynced == 0 && !self.has_room()? {
                    round.disk_full = true;
                    return Ok(round);
                }
                match self.zero_block(block)? {
                    Fill::Zeroed => unsynced += 1,
                    Fill::Kept => {}
                    Fill::Stop => break 'holes,
                }
                if unsynced == BLOCKS_PER_SYNC {
                    let syncing = Instant::now();
                    self.file.sync_data()?;
                    // NB: without this rest, sends' p99 rose by 1.5 ms while a fill ran
                    // (benches/README.md, "The store file's holes").
                    std::thread::sleep(syncing.elapsed());
                    round.zeroed += unsynced;
                    unsynced = 0;
                }
                block += BLOCK;
            }
            at = end;
        }
        self.file.sync_data()?;
        round.zeroed += unsynced;
        Ok(round)
    }

    /// Whether the file's filesystem has more than [`KEEP_FREE`] left for unprivileged use.
    fn has_room(&self) -> IoResult<bool> {
        let fs = rustix::fs::fstatvfs(&self.file)?;
        Ok(fs.f_bavail.saturating_mul(fs.f_frsize) > KEEP_FREE)
    }

    /// The first hole at or after `at` and before the file's end, as `(start, end)`.
    fn next_hole(&self, at: u64) -> IoResult<Option<(u64, u64)>> {
        use rustix::fs::{SeekFrom, seek};
        let len = self.state().len;
        if at >= len {
            return Ok(None);
        }
        let start = seek(&self.file, SeekFrom::Hole(at))?;
        if start >= len {
            return Ok(None);
        }
        let end = match seek(&self.file, SeekFrom::Data(start)) {
            Ok(data) => data.min(len),
            Err(rustix::io::Errno::NXIO) => len,
            Err(e) => return Err(e.into()),
        };
        Ok(Some((start, end)))
    }

    /// Writes zeros over the block at `offset` if it is still a hole, under the lock redb's
    /// writes take.
    fn zero_block(&self, offset: u64) -> IoResult<Fill> {
        use rustix::fs::{SeekFrom, seek};
        let state = self.state();
        if state.closed || offset + BLOCK > state.len {
            return Ok(Fill::Stop);
        }
        // NB: asks the filesystem rather than reading the block: a read would make the
        // kernel read ahead into large folios, which the writes that follow then inherit.
        match seek(&self.file, SeekFrom::Data(offset)) {
            Ok(data) if data < offset + BLOCK => return Ok(Fill::Kept),
            Ok(_) | Err(rustix::io::Errno::NXIO) => {}
            Err(e) => return Err(e.into()),
        }
        self.file.write_all_at(&[0; BLOCK as usize], offset)?;
        drop(state);
        Ok(Fill::Zeroed)
    }
}

/// What a round of [`Shared::fill_holes`] did.
#[derive(Default)]
struct Round {
    /// Blocks written with zeros.
    zeroed: u64,
    /// It stopped at [`KEEP_FREE`].
    disk_full: bool,
}

impl Round {
    /// Tells the operator about a round that stopped short or took long.
    fn log(&self, took: Duration) {
        let mib = (self.zeroed * BLOCK) >> 20;
        if self.disk_full {
            tracing::warn!(
                mib,
                "stopped filling the store file's holes: the disk is nearly full"
            );
        } else if took >= LONG_FILL {
            let seconds = took.as_secs_f64();
            tracing::info!(mib, seconds, "filled the store file's holes");
        } else if self.zeroed > 0 {
            let kib = (self.zeroed * BLOCK) >> 10;
            tracing::debug!(kib, ms = took.as_millis(), "filled the store file's holes");
        }
    }
}

/// What [`Shared::zero_block`] did.
enum Fill {
    Zeroed,
    /// The block holds data (redb wrote it since the hole was found).
    Kept,
    /// The file shrank below the block, or is closing.
    Stop,
}

impl StorageBackend for FilledFile {
    fn len(&self) -> IoResult<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> IoResult<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> IoResult<()> {
        self.start_filling();
        let mut state = self.state();
        self.inner.set_len(len)?;
        state.grew |= len > state.len;
        state.len = len;
        drop(state);
        self.shared.changed.notify_one();
        Ok(())
    }

    fn sync_data(&self) -> IoResult<()> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> IoResult<()> {
        self.start_filling();
        // NB: held across the write, so the filler cannot find a block still a hole before
        // this write and zero it after.
        let _state = self.state();
        self.inner.write(offset, data)
    }

    fn close(&self) -> IoResult<()> {
        self.stop_filler();
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    const MIB: u64 = 1 << 20;

    fn open(path: &Path) -> FilledFile {
        FilledFile::open(path).unwrap()
    }

    /// Waits until every byte of the file at `path` has a disk block behind it.
    fn wait_filled(path: &Path) {
        // NB: 16 MiB is 64 syncs and rests; a disk with 100 ms syncs would need 13 s.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if allocated(path) >= std::fs::metadata(path).unwrap().len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the file's holes were not filled"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn read(backend: &FilledFile, offset: u64) -> Vec<u8> {
        let mut page = vec![0; BLOCK as usize];
        backend.read(offset, &mut page).unwrap();
        page
    }

    /// The file redb grows gets disk blocks behind it, and the pages redb writes while that
    /// happens keep what redb wrote.
    #[test]
    fn a_grown_file_is_filled_around_what_redb_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let backend = open(&path);
        backend.set_len(16 * MIB).unwrap();
        let written: Vec<u64> = (0..16 * MIB).step_by(64 * 1024).collect();
        for (n, &offset) in written.iter().enumerate() {
            backend
                .write(offset, &[(n % 255) as u8 + 1; BLOCK as usize])
                .unwrap();
        }
        wait_filled(&path);
        for (n, &offset) in written.iter().enumerate() {
            assert_eq!(
                read(&backend, offset),
                [(n % 255) as u8 + 1; BLOCK as usize]
            );
            assert_eq!(read(&backend, offset + BLOCK), [0; BLOCK as usize]);
        }
        assert_eq!(
            backend.len().unwrap(),
            16 * MIB,
            "the filler never grows the file"
        );
        backend.close().unwrap();
    }

    /// A file that already has holes when it is opened (a fill the last run did not finish)
    /// is filled too, once redb first writes to it and not before.
    #[test]
    fn holes_found_at_open_are_filled_from_redbs_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let file = std::fs::File::create(&path).unwrap();
        file.write_all_at(b"header", 0).unwrap();
        file.set_len(8 * MIB).unwrap();
        drop(file);
        let before = allocated(&path);
        let backend = open(&path);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(allocated(&path), before, "filled before redb wrote");
        backend.write(0, b"HEADER").unwrap();
        wait_filled(&path);
        assert_eq!(&read(&backend, 0)[..6], b"HEADER");
        backend.close().unwrap();
    }

    /// Bytes of the file at `path` with disk blocks behind them.
    fn allocated(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().blocks() * 512
    }

    /// A file another database has open is left as it is: its owner may write into a hole at
    /// any moment, and that write is not under this backend's lock. The filler waits for
    /// redb's first write, and redb refuses the file before writing to it.
    #[test]
    fn a_file_another_database_holds_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let holder = redb::Database::create(&path).unwrap();
        let table = redb::TableDefinition::<u64, &[u8]>::new("t");
        let txn = holder.begin_write().unwrap();
        txn.open_table(table)
            .unwrap()
            .insert(1, [7u8; 1 << 20].as_slice())
            .unwrap();
        txn.commit().unwrap();
        let holes = std::fs::metadata(&path).unwrap().len() - allocated(&path);
        assert!(holes > 0, "redb's grown file has holes");
        let before = allocated(&path);

        let second = redb::Database::builder().create_with_backend(open(&path));
        assert!(
            second.is_err(),
            "redb refuses a file another database holds"
        );
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            allocated(&path),
            before,
            "nothing was written to the held file"
        );
    }
}
