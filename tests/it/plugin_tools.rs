//! `agentx plugin check|run|new|build|watch`, run as a real process: the plugin author's
//! toolbox against real components (the repository's, broken ones written here, and ones
//! it scaffolds itself), and `watch` against a running server.

use crate::cli::{Run, agentx, run, run_within};
use crate::common::{ADMIN_KEY, TestServer, config_file, daemon, repo};
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// `agentx plugin <args>`, with no daemon to reach.
async fn plugin(args: &[&str]) -> Run {
    let mut full = vec!["plugin"];
    full.extend_from_slice(args);
    run(&mut agentx("http://127.0.0.1:9", &full)).await
}

/// Asserts the command succeeded, and returns its stdout.
#[track_caller]
fn ok(run: &Run) -> &str {
    assert_eq!(
        run.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    &run.stdout
}

/// A plugin folder holding `component` (text or bytes) as `c.wat` and a manifest for it.
fn folder(dir: &Path, name: &str, world: &str, capabilities: &str, component: &[u8]) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("c.wasm"), component).unwrap();
    let manifest = format!(
        "name = \"{name}\"\nversion = \"0.1.0\"\nworld = \"{world}\"\n\
         wit = \"agentx:plugin@0.1.0\"\ncomponent = \"c.wasm\"\ncapabilities = [{capabilities}]\n"
    );
    std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    folder
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(repo(&format!("tests/fixtures/plugins/{name}.wat"))).unwrap()
}

/// Every kind of broken component named in the issue gets a plain-words reason and a
/// non-zero exit; nothing is printed as if it had loaded.
#[tokio::test]
async fn check_explains_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let constant = fixture_text("const");
    let cases: Vec<(PathBuf, String)> = vec![
        (
            folder(
                d,
                "text",
                "responder",
                "\"log\"",
                b"hello, I am a text file",
            ),
            "is not WebAssembly at all".into(),
        ),
        (
            folder(d, "core", "responder", "\"log\"", b"\0asm\x01\0\0\0"),
            "is a core WebAssembly module, not a component".into(),
        ),
        (
            folder(
                d,
                "policy",
                "responder",
                "\"log\"",
                fixture_text("closed").as_bytes(),
            ),
            "implements world contract-policy, but its plugin.toml says world = \"responder\""
                .into(),
        ),
        (
            folder(
                d,
                "no-respond",
                "responder",
                "\"log\"",
                {
                    // The component's export, not the core module's of the same name.
                    let at = constant.rfind("(export \"respond\")").unwrap();
                    let mut text = constant.clone();
                    text.replace_range(at..at + 18, "(export \"answer\")");
                    text
                }
                .as_bytes(),
            ),
            "does not export `respond`, which world responder needs (it exports: describe, \
             answer)"
                .into(),
        ),
        (
            folder(
                d,
                "newer",
                "responder",
                "\"log\"",
                constant.replace("types@0.1.0", "types@0.2.0").as_bytes(),
            ),
            "was built against agentx:plugin@0.2.0, but this host loads agentx:plugin@0.1.0".into(),
        ),
        (
            folder(
                d,
                "foreign",
                "responder",
                "\"log\"",
                constant
                    .replacen(
                        "(component",
                        "(component\n  (import \"acme:search/index@1.0.0\" (instance))",
                        1,
                    )
                    .as_bytes(),
            ),
            "imports acme:search/index@1.0.0, which this host does not provide to world \
             responder"
                .into(),
        ),
        (
            folder(
                d,
                "forbidden",
                "responder",
                "\"log\"",
                fixture_text("forbidden").as_bytes(),
            ),
            "plugin forbidden imports memory but its manifest does not ask for it".into(),
        ),
    ];
    for (path, reason) in cases {
        let checked = plugin(&["check", path.to_str().unwrap()]).await;
        checked.refused(&reason);
        // The same verdict when the component itself is named.
        let file = path.join("c.wasm");
        plugin(&["check", file.to_str().unwrap()])
            .await
            .refused(&reason);
    }

    // The reason names the component's file, whichever way it was reached.
    plugin(&["check", d.join("text").to_str().unwrap()])
        .await
        .refused(&format!(
            "{} is not WebAssembly at all",
            d.join("text").join("c.wasm").display()
        ));

    // A component without a manifest beside it is judged as a file, then asks for one.
    let lone = d.join("lone");
    std::fs::create_dir(&lone).unwrap();
    std::fs::write(lone.join("x.wasm"), "not wasm").unwrap();
    plugin(&["check", lone.join("x.wasm").to_str().unwrap()])
        .await
        .refused("is not WebAssembly at all");
    std::fs::write(lone.join("x.wasm"), &constant).unwrap();
    plugin(&["check", lone.join("x.wasm").to_str().unwrap()])
        .await
        .refused("no plugin.toml beside");
}

