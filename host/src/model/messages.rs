//! Threads, the messages in them, announcements, and what a poll hands over.

use super::{AgentId, Category, Level};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

wire_enum!(
    /// What a message is for; `text` when the sender does not say.
    MessageType { Text = "text", Query = "query", Response = "response", Update = "update", Request = "request" }
);
wire_enum!(
    /// Lifecycle of a message for its recipient.
    MessageStatus { Sent = "sent", Delivered = "delivered", Read = "read" }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Thread {
    pub id: String,
    pub connection_id: String,
    pub subject: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: String,
    pub thread_id: String,
    pub from_agent_id: AgentId,
    pub to_agent_id: AgentId,
    pub message_type: MessageType,
    pub category: Option<Category>,
    pub content: String,
    pub status: MessageStatus,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The recipient's level that applied: `auto`, `ask`, or null without a category.
    pub permission: Option<Level>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Announcement {
    pub id: String,
    pub title: String,
    pub content: String,
    /// Echoed as the admin sent it (clients use strings like `"4"`, some send numbers).
    #[schema(schema_with = announcement_version)]
    pub version: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub source: String,
}

/// An announcement's `version`: a string or a number.
fn announcement_version() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let alternatives = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Number));
    Schema::OneOf(alternatives.build())
}

/// What a poll hands to an agent: its newly delivered messages and announcements.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub messages: Vec<Message>,
    pub announcements: Vec<Announcement>,
}

impl Delivery {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.announcements.is_empty()
    }
}
