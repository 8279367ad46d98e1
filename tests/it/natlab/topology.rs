//! The lab's shape: a "wan" namespace standing for the internet, and homes, each a host
//! namespace behind its own router namespace that NATs with nftables.
//!
//! ```text
//!   wan  lo: 198.18.0.1-4/32 (servers)            ip_forward: routers reach each other
//!    ├─ home1 198.18.1.1/24 ── wan 198.18.1.2/24  router 1 (masquerade on `wan`)
//!    │                         lan 169.254.1.1/24 ── eth 169.254.1.2/24  host 1
//!    └─ home2 198.18.2.1/24 ── wan 198.18.2.2/24  router 2
//!                              lan 169.254.2.1/24 ── eth 169.254.2.2/24  host 2
//! ```
//!
//! Every address is in 198.18.0.0/15 (wan side) or 169.254.0.0/16 (home side), and every
//! interface lives inside the lab's namespaces (each veth is created with both ends already
//! there), so nothing reaches the host's own interfaces and labs running in parallel may repeat
//! addresses and interface names.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::namespace::{self, Namespace};

/// How a home's router maps its hosts' UDP flows to its wan address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nat {
    /// Plain `masquerade`: one socket keeps one public port whatever it sends to (Linux keeps
    /// the host's port when it is free), so hole punching works.
    EndpointIndependent,
    /// `masquerade random,fully-random`: every new flow (a new destination, or the same one
    /// after the router forgets its mappings) gets a random public port: the "symmetric" NAT
    /// that leaves a host only TURN.
    PortRandomising,
}

impl Nat {
    /// The nft masquerade statement.
    fn masquerade(self) -> &'static str {
        match self {
            Self::EndpointIndependent => "masquerade",
            Self::PortRandomising => "masquerade random,fully-random",
        }
    }
}

/// Addresses on the wan namespace's `lo` for servers (coturn, the room server), reachable from
/// every router.
pub(crate) const WAN_HOSTS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(198, 18, 0, 1),
    Ipv4Addr::new(198, 18, 0, 2),
    Ipv4Addr::new(198, 18, 0, 3),
    Ipv4Addr::new(198, 18, 0, 4),
];

/// Most homes a lab holds (the home number is an octet of its subnets).
const MAX_HOMES: usize = 200;

/// One home: a host behind a NAT router.
pub(crate) struct Home {
    /// The router's NAT behaviour.
    pub(crate) nat: Nat,
    /// The host's namespace: where a player runs.
    pub(crate) host: Namespace,
    /// The router's namespace.
    pub(crate) router: Namespace,
    /// The host's address (its router's lan side is `.1` of the same /24).
    pub(crate) addr: Ipv4Addr,
    /// The router's wan address: what the internet sees the host's flows come from.
    pub(crate) public: Ipv4Addr,
}

impl Home {
    /// Makes the router forget every mapping (`conntrack -F`), as a home router does when it
    /// reboots or its table overflows: the host's next datagram gets a new mapping.
    pub(crate) fn flush_mappings(&self) {
        self.router.run("conntrack", &["-F"], None);
    }
}

/// Builds a [`Lab`]: add homes, then [`LabBuilder::build`].
#[derive(Default)]
pub(crate) struct LabBuilder {
    homes: Vec<Nat>,
}

impl LabBuilder {
    /// Adds a home behind a router with `nat`.
    pub(crate) fn home(mut self, nat: Nat) -> Self {
        self.homes.push(nat);
        self
    }

    /// Creates the namespaces, links, addresses, routes and NAT rules. First removes the
    /// namespaces of labs whose test process died. Panics with one line if the machine refuses
    /// (no namespaces, no nftables); what was made before that is removed again.
    pub(crate) fn build(self) -> Lab {
        assert!(
            self.homes.len() <= MAX_HOMES,
            "natlab: at most {MAX_HOMES} homes"
        );
        namespace::sweep_stale();
        let start = Instant::now();
        let stem = namespace::new_lab_stem();
        let wan = Namespace::create(format!("{stem}-wan"));
        for host in WAN_HOSTS {
            wan.ip(&["addr", "add", &format!("{host}/32"), "dev", "lo"]);
        }
        wan.run("sysctl", &["-qw", "net.ipv4.ip_forward=1"], None);
        let homes = (1..)
            .zip(self.homes)
            .map(|(number, nat)| build_home(&wan, &stem, number, nat))
            .collect();
        Lab {
            wan,
            homes,
            setup: start.elapsed(),
        }
    }
}