/// A good component: its world, name, version, capabilities, size, both compile times and
/// one sample call, for a responder and a contract policy.
#[tokio::test]
async fn check_describes_and_times_a_good_component() {
    let echo = plugin(&["check", repo("plugins/echo").to_str().unwrap()]).await;
    let out = ok(&echo);
    for line in [
        "world         responder (agentx:plugin@0.1.0)",
        "name          echo",
        "version       0.1.0",
        "capabilities  log, history",
        "size          ",
        " cold, ",
        " cached",
        "replied \"echo: hello from agentx plugin check\"",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    let contracts = plugin(&["check", repo("plugins/contracts").to_str().unwrap()]).await;
    let out = ok(&contracts);
    assert!(out.contains("world         contract-policy"), "{out}");
    assert!(
        out.contains("decided auto; presets: friends, coworkers, casual"),
        "{out}"
    );
}

/// `plugin run` answers as the server would: without grants the denied capability is in
/// the printed log and the reply goes without it; with the grant it is used.
#[tokio::test]
async fn run_with_and_without_grants() {
    // The WAT greeter with room to be starved: its own 500 ms per call is not what this
    // test is about, and a busy 2-core machine running the suite has exceeded it.
    let dir = tempfile::tempdir().unwrap();
    let example = repo("examples/plugins/wat");
    let manifest = std::fs::read_to_string(example.join("plugin.toml")).unwrap();
    std::fs::write(
        dir.path().join("plugin.toml"),
        manifest.replace("timeout_ms = 500", "timeout_ms = 10000"),
    )
    .unwrap();
    std::fs::copy(
        example.join("wat-greeter.wasm"),
        dir.path().join("wat-greeter.wasm"),
    )
    .unwrap();
    let wat = dir.path().to_str().unwrap();
    let denied = plugin(&["run", wat, "--message", "hi", "--sender", "ada"]).await;
    let out = ok(&denied);
    assert!(
        out.contains("reply: hello, ada! you said \"hi\"\n"),
        "{out}"
    );
    assert!(
        out.contains("warn  host   capability clock is not granted to plugin wat-greeter"),
        "{out}"
    );
    let granted = plugin(&["run", wat, "--message", "hi", "--grant", "clock"]).await;
    let out = ok(&granted);
    assert!(
        out.contains("reply: hello, cli! you said \"hi\" at 20"),
        "{out}"
    );
    assert!(!out.contains("not granted"), "{out}");

    plugin(&["run", wat, "--message", "hi", "--grant", "telepathy"])
        .await
        .refused("unknown capability \"telepathy\"");
    plugin(&["run", wat]).await.refused("nothing to send");
}

/// `--repl` keeps one chat, so `history` sees the earlier turns; `--data-dir` keeps memory
/// from one run to the next.
#[tokio::test]
async fn run_keeps_a_session() {
    let echo = repo("plugins/echo");
    let mut child = agentx(
        "http://127.0.0.1:9",
        &[
            "plugin",
            "run",
            echo.to_str().unwrap(),
            "--repl",
            "--grant",
            "history",
        ],
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\n/history\n").await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the session ends with its input")
        .unwrap();
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{out}");
    assert!(out.contains("reply: echo: one"), "{out}");
    assert!(
        out.contains("reply: history: 2 earlier turns; the last, from echo: echo: one"),
        "{out}"
    );

    let data = tempfile::tempdir().unwrap();
    let js = repo("examples/plugins/js");
    let data_dir = data.path().to_str().unwrap();
    for nth in ["1st", "2nd"] {
        let args = [
            "run",
            js.to_str().unwrap(),
            "-m",
            "hi",
            "--grant",
            "memory",
            "--data-dir",
            data_dir,
        ];
        let out = plugin(&args).await;
        assert!(
            ok(&out).contains(&format!("(your {nth} message)")),
            "{}",
            out.stdout
        );
    }
}

/// `plugin new --lang wat` (no toolchain needed): the folder builds, checks and answers,
/// as a responder and as a contract policy, without touching the repository.
#[tokio::test]
async fn new_wat_plugins_build_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(&plugin(&["new", "hello", "--lang", "wat", "--dir", d]).await);
    let folder = dir.path().join("hello");
    for file in ["plugin.wat", "plugin.toml", "README.md"] {
        assert!(folder.join(file).exists(), "{file}");
    }
    let f = folder.to_str().unwrap();
    ok(&plugin(&["build", f]).await);
    let checked = plugin(&["check", f]).await;
    assert!(ok(&checked).contains("replied \"hello heard: hello from agentx plugin check\""));
    let answered = plugin(&["run", f, "--message", "hi"]).await;
    let out = ok(&answered);
    assert!(out.contains("reply: hello heard: hi\n"), "{out}");
    assert!(out.contains("info  plugin answering a message"), "{out}");
    plugin(&["new", "hello", "--lang", "wat", "--dir", d])
        .await
        .refused("already exists");
    plugin(&["new", "Hello!", "--lang", "wat", "--dir", d])
        .await
        .refused("is not a plugin name");

    ok(&plugin(&[
        "new",
        "strict",
        "--lang",
        "wat",
        "--world",
        "contract-policy",
        "--dir",
        d,
    ])
    .await);
    let policy = dir.path().join("strict");
    let p = policy.to_str().unwrap();
    ok(&plugin(&["build", p]).await);
    let checked = plugin(&["check", p]).await;
    assert!(
        ok(&checked).contains("decided auto; presets: strict"),
        "{}",
        checked.stdout
    );
}

