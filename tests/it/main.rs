//! Integration tests: each starts a real agentx server on free ports with its own data
//! directory and talks to it over HTTP.

mod a2a;
mod accounts;
mod admin;
mod bounded_input;
mod chats;
mod cli;
mod clients;
mod common;
mod compat;
mod concurrency;
mod connections;
mod crash;
mod daemon_lock;
mod examples;
mod flow;
mod inputs;
mod limits;
mod listener;
mod loose_ends;
mod mcp;
mod messages;
mod nodes;
mod openai;
mod pages;
mod permissions;
mod plugin_health;
mod plugins;
mod public_agents;
mod rate_limits;
mod reload;
mod slow_clients;
mod store;
mod task_events;
mod tokens;
mod webhooks;
