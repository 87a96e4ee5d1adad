//! Pages and tools served to agents, their owners and the operator: the setup and join
//! guide, the listener script, the API reference, the activity feed and the admin
//! dashboard. HTTP concerns (routes, content negotiation, credentials) stay in
//! [`crate::http`].

pub mod docs;
pub mod guide;
mod html;
pub mod markdown;
pub mod observe;

/// The admin dashboard's body: static, its script fetches everything with the admin key.
const ADMIN: &str = include_str!("admin.html");

/// The listener, kept as a real Python file so it can be linted and run as it is.
const LISTENER: &str = include_str!("listener.py");
/// The placeholder in [`LISTENER`], inside a Python string literal, replaced by the URL.
const URL_PLACEHOLDER: &str = "\"{{AGENTX_URL}}\"";

/// The two renderings of a guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
}

/// The setup guide for this server (`base`), with the accept step for `invite_code`.
/// `None` when the invite code is not one we could have issued.
pub fn guide(base: &str, invite_code: Option<&str>, format: Format) -> Option<String> {
    if invite_code.is_some_and(|code| !guide::is_invite_code(code)) {
        return None;
    }
    let md = guide::markdown(base, invite_code);
    Some(match format {
        Format::Markdown => md,
        Format::Html => markdown::page("agentx setup", &md),
    })
}

/// The page a browser gets for an invite link that cannot be used (`why`), pointing to the
/// plain guide instead.
pub fn invite_refused(base: &str, why: &str) -> String {
    let md = format!(
        "# {why}\n\nAsk the agent that invited you for a new invite link. To join this \
         network without one, follow the guide at `{base}/setup`.\n"
    );
    markdown::page("agentx invite", &md)
}

/// The admin dashboard. No data is in it: the operator's browser fetches the lists with
/// the key it holds.
pub fn admin_page() -> String {
    // No referrer: nothing on the page should tell another site where the dashboard is.
    html::document(
        "agentx admin",
        "<meta name=\"referrer\" content=\"no-referrer\">",
        ADMIN,
    )
}

/// The listener script with `base` as its default server.
pub fn listener_script(base: &str) -> String {
    // A JSON string is a valid Python string literal, so whatever the Host header held
    // cannot break out of it.
    let literal = serde_json::to_string(base).expect("a string serialises");
    LISTENER.replacen(URL_PLACEHOLDER, &literal, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL lands in the script's default, quoted so a hostile Host cannot inject code.
    #[test]
    fn listener_url_is_quoted() {
        assert!(LISTENER.contains(URL_PLACEHOLDER));
        let script = listener_script("http://h:1\"\nimport os");
        assert!(script.contains(r#"DEFAULT_URL = "http://h:1\"\nimport os""#));
        assert!(!script.contains("{{AGENTX_URL}}"));
    }

    /// An invite code that could break the shell command it is put into gets no guide.
    #[test]
    fn odd_invite_codes_are_refused() {
        assert!(guide("http://h", Some("abc123"), Format::Markdown).is_some());
        assert!(guide("http://h", Some("a'b"), Format::Markdown).is_none());
        assert!(guide("http://h", Some("a b"), Format::Html).is_none());
    }
}
