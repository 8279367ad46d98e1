//! Datagram counters on the lab's wan (nftables): which home's router sent how much to a
//! server there, so a test can prove a client used the server it was given.

use std::net::{Ipv4Addr, SocketAddr};

use super::Lab;

/// Counts the UDP datagrams from one address to one server on the wan.
pub(crate) struct DatagramCounter {
    name: String,
}

impl Lab {
    /// Starts counting the UDP datagrams that arrive from `from` (a router's public address)
    /// for `to` (a server on one of the wan's own addresses).
    pub(crate) fn count_datagrams(&self, from: Ipv4Addr, to: SocketAddr) -> DatagramCounter {
        let name = format!("from_{from}_to_{to}").replace(['.', ':'], "_");
        let rules = format!(
            "table ip count {{\n\
               chain input {{ type filter hook input priority 0; policy accept; }}\n\
             }}\n\
             add counter ip count {name}\n\
             add rule ip count input ip saddr {from} ip daddr {ip} udp dport {port} counter name \
             \"{name}\"\n",
            ip = to.ip(),
            port = to.port(),
        );
        self.wan.run("nft", &["-f", "-"], Some(&rules));
        DatagramCounter { name }
    }
}

impl DatagramCounter {
    /// The datagrams counted so far.
    pub(crate) fn read(&self, lab: &Lab) -> u64 {
        let listed = lab
            .wan
            .run("nft", &["list", "counter", "ip", "count", &self.name], None);
        listed
            .split_whitespace()
            .skip_while(|word| *word != "packets")
            .nth(1)
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("natlab: no packet count in `nft list counter`: {listed}"))
    }
}
