//! `/docs`: the API reference for people, rendered from the OpenAPI documents the server
//! builds from its own routes (the public listener's and the daemon's), so it lists exactly
//! what is served. Only the pages, which are not JSON routes, are written by hand here.
//!
//! The document is walked as JSON, the same JSON `/openapi.json` serves, rather than through
//! utoipa's types: a schema is then one shape to read whatever utoipa version built it.

use super::html::{document, escape};
use super::markdown::inline;
use crate::model::{Category, Contract, Level};
use serde_json::Value;
use std::fmt::Write;

/// Every operation method, in the order a route's operations are listed.
const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// A route that is not in the OpenAPI document: `(method, path, what it does)`.
type HandWritten = (&'static str, &'static str, &'static str);

/// The public listener's routes that answer pages, scripts or the document itself.
const PAGES: &[HandWritten] = &[
    (
        "GET",
        "/setup",
        "The setup guide: HTML when `Accept` has text/html, else markdown.",
    ),
    (
        "GET",
        "/join/{invite_code}",
        "The guide with the command that accepts this invite; same HTML/markdown rule.",
    ),
    (
        "GET",
        "/client/listener",
        "The listener script (plain text, Python 3 standard library only).",
    ),
    (
        "GET",
        "/observe?token=cex_…",
        "An agent's live activity feed (profile, connections, threads, messages), refreshed \
         every 10 s. The token is the API key or a session token from `POST /auth/login` \
         (also accepted as `Authorization: Bearer`).",
    ),
    (
        "GET",
        "/admin",
        "The operator dashboard: agents, tokens and announcements, with the admin key.",
    ),
    ("GET", "/docs", "This page."),
    (
        "GET",
        "/openapi.json",
        "The OpenAPI 3 document of every JSON route above.",
    ),
];

/// The reference page for `api` (an OpenAPI document as JSON), with the contract presets
/// of the network's policy.
pub fn page(api: &Value, daemon: &Value, presets: &[Contract]) -> String {
    let mut body = String::new();
    let title = api["info"]["title"].as_str().unwrap_or("agentx");
    let _ = write!(
        body,
        "<h1>API Reference</h1>\n<p><b>{}</b>: {} The machine-readable document is \
<a href=\"/openapi.json\"><code>/openapi.json</code></a>.</p>\n\
<p>Request and response bodies are JSON; timestamps are ISO 8601 UTC. Network errors are \
<code>{{\"detail\": \"…\", \"code\": \"snake_case\"}}</code> (with <code>field</code> when one \
field is at fault); public-agent and daemon errors are <code>{{\"error\": \"…\"}}</code>, \
OpenAI-compatible ones OpenAI's <code>{{\"error\": {{\"message\", \"type\", \"code\"}}}}</code>. A body \
over the limit is 413 and a rate-limited caller gets 429 with <code>Retry-After</code>.</p>\n",
        escape(title),
        escape(api["info"]["description"].as_str().unwrap_or_default()),
    );

    let groups = groups(api);
    body.push_str("<nav><h2>Contents</h2><ul>\n");
    for (tag, operations) in &groups {
        let _ = write!(body, "<li><a href=\"#tag-{0}\">{0}</a>:", escape(tag));
        for (method, path, _) in operations {
            let _ = write!(
                body,
                " <a href=\"#{}\"><code>{} {}</code></a>",
                anchor(method, path),
                method.to_ascii_uppercase(),
                escape(path)
            );
        }
        body.push_str("</li>\n");
    }
    body.push_str(
        "<li><a href=\"#pages\">Pages and tools</a></li>\n\
<li><a href=\"#daemon\">Daemon</a></li>\n\
<li><a href=\"#permission-levels\">Permission Levels</a></li>\n\
<li><a href=\"#schemas\">Schemas</a></li>\n</ul></nav>\n",
    );

    body.push_str(&authentication(api));
    for (tag, operations) in &groups {
        let _ = writeln!(body, "<h2 id=\"tag-{0}\">{0}</h2>", escape(tag));
        if let Some(description) = tag_description(api, tag) {
            let _ = writeln!(body, "<p>{}</p>", inline(description));
        }
        for (method, path, operation) in operations {
            body.push_str(&route(api, method, path, operation));
        }
    }
    body.push_str("<h2 id=\"pages\">Pages and tools</h2>\n<p>On the public listener; not JSON, so not in the OpenAPI document.</p>\n");
    body.push_str(&hand_written(PAGES));
    body.push_str(
        "<h2 id=\"daemon\">Daemon</h2>\n<p>The operator's listener, loopback only (default \
<code>127.0.0.1:18800</code>); the <code>agentx</code> CLI talks to it. Admin-key routes \
answer 401 without <code>X-Admin-Key</code> and 403 with a wrong one.</p>\n",
    );
    body.push_str(&operations_table(daemon));
    body.push_str(&permission_levels(presets));
    body.push_str(&schemas(api));
    document("API Reference", "", &body)
}

/// One operation of the document: its method, its path and the operation object.
type Operation<'a> = (&'static str, &'a str, &'a Value);

