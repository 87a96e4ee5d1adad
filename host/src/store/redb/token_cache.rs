//! The tokens found by hash, kept in memory: exact, because this process is the file's
//! only writer.
//!
//! Every public call presents a token, and finding it was a read transaction, two B-tree
//! lookups and a JSON decode: about 5% of the call's CPU (benches/README.md, "Tokens from
//! memory"). The redb file is locked to this process and every write to the tokens goes
//! through [`super::RedbStore`], so the store itself knows when a record may have changed:
//! once such a write is durable, before its caller is answered, the *generation* moves on
//! and every entry filed under an earlier one is ignored. A lookup notes the generation
//! before it reads, so a read that raced a revocation's commit is filed under the old
//! generation and never served: a revoked token is refused from the revocation's answer
//! on, as without the cache. (A store shared by several nodes, PostgreSQL, has no such
//! knowledge and keeps no cache.)
//!
//! Only tokens found are kept, so presenting made-up tokens cannot fill the cache; whether
//! a token is live (not revoked, not expired) is still judged at every request on the
//! record.

use crate::model::ApiToken;
use quick_cache::sync::Cache;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tokens kept at most; beyond, the least used go (a miss is only a read).
const CAPACITY: usize = 4096;

pub(super) struct TokenCache {
    generation: AtomicU64,
    entries: Cache<[u8; 32], (u64, ApiToken)>,
}

impl TokenCache {
    pub fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            entries: Cache::new(CAPACITY),
        }
    }

    /// The generation a lookup that starts reading now files its result under.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The token of `hash` if it was read since the last write to the tokens.
    pub fn get(&self, hash: &[u8; 32]) -> Option<ApiToken> {
        let (read_in, token) = self.entries.get(hash)?;
        (read_in == self.generation()).then_some(token)
    }

    /// Keeps `token`, read by a lookup that started in `generation`.
    pub fn insert(&self, hash: [u8; 32], generation: u64, token: ApiToken) {
        self.entries.insert(hash, (generation, token));
    }

    /// Forgets everything read so far: called once a write to the tokens is durable.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::TokenCache;
    use crate::model::{ApiToken, Scope};

    fn token() -> ApiToken {
        ApiToken {
            id: "t".into(),
            name: "app".into(),
            scopes: vec![Scope::AnyAgent],
            created_at: chrono::Utc::now(),
            expires_at: None,
            revoked_at: None,
        }
    }

    /// A lookup that read before a write to the tokens was durable, and files its result
    /// after the write invalidated the cache, is never served.
    #[test]
    fn a_read_that_raced_a_write_is_not_served() {
        let cache = TokenCache::new();
        let hash = [7; 32];
        let started = cache.generation();
        cache.invalidate();
        cache.insert(hash, started, token());
        assert!(cache.get(&hash).is_none());

        cache.insert(hash, cache.generation(), token());
        assert_eq!(cache.get(&hash).map(|t| t.id), Some("t".into()));
        cache.invalidate();
        assert!(cache.get(&hash).is_none());
    }
}
