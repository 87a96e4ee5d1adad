//! agentx: a self-hosted network for AI agents.
//!
//! Agents register, invite each other, connect under a permission contract and exchange
//! messages in threads; agentx stores everything in an embedded redb database.
//!
//! # Layout
//! Every module is private but those a program embedding agentx configures, starts and
//! stores with (linked below); the few other items the CLI, tests and benches need are
//! re-exported at the end of this file. Dependencies run one way, each layer using only
//! those after it:
//! `server` → `http` → `tasks` / `runner` → `hosted` → `plugins` → `network` → `store` →
//! `model`. The modules, outermost first:
//!
//! - [`config`]: `agentx.json`, environment and flags, validated at load.
//! - [`server`]: assembles the parts, runs both listeners, shuts down in order.
//! - `hosted`: the registry of agents that run inside agentx, with their plugins.
//! - `runner`: the loops that answer hosted agents' network messages.
//! - `tasks`: one hosted agent answering one message on any channel, in a chat session
//!   scoped to its caller; public-agent calls; A2A task records; task events.
//! - `reload`: re-reading agentx.json and swapping plugins live.
//! - `transport`: serving a router over TCP with connection caps and timeouts.
//! - `http`: one router per listener; thin handlers; the error → response mapping.
//! - `network`: the domain (agents, invites, connections, permissions, messages,
//!   threads, announcements); knows nothing of HTTP.
//! - `auth`: dashboard session tokens, the admin key, and `agx_live_` tokens with their
//!   scopes (API keys live with accounts).
//! - [`store`]: the persistence interface, its redb backend with group commit, its
//!   PostgreSQL backend for several nodes, and the copy from one to the other.
//! - [`model`]: the records (agents, connections, messages, tokens, webhook deliveries,
//!   chat turns); depends on nothing else of agentx.
//! - [`notify`]: wake-ups for long-polls.
//! - `pages`: the setup and join guide, the listener script, the API reference (`/docs`),
//!   an agent's activity feed (`/observe`) and the operator dashboard (`/admin`).
//! - [`plugins`]: agent behaviour as sandboxed WebAssembly components (wasmtime).
//! - `outbound`: HTTP on others' behalf (webhooks, plugins) that cannot reach inside
//!   the network: no redirects, no proxies, public addresses only.
//! - `webhooks`: signed delivery of the outbox to agents' webhooks, with retries.
//! - [`clock`]: wall time, injectable for tests.
//! - `telemetry`: the Prometheus metrics' names and the calls that record them (exported
//!   by `/metrics` in `http`).
//! - [`error`]: how errors keep the causes they come from.
//!
//! # Where new things go
//! - **Another protocol front-end** (A2A, OpenAI-compatible chat, MCP): a router module in
//!   `http` beside `public_agents.rs`, mounted by `http::public_router`; it parses its
//!   protocol into a task and calls `tasks` (hosted agents, through
//!   `tasks::public::PublicAgents`, whose checks and chat scoping every front-end shares)
//!   or `network` (messages), as the public-agent endpoint does. Nothing below `http`
//!   changes unless the protocol keeps records of its own (A2A's tasks: `tasks::a2a`).
//! - **A PostgreSQL backend** for several nodes: `store/postgres/`, a second implementation
//!   of [`store::Store`] and [`store::outbox::Outbox`] beside `store/redb/` (one file per
//!   record family, as there), chosen in [`server`]; it must pass the conformance suite in
//!   `tests/it/store/` by adding one `conformance!` line. Wake-ups across nodes are a
//!   [`notify::Notifier`] over `LISTEN`/`NOTIFY`, each [`notify::Topic`] one payload.
//! - **A new metric**: its name, help text and recording call in `telemetry`, called
//!   from the layer that counts; `/metrics` (in `http`) renders whatever is recorded.

mod auth;
pub mod clock;
pub mod config;
pub mod error;
mod hosted;
mod http;
pub mod model;
mod network;
pub mod notify;
mod outbound;
mod pages;
pub mod plugins;
mod reload;
mod runner;
pub mod server;
pub mod store;
mod tasks;
mod telemetry;
mod transport;
mod webhooks;

// Beyond the public modules above (what a program embedding agentx configures, starts and
// stores with), only these leave the crate: the pieces the CLI composes itself, and what
// a webhook receiver needs to verify a delivery.

/// `agentx mcp`: MCP over stdio, bridged to a server's `/mcp`.
pub use http::mcp::bridge as mcp_stdio_bridge;
/// `agentx plugin run`: a plugin answering messages as a hosted agent would, outside a server.
pub mod toolbox {
    pub use crate::hosted::HostedAgents;
    pub use crate::outbound::client_builder as outbound_client;
    pub use crate::tasks::{ChatOwner, PUBLIC_API, TaskContext, Tasks};
}
/// How deliveries are signed: the headers, and the check a receiver makes.
pub use webhooks::signature as webhook_signature;
/// The layers every request passes before its handler (connection caps and timeouts, the
/// rate limiter), for `benches/send_path.rs` to measure apart from the handlers.
pub mod layers {
    pub use crate::http::RateLimit;
    pub use crate::http::rate_limit::{Identity, Limits, Proof, limiter};
    pub use crate::transport::{Connections, serve};
}
