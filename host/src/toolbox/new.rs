//! `agentx plugin new`: a plugin folder that builds, checks and runs out of the box.
//!
//! Everything the plugin needs is written into its folder (agentx's WIT included, for the
//! languages whose generators read it), so it builds wherever it is put, with no edit of
//! agentx's own files: a Rust plugin is a workspace of its own, with the SDK by path.

use agentx::plugins::manifest::{SUPPORTED_WIT, World};
use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Wat,
    Rust,
    Js,
    Python,
    C,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorldArg {
    Responder,
    ContractPolicy,
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and dashes; also its folder's name.
    name: String,
    /// The language of its source.
    #[arg(long, value_enum)]
    lang: Lang,
    /// What it is: an agent's responder, or a network's contract policy (WAT and Rust).
    #[arg(long, value_enum, default_value = "responder")]
    world: WorldArg,
    /// Where to create the folder.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// agentx's Rust SDK (`sdk/` of the agentx source) [default: the one this agentx was
    /// built from].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// The SDK of the source tree this binary was built from.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");
/// The longest name the WAT templates have room for (their data segment).
const MAX_NAME_BYTES: usize = 64;

pub fn new(args: NewArgs) -> anyhow::Result<()> {
    let name = args.name.as_str();
    anyhow::ensure!(
        valid_name(name),
        "{name:?} is not a plugin name: 1 to {MAX_NAME_BYTES} lowercase letters, digits and \
         dashes, starting with a letter"
    );
    let world = match args.world {
        WorldArg::Responder => World::Responder,
        WorldArg::ContractPolicy => World::ContractPolicy,
    };
    anyhow::ensure!(
        world == World::Responder || matches!(args.lang, Lang::Wat | Lang::Rust),
        "contract-policy plugins are scaffolded in wat or rust"
    );
    let folder = args.dir.join(name);
    anyhow::ensure!(
        !folder.exists(),
        "{} already exists; pick another name or --dir",
        folder.display()
    );
    let mut files: Vec<(String, String)> = Vec::new();
    let (source, build, test) = match args.lang {
        Lang::Wat => {
            let template = match world {
                World::Responder => include_str!("templates/wat/responder.wat"),
                World::ContractPolicy => include_str!("templates/wat/contract-policy.wat"),
            };
            files.push(("plugin.wat".into(), template.to_owned()));
            (
                "plugin.wat",
                "needs no toolchain: agentx componentizes the module itself",
                None,
            )
        }
        Lang::Rust => {
            let sdk = args.sdk.unwrap_or_else(|| PathBuf::from(BUILT_SDK));
            let sdk = sdk.canonicalize().with_context(|| {
                format!(
                    "agentx's Rust SDK is not at {}: pass --sdk <agentx source>/sdk",
                    sdk.display()
                )
            })?;
            let template = include_str!("templates/rust/Cargo.toml");
            files.push((
                "Cargo.toml".into(),
                template.replace("{{sdk}}", &sdk.display().to_string()),
            ));
            let source = match world {
                World::Responder => include_str!("templates/rust/responder.rs"),
                World::ContractPolicy => include_str!("templates/rust/contract-policy.rs"),
            };
            files.push(("src/lib.rs".into(), source.to_owned()));
            files.push((".gitignore".into(), "/target\n".into()));
            (
                "src/lib.rs",
                "uses Debian's rustc-web for wasm32 (installed with apt on first use, a few \
                 minutes; the first build also compiles std, about a minute)",
                Some("cargo test"),
            )
        }
        Lang::Js => {
            files.push((
                "plugin.js".into(),
                include_str!("templates/js/plugin.js").into(),
            ));
            files.push((
                "build.sh".into(),
                include_str!("templates/js/build.sh").into(),
            ));
            wit_files(&mut files);
            (
                "plugin.js",
                "runs build.sh: componentize-qjs, installed with npm on first use (about \
                 half a minute)",
                None,
            )
        }
        Lang::Python => {
            files.push((
                "app.py".into(),
                include_str!("templates/python/app.py").into(),
            ));
            files.push((
                "test_app.py".into(),
                include_str!("templates/python/test_app.py").into(),
            ));
            files.push((
                "build.sh".into(),
                include_str!("templates/python/build.sh").into(),
            ));
            files.push((".gitignore".into(), "__pycache__/\n".into()));
            wit_files(&mut files);
            (
                "app.py",
                "runs build.sh: componentize-py, installed with pip on first use (about a \
                 minute)",
                Some("python3 -m unittest test_app"),
            )
        }
        Lang::C => {
            files.push((
                "plugin.c".into(),
                include_str!("templates/c/plugin.c").into(),
            ));
            files.push((
                "build.sh".into(),
                include_str!("templates/c/build.sh").into(),
            ));
            wit_files(&mut files);
            (
                "plugin.c",
                "runs build.sh: wit-bindgen and clang-19 with wasi-libc (apt, about a minute, \
                 and cargo install of wit-bindgen, 5 to 7 minutes on 2 cores, on first use); agentx \
                 makes the component",
                None,
            )
        }
    };
    files.push(("plugin.toml".into(), manifest(name, world, args.lang)));
    files.push((
        "README.md".into(),
        readme(name, world, &folder, source, build, test),
    ));

    for (path, text) in files {
        let text = fill(&text, name);
        let path = folder.join(&path);
        std::fs::create_dir_all(path.parent().expect("inside the folder"))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        if path.extension().is_some_and(|e| e == "sh") {
            // So the script also runs by itself (`./build.sh`), not only through agentx.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    println!("created {} ({} plugin)", folder.display(), world.name());
    println!("next:");
    println!("  agentx plugin build {}", folder.display());
    println!("  agentx plugin check {}", folder.display());
    println!("  agentx plugin run {} --message \"hi\"", folder.display());
    Ok(())
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_BYTES).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The narrowed world and agentx's WIT as its dependency, for the generators that read WIT.
fn wit_files(files: &mut Vec<(String, String)>) {
    files.push((
        "wit/world.wit".into(),
        include_str!("templates/responder-world.wit").into(),
    ));
    for (file, text) in super::build::WIT {
        files.push((format!("wit/deps/agentx-plugin/{file}"), text.into()));
    }
}

/// The template with the plugin's name filled in (and the lengths the WAT needs).
fn fill(template: &str, name: &str) -> String {
    template
        .replace("{{name_len}}", &name.len().to_string())
        .replace(
            "{{reply_prefix_len}}",
            &(name.len() + " heard: ".len()).to_string(),
        )
        .replace("{{name}}", name)
}

fn manifest(name: &str, world: World, lang: Lang) -> String {
    // Interpreters need more room and time than compiled guests (the examples measure
    // Python at about 18 MB of component).
    let (timeout_ms, memory_mib) = match lang {
        Lang::Wat | Lang::Rust | Lang::C => (1000, 16),
        Lang::Js | Lang::Python => (2000, 64),
    };
    format!(
        "# {name}: made by `agentx plugin new`. The format: docs/plugins.md in agentx.\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         world = \"{world}\"\n\
         wit = \"{wit}\"\n\
         component = \"{name}.wasm\"\n\
         # What describe() asks for; agentx.json grants each to an agent (log always is).\n\
         capabilities = [\"log\"]\n\
         \n\
         # Per call; agentx.json may lower them, never raise them.\n\
         [limits]\n\
         timeout_ms = {timeout_ms}\n\
         memory_mib = {memory_mib}\n\
         max_output_bytes = 65536\n",
        world = world.name(),
        wit = SUPPORTED_WIT[0],
    )
}

fn readme(
    name: &str,
    world: World,
    folder: &Path,
    source: &str,
    build: &str,
    test: Option<&str>,
) -> String {
    let folder = folder
        .canonicalize()
        .unwrap_or_else(|_| std::path::absolute(folder).unwrap_or(folder.to_owned()));
    let folder = folder.display();
    let test = test.map_or_else(String::new, |test| {
        format!("\nUnit tests run natively, without agentx: `{test}`.\n")
    });
    let (config_key, try_it) = match world {
        World::Responder => (
            format!(
                "{{ \"agents\": {{ \"{name}\": {{ \"responder\": \"{folder}\", \"grants\": [] }} }} }}"
            ),
            "agentx plugin run . --message \"hi\"          # one call, as the server makes it\n\
             agentx plugin run . --repl                   # a session: one message per line\n\
             agentx plugin run . --message \"hi\" --grant memory   # with a capability granted"
                .to_owned(),
        ),
        World::ContractPolicy => (
            format!("{{ \"policy\": \"{folder}\" }}"),
            "agentx plugin check .   # also calls decide once and lists the presets".to_owned(),
        ),
    };
    format!(
        "# {name}\n\
         \n\
         An agentx {world} plugin, made by `agentx plugin new`. The source is `{source}`; \
         `plugin.toml` is its manifest.\n\
         \n\
         ## Build, check, try\n\
         \n\
         ```bash\n\
         agentx plugin build .   # {build}\n\
         agentx plugin check .   # world, capabilities, size, compile time, one sample call\n\
         {try_it}\n\
         ```\n\
         {test}\n\
         ## Serve it\n\
         \n\
         Add it to the server's `agentx.json`:\n\
         \n\
         ```json\n\
         {config_key}\n\
         ```\n\
         \n\
         then `agentx reload` (it asks the server's daemon, with the server's admin key in \
         `AGENTX_ADMIN_KEY` or `--admin-key` when it has one). While editing, \
         `agentx plugin watch . --agent {name}` rebuilds on every change and reloads the \
         running server.\n\
         \n\
         The WIT worlds, each capability and its limits, and the manifest: docs/plugins.md \
         in agentx.\n",
        world = world.name(),
    )
}
