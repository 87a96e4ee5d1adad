//! The venv of official clients that the protocol tests use is complete: each package
//! imports, at the version tests/py/requirements.txt pins.

use crate::common::{python_clients, run_python};
use std::time::Duration;

#[tokio::test]
async fn the_official_clients_import() {
    let Some(python) = python_clients("the_official_clients_import") else {
        return;
    };
    let versions = run_python(
        &python,
        "from importlib.metadata import version\n\
         import a2a, mcp, openai, schemathesis\n\
         print(version('a2a-sdk'), version('mcp'), version('openai').split('.')[0])",
        &[],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(versions.trim(), "1.3.0 2.3.0 3");
}
