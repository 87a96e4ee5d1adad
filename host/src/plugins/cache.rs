//! Compiled components on disk, so a restart with unchanged plugins compiles nothing.
//!
//! The key is the component's sha256 plus a hash of the engine's compatibility hash (the
//! wasmtime version and every setting that affects code generation), so an upgrade or a
//! config change misses the cache instead of loading incompatible code.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether loading a component compiled it or found it compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    pub fn new(engine: &Engine, dir: PathBuf) -> Self {
        let mut hasher = Sha256Hasher::default();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..8]);
        Self { dir, engine_key }
    }

    /// Loads the component in `bytes` (binary or WAT text), from the cache when possible.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let entry = self.dir.join(format!(
            "{}-{}.cwasm",
            hex::encode(Sha256::digest(bytes)),
            self.engine_key
        ));
        if entry.exists() {
            // SAFETY: files in the cache directory are written only by `store` below, from
            // `Component::serialize` of this engine configuration (the key includes its
            // compatibility hash); the directory lives in agentx's own data dir.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(file = %entry.display(), error = %e, "unusable cache entry; recompiling")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&entry, &component) {
            tracing::warn!(file = %entry.display(), error = %e, "could not cache a compiled component");
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(&self, entry: &Path, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        // Write then rename, so a crash or a concurrent load never sees half a file. Each
        // write has its own partial file: servers in one process (or several processes) may
        // share the directory and compile the same component at once, and a file someone
        // has mapped must never be rewritten in place.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let write = WRITES.fetch_add(1, Ordering::Relaxed);
        let partial = entry.with_extension(format!("partial-{}-{write}", std::process::id()));
        std::fs::write(&partial, component.serialize()?)?;
        std::fs::rename(&partial, entry)?;
        Ok(())
    }
}

/// Feeds `Hash` output into sha256: a hash that is stable across processes and builds.
#[derive(Default)]
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only the sha256 digest is read")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