/// The toolchain a scaffolded language needs, when it is installed here; otherwise the
/// test says what it skips.
fn toolchain_present(lang: &str) -> bool {
    let tools = std::env::var_os("AGENTX_GUEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/agentx-guest-tools")
        });
    let present = match lang {
        "rust" => Path::new("/usr/bin/cargo").exists() && Path::new("/usr/bin/wasm-ld-19").exists(),
        "js" => tools.join("js/node_modules/.bin/componentize-qjs").exists(),
        "python" => tools.join("py/bin/componentize-py").exists(),
        "c" => {
            tools.join("bin/wit-bindgen").exists()
                && Path::new("/usr/bin/clang-19").exists()
                && Path::new("/usr/lib/wasm32-wasi/libc.a").exists()
        }
        _ => unreachable!(),
    };
    if !present {
        eprintln!(
            "SKIPPED: the {lang} guest toolchain is not installed here (`agentx plugin build` \
             installs it on first use; see docs/plugins.md)"
        );
    }
    present
}

/// The initial size, in 64 KiB pages, of each linear memory the component's modules define.
fn initial_memory_pages(component: &[u8]) -> Vec<u64> {
    let mut pages = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        if let wasmparser::Payload::MemorySection(memories) = payload.unwrap() {
            pages.extend(memories.into_iter().map(|memory| memory.unwrap().initial));
        }
    }
    pages
}