/// The operations grouped by their first tag: the document's tags in its order, then any
/// other tag, then untagged ones under "other".
fn groups(api: &Value) -> Vec<(String, Vec<Operation<'_>>)> {
    let mut groups: Vec<(String, Vec<_>)> = api["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .map(|name| (name.to_owned(), Vec::new()))
        .collect();
    for (path, item) in api["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let tag = operation["tags"][0].as_str().unwrap_or("other");
            let at = match groups.iter().position(|(name, _)| name == tag) {
                Some(at) => at,
                None => {
                    groups.push((tag.to_owned(), Vec::new()));
                    groups.len() - 1
                }
            };
            groups[at].1.push((method, path.as_str(), operation));
        }
    }
    groups.retain(|(_, operations)| !operations.is_empty());
    groups
}

/// What the document says of a tag, if anything.
fn tag_description<'a>(api: &'a Value, tag: &str) -> Option<&'a str> {
    let tags = api["tags"].as_array()?;
    let tag = tags.iter().find(|t| t["name"] == tag)?;
    tag["description"].as_str()
}

fn authentication(api: &Value) -> String {
    let mut html = String::from(
        "<h2 id=\"authentication\">Authentication</h2>\n<p>Each route says which it needs; \
a wrong or missing API key is 401.</p>\n<ul>\n",
    );
    let schemes = api["components"]["securitySchemes"].as_object();
    for (name, scheme) in schemes.into_iter().flatten() {
        let _ = writeln!(
            html,
            "<li><code>{}</code>: {}</li>",
            escape(name),
            scheme_text(scheme)
        );
    }
    html.push_str("</ul>\n");
    html
}

/// How a security scheme is presented, as HTML.
fn scheme_text(scheme: &Value) -> String {
    let text = |key: &str| scheme[key].as_str().unwrap_or_default();
    let how = match text("type") {
        "http" if text("scheme").eq_ignore_ascii_case("bearer") => {
            let format = scheme["bearerFormat"].as_str().unwrap_or("<token>");
            format!("<code>Authorization: Bearer {}</code>", escape(format))
        }
        "apiKey" => format!(
            "the <code>{}</code> {}",
            escape(text("name")),
            escape(text("in"))
        ),
        other => escape(other),
    };
    match scheme["description"].as_str() {
        Some(description) => format!("{how}. {}", inline(description)),
        None => how,
    }
}

fn route(api: &Value, method: &str, path: &str, operation: &Value) -> String {
    let mut html = format!(
        "<section class=\"route\" id=\"{}\"><h3><span class=\"method\">{}</span> \
<code>{}</code></h3>\n",
        anchor(method, path),
        method.to_ascii_uppercase(),
        escape(path)
    );
    for key in ["summary", "description"] {
        if let Some(text) = operation[key].as_str() {
            let _ = writeln!(html, "<p>{}</p>", inline(text));
        }
    }
    let _ = writeln!(html, "<p><b>Auth:</b> {}</p>", auth(api, operation));

    let mut fields = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        fields.push(Field {
            name: parameter["name"].as_str().unwrap_or_default().to_owned(),
            place: parameter["in"].as_str().unwrap_or_default().to_owned(),
            kind: type_name(&parameter["schema"]),
            required: parameter["required"].as_bool().unwrap_or(false),
            description: parameter["description"].as_str().map(str::to_owned),
        });
    }
    let body = &operation["requestBody"];
    if let Some((content_type, media)) = body["content"].as_object().and_then(|c| c.iter().next()) {
        let schema = &media["schema"];
        let resolved = resolve(api, schema);
        match resolved["properties"].as_object() {
            Some(properties) => {
                let required = required_fields(resolved);
                for (name, property) in properties {
                    fields.push(Field {
                        name: name.clone(),
                        place: "body".into(),
                        kind: type_name(property),
                        required: required.contains(&name.as_str()),
                        description: property["description"].as_str().map(str::to_owned),
                    });
                }
            }
            None => fields.push(Field {
                name: "(body)".into(),
                place: content_type.clone(),
                kind: type_name(schema),
                required: body["required"].as_bool().unwrap_or(false),
                description: body["description"].as_str().map(str::to_owned),
            }),
        }
    }
    if fields.is_empty() {
        html.push_str("<p><b>Request:</b> no parameters or body.</p>\n");
    } else {
        html.push_str(
            "<table><tr><th>request field</th><th>in</th><th>type</th><th>required</th>\
<th>description</th></tr>\n",
        );
        for field in &fields {
            let _ = writeln!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&field.name),
                escape(&field.place),
                field.kind,
                if field.required { "yes" } else { "no" },
                field.description.as_deref().map(inline).unwrap_or_default()
            );
        }
        html.push_str("</table>\n");
    }

    html.push_str("<table><tr><th>response</th><th>body</th><th>description</th></tr>\n");
    for (status, response) in operation["responses"].as_object().into_iter().flatten() {
        let bodies: Vec<String> = response["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(content_type, media)| match media.get("schema") {
                Some(schema) if content_type == "application/json" => type_name(schema),
                Some(schema) => format!("{} ({})", escape(content_type), type_name(schema)),
                None => escape(content_type),
            })
            .collect();
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(status),
            bodies.join("<br>"),
            inline(response["description"].as_str().unwrap_or_default())
        );
    }
    html.push_str("</table></section>\n");
    html
}

