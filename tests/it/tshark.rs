//! Our OSTP stream as Wireshark sees it: tshark's RTP stream analysis counts every packet and
//! no loss, and our Lua dissector (`tools/wireshark/ostp.lua`) decodes the 0x4F53 extension.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::rtp_interop::{FIRST_SEQ, free_port_pair, opus_stream, send_paced};
use crate::support::{KillOnDrop, interrupt_and_expect_clean_exit, tempdir};

fn dissector() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/wireshark/ostp.lua")
}

#[test]
fn tshark_counts_our_stream_and_our_dissector_decodes_the_extension() {
    let dir = tempdir("tshark");
    let capture = dir.join("ostp.pcapng");
    let port = free_port_pair();
    // A sink so the datagrams have a receiver (no ICMP port-unreachable noise).
    let _sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).expect("bind sink");

    // -P prints a line per captured packet while writing the file: warm-up datagrams are sent
    // until one shows up, so the capture provably runs before the stream starts.
    let mut tshark = Command::new("tshark")
        .args([
            "-l",
            "-P",
            "-i",
            "lo",
            "-f",
            &format!("udp dst port {port}"),
            "-w",
        ])
        .arg(&capture)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tshark (Debian tshark)");
    let stdout = tshark.stdout.take().expect("stdout");
    let mut tshark = KillOnDrop(tshark);
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = seen_tx.send(());
        }
    });
    let warm = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind warm-up");
    let start = Instant::now();
    loop {
        warm.send_to(b"warm-up", (Ipv4Addr::LOCALHOST, port))
            .expect("send warm-up");
        if seen_rx.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "tshark never started capturing"
        );
    }

    let packets = opus_stream(0.5);
    send_paced(&packets, port);
    std::thread::sleep(Duration::from_millis(300));
    interrupt_and_expect_clean_exit(&mut tshark, "tshark");

    // RTP stream statistics.
    let stats = run_tshark(&[
        "-r",
        &capture.display().to_string(),
        "-d",
        &format!("udp.port=={port},rtp"),
        "-q",
        "-z",
        "rtp,streams",
    ]);
    let line = stats
        .lines()
        .find(|l| l.to_lowercase().contains("0x05f1a7e0"))
        .unwrap_or_else(|| panic!("our SSRC is not in tshark's stream list:\n{stats}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let ssrc_at = fields
        .iter()
        .position(|f| f.eq_ignore_ascii_case("0x05f1a7e0"))
        .expect("ssrc");
    // SSRC, payload name, packets, lost.
    let count: usize = fields[ssrc_at + 2].parse().expect("packet count");
    let lost: i64 = fields[ssrc_at + 3].parse().expect("lost");
    assert_eq!(count, packets.len(), "{line}");
    assert_eq!(lost, 0, "{line}");

    // Our dissector, field by field.
    let decoded = run_tshark(&[
        "-r",
        &capture.display().to_string(),
        "-X",
        &format!("lua_script:{}", dissector().display()),
        "-d",
        &format!("udp.port=={port},rtp"),
        "-Y",
        "ostp",
        "-T",
        "fields",
        "-e",
        "rtp.seq",
        "-e",
        "ostp.stream_id",
        "-e",
        "ostp.seq_ext",
        "-e",
        "ostp.media_ts",
        "-e",
        "ostp.seq32",
        "-e",
        "rtp.padding.count",
    ]);
    let rows: Vec<Vec<&str>> = decoded.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), packets.len(), "{decoded}");
    for (i, row) in rows.iter().enumerate() {
        let seq32 = FIRST_SEQ + i as u32;
        let expected = [
            (seq32 & 0xFFFF).to_string(),
            "0x0001".to_owned(),
            (seq32 >> 16).to_string(),
            (i * 240).to_string(),
            seq32.to_string(),
            "5".to_owned(),
        ];
        assert_eq!(row.as_slice(), expected.as_slice(), "packet {i}");
    }
}

fn run_tshark(args: &[&str]) -> String {
    let start = Instant::now();
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("run tshark");
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
