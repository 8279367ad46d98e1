//! `osp-fx`: the offline renderer of docs/effects.md §5. Runs OSP Jam's effect chain over a WAV
//! file without a host, for listening, objective tests and side-by-side timing against SoX.
//!
//! ```text
//! osp-fx render [--preset FILE | --effect KEY | --bypass] [--block N] [--compensate] [--time]
//!               in.wav out.wav
//! osp-fx effects
//! ```
//!
//! Exit codes: 0 on success, 2 on bad flags, unreadable or unwritable files and bad presets
//! (so scripts can tell a refused job from a crash, which would be 101).

mod render;
mod wav;

use anyhow::{Context, Result, anyhow, bail};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: osp-fx render [--preset FILE | --effect KEY | --bypass] [--block N] [--compensate]
                     [--time] in.wav out.wav
       osp-fx effects

render     process in.wav through the effect chain into out.wav (32-bit float, same channels
           and rate; mono runs as dual mono)
  --preset FILE   preset JSON (reference format); with --effect, only that effect's
                  parameters are taken from it
  --effect KEY    only KEY enabled (defaults, or the preset's parameters), limiter off
  --bypass        every effect off (the I/O baseline)
  --block N       frames per process call (default 64)
  --compensate    remove the chain's latency: output lines up with input, same length
  --time          print frames, ns per stereo frame (processing only) and x real time
effects    list the effect keys this build implements, in chain order";

/// A parsed `render` command line.
#[derive(Debug)]
struct RenderArgs {
    selection: render::Selection,
    block: usize,
    compensate: bool,
    time: bool,
    input: PathBuf,
    output: PathBuf,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("osp-fx: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("render") => render_command(parse_render(&args[1..])?),
        Some("effects") => {
            for key in render::effect_keys() {
                println!("{key}");
            }
            Ok(())
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow!("unknown command \"{other}\"\n{USAGE}")),
        None => Err(anyhow!("no command\n{USAGE}")),
    }
}

fn parse_render(args: &[String]) -> Result<RenderArgs> {
    let mut selection = render::Selection::default();
    let mut preset_file = None;
    let mut block = 64;
    let mut compensate = false;
    let mut time = false;
    let mut files = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| anyhow!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--preset" => preset_file = Some(PathBuf::from(value("--preset")?)),
            "--effect" => selection.effect = Some(value("--effect")?),
            "--bypass" => selection.bypass = true,
            "--block" => {
                let text = value("--block")?;
                block = text
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| anyhow!("--block: \"{text}\" is not a positive integer"))?;
            }
            "--compensate" => compensate = true,
            "--time" => time = true,
            flag if flag.starts_with("--") => bail!("unknown flag {flag}\n{USAGE}"),
            file => files.push(PathBuf::from(file)),
        }
    }
    if selection.bypass && (preset_file.is_some() || selection.effect.is_some()) {
        bail!("--bypass excludes --preset and --effect");
    }
    if !selection.bypass && preset_file.is_none() && selection.effect.is_none() {
        bail!("give --preset FILE, --effect KEY or --bypass\n{USAGE}");
    }
    if let Some(path) = &preset_file {
        selection.preset_text = Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read preset {}", path.display()))?,
        );
    }
    let [input, output]: [PathBuf; 2] = files.try_into().map_err(|files: Vec<PathBuf>| {
        anyhow!("need in.wav and out.wav, got {} file(s)", files.len())
    })?;
    Ok(RenderArgs {
        selection,
        block,
        compensate,
        time,
        input,
        output,
    })
}

fn render_command(args: RenderArgs) -> Result<()> {
    // The preset first: a bad preset is refused before any audio is read.
    let preset = render::preset(&args.selection)?;
    let mut audio = wav::read(&args.input)?;
    let report = render::render(&preset, &mut audio, args.block, args.compensate);
    wav::write(&args.output, &audio)?;
    if args.time {
        let ns = report.elapsed.as_nanos() as f64;
        let frames = report.frames.max(1) as f64;
        let seconds = report.frames as f64 / f64::from(audio.sample_rate);
        eprintln!(
            "frames {}  latency {}  block {}  {:.2} ns/stereo frame  {:.1}x real time",
            report.frames,
            report.latency,
            args.block,
            ns / frames,
            seconds / report.elapsed.as_secs_f64().max(1e-12),
        );
    }
    Ok(())
}
