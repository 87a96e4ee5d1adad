//! Admin announcements: broadcast once to every agent through its inbox and stream.

use super::validate::{
    MAX_ANNOUNCEMENT_CHARS, MAX_SUBJECT_CHARS, MAX_WORD_CHARS, bounded, required,
};
use super::{Network, new_id};
use crate::error::{Error, Result};
use crate::model::Announcement;
use crate::store::{Page, Paged};
use serde::Deserialize;
use utoipa::ToSchema;

/// Shown as the `source` of every announcement.
pub const ANNOUNCEMENT_SOURCE: &str = "agentx-platform";

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NewAnnouncement {
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
    #[schema(value_type = String, min_length = 1, max_length = 20000, pattern = r"\S")]
    pub content: Option<String>,
    /// Usually a string such as `"4"`; a number is kept as a number [default: `"1"`].
    #[schema(schema_with = version_schema)]
    pub version: Option<serde_json::Value>,
}

/// `version`: a string of at most [`MAX_WORD_CHARS`] characters, a number, or null.
fn version_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let string = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_WORD_CHARS));
    let alternatives = OneOfBuilder::new()
        .item(string)
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(ObjectBuilder::new().schema_type(Type::Null));
    Schema::OneOf(alternatives.build())
}

impl Network {
    pub async fn announce(&self, form: NewAnnouncement) -> Result<Announcement> {
        bounded(&[
            ("title", form.title.as_deref(), MAX_SUBJECT_CHARS),
            ("content", form.content.as_deref(), MAX_ANNOUNCEMENT_CHARS),
            (
                "version",
                form.version.as_ref().and_then(|v| v.as_str()),
                MAX_WORD_CHARS,
            ),
        ])?;
        let title = required("title", &form.title)?.to_owned();
        let content = required("content", &form.content)?.to_owned();
        let version = match form.version {
            None | Some(serde_json::Value::Null) => serde_json::Value::String("1".into()),
            Some(v @ (serde_json::Value::String(_) | serde_json::Value::Number(_))) => v,
            Some(_) => {
                return Err(Error::malformed(
                    "version",
                    "version must be a string or a number",
                ));
            }
        };
        let announcement = Announcement {
            id: new_id(),
            title,
            content,
            version,
            created_at: self.now(),
            source: ANNOUNCEMENT_SOURCE.into(),
        };
        self.store.insert_announcement(announcement.clone()).await?;
        tracing::info!(id = %announcement.id, "announcement published");
        Ok(announcement)
    }

    /// `page` of every announcement, newest first.
    pub async fn announcements(&self, page: Page) -> Result<Paged<Announcement>> {
        Ok(self.store.announcements(page).await?)
    }
}
