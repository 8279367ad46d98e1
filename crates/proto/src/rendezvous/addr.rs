//! Address fields: `ip:port` with the port taken from the right, IPv6 as `[addr]:port` (a bare
//! IPv6 address before the port is accepted too, since the port is found from the right).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::ParseError;

/// Parses an `ip:port` field.
///
/// # Errors
/// [`ParseError::Missing`] without a port separator, [`ParseError::Bad`] for a bad address or
/// port (port 0 included: nothing can be reached there).
pub fn parse_addr(field: &str) -> Result<SocketAddr, ParseError> {
    let (host, port) = field.rsplit_once(':').ok_or(ParseError::Missing("port"))?;
    let port = super::text::decimal_u32(port, "port")?;
    let port = u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or(ParseError::Bad("port"))?;
    let ip = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        IpAddr::V6(
            inner
                .parse::<Ipv6Addr>()
                .map_err(|_| ParseError::Bad("ip"))?,
        )
    } else if let Ok(v4) = host.parse::<Ipv4Addr>() {
        IpAddr::V4(v4)
    } else {
        IpAddr::V6(
            host.parse::<Ipv6Addr>()
                .map_err(|_| ParseError::Bad("ip"))?,
        )
    };
    Ok(SocketAddr::new(ip, port))
}

/// Writes an address field: `ip:port`, IPv6 in brackets, never a scope id (it means nothing on
/// another host).
pub(super) struct Addr(pub(super) SocketAddr);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.ip() {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.0.port()),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.0.port()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_comes_from_the_right() {
        let v4: SocketAddr = "198.18.0.7:5100".parse().unwrap();
        assert_eq!(parse_addr("198.18.0.7:5100"), Ok(v4));
        let v6: SocketAddr = "[2001:db8::1]:65535".parse().unwrap();
        assert_eq!(parse_addr("[2001:db8::1]:65535"), Ok(v6));
        assert_eq!(parse_addr("2001:db8::1:65535"), Ok(v6), "bare IPv6");
        assert_eq!(parse_addr("::1:1"), Ok("[::1]:1".parse().unwrap()));
    }

    #[test]
    fn formats_with_brackets_and_round_trips() {
        for text in ["127.0.0.1:1", "[::1]:5100", "[fe80::1:2]:9"] {
            let addr = parse_addr(text).unwrap();
            assert_eq!(Addr(addr).to_string(), text);
        }
    }

    #[test]
    fn bad_addresses_are_errors() {
        assert_eq!(parse_addr("1.2.3.4"), Err(ParseError::Missing("port")));
        for (text, what) in [
            ("1.2.3.4:0", "port"),
            ("1.2.3.4:65536", "port"),
            ("1.2.3.4:", "port"),
            ("1.2.3.4:05", "port"),
            ("1.2.3.256:5", "ip"),
            ("[1.2.3.4]:5", "ip"),
            ("[::1:5", "ip"),
            ("host:5", "ip"),
            (":5", "ip"),
        ] {
            assert_eq!(parse_addr(text), Err(ParseError::Bad(what)), "{text}");
        }
    }
}
