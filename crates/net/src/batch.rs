//! Sending a burst of datagrams with as few syscalls as the platform allows: one packet's
//! fan-out to up to seven peers is one `sendmmsg` on Linux, a `send_to` per datagram elsewhere.
//!
//! The socket stays non-blocking: a datagram the kernel refuses (a full buffer, an ICMP error
//! queued for a peer) is reported as an error and the rest of the burst still goes out, as
//! they would one at a time.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;

/// Datagrams gathered before they are handed to the kernel together.
pub const SEND_BATCH: usize = 16;

/// Largest datagram a slot holds.
pub const SLOT_BYTES: usize = 2_048;

/// A burst of datagrams being gathered: fixed slots, allocated once.
pub struct Batch {
    slots: Box<[[u8; SLOT_BYTES]; SEND_BATCH]>,
    /// The datagram's bytes in each slot (a datagram framed behind headroom starts later).
    ranges: [Range<usize>; SEND_BATCH],
    dests: [Option<socket2::SockAddr>; SEND_BATCH],
    count: usize,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("count", &self.count).finish()
    }
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            slots: Box::new([[0; SLOT_BYTES]; SEND_BATCH]),
            ranges: std::array::from_fn(|_| 0..0),
            dests: std::array::from_fn(|_| None),
            count: 0,
        }
    }
}

impl Batch {
    /// Gathers one datagram written by `fill` into a free slot (`fill` returns its
    /// destination and which bytes of the slot it is, or `None` when there is nothing more to
    /// send). False when the batch is full or `fill` had nothing.
    pub fn gather(
        &mut self,
        fill: impl FnOnce(&mut [u8]) -> Option<(SocketAddr, Range<usize>)>,
    ) -> bool {
        if self.count == SEND_BATCH {
            return false;
        }
        let Some((dest, range)) = fill(&mut self.slots[self.count]) else {
            return false;
        };
        let end = range.end.min(SLOT_BYTES);
        self.ranges[self.count] = range.start.min(end)..end;
        self.dests[self.count] = Some(dest.into());
        self.count += 1;
        true
    }

    /// Datagrams gathered.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Nothing gathered.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sends every gathered datagram on `socket` and empties the batch; `outcome` hears each
    /// datagram's length and whether the kernel took it, in order.
    pub fn send(&mut self, socket: &tokio::net::UdpSocket, mut outcome: impl FnMut(usize, bool)) {
        let mut first = 0;
        while first < self.count {
            match self.send_from(socket, first) {
                Ok(sent) if sent > 0 => {
                    for range in &self.ranges[first..first + sent] {
                        outcome(range.len(), true);
                    }
                    first += sent;
                }
                // The kernel stops at the first datagram it refuses: count it and go on with
                // the next.
                _ => {
                    outcome(self.ranges[first].len(), false);
                    first += 1;
                }
            }
        }
        self.count = 0;
    }

    /// Hands datagrams `first..` to the kernel in one `sendmmsg`: how many it took.
    #[cfg(target_os = "linux")]
    fn send_from(&self, socket: &tokio::net::UdpSocket, first: usize) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // libc rather than nix: nix's `sendmmsg` reports how many went out only through an
        // iterator that reads back receive-side address slots a send never fills.
        //
        // SAFETY: all-zero is a valid `iovec` and `mmsghdr` (null pointers, zero lengths).
        let mut iovecs: [libc::iovec; SEND_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut headers: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let count = self.count - first;
        for (i, slot) in (first..self.count).enumerate() {
            let datagram = &self.slots[slot][self.ranges[slot].clone()];
            iovecs[i] = libc::iovec {
                iov_base: datagram.as_ptr().cast_mut().cast(),
                iov_len: datagram.len(),
            };
            let header = &mut headers[i].msg_hdr;
            header.msg_iov = &raw mut iovecs[i];
            header.msg_iovlen = 1;
            if let Some(dest) = &self.dests[slot] {
                header.msg_name = dest.as_ptr().cast_mut().cast();
                header.msg_namelen = dest.len();
            }
        }
        socket.try_io(tokio::io::Interest::WRITABLE, || {
            // SAFETY: `headers[..count]` point at `iovecs`, slot buffers and addresses that
            // all outlive the call; the kernel only reads them (and writes `msg_len`).
            let sent = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    headers.as_mut_ptr(),
                    count as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if sent < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(sent as usize)
            }
        })
    }

    /// Hands datagram `first` to the kernel.
    #[cfg(not(target_os = "linux"))]
    fn send_from(&self, socket: &tokio::net::UdpSocket, first: usize) -> io::Result<usize> {
        let dest = self.dests[first]
            .as_ref()
            .and_then(socket2::SockAddr::as_socket)
            .ok_or_else(|| io::Error::other("not an IP destination"))?;
        socket.try_send_to(&self.slots[first][self.ranges[first].clone()], dest)?;
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udp::registered_loopback as socket;

    #[test]
    fn a_burst_to_seven_peers_arrives_whole_and_in_order() {
        let (_runtime, sender, _) = socket();
        let peers: Vec<std::net::UdpSocket> = (0..7)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut batch = Batch::default();
        for (i, peer) in peers.iter().enumerate() {
            let dest = peer.local_addr().unwrap();
            // Every other datagram starts behind headroom, as a relayed one is framed.
            let start = i % 2 * 4;
            assert!(batch.gather(|buf| {
                buf[start..start + 3].copy_from_slice(&[i as u8, 0xAB, i as u8]);
                Some((dest, start..start + 3 + i))
            }));
        }
        assert!(!batch.gather(|_| None));
        assert_eq!(batch.len(), 7);
        let mut outcomes = Vec::new();
        batch.send(&sender, |len, ok| outcomes.push((len, ok)));
        assert!(batch.is_empty());
        assert_eq!(outcomes, (0..7).map(|i| (3 + i, true)).collect::<Vec<_>>());
        for (i, peer) in peers.iter().enumerate() {
            let mut buf = [0u8; 64];
            let len = peer.recv(&mut buf).unwrap();
            assert_eq!(len, 3 + i);
            assert_eq!(&buf[..3], &[i as u8, 0xAB, i as u8]);
        }
    }

    #[test]
    fn a_refused_datagram_is_counted_and_the_rest_still_go() {
        let (_runtime, sender, _) = socket();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = Batch::default();
        // An IPv6 destination on an IPv4 socket: the kernel refuses it.
        let unreachable: SocketAddr = "[::1]:9".parse().unwrap();
        for dest in [
            peer.local_addr().unwrap(),
            unreachable,
            peer.local_addr().unwrap(),
        ] {
            assert!(batch.gather(|buf| {
                buf[0] = 1;
                Some((dest, 0..1))
            }));
        }
        let mut outcomes = Vec::new();
        batch.send(&sender, |len, ok| outcomes.push((len, ok)));
        assert_eq!(outcomes, [(1, true), (1, false), (1, true)]);
        let mut buf = [0u8; 8];
        assert_eq!(peer.recv(&mut buf).unwrap(), 1);
        assert_eq!(peer.recv(&mut buf).unwrap(), 1);
    }

    #[test]
    fn a_full_batch_takes_no_more() {
        let mut batch = Batch::default();
        let dest: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for _ in 0..SEND_BATCH {
            assert!(batch.gather(|_| Some((dest, 0..1))));
        }
        assert!(!batch.gather(|_| panic!("not asked when full")));
    }
}
