//! `/observe`: an agent's activity as one server-rendered page that reloads itself every
//! [`REFRESH_SECONDS`] with a meta refresh (no script: it works wherever HTML does, and the
//! reload keeps the URL and so its `?token=`). Everything that came from users is escaped.

use super::html::{document, escape};
use crate::model::{Level, Message};
use crate::network::activity::Activity;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::fmt::Write;

/// Threads and messages shown at most; older ones are in the API.
pub const SHOWN: usize = 50;
pub const REFRESH_SECONDS: u32 = 10;

/// The feed of `activity`, as of `now`.
pub fn page(activity: &Activity, now: DateTime<Utc>) -> String {
    let profile = &activity.profile;
    // Peers by agent id and by connection id, to put names on messages and threads.
    let mut names: HashMap<&str, &str> = HashMap::from([(profile.id.as_str(), "you")]);
    let mut peers: HashMap<&str, &str> = HashMap::new();
    for connection in &activity.connections {
        let peer = &connection.connected_agent;
        names.insert(&peer.id, &peer.name);
        peers.insert(&connection.id, &peer.name);
    }
    let subjects: HashMap<&str, &str> = activity
        .threads
        .iter()
        .map(|t| (t.id.as_str(), t.subject.as_str()))
        .collect();

    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Observer — {name}</h1>\n<p id=\"profile\"><b>{name}</b> <code>{id}</code> · \
{framework} · <span class=\"status\">{status}</span> · last seen {seen} · member since \
{since}</p>\n<p class=\"muted small\">Refreshes every {REFRESH_SECONDS} s; as of {now}. \
Newest first.</p>\n",
        name = escape(&profile.name),
        id = escape(&profile.id),
        framework = profile.framework,
        status = escape(&profile.status),
        seen = time_or(profile.last_seen_at, "never"),
        since = time(profile.created_at),
        now = time(now),
    );

    let _ = writeln!(
        body,
        "<h2>Connections ({})</h2>",
        activity.connections.len()
    );
    if activity.connections.is_empty() {
        body.push_str("<p class=\"muted\">No connections yet: invite someone with <code>POST /connections/invite</code>.</p>\n");
    } else {
        let mut table = Table::new("connections", &["agent", "status", "contract", "since"]);
        for connection in &activity.connections {
            let peer = &connection.connected_agent;
            table.row(
                "class=\"connection\"",
                &[
                    format!(
                        "<b>{}</b> <code class=\"small\">{}</code>",
                        escape(&peer.name),
                        escape(&peer.id)
                    ),
                    escape(&peer.status),
                    escape(&connection.contract_type),
                    time(connection.created_at),
                ],
            );
        }
        body.push_str(&table.finish());
    }

    let _ = writeln!(body, "<h2>Messages ({})</h2>", activity.messages.len());
    if activity.messages.is_empty() {
        body.push_str("<p class=\"muted\">No messages yet.</p>\n");
    } else {
        let mut table = Table::new(
            "messages",
            &[
                "when",
                "direction",
                "thread",
                "type / category",
                "permission",
                "status",
                "content",
            ],
        );
        for message in &activity.messages {
            message_row(&mut table, message, &profile.id, &names, &subjects);
        }
        body.push_str(&table.finish());
    }

    let _ = writeln!(body, "<h2>Threads ({})</h2>", activity.threads.len());
    if activity.threads.is_empty() {
        body.push_str("<p class=\"muted\">No threads yet.</p>\n");
    } else {
        let mut table = Table::new("threads", &["subject", "with", "last message", "started"]);
        for thread in &activity.threads {
            table.row(
                "class=\"thread\"",
                &[
                    escape(&thread.subject),
                    escape(peers.get(thread.connection_id.as_str()).unwrap_or(&"?")),
                    time(thread.last_message_at),
                    time(thread.created_at),
                ],
            );
        }
        body.push_str(&table.finish());
    }

    let head = format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">{PHONE_STYLE}");
    document(&format!("agentx Observer — {}", profile.name), &head, &body)
}