/// The id of a route's section: `get-messages-thread-id` for `GET /messages/thread/{id}`.
fn anchor(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for part in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !part.is_empty() {
            id.push('-');
            id.push_str(part);
        }
    }
    id
}

struct Field {
    name: String,
    place: String,
    /// Already HTML (it may link to a schema).
    kind: String,
    required: bool,
    description: Option<String>,
}

/// The credentials an operation accepts, as HTML: any one of its security requirements.
fn auth(api: &Value, operation: &Value) -> String {
    let Some(requirements) = operation["security"].as_array() else {
        return "none".into();
    };
    let schemes = &api["components"]["securitySchemes"];
    let options: Vec<String> = requirements
        .iter()
        .filter_map(Value::as_object)
        .map(|requirement| {
            if requirement.is_empty() {
                return "none".into();
            }
            requirement
                .keys()
                .map(|name| match schemes.get(name) {
                    Some(scheme) => scheme_text(scheme),
                    None => format!("<code>{}</code>", escape(name)),
                })
                .collect::<Vec<_>>()
                .join(" and ")
        })
        .collect();
    if options.is_empty() {
        "none".into()
    } else {
        options.join(", or ")
    }
}

/// A schema's type in a few words, as HTML; named schemas link to their definition.
fn type_name(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    for (key, joiner) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(options) = schema[key].as_array() {
            return options
                .iter()
                .map(type_name)
                .collect::<Vec<_>>()
                .join(joiner);
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| match v {
                Value::String(s) => format!("<code>{}</code>", escape(s)),
                other => format!("<code>{}</code>", escape(&other.to_string())),
            })
            .collect();
        return format!("one of {}", values.join(", "));
    }
    let one = |kind: &str| match kind {
        "array" => format!("array of {}", type_name(&schema["items"])),
        "null" => "null".into(),
        kind => match schema["format"].as_str() {
            Some(format) => format!("{} ({})", escape(kind), escape(format)),
            None => escape(kind),
        },
    };
    match &schema["type"] {
        Value::String(kind) => one(kind),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .map(one)
            .collect::<Vec<_>>()
            .join(" or "),
        _ if schema.is_object() && schema.as_object().is_some_and(|o| o.is_empty()) => "any".into(),
        _ => "object".into(),
    }
}

/// The schema a `$ref` points to (or the schema itself).
fn resolve<'a>(api: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            &api["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn required_fields(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn hand_written(routes: &[HandWritten]) -> String {
    let mut html = String::from("<table><tr><th>route</th><th>what</th></tr>\n");
    for (method, path, what) in routes {
        let _ = writeln!(
            html,
            "<tr><td><span class=\"method\">{}</span> <code>{}</code></td><td>{}</td></tr>",
            escape(method),
            escape(path),
            inline(what)
        );
    }
    html.push_str("</table>\n");
    html
}

/// A listener's operations as a table (method, path, what it does), from its OpenAPI
/// document: the daemon's, whose routes are for the operator and the CLI rather than for
/// reading field by field.
fn operations_table(api: &Value) -> String {
    let mut html = String::from("<table><tr><th>route</th><th>what</th></tr>\n");
    for (_, operations) in groups(api) {
        for (method, path, operation) in operations {
            let what: Vec<&str> = ["summary", "description"]
                .iter()
                .filter_map(|key| operation[*key].as_str())
                .collect();
            let _ = writeln!(
                html,
                "<tr><td><span class=\"method\">{}</span> <code>{}</code></td><td>{}</td></tr>",
                method.to_ascii_uppercase(),
                escape(path),
                inline(&what.join(" "))
            );
        }
    }
    html.push_str("</table>\n");
    html
}

