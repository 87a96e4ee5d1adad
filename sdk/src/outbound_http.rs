//! HTTP requests to the hosts on the agent's allow-list (capability `outbound-http`).
//!
//! A request to any other host fails with [`HostError::Denied`]; any HTTP status, 4xx and
//! 5xx included, is a successful call.
//!
//! ```no_run
//! use agentx_sdk::outbound_http;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let response = outbound_http::get("https://status.example.com/api/summary")?;
//! if response.status == 200 {
//!     agentx_sdk::log::info(response.text()?);
//! }
//! # Ok(())
//! # }
//! ```

use crate::HostError;

#[cfg(target_arch = "wasm32")]
use crate::bindings::responder::agentx::plugin::outbound_http as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::host::outbound_http as host;

pub use crate::bindings::responder::agentx::plugin::outbound_http::{
    Headers, Method, Request, Response,
};

/// Sends `request` and waits for the whole response.
pub fn send(request: &Request) -> Result<Response, HostError> {
    host::send(request)
}

/// A `GET` of `url` with no headers: the common case of [`send`].
pub fn get(url: &str) -> Result<Response, HostError> {
    send(&Request {
        method: Method::Get,
        url: url.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
    })
}

impl Response {
    /// The body as text, for the usual JSON or plain-text APIs.
    pub fn text(&self) -> Result<&str, core::str::Utf8Error> {
        core::str::from_utf8(&self.body)
    }
}
