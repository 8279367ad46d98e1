//! `cargo xtask`: bundles the plugin (nice-plug's bundler) and ships the programs beside it.
//!
//! `cargo xtask bundle plugin [--release]` writes `target/bundled/OSP Jam.clap`,
//! `target/bundled/OSP Jam.vst3/` and, because the standalone is the same plugin as an app and
//! the room server is what players join through, builds the `standalone` and `relay` packages
//! with the same profile and copies their binaries to `target/bundled/osp-jam` and
//! `target/bundled/osp-relay`. Every other command goes to nice-plug's xtask unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The package holding the plugin.
const PLUGIN_PACKAGE: &str = "plugin";
/// The programs shipped beside the bundles: (package, binary).
const PROGRAMS: [(&str, &str); 2] = [("standalone", "osp-jam"), ("relay", "osp-relay")];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    nice_plug_xtask::main_with_args("cargo xtask", args.clone())?;
    if args.first().map(String::as_str) == Some("bundle") && bundles_plugin(&args[1..]) {
        bundle_programs(&args[1..])?;
    }
    Ok(())
}

/// Whether a `bundle` command line names the plugin package.
fn bundles_plugin(args: &[String]) -> bool {
    args.iter().any(|a| a == PLUGIN_PACKAGE)
}

/// Builds the programs with the bundle's profile and copies them next to the plugin bundles.
fn bundle_programs(args: &[String]) -> Result<()> {
    let profile = profile_dir(args)?;
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.arg("build");
    for (package, _) in PROGRAMS {
        cargo.args(["-p", package]);
    }
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
        .context("could not run cargo build for the standalone and the room server")?;
    if !status.success() {
        bail!("building the standalone and the room server failed ({status})");
    }
    let target_dir = target_dir()?;
    for (_, binary) in PROGRAMS {
        let built = target_dir.join(&profile).join(binary);
        let bundled = target_dir.join("bundled").join(binary);
        std::fs::copy(&built, &bundled)
            .with_context(|| format!("copying {} to {}", built.display(), bundled.display()))?;
        eprintln!("Created a binary at '{}'", bundled.display());
    }
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
