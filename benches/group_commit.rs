//! Whether concurrent writers share fsyncs: `RedbStore` writes (through its group-commit
//! writer) against the same number of writes each made durable on its own, measured side by
//! side in the same run.
//!
//! - `redb store (group commit)/N`: N `memory_set` calls issued at once (one per agent, so
//!   none waits on another's data) and awaited together; each returns only once durable.
//! - `fsync per write (baseline)/N`: the same N writes (same key check, same insert) into a
//!   plain redb database in the same directory, each in its own `Durability::Immediate`
//!   transaction. redb admits one write transaction at a time, so writing them from N
//!   threads would only queue the same N fsyncs; a loop measures that without thread noise.
//!
//! Throughput is in elements (= writes) per second; the ratio of the two at each N is the
//! gain from batching.
//!
//!     cargo bench -p agentx --bench group_commit
//!
//! After criterion's report it prints writes/s and the ratio at each N for this run.
//! Results: benches/README.md.

mod common;

use agentx::notify::LocalNotifier;
use agentx::store::RedbStore;
use agentx::store::{MemoryQuota, Store};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use futures::future::try_join_all;
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::sync::Arc;
use std::time::Duration;

const CONCURRENCY: [usize; 3] = [1, 16, 64];
const QUOTA: MemoryQuota = MemoryQuota {
    per_agent: 1000,
    per_conversation: 100,
};
/// The baseline's table, shaped like the store's plugin memory.
const MEMORY: TableDefinition<(&str, &str), &str> = TableDefinition::new("plugin_memory");

fn value() -> String {
    "x".repeat(128)
}

/// One durable write in its own transaction: the baseline.
fn fsync_write(db: &Database, agent: &str, key: &str, value: &str) {
    let mut txn = db.begin_write().unwrap();
    txn.set_durability(Durability::Immediate).unwrap();
    {
        let mut memory = txn.open_table(MEMORY).unwrap();
        // The store's memory_set looks the key up first (quota check on new keys).
        let exists = memory.get((agent, key)).unwrap().is_some();
        std::hint::black_box(exists);
        memory.insert((agent, key), value).unwrap();
    }
    txn.commit().unwrap();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = RedbStore::open(
        &dir.path().join("store"),
        Arc::new(LocalNotifier::default()),
    )
    .expect("store");
    let baseline = Database::create(dir.path().join("baseline.redb")).expect("baseline db");
    let agents: Vec<String> = (0..64).map(|i| format!("agent-{i:02}")).collect();
    let value = value();

    let mut group = c.benchmark_group("group commit");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in CONCURRENCY {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::new("fsync per write (baseline)", n),
            &n,
            |b, &n| {
                b.iter(|| {
                    for agent in &agents[..n] {
                        fsync_write(&baseline, agent, "k", &value);
                    }
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("redb store (group commit)", n),
            &n,
            |b, &n| {
                b.to_async(&rt).iter(|| async {
                    try_join_all(
                        agents[..n]
                            .iter()
                            .map(|agent| store.memory_set(agent, "chat:c", "k", &value, QUOTA)),
                    )
                    .await
                    .expect("durable write")
                })
            },
        );
    }
    group.finish();
}

/// Writes per second and the ratio at each N of this run, after criterion's report.
fn summary(estimates: &common::Estimates) {
    let mut lines = Vec::new();
    for n in CONCURRENCY {
        let per_s = |bench: &str| {
            estimates
                .ns(&["group commit", bench, &n.to_string()])
                .map(|ns| n as f64 * 1e9 / ns)
        };
        if let (Some(baseline), Some(store)) = (
            per_s("fsync per write (baseline)"),
            per_s("redb store (group commit)"),
        ) {
            lines.push(format!(
                "  {n:>2} concurrent: fsync per write {baseline:.0}/s, group commit {store:.0}/s: x{:.1}",
                store / baseline
            ));
        }
    }
    // Nothing in a test run (`cargo test --benches`), which measures nothing.
    if !lines.is_empty() {
        println!("\ngroup_commit, this run: writes/s, group commit / fsync per write");
        println!("{}", lines.join("\n"));
    }
}

criterion_group!(group_commit, benches);

fn main() {
    common::run(group_commit, summary);
}
