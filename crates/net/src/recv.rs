//! Reading every datagram waiting on the socket with as few syscalls as the platform allows:
//! up to [`RECV_BATCH`] per `recvmmsg` on Linux, a `recv_from` each elsewhere.
//!
//! In a full mesh the peers' packets for one block arrive within a few hundred µs of each
//! other; one wake-up of the driver reads them all in one call (the counterpart of
//! [`crate::batch`] on the way out).

use std::io;
use std::net::SocketAddr;

/// Datagrams one read takes at most.
pub const RECV_BATCH: usize = 32;

/// Largest datagram read whole (anything longer arrives truncated to this and fails decoding,
/// as it would with a plain `recv_from` of this size).
pub const RECV_SLOT_BYTES: usize = 2_048;

/// Slots for one read of up to [`RECV_BATCH`] datagrams: allocated once.
pub struct Arrivals {
    slots: Box<[[u8; RECV_SLOT_BYTES]; RECV_BATCH]>,
    lens: [usize; RECV_BATCH],
    from: [Option<SocketAddr>; RECV_BATCH],
    count: usize,
}

impl std::fmt::Debug for Arrivals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arrivals")
            .field("count", &self.count)
            .finish()
    }
}

impl Default for Arrivals {
    fn default() -> Self {
        Self {
            slots: Box::new([[0; RECV_SLOT_BYTES]; RECV_BATCH]),
            lens: [0; RECV_BATCH],
            from: [None; RECV_BATCH],
            count: 0,
        }
    }
}

impl Arrivals {
    /// Reads what is waiting on `socket` (without waiting): how many datagrams came. An
    /// `Ok(n)` with `n < RECV_BATCH` means the socket was empty when the kernel stopped;
    /// `WouldBlock` means it was empty from the start. The datagrams are [`Arrivals::iter`]'s
    /// until the next read.
    ///
    /// # Errors
    /// `WouldBlock`, or what the kernel reported for the first datagram (an ICMP error queued
    /// for a peer that went down, mostly).
    pub fn read(&mut self, socket: &tokio::net::UdpSocket) -> io::Result<usize> {
        self.count = 0;
        self.count = self.read_into(socket)?;
        Ok(self.count)
    }

    /// The datagrams of the last read, in arrival order: sender (`None`: not an IP address)
    /// and bytes.
    pub fn iter(&self) -> impl Iterator<Item = (Option<SocketAddr>, &[u8])> {
        (0..self.count).map(|i| (self.from[i], &self.slots[i][..self.lens[i]]))
    }

    #[cfg(target_os = "linux")]
    fn read_into(&mut self, socket: &tokio::net::UdpSocket) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // libc, as batch.rs: nix's `recvmmsg` wants its own header buffers and hands addresses
        // back through an iterator; these slots are allocated once and read in place.
        //
        // SAFETY: all-zero is a valid `iovec`, `mmsghdr` and `sockaddr_storage`.
        let mut iovecs: [libc::iovec; RECV_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut headers: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut names: [libc::sockaddr_storage; RECV_BATCH] = unsafe { std::mem::zeroed() };
        for (i, slot) in self.slots.iter_mut().enumerate() {
            iovecs[i] = libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: RECV_SLOT_BYTES,
            };
            let header = &mut headers[i].msg_hdr;
            header.msg_iov = &raw mut iovecs[i];
            header.msg_iovlen = 1;
            header.msg_name = (&raw mut names[i]).cast();
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        let count = socket.try_io(tokio::io::Interest::READABLE, || {
            // SAFETY: `headers` point at `iovecs`, the slots and `names`, which all outlive
            // the call and are large enough for what the headers say; the kernel writes the
            // datagrams, their addresses and lengths there.
            let count = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    headers.as_mut_ptr(),
                    RECV_BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if count < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(count as usize)
            }
        })?;
        for i in 0..count {
            self.lens[i] = (headers[i].msg_len as usize).min(RECV_SLOT_BYTES);
            self.from[i] = socket_addr(&names[i], headers[i].msg_hdr.msg_namelen);
        }
        Ok(count)
    }

    #[cfg(not(target_os = "linux"))]
    fn read_into(&mut self, socket: &tokio::net::UdpSocket) -> io::Result<usize> {
        let mut count = 0;
        while count < RECV_BATCH {
            match socket.try_recv_from(&mut self.slots[count]) {
                Ok((len, from)) => {
                    self.lens[count] = len;
                    self.from[count] = Some(from);
                    count += 1;
                }
                Err(e) if count == 0 => return Err(e),
                // Reported again by the next read.
                Err(_) => break,
            }
        }
        Ok(count)
    }
}

/// The IP address the kernel wrote into `name` (`len` bytes of it).
#[cfg(target_os = "linux")]
fn socket_addr(name: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let mut storage = socket2::SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_storage` is one of this platform's `sockaddr_*` types.
    unsafe { *storage.view_as::<libc::sockaddr_storage>() = *name };
    // SAFETY: the kernel initialised `name` for its family and said how long it is.
    unsafe { socket2::SockAddr::new(storage, len) }.as_socket()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udp::registered_loopback as socket;

    /// Waits until `socket` has something to read.
    fn readable(runtime: &tokio::runtime::Runtime, socket: &tokio::net::UdpSocket) {
        runtime.block_on(socket.readable()).unwrap();
    }

    #[test]
    fn one_read_takes_every_waiting_datagram_with_its_sender_in_order() {
        let (runtime, receiver, local) = socket();
        let senders: Vec<std::net::UdpSocket> = (0..7)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for (i, sender) in senders.iter().enumerate() {
            sender.send_to(&vec![i as u8; 10 + i], local).unwrap();
        }
        readable(&runtime, &receiver);
        let mut arrivals = Arrivals::default();
        // Loopback delivers synchronously: all seven are queued once the first is.
        assert_eq!(arrivals.read(&receiver).unwrap(), 7);
        for (i, (from, data)) in arrivals.iter().enumerate() {
            assert_eq!(from, Some(senders[i].local_addr().unwrap()));
            assert_eq!(data, &vec![i as u8; 10 + i][..]);
        }
        let empty = arrivals.read(&receiver).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(arrivals.iter().count(), 0);
    }

    #[test]
    fn more_than_a_batch_takes_two_reads_and_an_oversized_datagram_arrives_cut() {
        let (runtime, receiver, local) = socket();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(&[7; RECV_SLOT_BYTES + 100], local).unwrap();
        for i in 1..RECV_BATCH + 5 {
            sender.send_to(&[i as u8], local).unwrap();
        }
        readable(&runtime, &receiver);
        let mut arrivals = Arrivals::default();
        assert_eq!(arrivals.read(&receiver).unwrap(), RECV_BATCH);
        let first = arrivals.iter().next().unwrap().1;
        assert_eq!(first.len(), RECV_SLOT_BYTES);
        assert_eq!(arrivals.read(&receiver).unwrap(), 5);
        let last: Vec<u8> = arrivals.iter().map(|(_, data)| data[0]).collect();
        let want: Vec<u8> = (RECV_BATCH..RECV_BATCH + 5).map(|i| i as u8).collect();
        assert_eq!(last, want);
    }
}