/// Builds home `number` (1-based) behind a router doing `nat`, linked to `wan`.
fn build_home(wan: &Namespace, stem: &str, number: u8, nat: Nat) -> Home {
    let router = Namespace::create(format!("{stem}-rtr{number}"));
    let host = Namespace::create(format!("{stem}-home{number}"));
    let uplink = format!("home{number}");
    let wan_side = Ipv4Addr::new(198, 18, number, 1);
    let public = Ipv4Addr::new(198, 18, number, 2);
    let gateway = Ipv4Addr::new(169, 254, number, 1);
    let addr = Ipv4Addr::new(169, 254, number, 2);

    wan.ip(&[
        "link",
        "add",
        &uplink,
        "type",
        "veth",
        "peer",
        "name",
        "wan",
        "netns",
        router.name(),
    ]);
    router.ip(&[
        "link",
        "add",
        "lan",
        "type",
        "veth",
        "peer",
        "name",
        "eth",
        "netns",
        host.name(),
    ]);
    wan.ip(&["addr", "add", &format!("{wan_side}/24"), "dev", &uplink]);
    wan.ip(&["link", "set", &uplink, "up"]);
    router.ip(&["addr", "add", &format!("{public}/24"), "dev", "wan"]);
    router.ip(&["addr", "add", &format!("{gateway}/24"), "dev", "lan"]);
    router.ip(&["link", "set", "wan", "up"]);
    router.ip(&["link", "set", "lan", "up"]);
    router.ip(&["route", "add", "default", "via", &wan_side.to_string()]);
    host.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth"]);
    host.ip(&["link", "set", "eth", "up"]);
    host.ip(&["route", "add", "default", "via", &gateway.to_string()]);
    router.run("sysctl", &["-qw", "net.ipv4.ip_forward=1"], None);
    // NAT out of `wan`, and a home router's firewall: from the wan, only replies to flows the
    // home started get in. The input chain matters for hole punching: a peer's datagram that
    // arrives before the host's own has opened the flow would otherwise leave a conntrack
    // entry for the router itself on the host's public port, and the host's flow would then
    // be mapped to another port; dropped here, before conntrack confirms it, it leaves none.
    let rules = format!(
        "table ip nat {{\n\
           chain post {{ type nat hook postrouting priority 100; oifname \"wan\" {}; }}\n\
         }}\n\
         table ip filter {{\n\
           chain input {{ type filter hook input priority 0; policy drop;\n\
             ct state established,related accept;\n\
             iifname {{ \"lo\", \"lan\" }} accept;\n\
           }}\n\
           chain forward {{ type filter hook forward priority 0; policy drop;\n\
             ct state established,related accept;\n\
             iifname \"lan\" oifname \"wan\" accept;\n\
           }}\n\
         }}\n",
        nat.masquerade()
    );
    router.run("nft", &["-f", "-"], Some(&rules));
    Home {
        nat,
        host,
        router,
        addr,
        public,
    }
}

/// A lab: the wan namespace and the homes; every namespace is removed when it is dropped.
pub(crate) struct Lab {
    /// The internet: servers bind [`WAN_HOSTS`] here.
    pub(crate) wan: Namespace,
    homes: Vec<Home>,
    setup: Duration,
}

impl Lab {
    /// A builder with no homes yet.
    pub(crate) fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    /// Home `number` (1-based, in the order they were added).
    pub(crate) fn home(&self, number: usize) -> &Home {
        &self.homes[number - 1]
    }

    /// Every home, in the order they were added.
    pub(crate) fn homes(&self) -> &[Home] {
        &self.homes
    }

    /// How long building took.
    pub(crate) fn setup_time(&self) -> Duration {
        self.setup
    }

    /// The names of its namespaces.
    pub(crate) fn namespace_names(&self) -> Vec<String> {
        let mut names = vec![self.wan.name().to_owned()];
        for home in &self.homes {
            names.push(home.router.name().to_owned());
            names.push(home.host.name().to_owned());
        }
        names
    }
}
