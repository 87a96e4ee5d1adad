//! Admin announcements: broadcast once to every agent through its inbox and stream.

use super::validate::{
    MAX_ANNOUNCEMENT_CHARS, MAX_SUBJECT_CHARS, MAX_WORD_CHARS, bounded, required,
};
use super::{Error, Network, Result, new_id};
use crate::model::Announcement;
use serde::Deserialize;
use utoipa::ToSchema;

/// Shown as the `source` of every announcement.
pub const ANNOUNCEMENT_SOURCE: &str = "agentx-platform";

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NewAnnouncement {
    #[schema(required = true, max_length = 200)]
    pub title: Option<String>,
    #[schema(required = true, max_length = 20000)]
    pub content: Option<String>,
    /// Usually a string such as `"4"`; a number is kept as a number.
    #[schema(value_type = Option<String>, max_length = 32)]
    pub version: Option<serde_json::Value>,
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

    pub async fn announcements(&self) -> Result<Vec<Announcement>> {
        Ok(self.store.announcements().await?)
    }
}
