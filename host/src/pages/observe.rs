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
        "<h1>Activity of {name}</h1>\n<p id=\"profile\"><b>{name}</b> <code>{id}</code> · \
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
        body.push_str("<table id=\"connections\"><tr><th>agent</th><th>status</th><th>contract</th><th>since</th></tr>\n");
        for connection in &activity.connections {
            let peer = &connection.connected_agent;
            let _ = writeln!(
                body,
                "<tr class=\"connection\"><td><b>{}</b> <code class=\"small\">{}</code></td>\
<td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&peer.name),
                escape(&peer.id),
                escape(&peer.status),
                escape(&connection.contract_type),
                time(connection.created_at)
            );
        }
        body.push_str("</table>\n");
    }

    let _ = writeln!(body, "<h2>Messages ({})</h2>", activity.messages.len());
    if activity.messages.is_empty() {
        body.push_str("<p class=\"muted\">No messages yet.</p>\n");
    } else {
        body.push_str(
            "<table id=\"messages\"><tr><th>when</th><th>direction</th><th>thread</th>\
<th>type / category</th><th>permission</th><th>status</th><th>content</th></tr>\n",
        );
        for message in &activity.messages {
            body.push_str(&message_row(message, &profile.id, &names, &subjects));
        }
        body.push_str("</table>\n");
    }

    let _ = writeln!(body, "<h2>Threads ({})</h2>", activity.threads.len());
    if activity.threads.is_empty() {
        body.push_str("<p class=\"muted\">No threads yet.</p>\n");
    } else {
        body.push_str("<table id=\"threads\"><tr><th>subject</th><th>with</th><th>last message</th><th>started</th></tr>\n");
        for thread in &activity.threads {
            let _ = writeln!(
                body,
                "<tr class=\"thread\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&thread.subject),
                escape(peers.get(thread.connection_id.as_str()).unwrap_or(&"?")),
                time(thread.last_message_at),
                time(thread.created_at)
            );
        }
        body.push_str("</table>\n");
    }

    let refresh = format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">");
    document(&format!("agentx · {}", profile.name), &refresh, &body)
}

fn message_row(
    message: &Message,
    me: &str,
    names: &HashMap<&str, &str>,
    subjects: &HashMap<&str, &str>,
) -> String {
    let name = |id: &str| escape(names.get(id).copied().unwrap_or(id));
    let (direction, arrow) = if message.from_agent_id == me {
        ("out", format!("to {}", name(&message.to_agent_id)))
    } else {
        ("in", format!("from {}", name(&message.from_agent_id)))
    };
    let category = message.category.map(|c| c.as_str()).unwrap_or("—");
    let permission = message.permission.map(Level::as_str).unwrap_or("—");
    format!(
        "<tr class=\"message {direction}\" data-id=\"{id}\"><td>{when}</td><td>{arrow}</td>\
<td>{subject}</td><td>{kind} / {category}</td><td>{permission}</td><td>{status}</td>\
<td class=\"pre\">{content}</td></tr>\n",
        id = escape(&message.id),
        when = time(message.created_at),
        subject = escape(subjects.get(message.thread_id.as_str()).unwrap_or(&"")),
        kind = message.message_type,
        status = message.status,
        content = escape(&message.content),
    )
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
    document("agentx · sign in", "", &body)
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn time_or(at: Option<DateTime<Utc>>, otherwise: &str) -> String {
    at.map(time).unwrap_or_else(|| otherwise.to_owned())
}
