//! What every HTML page shares: escaping and the document around a page's body, with its
//! style inline (the pages load nothing from anywhere else).

/// A complete page titled `title`, with `head` (already HTML) added to its `<head>`.
pub fn document(title: &str, head: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style>{head}</head>\n<body><main>\n{body}</main></body></html>\n",
        escape(title),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;background:#fafafa;color:#1e1e1e}\
main{max-width:60rem;margin:2rem auto;padding:0 1rem}\
pre{background:#1e1e1e;color:#eee;padding:1rem;overflow-x:auto;border-radius:6px}\
code{font-family:ui-monospace,monospace}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}\
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f0f0f0}\
.muted{color:#666}.small{font-size:.85rem}\
.method{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:ui-monospace,monospace}\
.pre{white-space:pre-wrap;word-break:break-word}\
.error{color:#b00020}\
input,textarea{font:inherit;padding:.2rem .4rem}textarea{width:100%;box-sizing:border-box}\
section.route{border-top:1px solid #ccc;margin-top:1.5rem}";

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
