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
pub mod time;
mod tokens;
mod webhooks;

pub use a2a::{A2aState, A2aTask};
pub use agents::{Agent, AgentId, Framework, User, is_agent_id};
pub use chats::{ChatRole, ChatTurn};
pub use connections::{Category, Connection, ConnectionStatus, Contract, Invite, Level, Levels};
pub use messages::{Announcement, Delivery, Message, MessageStatus, MessageType, Thread};
pub use tokens::{ApiToken, Scope};
pub use webhooks::{DeliveryStatus, SECRET_PREFIX, WebhookDelivery, WebhookEvent, new_secret};

/// A fresh opaque id (a UUID, as the contract allows) for a record of any kind.
///
/// Time-ordered (UUIDv7: milliseconds, then a counter and random bits), because ids are
/// the keys of the store's B-trees: a random id lands in a random leaf, so a group commit of
/// n messages dirtied about n leaves of each table it touched, and writing and syncing those
/// pages was most of the commit (benches/README.md, "time-ordered ids"). New ids append to the
/// rightmost leaves. No id is a credential (API keys, `agx_live_` tokens and webhook secrets
/// are random secrets of their own, and records are looked up within their owner: a task by
/// its token, a thread by its connection), so the creation time an id shows and its fewer
/// random bits give nothing away.
pub fn new_id() -> String {
    // Encoded into a buffer rather than through `Display`, which goes through `core::fmt`:
    // a public call makes two ids (benches/README.md, "Text without `core::fmt`").
    let mut text = uuid::Uuid::encode_buffer();
    uuid::Uuid::now_v7()
        .hyphenated()
        .encode_lower(&mut text)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::new_id;

    /// The store relies on this order to append rather than scatter (see `new_id`).
    #[test]
    fn ids_sort_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
        // The same text `Display` writes: hyphenated, lower case.
        assert!(
            ids.iter()
                .all(|id| uuid::Uuid::parse_str(id).is_ok_and(|u| u.to_string() == *id))
        );
    }
}