/// `plugin new` in a language with a toolchain: new, build, check, run, out of the tree.
async fn scaffold_builds_and_answers(lang: &str) {
    if !toolchain_present(lang) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hello-{lang}");
    ok(&plugin(&[
        "new",
        &name,
        "--lang",
        lang,
        "--dir",
        dir.path().to_str().unwrap(),
    ])
    .await);
    let folder = dir.path().join(&name);
    let f = folder.to_str().unwrap();
    if lang == "rust" {
        // The plugin's own cargo settings apply, even when built from another directory.
        std::fs::create_dir(folder.join(".cargo")).unwrap();
        std::fs::write(
            folder.join(".cargo/config.toml"),
            "[target.wasm32-unknown-unknown]\n\
             rustflags = [\"-C\", \"link-arg=-zstack-size=131072\"]\n",
        )
        .unwrap();
    }
    let built = run_within(
        agentx("http://127.0.0.1:9", &["plugin", "build", &name]).current_dir(dir.path()),
        Duration::from_secs(600),
    )
    .await;
    ok(&built);
    if lang == "rust" {
        // Rust's default 1 MiB stack alone would be 16 pages.
        let component = std::fs::read(folder.join(format!("{name}.wasm"))).unwrap();
        let pages = initial_memory_pages(&component);
        assert!(matches!(pages[..], [n] if n < 16), "{pages:?}");
    }
    // An interpreter in a component compiles slowly (CPython's is 18 MB), the more so in a
    // debug build next to other tests: more than `plugin`'s 20 s.
    let slow = async |args: &[&str]| {
        let mut full = vec!["plugin"];
        full.extend_from_slice(args);
        run_within(
            &mut agentx("http://127.0.0.1:9", &full),
            Duration::from_secs(300),
        )
        .await
    };
    let checked = slow(&["check", f]).await;
    let expected = format!("replied \"{name} heard: hello from agentx plugin check\"");
    assert!(ok(&checked).contains(&expected), "{}", checked.stdout);
    let answered = slow(&["run", f, "--message", "hi"]).await;
    let out = ok(&answered);
    assert!(out.contains(&format!("reply: {name} heard: hi\n")), "{out}");
    assert!(out.contains("info  plugin answering cli in chat"), "{out}");
}

/// Rust, with the SDK by path and a workspace of its own.
#[tokio::test]
async fn new_rust_plugin_builds_check_and_runs() {
    scaffold_builds_and_answers("rust").await;
}

/// JavaScript, through componentize-qjs.
#[tokio::test]
async fn new_js_plugin_builds_check_and_runs() {
    scaffold_builds_and_answers("js").await;
}

/// Python, through componentize-py.
#[tokio::test]
async fn new_python_plugin_builds_check_and_runs() {
    scaffold_builds_and_answers("python").await;
}

/// C, through wit-bindgen and clang-19 with wasi-libc; agentx adapts WASI preview1.
#[tokio::test]
async fn new_c_plugin_builds_check_and_runs() {
    scaffold_builds_and_answers("c").await;
}

/// `plugin watch` rebuilds on an edit and reloads the running server, which then answers
/// with the new version; a broken edit is reported and the old version keeps serving.
#[tokio::test]
async fn watch_rebuilds_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(&plugin(&["new", "live", "--lang", "wat", "--dir", d]).await);
    let folder = dir.path().join("live");
    ok(&plugin(&["build", folder.to_str().unwrap()]).await);
    let srv = TestServer::start_with(|c| {
        config_file(c, dir.path(), &json!({"live": {"responder": folder}}));
    })
    .await;
    let ask = || async {
        let body = json!({"agent": "live", "message": "hi"});
        let (status, reply) =
            daemon(&srv, Method::POST, "/task", Some(ADMIN_KEY), Some(body)).await;
        assert!(status.is_success(), "{reply}");
        reply["content"].as_str().unwrap().to_owned()
    };
    assert_eq!(ask().await, "live heard: hi");

    let mut watch = agentx(
        &srv.daemon,
        &[
            "plugin",
            "watch",
            folder.to_str().unwrap(),
            "--agent",
            "live",
        ],
    )
    .env("AGENTX_ADMIN_KEY", ADMIN_KEY)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut said = Said::new(&mut watch);
    said.until("reload: live unchanged").await;

    let source = folder.join("plugin.wat");
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, text.replace("\" heard: \"", "\" hears: \"")).unwrap();
    said.until("reload: live now serves the new version").await;
    assert_eq!(ask().await, "live hears: hi");

    std::fs::write(&source, "(module oops").unwrap();
    let failure = said.until("build failed").await;
    assert!(
        failure.contains("the server keeps the previous version"),
        "{failure}"
    );
    assert_eq!(ask().await, "live hears: hi");
    watch.kill().await.unwrap();
}

/// The lines a long-running command prints, stdout and stderr as they come.
struct Said {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Said {
    fn new(child: &mut tokio::process::Child) -> Self {
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(stderr),
        ] {
            let send = send.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = send.send(line);
                }
            });
        }
        Self {
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line containing `text`, within 30 s; else a failure showing all it said.
    async fn until(&mut self, text: &str) -> String {
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line.clone());
                if line.contains(text) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!(
                "no line with {text:?} within 30 s; it said:\n{}",
                self.seen.join("\n")
            ),
        }
    }
}
