//! A throwaway PostgreSQL server for the whole test binary, with a fresh database per test.
//!
//! Started on first use (about 2 s) from Debian's `postgresql` package, as the `postgres`
//! user when the tests run as root (initdb refuses root). It lives as long as the test
//! binary: a shell holds it and stops it, and removes its files, when the binary's end of
//! a pipe closes. Without PostgreSQL installed, [`database`] returns `None` and says why.
//! It runs without fsync, for speed, unless `AGENTX_TEST_PG_FSYNC=on` (the benchmarks that
//! compare durable writes set it).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const BIN: &str = "/usr/lib/postgresql/15/bin";

struct Cluster {
    port: u16,
    /// Closed (by the process ending) to stop the server.
    _stop: Mutex<ChildStdin>,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The URL of a new, empty database on the shared server; `None`, after printing why, when
/// PostgreSQL is not installed here (CI installs it: see `.ci/run`).
pub async fn database() -> Option<String> {
    let cluster = match CLUSTER.get_or_init(start) {
        Ok(cluster) => cluster,
        Err(why) => {
            eprintln!("SKIPPED (no PostgreSQL): {why}");
            return None;
        }
    };
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    let admin = format!("postgres://agentx@127.0.0.1:{}/postgres", cluster.port);
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    drop(client);
    let _ = driver.await;
    Some(format!(
        "postgres://agentx@127.0.0.1:{}/{name}",
        cluster.port
    ))
}

fn start() -> Result<Cluster, String> {
    if !Path::new(BIN).join("postgres").exists() {
        return Err(format!(
            "{BIN}/postgres not found; install it with `apt-get install postgresql`"
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("agentx-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if as_root {
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("cannot hand the data directory to the postgres user".into());
        }
    }
    let data = dir.join("data");
    let initdb = run_as(as_root, &format!("{BIN}/initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "agentx", "--no-sync"])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    let port = free_port()?;
    let fsync = match std::env::var("AGENTX_TEST_PG_FSYNC").as_deref() {
        Ok("on") => "on",
        _ => "off",
    };
    // The shell waits on its stdin; at EOF (this process ended) it stops the server
    // (fast shutdown) and removes its files.
    let script = format!(
        "{BIN}/postgres -D '{data}' -p {port} -k '{dir}' -c listen_addresses=127.0.0.1 \
         -c fsync={fsync} -c max_connections=300 >'{dir}/log' 2>&1 & pid=$!; \
         cat >/dev/null; kill -INT $pid; wait $pid; rm -rf '{dir}'",
        data = data.display(),
        dir = dir.display(),
    );
    let mut child = run_as(as_root, "sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stop = child.stdin.take().expect("piped stdin");
    wait_ready(port, &dir)?;
    Ok(Cluster {
        port,
        _stop: Mutex::new(stop),
    })
}

fn run_as(as_root: bool, program: &str) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn wait_ready(port: u16, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = Command::new(format!("{BIN}/pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            return Err(format!("the test PostgreSQL did not start:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
