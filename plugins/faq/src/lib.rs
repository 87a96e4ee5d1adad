//! `faq`: answers questions from Markdown files in the agent's workspace, and remembers
//! facts per conversation.
//!
//! Every `*.md` file at the workspace root is read as a list of entries: a `##` (or
//! deeper) heading is a question, and the text below it, up to the next heading, is its
//! answer. A message is answered with the entry whose question shares the most words with
//! it; with no overlap the plugin says it does not know and lists the questions it can
//! answer.
//!
//! Two commands use memory, scoped to the conversation (`chat-id`) so that what one
//! chat tells it never leaks into another:
//! - `remember: <fact>` stores a fact;
//! - `what do you remember?` lists them; `forget everything` deletes them.

use std::collections::BTreeSet;

use agentx_sdk::{
    log, memory, workspace, Capability, Description, HostError, Message, Reply, RequestContext,
    Responder,
};

struct Faq;

/// How many questions the "I don't know" reply names, so a large FAQ does not turn
/// every miss into a wall of text.
const MAX_TOPICS_LISTED: usize = 10;

/// Words too common to say anything about what a question is about.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for",
    "from", "how", "i", "if", "in", "is", "it", "me", "my", "of", "on", "or", "our", "please",
    "should", "so", "that", "the", "there", "this", "to", "we", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your",
];

impl Responder for Faq {
    fn describe() -> Description {
        Description::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            [Capability::Log, Capability::Memory, Capability::Workspace],
        )
    }

    fn respond(ctx: RequestContext, msg: Message) -> Result<Option<Reply>, String> {
        let text = msg.content.trim();
        let lower = text.to_lowercase();
        let facts = Facts::for_chat(&ctx.chat_id);
        let answer = if let Some(fact) = strip_prefix_ignore_case(text, "remember:") {
            facts.remember(fact.trim())
        } else if lower.contains("what do you remember") {
            facts.recall()
        } else if lower.starts_with("forget everything") {
            facts.forget()
        } else {
            answer_from_workspace(text)
        };
        answer
            .map(|content| Some(Reply::new(content)))
            .map_err(|err| {
                log::error(format_args!("faq failed: {err}"));
                format!("faq: {err}")
            })
    }
}

agentx_sdk::export_responder!(Faq);

/// `text` without `prefix`, if it starts with it in any letter case.
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The facts remembered in one conversation, stored as numbered memory keys under a
/// per-chat prefix so listing them is one `list_keys` call and keeps their order.
struct Facts {
    prefix: String,
}

impl Facts {
    fn for_chat(chat_id: &str) -> Self {
        // NB: chat ids are opaque and may contain '/'; escaping it keeps chat "a" from
        // seeing the facts of chat "a/b" through a shared prefix.
        let chat = chat_id.replace('%', "%25").replace('/', "%2F");
        Facts {
            prefix: format!("faq/chat/{chat}/"),
        }
    }

    fn remember(&self, fact: &str) -> Result<String, HostError> {
        if fact.is_empty() {
            return Ok("What should I remember? Say \"remember: <something>\".".to_string());
        }
        let next = memory::list_keys(&self.prefix)?.len();
        // Zero-padded so that the sorted key order is the order facts were told.
        memory::set(&format!("{}{next:06}", self.prefix), fact)?;
        Ok(format!("Noted, I'll remember: {fact}"))
    }

    fn recall(&self) -> Result<String, HostError> {
        let mut facts = Vec::new();
        for key in memory::list_keys(&self.prefix)? {
            // A key listed but gone by the time it is read was deleted concurrently by
            // another call in this chat; skipping it is the right answer.
            if let Some(fact) = memory::get(&key)? {
                facts.push(format!("- {fact}"));
            }
        }
        if facts.is_empty() {
            return Ok("I don't remember anything from this conversation yet.".to_string());
        }
        Ok(format!(
            "Here is what I remember from this conversation:\n{}",
            facts.join("\n")
        ))
    }

    fn forget(&self) -> Result<String, HostError> {
        let keys = memory::list_keys(&self.prefix)?;
        for key in &keys {
            memory::delete(key)?;
        }
        Ok(format!("Forgotten ({} facts).", keys.len()))
    }
}

/// One question and its answer from a FAQ file.
#[derive(Debug, PartialEq)]
struct Entry {
    question: String,
    answer: String,
}

fn answer_from_workspace(question: &str) -> Result<String, HostError> {
    let entries = load_entries()?;
    if entries.is_empty() {
        return Ok("I don't know, and I have no FAQ documents to look in yet.".to_string());
    }
    if let Some(entry) = best_match(&entries, question) {
        return Ok(entry.answer.clone());
    }
    let topics: Vec<&str> = entries
        .iter()
        .take(MAX_TOPICS_LISTED)
        .map(|entry| entry.question.as_str())
        .collect();
    Ok(format!(
        "I'm sorry, I don't know. I can answer questions about: {}.",
        topics.join("; ")
    ))
}

/// The entries of every Markdown file at the workspace root, in file name order.
fn load_entries() -> Result<Vec<Entry>, HostError> {
    let mut entries = Vec::new();
    for file in workspace::read_dir("")? {
        if file.is_dir || !file.name.ends_with(".md") {
            continue;
        }
        // One unreadable file (too large, not UTF-8) should not hide the others.
        match workspace::read_to_string(&file.name) {
            Ok(text) => entries.extend(parse_entries(&text)),
            Err(err) => log::warn(format_args!("skipping {}: {err}", file.name)),
        }
    }
    Ok(entries)
}

