//! A renderer for the small markdown subset the guide is written in: headings, paragraphs,
//! bullet lists, fenced code blocks and inline code. The guide is our own text, so a full
//! CommonMark implementation (and a dependency) would buy nothing; everything is escaped.

use super::html::{document, escape};

/// The HTML for `markdown`, as a complete page titled `title`.
pub fn page(title: &str, markdown: &str) -> String {
    document(title, "", &to_html(markdown))
}

/// Renders the subset; unknown constructs come out as paragraphs.
pub fn to_html(markdown: &str) -> String {
    let mut html = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list_open = false;
    let mut code: Option<Vec<&str>> = None;

    let flush = |html: &mut String, paragraph: &mut Vec<&str>, list_open: &mut bool| {
        if !paragraph.is_empty() {
            html.push_str(&format!("<p>{}</p>\n", inline(&paragraph.join(" "))));
            paragraph.clear();
        }
        if *list_open {
            html.push_str("</ul>\n");
            *list_open = false;
        }
    };

    for line in markdown.lines() {
        if let Some(block) = code.as_mut() {
            if line.starts_with("```") {
                html.push_str(&format!(
                    "<pre><code>{}</code></pre>\n",
                    escape(&block.join("\n"))
                ));
                code = None;
            } else {
                block.push(line);
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            flush(&mut html, &mut paragraph, &mut list_open);
            code = Some(Vec::new());
        } else if let Some((level, text)) = heading(trimmed) {
            flush(&mut html, &mut paragraph, &mut list_open);
            html.push_str(&format!("<h{level}>{}</h{level}>\n", inline(text)));
        } else if let Some(item) = trimmed.strip_prefix("- ") {
            if !paragraph.is_empty() {
                let open = list_open;
                flush(&mut html, &mut paragraph, &mut list_open);
                list_open = open;
            }
            if !list_open {
                html.push_str("<ul>\n");
                list_open = true;
            }
            html.push_str(&format!("<li>{}</li>\n", inline(item)));
        } else if trimmed.is_empty() {
            flush(&mut html, &mut paragraph, &mut list_open);
        } else if list_open && line.starts_with("  ") {
            // A continuation line of the last list item.
            let at = html.rfind("</li>").expect("an open list has an item");
            html.insert_str(at, &format!(" {}", inline(trimmed)));
        } else {
            paragraph.push(trimmed);
        }
    }
    if let Some(block) = code {
        html.push_str(&format!(
            "<pre><code>{}</code></pre>\n",
            escape(&block.join("\n"))
        ));
    }
    flush(&mut html, &mut paragraph, &mut list_open);
    html
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let text = line.get(level..)?.strip_prefix(' ')?;
    (1..=6).contains(&level).then_some((level, text))
}

/// Escapes text and turns `code` spans into `<code>`.
pub fn inline(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each construct of the subset renders, and nothing in the text becomes markup.
    #[test]
    fn subset_renders_and_escapes() {
        let html = to_html(
            "# Title <x>\n\nA `code` para\nwraps.\n\n- one\n  more\n- two\n\n```sh\necho '<b>' && true\n```\n",
        );
        assert_eq!(
            html,
            "<h1>Title &lt;x&gt;</h1>\n<p>A <code>code</code> para wraps.</p>\n<ul>\n\
<li>one more</li>\n<li>two</li>\n</ul>\n\
<pre><code>echo &#39;&lt;b&gt;&#39; &amp;&amp; true</code></pre>\n"
        );
    }
}