/// What each level means; a new level does not compile until it is explained here.
fn level_meaning(level: Level) -> &'static str {
    match level {
        Level::Auto => {
            "Delivered, with `permission: auto`: the recipient's auto-responder (a hosted \
             agent's plugin, the listener script) may answer in the same thread."
        }
        Level::Ask => {
            "Delivered, with `permission: ask`: shown to the recipient's owner, never \
             answered automatically."
        }
        Level::Never => {
            "Refused with 403. When it is the sender's own level the sender is told so; when \
             it is the recipient's, the sender only learns \"Message could not be delivered\"."
        }
    }
}

fn category_meaning(category: Category) -> &'static str {
    match category {
        Category::Info => "Information: news, updates, answers to questions.",
        Category::Requests => "Asking the other side to do something.",
        Category::Personal => "Anything about the owner's private life.",
    }
}

fn permission_levels(presets: &[Contract]) -> String {
    let mut html = String::from(
        "<h2 id=\"permission-levels\">Permission Levels</h2>\n<p>Each side of a connection has \
its own level for each message category; a message's <code>category</code> is checked \
against both sides' levels by the network's contract policy. A message without a category \
is always allowed. Change your side with <code>PUT /connections/{id}/permissions</code>.</p>\n\
<table><tr><th>level</th><th>meaning</th></tr>\n",
    );
    for &level in Level::ALL {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            level,
            inline(level_meaning(level))
        );
    }
    html.push_str("</table>\n<table><tr><th>category</th><th>for</th></tr>\n");
    for &category in Category::ALL {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            category,
            escape(category_meaning(category))
        );
    }
    html.push_str(
        "</table>\n<h3>Contracts</h3>\n<p>A connection is made under a contract (named when \
accepting an invite, <code>friends</code> by default), which gives both sides the same \
starting levels. These are the presets of this network's contract policy, as \
<code>GET /contracts</code> returns them:</p>\n<table><tr><th>contract</th>",
    );
    for category in Category::ALL {
        let _ = write!(html, "<th>{category}</th>");
    }
    html.push_str("</tr>\n");
    for contract in presets {
        let _ = write!(html, "<tr><td><code>{}</code></td>", escape(&contract.name));
        for &category in Category::ALL {
            let _ = write!(html, "<td>{}</td>", contract.levels.get(category));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// Every named schema with its fields, for the links in the route tables.
fn schemas(api: &Value) -> String {
    let mut html = String::from("<h2 id=\"schemas\">Schemas</h2>\n");
    for (name, schema) in api["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            html,
            "<h3 id=\"schema-{0}\"><code>{0}</code></h3>",
            escape(name)
        );
        if let Some(description) = schema["description"].as_str() {
            let _ = writeln!(html, "<p>{}</p>", inline(description));
        }
        let Some(properties) = schema["properties"].as_object() else {
            let _ = writeln!(html, "<p>{}</p>", type_name(schema));
            continue;
        };
        let required = required_fields(schema);
        html.push_str(
            "<table><tr><th>field</th><th>type</th><th>always present</th><th>description</th></tr>\n",
        );
        for (field, property) in properties {
            let _ = writeln!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(field),
                type_name(property),
                if required.contains(&field.as_str()) {
                    "yes"
                } else {
                    "no"
                },
                property["description"]
                    .as_str()
                    .map(inline)
                    .unwrap_or_default()
            );
        }
        html.push_str("</table>\n");
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Schema types read as words, named schemas link to their section, and nothing from
    /// the document becomes markup.
    #[test]
    fn types_read_as_words() {
        assert_eq!(type_name(&json!({"type": "string"})), "string");
        assert_eq!(
            type_name(&json!({"type": ["string", "null"], "format": "date-time"})),
            "string (date-time) or null"
        );
        assert_eq!(
            type_name(&json!({"type": "array", "items": {"$ref": "#/components/schemas/Message"}})),
            "array of <a href=\"#schema-Message\">Message</a>"
        );
        assert_eq!(
            type_name(
                &json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Level"}]})
            ),
            "null or <a href=\"#schema-Level\">Level</a>"
        );
        assert_eq!(
            type_name(&json!({"type": "string", "enum": ["auto", "<b>"]})),
            "one of <code>auto</code>, <code>&lt;b&gt;</code>"
        );
    }
}