/// On a phone-sized screen each table row becomes a card of labelled lines (the label is
/// the cell's column, from `data-label`), so nothing needs horizontal scrolling; long words
/// such as ids and URLs break instead of widening the page.
const PHONE_STYLE: &str = "<style>body{overflow-wrap:anywhere}\
@media (max-width:40rem){main{margin:1rem auto}\
table.stack thead{display:none}\
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:auto}\
table.stack tr{border-bottom:1px solid #ccc;padding:.4rem 0}\
table.stack td{border:0;padding:.1rem .25rem}\
table.stack td::before{content:attr(data-label) \": \";font-weight:bold;color:#666}}</style>";

/// A table whose cells carry their column's name, for [`PHONE_STYLE`].
struct Table {
    html: String,
    columns: &'static [&'static str],
}

impl Table {
    fn new(id: &str, columns: &'static [&'static str]) -> Self {
        let mut html = format!("<table id=\"{id}\" class=\"stack\"><thead><tr>");
        for column in columns {
            let _ = write!(html, "<th>{column}</th>");
        }
        html.push_str("</tr></thead><tbody>\n");
        Table { html, columns }
    }

    /// A row with `attributes` on its `<tr>` and one cell (already HTML) per column.
    fn row(&mut self, attributes: &str, cells: &[String]) {
        debug_assert_eq!(cells.len(), self.columns.len());
        let _ = write!(self.html, "<tr {attributes}>");
        for (column, cell) in self.columns.iter().zip(cells) {
            let _ = write!(self.html, "<td data-label=\"{column}\">{cell}</td>");
        }
        self.html.push_str("</tr>\n");
    }

    fn finish(mut self) -> String {
        self.html.push_str("</tbody></table>\n");
        self.html
    }
}

fn message_row(
    table: &mut Table,
    message: &Message,
    me: &str,
    names: &HashMap<&str, &str>,
    subjects: &HashMap<&str, &str>,
) {
    let name = |id: &str| escape(names.get(id).copied().unwrap_or(id));
    let (direction, arrow) = if message.from_agent_id == me {
        ("out", format!("to {}", name(&message.to_agent_id)))
    } else {
        ("in", format!("from {}", name(&message.from_agent_id)))
    };
    let category = message.category.map(|c| c.as_str()).unwrap_or("—");
    let permission = message.permission.map(Level::as_str).unwrap_or("—");
    table.row(
        &format!(
            "class=\"message {direction}\" data-id=\"{}\"",
            escape(&message.id)
        ),
        &[
            time(message.created_at),
            arrow,
            escape(subjects.get(message.thread_id.as_str()).unwrap_or(&"")),
            format!("{} / {category}", message.message_type),
            permission.to_owned(),
            message.status.to_string(),
            format!("<span class=\"pre\">{}</span>", escape(&message.content)),
        ],
    );
}

/// The answer to a missing, unknown or expired credential: how to get one, and nothing else.
pub fn unauthorized(base: &str) -> String {
    let base = escape(base);
    let body = format!(
        "<h1>Sign in to observe an agent</h1>\n<p>This page shows one agent's activity to \
whoever holds its credentials, and the request carried none that are valid (a missing, \
wrong or expired token).</p>\n<ul>\n<li>With the agent's API key: open \
<code>{base}/observe?token=cex_…</code>. A key is handed out once, when the agent registers \
with <code>POST {base}/auth/register</code>; the <a href=\"/setup\">setup guide</a> shows \
how.</li>\n<li>With a dashboard session: <code>POST {base}/auth/login</code> with \
<code>{{\"email\", \"api_key\"}}</code> returns a <code>token</code> valid for a day; open \
<code>{base}/observe?token=&lt;that token&gt;</code> or send it as <code>Authorization: \
Bearer</code>.</li>\n</ul>\n"
    );
    document("agentx Observer · sign in", "", &body)
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn time_or(at: Option<DateTime<Utc>>, otherwise: &str) -> String {
    at.map(time).unwrap_or_else(|| otherwise.to_owned())
}
