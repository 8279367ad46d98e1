//! `cargo xtask`: bundles the plugin (nice-plug's bundler) and ships the standalone beside it.
//!
//! `cargo xtask bundle plugin [--release]` writes `target/bundled/OSP Jam.clap`,
//! `target/bundled/OSP Jam.vst3/` and, because the standalone is the same plugin as an app,
//! builds the `standalone` package with the same profile and copies its `osp-jam` binary to
//! `target/bundled/osp-jam`. Every other command goes to nice-plug's xtask unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The package holding the plugin, and the one holding the standalone app.
const PLUGIN_PACKAGE: &str = "plugin";
const STANDALONE_PACKAGE: &str = "standalone";
const STANDALONE_BINARY: &str = "osp-jam";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    nice_plug_xtask::main_with_args("cargo xtask", args.clone())?;
    if args.first().map(String::as_str) == Some("bundle") && bundles_plugin(&args[1..]) {
        bundle_standalone(&args[1..])?;
    }
    Ok(())
}

/// Whether a `bundle` command line names the plugin package.
fn bundles_plugin(args: &[String]) -> bool {
    args.iter().any(|a| a == PLUGIN_PACKAGE)
}

/// Builds the standalone with the bundle's profile and copies it next to the plugin bundles.
fn bundle_standalone(args: &[String]) -> Result<()> {
    let profile = profile_dir(args)?;
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "-p", STANDALONE_PACKAGE]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cargo.arg("--release");
        }
        other => {
            cargo.args(["--profile", other]);
        }
    }
    let status = cargo
        .status()
        .context("could not run cargo build for the standalone")?;
    if !status.success() {
        bail!("building the standalone failed ({status})");
    }
    let target_dir = target_dir()?;
    let built = target_dir.join(&profile).join(STANDALONE_BINARY);
    let bundled = target_dir.join("bundled").join(STANDALONE_BINARY);
    std::fs::copy(&built, &bundled)
        .with_context(|| format!("copying {} to {}", built.display(), bundled.display()))?;
    eprintln!("Created a standalone binary at '{}'", bundled.display());
    Ok(())
}

/// The target sub-directory cargo uses for the profile the bundle command selected.
fn profile_dir(args: &[String]) -> Result<String> {
    let mut profile = "debug".to_owned();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--release" {
            profile = "release".into();
        } else if arg == "--profile" {
            profile = it.next().context("--profile needs a name")?.clone();
        } else if let Some(name) = arg.strip_prefix("--profile=") {
            profile = name.to_owned();
        }
    }
    // Cargo's `dev` profile builds into `debug`.
    if profile == "dev" {
        profile = "debug".into();
    }
    Ok(profile)
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`); nice-plug's xtask has already
/// moved the working directory to the workspace root.
fn target_dir() -> Result<PathBuf> {
    Ok(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new("target").to_path_buf(),
    })
}
