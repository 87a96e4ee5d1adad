//! The README's code blocks, for tests that run them as written.

use super::repo;

/// The first ```` ```lang ```` block under the README heading `heading` (the exact line).
pub fn readme_block(heading: &str, lang: &str) -> String {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README.md reads");
    let section = readme
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no heading {heading:?}"))
        .1;
    let block = section
        .split_once(&format!("```{lang}\n"))
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| panic!("no ```{lang} block under {heading:?}"))
        .0;
    block.to_owned()
}
