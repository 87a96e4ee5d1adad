//! Credentials other than API keys (those belong to the network's accounts, see
//! [`crate::network::agents`]): dashboard session tokens, `agx_live_` tokens and the admin
//! key.

mod admin;
mod jwt;
pub mod tokens;

pub use admin::{AdminCheck, AdminKey};
pub use jwt::SessionTokens;
pub use tokens::Tokens;
