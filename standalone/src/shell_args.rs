//! The audio shell's flags: backend, layout, rate, period, devices, JACK client name and port
//! connections, and the standalone's own transport (tempo, time signature).
//!
//! The names are nice-plug's standalone flags, so command lines written for the old shell keep
//! working (`--connect-jack-inputs`, `--tempo`, `--timesig-num`, `--timesig-denom`, ...);
//! `--client-name` and `--connect-jack-outputs` are new with our own JACK shell. The ALSA and
//! dummy backends still run on nice-plug's shell: [`Shell::nice_plug_args`] rebuilds its command
//! line from what was parsed here, so every flag is checked once, by this parser.

use clap::{Parser, ValueEnum};
use nice_plug::prelude::Plugin;
use plugin::OspJam;

/// The audio shell's command line.
#[derive(Debug, Clone, Parser)]
#[command(name = "osp-jam", about = None, long_about = None, disable_version_flag = true)]
pub(crate) struct Shell {
    /// The audio backend: `auto` is JACK when a server runs, else ALSA, else dummy.
    #[arg(short = 'b', long, value_enum, default_value_t = Backend::Auto)]
    pub(crate) backend: Backend,
    /// The audio layout, 1-based: 1 stereo, 2 stereo with one stereo output per remote player,
    /// 3 mono.
    #[arg(short = 'l', long, value_parser = parse_layout)]
    pub(crate) audio_layout: Option<usize>,
    /// Sample rate. JACK: must match the server's (default: the server's). Others: 48000.
    #[arg(short = 'r', long)]
    pub(crate) sample_rate: Option<f32>,
    /// Period size in frames. JACK: the server decides (a different value is reported).
    /// Others: 512.
    #[arg(short = 'p', long)]
    pub(crate) period_size: Option<u32>,
    /// JACK client name, used exactly; an error if another client has it. Without it the
    /// client is `osp_jam`, or the unique name JACK gives when that is taken.
    #[arg(long)]
    pub(crate) client_name: Option<String>,
    /// JACK: connect the inputs to this port (all of them), or to a comma-separated list of
    /// ports in order. Inputs are not connected otherwise (no feedback by surprise).
    #[arg(long)]
    pub(crate) connect_jack_inputs: Option<String>,
    /// JACK: connect the main outputs to this port (all of them), or to a comma-separated list
    /// in order [default: system:playback_1,system:playback_2 when they exist].
    #[arg(long)]
    pub(crate) connect_jack_outputs: Option<String>,
    /// The standalone transport's tempo (BPM).
    #[arg(long, default_value_t = 120.0, value_parser = parse_tempo)]
    pub(crate) tempo: f64,
    /// The standalone transport's time signature numerator.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) timesig_num: u32,
    /// The standalone transport's time signature denominator.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) timesig_denom: u32,
    /// Run without the window even when a display is available (as without one: the README
    /// demo, scripts, servers).
    #[arg(long)]
    pub(crate) no_gui: bool,
    /// ALSA: input device (an empty value lists them).
    #[arg(long)]
    pub(crate) input_device: Option<String>,
    /// ALSA: output device (an empty value lists them).
    #[arg(long)]
    pub(crate) output_device: Option<String>,
    /// ALSA: seconds between input and output streams [default: 0.15].
    #[arg(long)]
    pub(crate) input_latency: Option<f32>,
    /// ALSA: capacity of the input-to-output buffer in seconds [default: 0.4].
    #[arg(long)]
    pub(crate) input_capacity: Option<f32>,
}

/// Where the audio comes from and goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    /// JACK if a server runs, else nice-plug's automatic choice (ALSA, then dummy).
    Auto,
    /// Our own JACK shell.
    Jack,
    /// nice-plug's ALSA shell.
    Alsa,
    /// nice-plug's dummy shell: no audio device, silent input, periods paced by a timer.
    Dummy,
}

impl Shell {
    /// The layout chosen (0-based index into `OspJam::AUDIO_IO_LAYOUTS`).
    pub(crate) fn layout_index(&self) -> usize {
        self.audio_layout.map_or(0, |n| n - 1)
    }

