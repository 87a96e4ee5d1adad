//! Integration tests: each starts a real agentx server on free ports with its own data
//! directory and talks to it over HTTP.

mod common;
mod flow;
