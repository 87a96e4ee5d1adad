//! `agentx plugin build`: a plugin folder's source into its component.
//!
//! What runs depends on what the folder holds:
//! - a `.wat` module: parsed and componentized here, with no toolchain at all;
//! - a `Cargo.toml` (Rust, the SDK): built with the guest toolchain (Debian's rustc-web,
//!   installed on first use), then componentized here;
//! - a `build.sh` (JavaScript, Python, C): run as is; it installs its toolchain on first use.
//!   When it writes a core module (C, over wasi-libc), it is componentized here, with the
//!   WASI preview1 adapter.
//!
//! Componentizing embeds this agentx's WIT (the manifest's world) into the core module when
//! it carries none, and wraps the module with wit-component (adapting WASI preview1 when the
//! module imports it), so no wasm-tools is needed.

use agentx::plugins::Manifest;
use agentx::plugins::inspect;
use agentx::plugins::manifest::World;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// The host's WIT, the worlds every component is built against.
pub const WIT: [(&str, &str); 3] = [
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("host.wit", include_str!("../../../wit/host.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];

/// The guest Rust toolchain (see plugins/build.sh): rustup cannot fetch wasm targets here,
/// Debian's rustc-web builds std for wasm32 with -Zbuild-std.
const GUEST_CARGO: &str = "/usr/bin/cargo";
const GUEST_RUSTC: &str = "/usr/bin/rustc";
const GUEST_LINKER: &str = "wasm-ld-19";
const GUEST_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "libstd-rust-web-dev",
    "lld-19",
    "ca-certificates",
];

/// Builds `folder` and returns the component's path.
pub async fn build(folder: &Path) -> anyhow::Result<PathBuf> {
    let manifest = Manifest::load(folder).map_err(anyhow::Error::msg)?;
    let out = manifest.component.clone().expect("resolved by load");
    let started = Instant::now();
    if folder.join("build.sh").is_file() {
        step(&format!("running {}/build.sh", folder.display()));
        let status = tokio::process::Command::new("bash")
            .arg("build.sh")
            .current_dir(folder)
            .status()
            .await
            .context("running bash")?;
        anyhow::ensure!(status.success(), "build.sh failed ({status})");
        // A libc guest's build.sh (C) writes a core module; the component is made here,
        // where the WASI adapter is at hand, so its toolchain needs no wasm-tools.
        let built =
            std::fs::read(&out).with_context(|| format!("build.sh wrote no {}", out.display()))?;
        if matches!(
            inspect::format(&built, ""),
            Err(inspect::Problem::CoreModule { .. })
        ) {
            step(&format!("componentizing {}", out.display()));
            write(&out, &componentize(built, manifest.world)?)?;
        }
    } else if folder.join("Cargo.toml").is_file() {
        let core = rust(folder).await?;
        write(&out, &componentize(core, manifest.world)?)?;
    } else if let Some(wat) = wat_source(folder)? {
        step(&format!("componentizing {}", wat.display()));
        let core = wat::parse_file(&wat).map_err(|e| anyhow::anyhow!("{e}"))?;
        write(&out, &componentize(core, manifest.world)?)?;
    } else {
        anyhow::bail!(
            "nothing to build in {}: no build.sh, Cargo.toml or .wat source",
            folder.display()
        );
    }
    let bytes =
        std::fs::read(&out).with_context(|| format!("the build wrote no {}", out.display()))?;
    inspect::format(&bytes, &out.display().to_string())?;
    step(&format!(
        "built {} ({} bytes) in {:.1} s",
        out.display(),
        bytes.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(out)
}

fn step(what: &str) {
    eprintln!("==> {what}");
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The folder's one `.wat` file, if it has one.
fn wat_source(folder: &Path) -> anyhow::Result<Option<PathBuf>> {
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(folder).with_context(|| format!("reading {}", folder.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wat") {
            found.push(path);
        }
    }
    anyhow::ensure!(
        found.len() <= 1,
        "{} holds several .wat files; a WAT plugin is one module",
        folder.display()
    );
    Ok(found.pop())
}

/// Builds the crate in `folder` for wasm32 and returns its core module.
async fn rust(folder: &Path) -> anyhow::Result<Vec<u8>> {
    ensure_rust_toolchain().await?;
    let cargo_toml: toml::Table =
        toml::from_str(&std::fs::read_to_string(folder.join("Cargo.toml"))?)
            .context("reading Cargo.toml")?;
    let package = cargo_toml
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .context("Cargo.toml has no package.name")?
        .to_owned();
    step(&format!(
        "compiling {package} for wasm32-unknown-unknown (the first build also compiles std: \
         about a minute)"
    ));
    let status = tokio::process::Command::new(GUEST_CARGO)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "-Zbuild-std=std,panic_abort",
            "--manifest-path",
            "Cargo.toml",
        ])
        // Cargo reads `.cargo/config.toml` from where it runs, not from the manifest's
        // folder: run in the plugin's, so its own settings (a smaller stack, say) apply
        // wherever `agentx plugin build` is called from.
        .current_dir(folder)
        // Debian's cargo must be told to use Debian's rustc: rustup's, first on PATH, has no
        // wasm std. -Zbuild-std needs RUSTC_BOOTSTRAP on a stable compiler, and Debian's
        // rustc has no rust-lld.
        .env("RUSTC", GUEST_RUSTC)
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", GUEST_LINKER)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .status()
        .await
        .context("running the guest cargo")?;
    anyhow::ensure!(status.success(), "cargo build failed ({status})");
    let core = folder
        .join("target/wasm32-unknown-unknown/release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    std::fs::read(&core).with_context(|| format!("reading {}", core.display()))
}

/// Installs the guest Rust toolchain with apt when it is missing, saying so first.
async fn ensure_rust_toolchain() -> anyhow::Result<()> {
    let present = Path::new(GUEST_CARGO).exists()
        && std::process::Command::new(GUEST_LINKER)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        && std::process::Command::new(GUEST_RUSTC)
            .args(["--print", "sysroot"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .is_some_and(|root| {
                Path::new(root.trim())
                    .join("lib/rustlib/src/rust/library/std")
                    .is_dir()
            });
    if present {
        return Ok(());
    }
    step(&format!(
        "the Rust guest toolchain is missing: installing {} with apt-get (once; a few \
         minutes, progress below)",
        GUEST_PACKAGES.join(" ")
    ));
    let root = is_root();
    let run = |args: &[&str]| {
        let mut command = if root {
            tokio::process::Command::new(args[0])
        } else {
            let mut sudo = tokio::process::Command::new("sudo");
            sudo.arg(args[0]);
            sudo
        };
        command
            .args(&args[1..])
            .env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    for args in [
        vec!["apt-get", "update"],
        [
            &["apt-get", "install", "-y", "--no-install-recommends"][..],
            GUEST_PACKAGES,
        ]
        .concat(),
    ] {
        let status = run(&args)
            .status()
            .await
            .with_context(|| format!("running {}", args.join(" ")))?;
        anyhow::ensure!(
            status.success(),
            "{} failed ({status}); install {} yourself",
            args.join(" "),
            GUEST_PACKAGES.join(" ")
        );
    }
    Ok(())
}

/// Whether this process runs as root (apt-get then needs no sudo).
fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Makes a component of `world` from a core module: embeds the host's WIT when the module
/// carries none, and drops the SDK's imports-only descriptions of the other world.
pub fn componentize(core: Vec<u8>, world: World) -> anyhow::Result<Vec<u8>> {
    let (mut core, embedded) = strip_foreign_worlds(&core)?;
    if !embedded {
        let mut map = wit_parser::SourceMap::default();
        for (path, text) in WIT {
            map.push_str(&format!("wit/{path}"), text);
        }
        let group = map
            .parse()
            .map_err(|(_, e)| anyhow::anyhow!("the host's WIT does not parse: {e}"))?;
        let mut resolve = wit_parser::Resolve::default();
        let package = resolve.push_group(group)?;
        let world = resolve.select_world(&[package], Some(world.name()))?;
        wit_component::embed_component_metadata(
            &mut core,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
        )?;
    }
    let mut encoder = wit_component::ComponentEncoder::default()
        .module(&core)
        .context("the module does not match the world")?
        .validate(true);
    if imports_module(&core, WASI_PREVIEW1)? {
        encoder = encoder
            .adapter(WASI_PREVIEW1, WASI_PREVIEW1_ADAPTER)
            .context("adapting WASI preview1")?;
    }
    encoder.encode().context("encoding the component")
}

/// The module name libc guests (wasi-libc) import WASI from.
const WASI_PREVIEW1: &str = "wasi_snapshot_preview1";
/// The WASI preview1 reactor adapter of the wasmtime agentx runs: it turns a libc guest's
/// preview1 imports into WASI 0.2 ones, which agentx links deny-all.
const WASI_PREVIEW1_ADAPTER: &[u8] =
    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;

/// Whether the core module imports anything from `module`.
fn imports_module(core: &[u8], module: &str) -> anyhow::Result<bool> {
    for payload in wasmparser::Parser::new(0).parse_all(core) {
        if let wasmparser::Payload::ImportSection(imports) = payload? {
            for import in imports.into_imports() {
                if import?.module == module {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// The module without the `component-type` sections wit-bindgen names
/// `…-with-all-of-its-exports-removed` (the SDK serves both worlds and links an imports-only
/// description of each; left in, the other world's types would become stray imports), and
/// whether any other `component-type` section (a full world description) remains.
fn strip_foreign_worlds(core: &[u8]) -> anyhow::Result<(Vec<u8>, bool)> {
    let mut module = wasm_encoder::Module::new();
    let mut embedded = false;
    for payload in wasmparser::Parser::new(0).parse_all(core) {
        let payload = payload.context("the module does not parse")?;
        if let wasmparser::Payload::CustomSection(section) = &payload
            && section.name().starts_with("component-type")
        {
            if section.name().contains("-with-all-of-its-exports-removed") {
                continue;
            }
            embedded = true;
        }
        if let Some((id, range)) = payload.as_section() {
            module.section(&wasm_encoder::RawSection {
                id,
                data: &core[range],
            });
        }
    }
    Ok((module.finish(), embedded))
}
