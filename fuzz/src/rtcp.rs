//! RTCP compound packets and the generic NACKs inside them.

use proto::ostp::packet::Ssrc;
use proto::rtcp;

use super::assert_inside;

/// RTCP compound packets and generic NACKs.
pub fn rtcp(data: &[u8]) {
    let mut total = 0;
    for packet in rtcp::packets(data) {
        let Ok(packet) = packet else { break };
        assert_inside(data, packet.body);
        total += packet.body.len() + 4;
        if let Ok(nack) = rtcp::GenericNack::parse(&packet) {
            let lost: Vec<u16> = nack.lost().collect();
            assert!(lost.len() <= 17 * packet.body.len() / 4);
        }
    }
    assert!(total <= data.len());
}

/// One generic NACK alone, and two in a compound packet.
pub(crate) fn seeds() -> Vec<Vec<u8>> {
    let mut out = vec![0u8; 256];
    let n = rtcp::encode_nack(Ssrc(1), Ssrc(2), &[1, 2, 5, 40, 41], &mut out).unwrap();
    let m = rtcp::encode_nack(Ssrc(1), Ssrc(3), &[9], &mut out[n..]).unwrap();
    vec![out[..n].to_vec(), out[..n + m].to_vec()]
}
