//! `osp-netem`: the impairment proxy as a program. It relays UDP between one client and
//! `--upstream` through netsim's link model, both directions, and prints what it did once a
//! second and when stopped (Ctrl-C or SIGTERM). The side-by-side latency probe puts it between
//! two standalones to measure them under jitter.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use netsim::{Loss, Netem};
use osp_netem::{Counts, Proxy};

/// Relays UDP between one client and an upstream address through a seeded link model
/// (one-way delay + |N(0, jitter)| per datagram, random loss), each direction on its own.
#[derive(Parser, Debug)]
#[command(name = "osp-netem", version)]
struct Args {
    /// Where datagrams from the client go (loopback only).
    #[arg(long)]
    upstream: SocketAddr,
    /// Where the proxy listens (loopback only; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Fixed one-way delay, ms.
    #[arg(long, default_value_t = 0.0)]
    delay_ms: f64,
    /// Jitter σ, ms: each datagram waits the delay plus |N(0, σ)|.
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// Random loss, percent of datagrams per direction.
    #[arg(long, default_value_t = 0.0)]
    loss_percent: f64,
    /// Seed of the model's randomness (the same seed draws the same fates).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("osp-netem: {why}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    for (name, addr) in [("--listen", args.listen), ("--upstream", args.upstream)] {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{name} {addr}: only loopback addresses are allowed"
            ));
        }
    }
    let millis = |name: &str, ms: f64| {
        if ms.is_finite() && (0.0..=10_000.0).contains(&ms) {
            Ok(Duration::from_secs_f64(ms / 1e3))
        } else {
            Err(format!("{name} {ms}: expected 0 to 10000 ms"))
        }
    };
    let delay = millis("--delay-ms", args.delay_ms)?;
    let jitter = millis("--jitter-ms", args.jitter_ms)?;
    if !(0.0..=100.0).contains(&args.loss_percent) {
        return Err(format!(
            "--loss-percent {}: expected 0 to 100",
            args.loss_percent
        ));
    }
    let mut model = Netem::latency(delay).with_jitter(jitter);
    if args.loss_percent > 0.0 {
        model = model.with_loss(Loss::Random(args.loss_percent / 100.0));
    }
    // RTP payload types counted as media: OSP Jam's L24, L16 and Opus (both layouts).
    let media = [96, 97, 111, 112];
    let proxy = Proxy::bind(args.listen, args.upstream, model, args.seed, &media)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    println!("proxy on {} -> {}", proxy.addr(), args.upstream);
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .map_err(|e| format!("cannot handle signals: {e}"))?;
    loop {
        let stopping = stop_rx.recv_timeout(Duration::from_secs(1)).is_ok();
        let report = proxy.report();
        println!(
            "to-upstream {} | to-client {}",
            line(&report.to_upstream),
            line(&report.to_client)
        );
        if stopping {
            return Ok(());
        }
    }
}

fn line(counts: &Counts) -> String {
    format!(
        "received {} lost {} delivered {} media {} media-lost {} overflow {}",
        counts.received,
        counts.lost,
        counts.delivered,
        counts.media,
        counts.media_lost,
        counts.overflow
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut all = vec!["osp-netem", "--upstream", "127.0.0.1:9"];
        all.extend_from_slice(extra);
        Args::try_parse_from(all).expect("parses")
    }

    #[test]
    fn only_loopback_addresses_are_accepted() {
        let why = run(&args(&["--listen", "0.0.0.0:0"])).expect_err("wildcard refused");
        assert!(why.contains("only loopback"), "{why}");
        let outside = Args::try_parse_from(["osp-netem", "--upstream", "192.0.2.1:9"]).unwrap();
        assert!(run(&outside).expect_err("refused").contains("--upstream"));
    }

    #[test]
    fn impossible_impairments_are_refused_with_the_flag_named() {
        for (flag, arg) in [
            ("--jitter-ms", "--jitter-ms=-1"),
            ("--delay-ms", "--delay-ms=NaN"),
            ("--loss-percent", "--loss-percent=101"),
        ] {
            let why = run(&args(&[arg])).expect_err("refused");
            assert!(why.starts_with(flag), "{arg}: {why}");
        }
    }
}