/// Splits Markdown into entries: each heading of level 2 or deeper is a question, the
/// text up to the next heading its answer. Level-1 headings are document titles.
fn parse_entries(markdown: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut in_entry = false;
    for line in markdown.lines() {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if hashes > 0 && line[hashes..].starts_with(' ') {
            in_entry = hashes >= 2;
            if in_entry {
                entries.push(Entry {
                    question: line[hashes..].trim().to_string(),
                    answer: String::new(),
                });
            }
        } else if let (true, Some(entry)) = (in_entry, entries.last_mut()) {
            entry.answer.push_str(line);
            entry.answer.push('\n');
        }
    }
    for entry in &mut entries {
        entry.answer = entry.answer.trim().to_string();
    }
    entries.retain(|entry| !entry.answer.is_empty());
    entries
}

/// The entry whose question shares the most meaningful words with `question`; ties go
/// to the shorter question, which the shared words cover more completely.
fn best_match<'a>(entries: &'a [Entry], question: &str) -> Option<&'a Entry> {
    let asked = keywords(question);
    entries
        .iter()
        .map(|entry| {
            let known = keywords(&entry.question);
            (asked.intersection(&known).count(), known.len(), entry)
        })
        .filter(|(shared, _, _)| *shared > 0)
        .min_by_key(|(shared, len, _)| (std::cmp::Reverse(*shared), *len))
        .map(|(_, _, entry)| entry)
}

/// Lowercased words minus stop words, with a plural `s` dropped so "passwords" matches
/// "password".
fn keywords(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|word| !word.is_empty() && !STOP_WORDS.contains(&word.as_str()))
        .map(|word| match word.strip_suffix('s') {
            Some(stem) if stem.len() >= 3 && !stem.ends_with('s') => stem.to_string(),
            _ => word,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentx_sdk::testing;

    const FAQ: &str = "# Acme FAQ\n\nIntro text that is not an entry.\n\n\
        ## How do I reset my password?\nUse the \"Forgot password\" link.\n\n\
        ## What are your opening hours?\nNine to five, Monday to Friday.\n\n\
        ### Do you ship abroad?\nYes, to the EU.\n";

    fn ask(chat: &str, text: &str) -> String {
        let reply = Faq::respond(testing::context(chat), testing::message(text));
        reply.unwrap().unwrap().content
    }

    fn with_faq() {
        testing::reset();
        testing::with_host(|host| {
            host.add_file("faq.md", FAQ);
            host.add_file("notes/ignored.md", "## Secret?\nNot at the root.");
        });
    }

    /// Headings of level 2 and deeper become entries; the title and intro do not.
    #[test]
    fn parses_question_sections() {
        let questions: Vec<String> = parse_entries(FAQ).into_iter().map(|e| e.question).collect();
        assert_eq!(
            questions,
            [
                "How do I reset my password?",
                "What are your opening hours?",
                "Do you ship abroad?"
            ]
        );
    }

    /// Word overlap picks the entry, regardless of case, punctuation and plurals.
    #[test]
    fn answers_the_best_matching_entry() {
        with_faq();
        assert_eq!(
            ask("c", "I forgot my PASSWORDS!"),
            "Use the \"Forgot password\" link."
        );
        assert_eq!(
            ask("c", "opening hours on friday?"),
            "Nine to five, Monday to Friday."
        );
        assert_eq!(ask("c", "can you ship to Norway"), "Yes, to the EU.");
    }

    /// A miss names the known topics instead of guessing.
    #[test]
    fn says_it_does_not_know_and_lists_topics() {
        with_faq();
        let reply = ask("c", "what is the meaning of life");
        assert!(reply.starts_with("I'm sorry, I don't know."), "{reply}");
        assert!(reply.contains("Do you ship abroad?"), "{reply}");
        assert!(!reply.contains("Secret"), "{reply}");
    }

    /// Facts are kept per chat and listed in the order they were told.
    #[test]
    fn remembers_per_chat() {
        with_faq();
        ask("chat/1", "Remember: the demo is on Tuesday");
        ask("chat/1", "remember: bring the slides");
        ask("chat/1/b", "remember: unrelated");
        assert_eq!(
            ask("chat/1", "What do you remember?"),
            "Here is what I remember from this conversation:\n\
             - the demo is on Tuesday\n- bring the slides"
        );
        assert_eq!(ask("chat/1", "forget everything"), "Forgotten (2 facts).");
        assert_eq!(
            ask("chat/1", "what do you remember"),
            "I don't remember anything from this conversation yet."
        );
        assert!(ask("chat/1/b", "what do you remember").contains("unrelated"));
    }

    /// Without the workspace capability the call fails with a reason, not a panic.
    #[test]
    fn reports_a_denied_workspace() {
        with_faq();
        testing::with_host(|host| host.denied.push(Capability::Workspace));
        let err = Faq::respond(testing::context("c"), testing::message("hours?")).unwrap_err();
        assert!(err.contains("not granted"), "{err}");
    }
}
