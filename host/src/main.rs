//! The `agentx` command line.

use agentx::clock::SystemClock;
use agentx::config::Config;
use agentx::server::{self, Secrets};
use anyhow::Context;
use clap::{Parser, Subcommand};
use reqwest::Method;
use serde_json::json;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod toolbox;

/// jemalloc rather than the system's malloc, measured side by side (benches/README.md,
/// "Allocator"): an idle long-poll holds 17.2 KiB instead of 20.5, because jemalloc keeps no
/// header in front of an allocation, so the 8 KiB write buffer hyper reserves per
/// connection stays untouched, and out of memory, until a response is written; requests/s
/// rise a little too (public calls about 5%, `/health` about 10%).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// agentx: a self-hosted network for AI agents.
///
/// Start a server with `agentx serve`; agents then register over HTTP
/// (see README.md for a walk-through, /docs and /openapi.json for the API).
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the network API on --bind:--port, operator control on
    /// 127.0.0.1:--daemon-port. Flags override agentx.json.
    Serve(ServeArgs),
    /// Create an invite from a hosted agent (prints invite_code and join_url).
    Invite {
        /// The hosted agent's id (its key in agentx.json).
        agent: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Make a hosted agent accept an invite code.
    Accept {
        /// The hosted agent's id (its key in agentx.json).
        agent: String,
        /// The invite code to accept.
        code: String,
        /// friends (default), coworkers or casual.
        #[arg(long)]
        contract: Option<String>,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Manage agx_live_ tokens (for public agents and dashboards) on the running server.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Bridge an MCP host that launches local commands to a running agentx: MCP over
    /// stdio (one JSON-RPC message per line) in and out, the server's /mcp endpoint behind.
    Mcp {
        /// The agentx server's public URL, e.g. http://127.0.0.1:4202 (or its /mcp URL).
        #[arg(long, env = "AGENTX_URL")]
        url: String,
        /// The agent's API key (cex_…): the network's tools. An agx_live_ token instead:
        /// the public agents it may call.
        #[arg(long, env = "AGENTX_API_KEY", hide_env_values = true)]
        key: String,
    },
    /// Re-read agentx.json and swap changed plugins on the running server (prints the
    /// report; exits 1 when an agent's plugin failed to load).
    Reload {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Save a consistent snapshot of the running server's store to FILE (every write
    /// acknowledged before it started is in it). Needs the admin key.
    Backup {
        /// Where to write the snapshot (replaced only once it is complete).
        file: PathBuf,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Install a snapshot made by `agentx backup` as the store of a data directory, for a
    /// server that is not running on it.
    Restore {
        /// The snapshot.
        file: PathBuf,
        /// The data directory to restore into.
        #[arg(long)]
        data_dir: PathBuf,
        /// Replace the store a non-empty data directory already holds.
        #[arg(long)]
        force: bool,
    },
    /// Copy the embedded store of a data directory (no server may run on it) into a new,
    /// empty PostgreSQL database, for `serve --database-url`. Everything is copied, secrets
    /// included, so API keys, tokens and dashboard sessions stay valid; the directory is
    /// left as it was.
    Migrate {
        /// The data directory holding agentx.redb.
        #[arg(long = "from-redb")]
        from_redb: PathBuf,
        /// The PostgreSQL database to fill (postgres://USER[:PW]@HOST:PORT/DB); it must hold
        /// no agentx data yet.
        #[arg(long, env = "AGENTX_DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// The plugin author's toolbox: new, build, check, run, watch (see docs/plugins.md).
    Plugin {
        #[command(subcommand)]
        command: toolbox::PluginCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        /// A label for the token.
        #[arg(long)]
        name: String,
        /// agent:<id>, agent:*, dashboard:read, dashboard:write or mesh:peer (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Days until the token expires [default: never].
        #[arg(long)]
        expires: Option<i64>,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Revoke a token at once.
    Revoke {
        /// The token's id (from `agentx token list`).
        id: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
}

/// Where the daemon is and the key it wants. Flattened into each subcommand rather than
/// their parent, so the flags go where people type them: after `agentx token create ...`.
#[derive(clap::Args)]
struct DaemonArgs {
    /// The running server's daemon listener.
    #[arg(
        long = "daemon-url",
        env = "AGENTX_DAEMON_URL",
        default_value = "http://127.0.0.1:18800"
    )]
    url: String,
    /// The server's admin key: sent with every daemon call (the daemon wants it on every
    /// route when one is configured; token commands always need it).
    #[arg(long = "admin-key", env = "AGENTX_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
}

impl DaemonArgs {
    /// The admin key, for the commands that cannot do without one.
    fn required_key(&self) -> anyhow::Result<&str> {
        self.admin_key.as_deref().context(
            "this command needs the server's admin key: --admin-key KEY or AGENTX_ADMIN_KEY",
        )
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Configuration file (agentx.json). Without it, defaults apply.
    #[arg(long, env = "AGENTX_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded database [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL database shared by several nodes (postgres://USER[:PW]@HOST:PORT/DB)
    /// instead of the embedded store; overrides `server.database_url`.
    #[arg(long, env = "AGENTX_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Address of the public listener [default: 127.0.0.1].
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Port of the public listener (0 picks a free one) [default: 4202].
    #[arg(long)]
    port: Option<u16>,
    /// Port of the loopback operator listener (0 picks a free one) [default: 18800].
    #[arg(long)]
    daemon_port: Option<u16>,
    /// `all` runs everything in one process. Split mode: `daemon` runs the agents, the store
    /// and both listeners; `public` runs only the public-agent endpoint, forwarding each call
    /// to the daemon at --daemon-url.
    #[arg(long, value_enum, default_value = "all")]
    role: Role,
    /// The daemon a `--role public` listener forwards to.
    #[arg(long = "daemon-url", default_value = "http://127.0.0.1:18800")]
    daemon_url: url::Url,
    /// Reload when agentx.json or a plugin file it names changes (as `agentx reload` does).
    #[arg(long)]
    watch: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Role {
    All,
    Daemon,
    Public,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The plugin tools print what happened themselves (a plugin's own log included);
    // agentx's info lines would only repeat it.
    let default_filter = match cli.command {
        Command::Plugin { .. } => "error",
        _ => "info,tower_http=warn",
    };
    // stderr, so that stdout carries only what scripts read: the JSON answers of the
    // operator commands and `serve`'s listening line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Invite { agent, daemon } => runtime
            .block_on(daemon_call(
                &daemon,
                &format!("/agents/{agent}/invite"),
                json!({}),
            ))
            .map(drop),
        Command::Accept {
            agent,
            code,
            contract,
            daemon,
        } => {
            let mut body = json!({ "invite_code": code });
            if let Some(contract) = contract {
                body["contract"] = json!(contract);
            }
            runtime
                .block_on(daemon_call(
                    &daemon,
                    &format!("/agents/{agent}/accept"),
                    body,
                ))
                .map(drop)
        }
        Command::Mcp { url, key } => runtime
            .block_on(agentx::mcp_stdio_bridge(
                &url,
                &key,
                tokio::io::stdin(),
                tokio::io::stdout(),
            ))
            .context("the MCP bridge stopped"),
        Command::Reload { daemon } => {
            let report = runtime.block_on(daemon_call(&daemon, "/reload", json!({})))?;
            let failed: Vec<&str> = report["failed"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["agent"].as_str())
                .collect();
            if !failed.is_empty() {
                anyhow::bail!(
                    "these agents kept their previous plugins: {}",
                    failed.join(", ")
                );
            }
            Ok(())
        }
        Command::Plugin { command } => runtime.block_on(toolbox::run(command)),
        Command::Token { command } => {
            let (method, path, body, daemon) = match command {
                TokenCommand::Create {
                    name,
                    scopes,
                    expires,
                    daemon,
                } => (
                    Method::POST,
                    "/tokens".to_owned(),
                    Some(json!({"name": name, "scopes": scopes, "expires_days": expires})),
                    daemon,
                ),
                TokenCommand::List { daemon } => (Method::GET, "/tokens".to_owned(), None, daemon),
                TokenCommand::Revoke { id, daemon } => {
                    (Method::DELETE, format!("/tokens/{id}"), None, daemon)
                }
            };
            daemon.required_key()?;
            runtime
                .block_on(daemon_request(&daemon, method, &path, body))
                .map(drop)
        }
        Command::Backup { file, daemon } => runtime.block_on(backup(&daemon, &file)),
        Command::Restore {
            file,
            data_dir,
            force,
        } => restore(&file, &data_dir, force),
        Command::Migrate {
            from_redb,
            database_url,
        } => runtime.block_on(migrate(&from_redb, &database_url)),
    }
}

/// Copies a redb data directory into PostgreSQL, with progress on stderr about once a
/// second and the counts, as JSON, on stdout.
async fn migrate(from: &Path, url: &str) -> anyhow::Result<()> {
    use agentx::store::copy::{self, Counts};
    let notifier: Arc<dyn agentx::notify::Notifier> =
        Arc::new(agentx::notify::LocalNotifier::default());
    let source =
        agentx::store::RedbStore::open_existing(from, notifier.clone()).with_context(|| {
            format!(
                "cannot open the store in {} (stop the server running on it first)",
                from.display()
            )
        })?;
    let target = agentx::store::PgStore::open(url, notifier)
        .await
        .context("cannot open the PostgreSQL database")?;
    let summary = |counts: &Counts| {
        let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        format!(
            "{} records ({})",
            counts.values().sum::<u64>(),
            parts.join(", ")
        )
    };
    let mut shown = std::time::Instant::now();
    let counts = copy::redb_to_postgres(&source, &target, |counts| {
        if shown.elapsed() >= std::time::Duration::from_secs(1) {
            eprintln!("copying: {}", summary(counts));
            shown = std::time::Instant::now();
        }
    })
    .await
    .context("nothing was migrated")?;
    eprintln!("copied {}", summary(&counts));
    println!("{}", json!({"migrated": counts}));
    Ok(())
}

/// Downloads the daemon's snapshot to `<file>.part`, then renames it into place.
async fn backup(daemon: &DaemonArgs, file: &Path) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let key = daemon.required_key()?;
    let url = format!("{}/backup", daemon.url.trim_end_matches('/'));
    let mut response = reqwest::Client::new()
        .post(&url)
        .header("X-Admin-Key", key)
        .send()
        .await
        .with_context(|| format!("cannot reach the agentx daemon at {}", daemon.url))?;
    if !response.status().is_success() {
        let status = response.status();
        let reason = response.text().await.unwrap_or_default();
        anyhow::bail!("the daemon at {} answered {status}: {reason}", daemon.url);
    }
    let mut partial = file.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let mut out = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut bytes = 0u64;
    while let Some(chunk) = response.chunk().await.context("reading the snapshot")? {
        out.write_all(&chunk)
            .await
            .context("writing the snapshot")?;
        bytes += chunk.len() as u64;
    }
    out.sync_all().await.context("syncing the snapshot")?;
    tokio::fs::rename(&partial, file)
        .await
        .with_context(|| format!("cannot rename {} into place", partial.display()))?;
    println!("{}", json!({"file": file, "bytes": bytes}));
    Ok(())
}

/// Installs a snapshot; refuses a data directory that is not empty unless `force`.
fn restore(file: &Path, data_dir: &Path, force: bool) -> anyhow::Result<()> {
    anyhow::ensure!(file.is_file(), "no snapshot at {}", file.display());
    let occupied = std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some());
    anyhow::ensure!(
        force || !occupied,
        "{} is not empty: pass --force to replace the store it holds",
        data_dir.display()
    );
    agentx::store::RedbStore::restore(file, data_dir, force)
        .with_context(|| format!("cannot restore {}", file.display()))?;
    println!("{}", json!({"restored": file, "data_dir": data_dir}));
    Ok(())
}

/// POSTs to the daemon and prints its JSON answer; a refusal becomes the exit status.
async fn daemon_call(
    daemon: &DaemonArgs,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    daemon_request(daemon, Method::POST, path, Some(body)).await
}

/// Calls the daemon, prints its JSON answer (nothing for an empty one) and returns it
/// (`Null` when empty); a refusal becomes the exit status, with the daemon's reason.
async fn daemon_request(
    daemon: &DaemonArgs,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let answer = daemon_send(daemon, method, path, body).await?;
    if !answer.is_null() {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    }
    Ok(answer)
}

/// How long the CLI waits for the daemon's answer to a call on `path`. A reload answers
/// once every changed plugin is compiled, and a component with an interpreter inside
/// (Python's, JS's) takes from seconds to over a minute to compile on a small, busy machine
/// (docs/plugins.md, "The numbers per language"); every other call answers at once.
fn answer_timeout(path: &str) -> std::time::Duration {
    let seconds = if path == "/reload" { 600 } else { 30 };
    std::time::Duration::from_secs(seconds)
}

/// Calls the daemon and returns its JSON answer (`Null` when empty); a refusal is an error
/// with the daemon's reason.
async fn daemon_send(
    daemon: &DaemonArgs,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("{}{path}", daemon.url.trim_end_matches('/'));
    let answer_within = answer_timeout(path);
    let client = reqwest::Client::builder()
        // The daemon is on loopback: connecting is instant unless nothing usable is there.
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(answer_within)
        .build()
        .context("building the HTTP client")?;
    let mut request = client.request(method, &url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(key) = &daemon.admin_key {
        request = request.header("X-Admin-Key", key);
    }
    let response = request.send().await.map_err(|e| {
        let why = if e.is_timeout() {
            format!(
                "the agentx daemon at {} did not answer within {} s",
                daemon.url,
                answer_within.as_secs()
            )
        } else {
            format!(
                "cannot reach the agentx daemon at {} (is `agentx serve` running?)",
                daemon.url
            )
        };
        anyhow::Error::new(e).context(why)
    })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .context("reading the daemon's answer")?;
    let answer = serde_json::from_str::<serde_json::Value>(&text);
    if !status.is_success() {
        let reason = match &answer {
            Ok(answer) => answer["error"]
                .as_str()
                .map_or_else(|| answer.to_string(), str::to_owned),
            Err(_) => text,
        };
        anyhow::bail!("the daemon at {} answered {status}: {reason}", daemon.url);
    }
    if text.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    answer.with_context(|| format!("the daemon's answer is not JSON: {text}"))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let server = &mut config.server;
    if let Some(v) = args.data_dir {
        server.data_dir = v;
    }
    if let Some(v) = args.database_url {
        server.database_url = Some(v);
    }
    if let Some(v) = args.bind {
        server.bind = v;
    }
    if let Some(v) = args.port {
        server.port = v;
    }
    if let Some(v) = args.daemon_port {
        server.daemon_port = v;
    }
    server.watch |= args.watch;
    let secrets = Secrets {
        jwt_secret: std::env::var("AGENTX_JWT_SECRET").ok(),
        admin_key: std::env::var("AGENTX_ADMIN_KEY").ok(),
    };
    let running = match args.role {
        Role::All | Role::Daemon => server::start(config, secrets, Arc::new(SystemClock)).await?,
        Role::Public => server::start_public(&config, args.daemon_url).await?,
    };
    // A line scripts can wait for, with the ports actually bound (useful with --port 0).
    println!(
        "agentx listening on http://{} (daemon http://{})",
        running.public_addr, running.daemon_addr
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
