//! What calling a plugin costs: `PluginRuntime::decide` / `respond` on the first-party
//! `contracts` and `echo` components, each against a native Rust baseline of the same logic
//! measured in the same group of the same run (these machines are noisy, so only the ratio
//! between the two is meaningful).
//!
//! Every plugin call runs in a fresh instance (a new `Store`, instantiation from the
//! plugin's `InstancePre`, the call, the store dropped), so each group also measures that
//! same fresh instance and call in bare wasmtime (`bare wasmtime`: what the runtime's
//! sandbox, limits and host costs on top of wasmtime itself), and instantiation alone on
//! the runtime's engine, to show how much of a call it is.
//!
//!     env -u RUST_BACKTRACE cargo bench -p agentx --bench plugin_call
//!
//! After criterion's report it prints each wasm / native and wasm / bare wasmtime ratio of
//! this run. Results: benches/README.md.

mod common;

use agentx::clock::SystemClock;
use agentx::notify::LocalNotifier;
use agentx::plugins::log::PluginLog;
use agentx::plugins::types::{Channel, Decision, Level, Message, PolicyRequest, RequestContext};
use agentx::plugins::{AgentGrant, HostServices, Owner, PluginRuntime, PluginSource, engine};
use agentx::store::RedbStore;
use criterion::{Criterion, criterion_group};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker, Val};

fn plugin_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(name)
}

/// Baseline for `contracts decide`: the rule of plugins/contracts `decide`, copied as
/// native Rust, including the debug line the plugin formats and logs (pushed into a
/// `PluginLog` here, as the host's `log` import does for the plugin).
fn native_decide(req: &PolicyRequest, log: &PluginLog) -> Decision {
    let decision = match (req.sender_level, req.recipient_level) {
        (Level::Never, _) => Decision::Deny(format!(
            "Your permission level for '{}' is never",
            req.category
        )),
        (_, Level::Never) => Decision::Deny("Message could not be delivered".to_string()),
        (_, Level::Ask) => Decision::Ask,
        (_, Level::Auto) => Decision::Auto,
    };
    log.push(
        "debug",
        "plugin",
        format!(
            "{} -> {} ({}, {}): {:?}",
            req.sender_agent_id, req.recipient_agent_id, req.contract, req.category, decision
        ),
    );
    decision
}

/// Baseline for `echo respond`: plugins/echo `respond` as native Rust, including its info
/// log line.
fn native_respond(ctx: &RequestContext, msg: &Message, log: &PluginLog) -> Option<String> {
    log.push(
        "info",
        "plugin",
        format!(
            "echoing {} bytes from {} in chat {}",
            msg.content.len(),
            ctx.sender,
            ctx.chat_id
        ),
    );
    Some(format!("echo: {}", msg.content))
}

fn policy_request() -> PolicyRequest {
    PolicyRequest {
        category: "requests".into(),
        contract: "friends".into(),
        sender_level: Level::Auto,
        recipient_level: Level::Ask,
        sender_agent_id: "agent-alice".into(),
        recipient_agent_id: "agent-bob".into(),
    }
}

fn context() -> RequestContext {
    RequestContext {
        agent_id: "echo".into(),
        channel: Channel::Network,
        chat_id: "thread-1".into(),
        sender: "alice".into(),
    }
}

fn message() -> Message {
    Message {
        id: "msg-1".into(),
        content: "hello there, how are you doing today?".into(),
        message_type: "text".into(),
        category: None,
        from_agent_id: Some("agent-alice".into()),
        thread_id: Some("thread-1".into()),
        created_at: "2025-01-31T12:00:00.000Z".into(),
    }
}

