//! The session's one UDP socket: bound, marked for expedited forwarding, sized for bursts.
//!
//! Everything the session sends and receives (control, audio, parity, clock probes, later STUN
//! and relay fallbacks) goes through this socket, so NAT bindings and firewall holes opened for
//! one serve all.

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// DSCP Expedited Forwarding (RFC 3246), shifted into the TOS / traffic-class byte.
pub const TOS_EF: u32 = 46 << 2;

/// Kernel buffer sizes asked for: a few hundred milliseconds of a full 8-peer mesh, so a
/// scheduling hiccup of the driver thread does not drop datagrams in the kernel.
pub const BUFFER_BYTES: usize = 1 << 20;

/// How the socket came out (the kernel may grant less than asked; DSCP may be refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The bound address (the port the OS chose when asked for 0).
    pub local: SocketAddr,
    /// Whether the DSCP mark was accepted.
    pub dscp: bool,
    /// Receive buffer granted, bytes.
    pub recv_buffer: usize,
    /// Send buffer granted, bytes.
    pub send_buffer: usize,
}

/// Binds a non-blocking UDP socket on `addr`. An IPv6 wildcard address is bound dual-stack,
/// so IPv4 peers reach it too (their addresses arrive IPv4-mapped; see [`normalize`]).
///
/// # Errors
/// The OS refused the socket or the address (in use, not local, no permission).
pub fn bind(addr: SocketAddr, dscp: bool) -> io::Result<(std::net::UdpSocket, Setup)> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let SocketAddr::V6(v6) = addr
        && v6.ip().is_unspecified()
    {
        socket.set_only_v6(false)?;
    }
    // Buffer sizes and DSCP are requests: a kernel that refuses them still gives a working
    // socket, so failures are reported in `Setup`, not returned.
    let _ = socket.set_recv_buffer_size(BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(BUFFER_BYTES);
    let marked = dscp
        && match addr {
            SocketAddr::V4(_) => socket.set_tos_v4(TOS_EF).is_ok(),
            SocketAddr::V6(_) => socket.set_tclass_v6(TOS_EF).is_ok(),
        };
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let local = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound address is not an IP socket address"))?;
    let setup = Setup {
        local,
        dscp: marked,
        recv_buffer: socket.recv_buffer_size().unwrap_or(0),
        send_buffer: socket.send_buffer_size().unwrap_or(0),
    };
    Ok((socket.into(), setup))
}

/// The form peers are known by: IPv4-mapped IPv6 addresses (what a dual-stack socket reports
/// for IPv4 senders) become plain IPv4, so a peer added as `127.0.0.1:p` matches its datagrams.
pub fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// The address to hand the socket for `dest`: IPv4 destinations go IPv4-mapped on an IPv6
/// socket.
pub fn outbound(dest: SocketAddr, local: SocketAddr) -> SocketAddr {
    match (dest, local) {
        (SocketAddr::V4(v4), SocketAddr::V6(_)) => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        _ => dest,
    }
}

/// The host candidates of a socket bound at `local`, for peers reached by way of `toward`
/// (the room server): the bound address itself, or for a wildcard bind the source address the
/// OS routes `toward` from (a connected probe socket, which sends nothing) with the bound
/// port. Enumerating every interface would need a new dependency (`getifaddrs` has no std
/// form); the interface facing the room server is the one a peer on the same LAN shares, and
/// peers elsewhere meet us through the reflexive and relayed candidates anyway.
pub fn host_addresses(local: SocketAddr, toward: SocketAddr) -> Vec<SocketAddr> {
    if !local.ip().is_unspecified() {
        return vec![normalize(local)];
    }
    let unspecified: SocketAddr = match toward {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    std::net::UdpSocket::bind(unspecified)
        .and_then(|probe| {
            probe.connect(toward)?;
            probe.local_addr()
        })
        .map(|source| vec![SocketAddr::new(source.ip(), local.port())])
        .unwrap_or_default()
}

/// A socket on 127.0.0.1 registered with a current-thread runtime (returned with it) and its
/// first readiness seen, as the driver's loop sees it; and its address. For tests of the code
/// that reads and writes the driver's socket.
#[cfg(test)]
pub(crate) fn registered_loopback() -> (tokio::runtime::Runtime, tokio::net::UdpSocket, SocketAddr)
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let (std_socket, setup) = bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let socket = runtime
        .block_on(async {
            let socket = tokio::net::UdpSocket::from_std(std_socket)?;
            socket.writable().await?;
            io::Result::Ok(socket)
        })
        .unwrap();
    (runtime, socket, setup.local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_loopback_with_an_os_port_and_asks_for_ef() {
        let (socket, setup) = bind("127.0.0.1:0".parse().unwrap(), true).unwrap();
        assert_ne!(setup.local.port(), 0);
        assert_eq!(socket.local_addr().unwrap(), setup.local);
        assert!(setup.dscp, "Linux lets any user set the TOS byte");
        let tos = socket2::SockRef::from(&socket).tos_v4().unwrap();
        assert_eq!(tos, TOS_EF);
        assert!(setup.recv_buffer >= 64 * 1024);
    }

    #[test]
    fn mapped_addresses_normalize_both_ways() {
        let v4: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        assert_eq!(normalize(mapped), v4);
        assert_eq!(normalize(v4), v4);
        assert_eq!(outbound(v4, "[::]:5000".parse().unwrap()), mapped);
        assert_eq!(outbound(v4, "127.0.0.1:5000".parse().unwrap()), v4);
    }

    #[test]
    fn host_addresses_are_the_bound_address_or_the_route_toward_the_server() {
        let bound: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let server: SocketAddr = "127.0.0.2:5100".parse().unwrap();
        assert_eq!(host_addresses(bound, server), [bound]);
        // A wildcard bind: the loopback route's source, with the bound port.
        let wildcard: SocketAddr = "0.0.0.0:4001".parse().unwrap();
        let host = host_addresses(wildcard, "127.0.0.1:5100".parse().unwrap());
        assert_eq!(host, ["127.0.0.1:4001".parse::<SocketAddr>().unwrap()]);
    }
}
