//! The session flags (room, secret, addresses, codec, jitter buffer, tempo lead, preset):
//! taken out of the command line before the audio shell's flags are parsed, and checked at
//! once so a typo is an error at start, not a silent room.

use plugin::session::Settings;

/// The session flags' part of `--help`.
pub(crate) const SESSION_HELP: &str = "\
Session flags (OSP Jam):
  --room NAME          join this room (without it, the app only passes audio through)
  --secret SECRET      the room secret (or env OSP_JAM_SECRET)
  --listen ADDR        local UDP address; port 0 lets the OS choose [default: 0.0.0.0:48500]
                       (the app prints `listening on ADDR` once the session starts)
  --peer ADDR          a peer to call (repeatable)
  --server HOST:PORT   meet the room on this room server (osp-relay): no --peer needed
  --stun HOST:PORT     a STUN server, to learn our address behind a NAT
  --turn USER:PASS@HOST:PORT  a TURN server, for when no direct path through the NATs works
  --user-id N          our id in the room [default: random]
  --codec pcm|opus     how our track is encoded [default: opus]
  --frame N            samples per packet: pcm 16..=240, opus 120/240/480/960 [default: 120]
  --bitrate BPS        Opus bitrate [default: 128000]
  --jitter auto|MS     jitter buffer: adaptive, or a fixed delay in ms [default: auto]
  --stats              print one stats line per second
  --bpm BPM            lead the room's transport at this tempo (without it: follow the room)
  --beats-per-bar N    bar length of the tempo led with --bpm [default: 4]
  --click              play a click on the room's beat grid
  --align live|beat|bar  hear remote players as early as possible (their lag behind the
                       grid is reported), or exactly a beat / a bar after they played
                       [default: live]
  --preset FILE        start with this effect chain (reference JSON preset)
";

/// Splits the session flags from the audio shell's, filling `settings`.
pub(crate) fn parse(args: Vec<String>) -> Result<(Settings, Vec<String>), String> {
    let mut settings = Settings::default();
    if let Ok(secret) = std::env::var("OSP_JAM_SECRET") {
        settings.secret = secret;
    }
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    if let Some(program) = args.next() {
        rest.push(program);
    }
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--room" => settings.room = value("--room")?,
            "--secret" => settings.secret = value("--secret")?,
            "--listen" => settings.listen = value("--listen")?,
            "--peer" => settings.peers.push(value("--peer")?),
            "--server" => settings.server = value("--server")?,
            "--stun" => settings.stun = value("--stun")?,
            "--turn" => settings.turn = value("--turn")?,
            "--user-id" => {
                settings.user_id = number(&value("--user-id")?, "--user-id")?;
                if settings.user_id == 0 {
                    return Err("--user-id must be at least 1".into());
                }
            }
            "--codec" => settings.codec = value("--codec")?,
            "--frame" => settings.frame_samples = number(&value("--frame")?, "--frame")?,
            "--bitrate" => settings.bitrate = number(&value("--bitrate")?, "--bitrate")?,
            "--jitter" => {
                let v = value("--jitter")?;
                settings.jitter_ms = match v.as_str() {
                    "auto" => None,
                    ms => Some(
                        ms.parse::<f64>()
                            .ok()
                            .filter(|ms| ms.is_finite() && (0.0..=100.0).contains(ms))
                            .ok_or_else(|| format!("--jitter {ms:?}: 'auto' or 0..=100 ms"))?,
                    ),
                };
            }
            "--stats" => settings.stats = true,
            "--click" => settings.click = true,
            "--align" => settings.align = value("--align")?,
            "--bpm" => {
                let v = value("--bpm")?;
                settings.bpm = Some(
                    v.parse::<f64>()
                        .ok()
                        .filter(|bpm| (20.0..=400.0).contains(bpm))
                        .ok_or_else(|| format!("--bpm {v:?}: a tempo in 20..=400"))?,
                );
            }
            "--beats-per-bar" => {
                settings.beats_per_bar = number(&value("--beats-per-bar")?, "--beats-per-bar")?;
                if !(1..=32).contains(&settings.beats_per_bar) {
                    return Err("--beats-per-bar must be 1..=32".into());
                }
            }
            _ => rest.push(arg),
        }
    }
    if settings.is_enabled() {
        // Check everything now, so a typo is an error at start, not a silent room.
        settings
            .engine_config(48_000.0, 64)
            .map_err(|e| e.to_string())?;
    }
    Ok((settings, rest))
}

