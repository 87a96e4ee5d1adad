//! The wasmtime engine every plugin runs on: component model, pooling allocator, epochs.

use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; a call's deadline is rounded up to this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances alive at once, across all plugins. Calls beyond it wait for a slot (see
/// `PluginRuntime::slots`) rather than fail allocation.
pub const MAX_INSTANCES: u32 = 256;

/// The largest linear memory any plugin may be granted; per-plugin caps are enforced
/// lower by a `ResourceLimiter`. The pool reserves address space (not RAM) for this.
pub const MAX_MEMORY_BYTES: usize = 256 << 20;

/// Core instances, memories and tables per component. Rust guests use one or two of each;
/// guests with a language runtime use more. Measured on examples/plugins: Python
/// (componentize-py: libc, libpython and friends, dynamically linked) 14 core instances,
/// 1 memory, 2 tables, the largest 5,676 entries (the pool's default `table_elements` is
/// 20,000); JavaScript (componentize-qjs) 11 core instances, 3 memories, 3 tables; C with
/// the WASI adapter 4 core instances.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 50;
const MAX_MEMORIES_PER_COMPONENT: u32 = 4;
const MAX_TABLES_PER_COMPONENT: u32 = 32;
/// Pool totals, so that `MAX_INSTANCES` runtime-heavy guests (16 core instances, 4 memories
/// and tables each) fit at once: calls then wait for a slot rather than fail allocation.
/// Memory slots reserve address space, not RAM; the other limits are counters.
const TOTAL_CORE_INSTANCES: u32 = MAX_INSTANCES * 16;
const TOTAL_MEMORIES: u32 = MAX_INSTANCES * MAX_MEMORIES_PER_COMPONENT;
const TOTAL_TABLES: u32 = MAX_INSTANCES * 4;

/// How much of each linear memory and table a pool slot may keep resident between
/// instances, where the kernel has `PAGEMAP_SCAN` (Linux 6.7+): a finished call's written
/// pages, up to this much, are then copied back to their initial contents in place instead
/// of being given back by `madvise` and faulted in again by the next call (page faults and
/// decommit were about a third of a call). Every instance still starts from pristine
/// memory; the cost is up to this much RAM per pool slot in use (a small guest writes a
/// few dozen pages). Without the ioctl wasmtime would reset the lowest this many bytes
/// whole on every call, slower than `madvise` for small guests, so nothing is kept then.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// Builds the engine and starts the thread that advances its epoch. The thread holds only a
/// weak reference and stops once the engine is dropped.
pub fn build() -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(TOTAL_CORE_INSTANCES)
        .total_memories(TOTAL_MEMORIES)
        .total_tables(TOTAL_TABLES)
        .max_memory_size(MAX_MEMORY_BYTES)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT);
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES)
            .pagemap_scan(Enabled::Yes);
    }

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        // Deadlines by epoch: a counter check per loop iteration, far cheaper than fuel.
        .epoch_interruption(true)
        // No plugin world uses the component model's async ABI (streams, futures, async
        // lifts): without it a store carries no concurrent-task state, and every call into
        // the guest skips making and retiring a task for it.
        .concurrency_support(false)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;

    let weak = engine.weak();
    std::thread::Builder::new()
        .name("agentx-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| wasmtime::format_err!("cannot start the epoch thread: {e}"))?;
    Ok(engine)
}
