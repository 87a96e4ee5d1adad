//! The SDK's allocator (sdk/src/heap.rs): a first-party plugin's call stays within the
//! memory its fresh instance starts with. A call that grows memory makes the host change the
//! pool slot's page protection twice per call (benches/README.md, "The guest's heap").

use crate::common::repo;
use agentx::plugins::types::{
    Channel, Decision, Level, Message, PolicyRequest, Reply, RequestContext,
};
use wasmtime::component::{Component, ComponentNamedList, Lift, Linker, Lower};
use wasmtime::{Engine, ResourceLimiter, Store};

/// Every memory the instance made, and every growth after that.
#[derive(Default)]
struct Memories {
    created: Vec<usize>,
    grown: Vec<(usize, usize)>,
}

impl ResourceLimiter for Memories {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // NB: a memory's creation is reported as a growth from 0.
        match current {
            0 => self.created.push(desired),
            _ => self.grown.push((current, desired)),
        }
        Ok(true)
    }

    fn table_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// Calls `export` of the committed plugin `name` once, in a fresh instance whose only import
/// is a silent `log`, and returns its answer with what its memories did.
fn call<P, R>(name: &str, export: &str, params: P) -> (R, Memories)
where
    P: ComponentNamedList + Lower,
    R: ComponentNamedList + Lift,
{
    let engine = Engine::default();
    let path = repo(&format!("plugins/{name}/{name}.wasm"));
    let component = Component::from_file(&engine, &path).expect("the committed component");
    let mut linker = Linker::new(&engine);
    linker
        .instance("agentx:plugin/log@0.1.0")
        .expect("the log interface")
        .func_new("log", |_, _, _, _| Ok(()))
        .expect("log");
    linker
        .define_unknown_imports_as_traps(&component)
        .expect("the other imports");
    let mut store = Store::new(&engine, Memories::default());
    store.limiter(|memories| memories);
    let instance = linker
        .instantiate(&mut store, &component)
        .expect("instantiate");
    let func = instance
        .get_typed_func::<P, R>(&mut store, export)
        .expect("the export");
    let answer = func.call(&mut store, params).expect("the call");
    (answer, store.into_data())
}

#[test]
fn a_first_party_plugins_call_does_not_grow_its_memory() {
    let context = RequestContext {
        agent_id: "echo".into(),
        channel: Channel::Network,
        chat_id: "thread-1".into(),
        sender: "alice".into(),
    };
    let message = Message {
        id: "msg-1".into(),
        content: "hello".into(),
        message_type: "text".into(),
        category: None,
        from_agent_id: Some("agent-alice".into()),
        thread_id: Some("thread-1".into()),
        created_at: "2026-12-04T12:00:00.000Z".into(),
    };
    type Respond = (Result<Option<Reply>, String>,);
    let ((reply,), memories) = call::<_, Respond>("echo", "respond", (&context, &message));
    assert_eq!(
        reply.expect("echo answers").expect("a reply").content,
        "echo: hello"
    );
    assert!(
        !memories.created.is_empty(),
        "the limiter saw no memory at all"
    );
    assert_eq!(
        memories.grown,
        [],
        "echo grew its memory: {:?}",
        memories.created
    );

    let request = PolicyRequest {
        category: "requests".into(),
        contract: "friends".into(),
        sender_level: Level::Auto,
        recipient_level: Level::Ask,
        sender_agent_id: "agent-alice".into(),
        recipient_agent_id: "agent-bob".into(),
    };
    let ((decision,), memories) = call::<_, (Decision,)>("contracts", "decide", (&request,));
    assert!(matches!(decision, Decision::Ask), "{decision:?}");
    assert_eq!(memories.grown, [], "contracts grew its memory");
}
