//! The records agentx keeps and shows, in one place that depends on nothing else of
//! agentx: the store persists them, the domain reasons about them, the HTTP layer
//! serialises them.
//!
//! Enumerations parse from and print as the exact strings of the HTTP contract, so the
//! same type validates input, is stored, and is serialised back out.

/// Declares a closed set of wire strings as a Rust enum with `FromStr`/`Display`, so the
/// list of accepted values and the error message naming them come from one place.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize, ::utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The accepted values, for error messages.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod a2a;
mod agents;
mod chats;
mod connections;
mod messages;
mod tokens;
mod webhooks;

pub use a2a::{A2aState, A2aTask};
pub use agents::{Agent, AgentId, Framework, User, is_agent_id};
pub use chats::{ChatRole, ChatTurn};
pub use connections::{Category, Connection, ConnectionStatus, Contract, Invite, Level, Levels};
pub use messages::{Announcement, Delivery, Message, MessageStatus, MessageType, Thread};
pub use tokens::{ApiToken, Scope};
pub use webhooks::{DeliveryStatus, SECRET_PREFIX, WebhookDelivery, WebhookEvent, new_secret};