/// Instantiation alone, on an engine configured as the runtime's: a fresh store, the
/// component instantiated from a pre-resolved `InstancePre`, nothing called. Imports are
/// stubbed (they are resolved once, in the `InstancePre`, so their kind costs nothing here).
async fn instantiate_only(engine: &wasmtime::Engine, pre: &wasmtime::component::InstancePre<()>) {
    let mut store = wasmtime::Store::new(engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    black_box(
        pre.instantiate_async(&mut store)
            .await
            .expect("instantiate"),
    );
}

fn instance_pre(
    engine: &wasmtime::Engine,
    source: &PluginSource,
) -> wasmtime::component::InstancePre<()> {
    let component = Component::new(engine, &source.bytes).expect("component compiles");
    let mut linker = Linker::new(engine);
    linker
        .define_unknown_imports_as_traps(&component)
        .expect("stub imports");
    linker.instantiate_pre(&component).expect("instance pre")
}

/// The baseline for a whole call: the committed component in bare wasmtime. An engine of
/// `Config::default()` (no pooling allocator, no epochs or fuel, no memory limiter), a
/// `Linker` whose only import is `log` (the component calls it: pushed into a `PluginLog`,
/// as in the native baseline; every other import traps and is never called), an
/// `InstancePre` and the export resolved once; per call a fresh `Store` with no data,
/// synchronous instantiation, the typed call, the store dropped.
/// The `level` enum of WIT's `log` interface, as `PluginLog` names them.
const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

struct Bare {
    pre: InstancePre<()>,
    export: ComponentExportIndex,
}

impl Bare {
    fn new(
        engine: &wasmtime::Engine,
        source: &PluginSource,
        export: &str,
        log: Arc<PluginLog>,
    ) -> Self {
        let component = Component::new(engine, &source.bytes).expect("component compiles");
        let mut linker = Linker::new(engine);
        linker
            .instance("agentx:plugin/log@0.1.0")
            .expect("the log interface")
            .func_new("log", move |_store, _ty, params: &[Val], _results| {
                if let [Val::Enum(level), Val::String(message)] = params {
                    let level = LOG_LEVELS.iter().find(|l| *l == level).unwrap_or(&"info");
                    log.push(level, "plugin", message.clone());
                }
                Ok(())
            })
            .expect("define log");
        linker
            .define_unknown_imports_as_traps(&component)
            .expect("stub the other imports");
        let export = component
            .get_export_index(None, export)
            .expect("the export");
        Self {
            pre: linker.instantiate_pre(&component).expect("instance pre"),
            export,
        }
    }

    fn call<P, R>(&self, params: P) -> R
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
        R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
    {
        let mut store = wasmtime::Store::new(self.pre.engine(), ());
        let instance = self.pre.instantiate(&mut store).expect("instantiate");
        let func = instance
            .get_typed_func::<P, R>(&mut store, &self.export)
            .expect("typed export");
        func.call(&mut store, params).expect("call")
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store =
        RedbStore::open(&dir.path().join("data"), Arc::new(LocalNotifier::default())).unwrap();
    let runtime = PluginRuntime::new(
        dir.path().join("plugin-cache"),
        HostServices {
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            http: reqwest::Client::new(),
            turns_in_flight: Default::default(),
        },
        agentx::plugins::health::HealthPolicy::default(),
    )
    .expect("plugin runtime");
    let contracts_source = PluginSource::read(&plugin_dir("contracts")).expect("contracts");
    let echo_source = PluginSource::read(&plugin_dir("echo")).expect("echo");
    let (policy, _presets) = rt
        .block_on(runtime.load_policy(
            Owner::Network,
            contracts_source.clone(),
            &AgentGrant::default(),
        ))
        .expect("load contracts");
    let echo = rt
        .block_on(runtime.load_responder("echo", echo_source.clone(), &AgentGrant::default()))
        .expect("load echo");

    // The wasm and native answers agree before anything is timed.
    let log = PluginLog::default();
    let wasm = rt.block_on(runtime.decide(&policy, policy_request()));
    assert_eq!(
        format!("{:?}", wasm.unwrap()),
        format!("{:?}", native_decide(&policy_request(), &log))
    );
    let wasm = rt.block_on(runtime.respond(&echo, context(), message()));
    assert_eq!(wasm.unwrap(), native_respond(&context(), &message(), &log));

    let engine = engine::build().expect("engine");
    let contracts_pre = instance_pre(&engine, &contracts_source);
    let echo_pre = instance_pre(&engine, &echo_source);

    let bare_engine = wasmtime::Engine::default();
    let bare_log = Arc::new(PluginLog::default());
    let bare_contracts = Bare::new(&bare_engine, &contracts_source, "decide", bare_log.clone());
    let bare_echo = Bare::new(&bare_engine, &echo_source, "respond", bare_log);
    let bare_decide = |req: &PolicyRequest| {
        bare_contracts
            .call::<(&PolicyRequest,), (Decision,)>((req,))
            .0
    };
    type Respond = Result<Option<agentx::plugins::types::Reply>, String>;
    let bare_respond = |ctx: &RequestContext, msg: &Message| -> Option<String> {
        let (reply,) = bare_echo.call::<(&RequestContext, &Message), (Respond,)>((ctx, msg));
        reply.expect("echo answers").map(|r| r.content)
    };
    // The baseline answers as the runtime does.
    assert_eq!(
        format!("{:?}", bare_decide(&policy_request())),
        format!("{:?}", native_decide(&policy_request(), &log))
    );
    assert_eq!(
        bare_respond(&context(), &message()),
        native_respond(&context(), &message(), &log)
    );

    let mut group = c.benchmark_group("contracts decide");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("native (baseline)", |b| {
        b.to_async(&rt)
            .iter(|| async { native_decide(black_box(&policy_request()), &log) })
    });
    group.bench_function("wasm", |b| {
        b.to_async(&rt).iter(|| async {
            runtime
                .decide(&policy, black_box(policy_request()))
                .await
                .expect("decide")
        })
    });
    group.bench_function("bare wasmtime", |b| {
        b.iter(|| bare_decide(black_box(&policy_request())))
    });
    group.bench_function("wasm instantiate only", |b| {
        b.to_async(&rt)
            .iter(|| instantiate_only(&engine, &contracts_pre))
    });
    group.finish();

    let mut group = c.benchmark_group("echo respond");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("native (baseline)", |b| {
        b.to_async(&rt)
            .iter(|| async { native_respond(&context(), black_box(&message()), &log) })
    });
    group.bench_function("wasm", |b| {
        b.to_async(&rt).iter(|| async {
            runtime
                .respond(&echo, context(), black_box(message()))
                .await
                .expect("respond")
        })
    });
    group.bench_function("bare wasmtime", |b| {
        b.iter(|| bare_respond(&context(), black_box(&message())))
    });
    group.bench_function("wasm instantiate only", |b| {
        b.to_async(&rt)
            .iter(|| instantiate_only(&engine, &echo_pre))
    });
    group.finish();
}

/// The ratios of this run, after criterion's report.
fn summary(estimates: &common::Estimates) {
    let mut lines = Vec::new();
    for group in ["contracts decide", "echo respond"] {
        let native = estimates.ns(&[group, "native (baseline)"]);
        let wasm = estimates.ns(&[group, "wasm"]);
        let instantiate = estimates.ns(&[group, "wasm instantiate only"]);
        let bare = estimates.ns(&[group, "bare wasmtime"]);
        if let (Some(native), Some(wasm)) = (native, wasm) {
            let mut line = format!(
                "  {group}: native {}, wasm {}: x{:.0}",
                common::human(native),
                common::human(wasm),
                wasm / native
            );
            if let Some(bare) = bare {
                line += &format!(
                    "; bare wasmtime {}: wasm / bare wasmtime x{:.2}",
                    common::human(bare),
                    wasm / bare
                );
            }
            if let Some(instantiate) = instantiate {
                line += &format!(
                    "; instantiation alone {} ({:.0}% of a wasm call)",
                    common::human(instantiate),
                    100.0 * instantiate / wasm
                );
            }
            lines.push(line);
        }
    }
    // Nothing in a test run (`cargo test --benches`), which measures nothing.
    if !lines.is_empty() {
        println!("\nplugin_call, this run: wasm call / native baseline, and / bare wasmtime");
        println!("{}", lines.join("\n"));
    }
}

criterion_group!(plugin_call, benches);

fn main() {
    common::run(plugin_call, summary);
}