/// Takes `--preset FILE` out of `args` and reads the preset (a bad file is an error at start).
pub(crate) fn take_preset(args: &mut Vec<String>) -> Result<Option<dsp::chain::Preset>, String> {
    let Some(at) = args
        .iter()
        .position(|a| a == "--preset" || a.starts_with("--preset="))
    else {
        return Ok(None);
    };
    let flag = args.remove(at);
    let path = match flag.split_once('=') {
        Some((_, path)) => path.to_owned(),
        None if at < args.len() => args.remove(at),
        None => return Err("--preset needs a value".into()),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--preset {path:?}: {e}"))?;
    let preset =
        dsp::chain::Preset::from_json(&text).map_err(|e| format!("--preset {path:?}: {e}"))?;
    for key in &preset.unknown {
        eprintln!("osp-jam: --preset {path:?}: {key:?} is not an OSP Jam effect; ignored");
    }
    Ok(Some(preset))
}

fn number<T: std::str::FromStr>(value: &str, flag: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} {value:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        std::iter::once("osp-jam")
            .chain(list.iter().copied())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn session_flags_are_taken_and_the_rest_passed_on() {
        let (settings, rest) = parse(args(&[
            "--backend",
            "jack",
            "--room",
            "band",
            "--secret=s",
            "--peer",
            "127.0.0.1:5000",
            "--peer",
            "127.0.0.1:5001",
            "--codec",
            "pcm",
            "--frame",
            "64",
            "--jitter",
            "3",
            "-p",
            "64",
            "--stats",
            "--align",
            "bar",
        ]))
        .unwrap();
        assert_eq!(rest, ["osp-jam", "--backend", "jack", "-p", "64"]);
        assert_eq!(settings.room, "band");
        assert_eq!(settings.secret, "s");
        assert_eq!(settings.peers, ["127.0.0.1:5000", "127.0.0.1:5001"]);
        assert_eq!(
            (settings.codec.as_str(), settings.frame_samples),
            ("pcm", 64)
        );
        assert_eq!(settings.jitter_ms, Some(3.0));
        assert!(settings.stats);
        assert_eq!(settings.align, "bar");
        let config = settings.engine_config(48_000.0, 64).unwrap();
        assert_eq!(format!("{:?}", config.align), "Bar");
    }

    #[test]
    fn bad_session_flags_are_clear_errors() {
        for (bad, says) in [
            (&["--room", "r", "--peer", "nowhere"][..], "peer"),
            (&["--room", "r", "--codec", "mp3"], "codec"),
            (&["--room", "r", "--align", "offbeat"], "alignment"),
            (&["--room", "r", "--frame", "100"], "120, 240"),
            (&["--room", "r", "--frame", "x"], "not a number"),
            (&["--jitter", "-1"], "--jitter"),
            (&["--room"], "needs a value"),
            (&["--user-id", "0"], "at least 1"),
            (
                &["--room", "r", "--server", "relay"],
                "room server \"relay\" is not host:port",
            ),
            (&["--room", "r", "--server", "relay:0"], "host:port"),
            (&["--room", "r", "--stun", "a b:3478"], "STUN server"),
            (
                &["--room", "r", "--turn", "relay:3478"],
                "user:password@host:port",
            ),
            (
                &["--room", "r", "--turn", "u@relay:3478"],
                "user:password@host:port",
            ),
            (
                &["--room", "r", "--turn", ":p@relay:3478"],
                "user:password@host:port",
            ),
            (&["--room", "r", "--server"], "needs a value"),
        ] {
            let err = parse(args(bad)).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn server_flags_reach_the_engine_config() {
        let (settings, rest) = parse(args(&[
            "--room",
            "band",
            "--server",
            "relay.example.org:5100",
            "--stun=198.18.0.1:3478",
            "--turn",
            "alice:p@ss:w@rd@[::1]:3478",
        ]))
        .unwrap();
        assert_eq!(rest, ["osp-jam"]);
        let config = settings.engine_config(48_000.0, 64).unwrap();
        assert_eq!(config.server.as_deref(), Some("relay.example.org:5100"));
        assert_eq!(config.stun.as_deref(), Some("198.18.0.1:3478"));
        let turn = config.turn.unwrap();
        assert_eq!(
            (
                turn.user.as_str(),
                turn.password.as_str(),
                turn.address.as_str()
            ),
            ("alice", "p@ss:w@rd", "[::1]:3478")
        );
        assert!(config.peers.is_empty(), "a room server needs no --peer");
    }

    #[test]
    fn a_preset_file_is_taken_out_and_read_and_a_bad_one_refused() {
        let dir = std::env::temp_dir().join(format!("osp-jam-preset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, r#"{"compressor": {"enabled": true, "ratio": 6}}"#).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"compressor": {"ratio": "lots"}}"#).unwrap();

        let mut list = args(&["--backend", "dummy", "--preset", good.to_str().unwrap()]);
        let preset = take_preset(&mut list).unwrap().unwrap();
        assert_eq!(list, args(&["--backend", "dummy"]));
        assert!(
            preset
                .units
                .iter()
                .any(|u| u.key() == "compressor" && u.enabled())
        );

        let mut list = args(&[&format!("--preset={}", bad.display())]);
        let err = take_preset(&mut list).unwrap_err();
        assert!(err.contains("compressor"), "{err}");
        assert!(take_preset(&mut args(&["--preset"])).is_err());
        assert!(take_preset(&mut args(&["--preset", "/nonexistent/x.json"])).is_err());
        assert_eq!(take_preset(&mut args(&["--room", "r"])).unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