    /// nice-plug's standalone command line for `backend`, from the flags it knows. The
    /// JACK-only flags of our shell are refused for other backends rather than ignored.
    pub(crate) fn nice_plug_args(&self, backend: &str) -> Result<Vec<String>, String> {
        for (given, flag) in [
            (self.client_name.is_some(), "--client-name"),
            (
                self.connect_jack_outputs.is_some(),
                "--connect-jack-outputs",
            ),
            (self.connect_jack_inputs.is_some(), "--connect-jack-inputs"),
        ] {
            if given && self.backend != Backend::Auto {
                return Err(format!(
                    "{flag} is a JACK flag (this is --backend {backend})"
                ));
            }
        }
        let mut args = vec!["osp-jam".to_owned(), "--backend".into(), backend.into()];
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                args.push(flag.to_owned());
                args.push(value);
            }
        };
        push("--audio-layout", self.audio_layout.map(|n| n.to_string()));
        push("--sample-rate", self.sample_rate.map(|r| r.to_string()));
        push("--period-size", self.period_size.map(|p| p.to_string()));
        push("--input-device", self.input_device.clone());
        push("--output-device", self.output_device.clone());
        push("--input-latency", self.input_latency.map(|s| s.to_string()));
        push(
            "--input-capacity",
            self.input_capacity.map(|s| s.to_string()),
        );
        push("--tempo", Some(self.tempo.to_string()));
        push("--timesig-num", Some(self.timesig_num.to_string()));
        push("--timesig-denom", Some(self.timesig_denom.to_string()));
        Ok(args)
    }
}

/// A layout number the plugin has, with the list in the error otherwise.
fn parse_layout(value: &str) -> Result<usize, String> {
    let layouts = OspJam::AUDIO_IO_LAYOUTS;
    match value.parse::<usize>() {
        Ok(n) if (1..=layouts.len()).contains(&n) => Ok(n),
        _ => {
            let list: Vec<String> = layouts
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{} {}", i + 1, l.name()))
                .collect();
            Err(format!("choose one of {}", list.join(", ")))
        }
    }
}

/// A tempo in the range the room accepts.
fn parse_tempo(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|bpm| (20.0..=400.0).contains(bpm))
        .ok_or_else(|| "a tempo in 20..=400 BPM".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<Shell, clap::Error> {
        Shell::try_parse_from(std::iter::once("osp-jam").chain(list.iter().copied()))
    }

    #[test]
    fn jack_flags_parse_and_defaults_hold() {
        let shell = parse(&[
            "--backend",
            "jack",
            "-r",
            "48000",
            "-p",
            "64",
            "--client-name",
            "me",
            "--connect-jack-inputs",
            "system:capture_1",
            "--connect-jack-outputs=a:in_1,a:in_2",
            "--audio-layout",
            "2",
        ])
        .unwrap();
        assert_eq!(shell.backend, Backend::Jack);
        assert_eq!(shell.sample_rate, Some(48_000.0));
        assert_eq!(shell.period_size, Some(64));
        assert_eq!(shell.client_name.as_deref(), Some("me"));
        assert_eq!(shell.layout_index(), 1);
        assert_eq!(
            (shell.tempo, shell.timesig_num, shell.timesig_denom),
            (120.0, 4, 4)
        );
    }

    #[test]
    fn bad_values_are_refused_and_jack_flags_stay_with_jack() {
        for bad in [
            &["--audio-layout", "9"][..],
            &["--backend", "pulse"],
            &["--tempo", "0"],
            &["--timesig-num", "0"],
            &["--nonsense"],
            &["-r", "fast"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let shell = parse(&["--backend", "dummy", "--client-name", "x"]).unwrap();
        assert!(shell.nice_plug_args("dummy").is_err());
        let shell = parse(&["--backend", "dummy", "-p", "64"]).unwrap();
        let args = shell.nice_plug_args("dummy").unwrap();
        assert_eq!(
            args[..5],
            ["osp-jam", "--backend", "dummy", "--period-size", "64"]
        );
    }
}
