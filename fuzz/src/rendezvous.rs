//! The rendezvous text dialect, the room server and the rendezvous client.

use std::net::SocketAddr;

use proto::rendezvous::{self, Command, Reply};

/// The relay text dialect in both directions, then the room server and a rendezvous client fed
/// the same bytes: whatever parses writes back to text that parses as itself, and neither
/// state machine panics or answers what it must not.
pub fn rendezvous(data: &[u8]) {
    if let Ok(command) = Command::parse(data) {
        let mut out = Vec::new();
        command.write(&mut out);
        assert_eq!(Command::parse(&out), Ok(command));
        assert!(out.len() <= rendezvous::MAX_TEXT);
    }
    if let Ok(reply) = Reply::parse(data) {
        let mut out = Vec::new();
        reply.write(&mut out);
        assert_eq!(Reply::parse(&out), Ok(reply));
    }
    let now = proto::time::Instant::from_micros(1);
    let stranger = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut server = relay::Server::new(relay::Config::default(), [0; 32], now);
    server.handle_datagram(now, stranger, data);
    let mut out = Vec::new();
    let mut answered = 0;
    while let Some(t) = server.poll_transmit(&mut out) {
        assert_eq!(t.destination, stranger);
        answered += 1;
    }
    // A stranger is answered only for a JOIN (its sequence, or one ERR) or a well-formed
    // CHARGE (one ERR:not_in_group, shorter than the request: no amplification).
    match Command::parse(data) {
        Ok(Command::Join(_)) => {}
        Ok(Command::Charge(_)) => assert!(answered <= 1),
        _ => assert_eq!(answered, 0),
    }
    let config = rendezvous::client::Config {
        server: stranger,
        credentials: rendezvous::Credentials::derive(b"fuzz", "room"),
        device_name: "fuzz".into(),
        device_id: 1,
    };
    let mut client = rendezvous::client::Client::new(config, now).unwrap();
    client.handle_input(now, stranger, data);
    let stats = *client.stats();
    assert_eq!(stats.replies + stats.ignored + stats.malformed, 1);
}

/// The dialect seeds: every command and reply form, IPv4 and IPv6 addresses.
pub(crate) fn seeds() -> Vec<Vec<u8>> {
    [
        "JOIN:0123456789abcdef0123456789abcdef:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:bass:42",
        "HELLO",
        "LEAVE",
        "PUNCH\n",
        "MODE:private",
        "CAND:host:2130706431:169.254.10.2:40000",
        "CAND:relay:255:[2001:db8::2]:3478",
        "OK:joined",
        "YOUR_ADDR:198.18.0.9:61000",
        "SESSION:000102030405060708090a0b0c0d0e0f",
        "PEER:[::1]:5100",
        "CAND:42:srflx:1694498815:198.18.0.9:61000",
        "ERR:wrong_password",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}
