//! Byte-exact test vectors from `docs/protocol.md` §2.1–2.2, dialect detection, and hostile
//! input.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn v1_header() -> Header {
    Header {
        marker: false,
        payload_type: 96,
        seq: 1,
        timestamp: 480,
        ssrc: Ssrc(0xDEAD_BEEF),
        extension: Some(Extension {
            stream_id: StreamId(1),
            seq_ext: 0,
            media_timestamp: 480,
        }),
    }
}

const V1_PAYLOAD: [u8; 3] = [0xF8, 0xFF, 0xFE];

#[test]
fn crc_is_zlib_crc32() {
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

#[test]
fn canonical_vector_encodes_byte_for_byte() {
    let expected = hex("B0600001000001E0DEADBEEF4F53000200010000000001E0F8FFFE5171A2BD05");
    let mut out = [0u8; 64];
    let n = encode(&v1_header(), &V1_PAYLOAD, SendForm::Padding, &mut out).unwrap();
    assert_eq!(n, 32);
    assert_eq!(&out[..n], &expected[..]);
    let p = decode(&expected, Accept::default()).unwrap();
    assert_eq!(p.header, v1_header());
    assert_eq!(p.payload, V1_PAYLOAD);
    assert_eq!(p.integrity, Integrity::Padding);
}

#[test]
fn spec_vector_v1_variant_a() {
    let v1 = hex("90600001000001E0DEADBEEF4F53000200010000000001E0F8FFFE17F498ED");
    let mut out = [0u8; 64];
    let n = encode(&v1_header(), &V1_PAYLOAD, SendForm::TrailerA, &mut out).unwrap();
    assert_eq!(&out[..n], &v1[..]);
    let p = decode(&v1, Accept::default()).unwrap();
    assert_eq!(
        (p.header, p.payload, p.integrity),
        (v1_header(), &V1_PAYLOAD[..], Integrity::TrailerA)
    );
}

#[test]
fn spec_vector_v1_variants_b_and_c() {
    let prefix = "90600001000001E0DEADBEEF4F53000200010000000001E0F8FFFE";
    for (form, trailer, integrity) in [
        (SendForm::TrailerB, "8DB7D913", Integrity::TrailerB),
        (SendForm::TrailerC, "ED98F417", Integrity::TrailerC),
    ] {
        let bytes = hex(&format!("{prefix}{trailer}"));
        let mut out = [0u8; 64];
        let n = encode(&v1_header(), &V1_PAYLOAD, form, &mut out).unwrap();
        assert_eq!(&out[..n], &bytes[..], "{form:?}");
        let p = decode(&bytes, Accept::default()).unwrap();
        assert_eq!(p.integrity, integrity);
        assert_eq!(p.payload, V1_PAYLOAD);
    }
}

#[test]
fn spec_vector_v2_extended_sequence() {
    let v2 = hex("9060FFFF000EA600123456784F53000202000001000EA600
         0000000000000000000000000000000000000000 8A4B68E6");
    assert_eq!(v2.len(), 48);
    let p = decode(&v2, Accept::default()).unwrap();
    assert_eq!(p.integrity, Integrity::TrailerA);
    assert_eq!(p.header.seq32(), 131_071);
    assert_eq!(p.header.timestamp, 960_000);
    assert_eq!(p.header.ssrc, Ssrc(0x1234_5678));
    let ext = p.header.extension.unwrap();
    assert_eq!(
        (ext.stream_id, ext.seq_ext, ext.media_timestamp),
        (StreamId(0x0200), 1, 960_000)
    );
    assert_eq!(p.payload, [0u8; 20]);
    let mut out = [0u8; 64];
    let n = encode(&p.header, p.payload, SendForm::TrailerA, &mut out).unwrap();
    assert_eq!(&out[..n], &v2[..]);
}

#[test]
fn spec_vector_v3_corrupted_payload_is_rejected() {
    let v3 = hex("90600001000001E0DEADBEEF4F53000200010000000001E007FFFE17F498ED");
    assert_eq!(decode(&v3, Accept::default()), Err(DecodeError::Integrity));
    // Every single-bit flip of the canonical vector is caught.
    let canonical = hex("B0600001000001E0DEADBEEF4F53000200010000000001E0F8FFFE5171A2BD05");
    for byte in 12..canonical.len() {
        for bit in 0..8 {
            let mut bad = canonical.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                decode(&bad, Accept::default()).is_err(),
                "byte {byte} bit {bit}"
            );
        }
    }
}

#[test]
fn plain_rtp_from_standard_senders_only_where_accepted() {
    // GStreamer rtpopuspay style: X=0, no CRC, M on the first packet.
    let header = Header {
        marker: true,
        payload_type: 111,
        seq: 0x9A3C,
        timestamp: 0x1234_5678,
        ssrc: Ssrc(0x0BAD_CAFE),
        extension: None,
    };
    let payload = [0xFCu8, 0xFF, 0xFE, 0x01, 0x02, 0x03, 0x04, 0x05];
    let mut out = [0u8; 64];
    let n = encode(&header, &payload, SendForm::Plain, &mut out).unwrap();
    assert_eq!(out[0], 0x80);
    assert_eq!(
        decode(&out[..n], Accept::default()),
        Err(DecodeError::Integrity)
    );
    let plain = Accept {
        plain_rtp: true,
        ..Accept::default()
    };
    let p = decode(&out[..n], plain).unwrap();
    assert_eq!(
        (p.header, p.payload, p.integrity),
        (header, &payload[..], Integrity::Unchecked)
    );
    assert_eq!(p.header.seq32(), 0x9A3C);
}

#[test]
fn csrcs_foreign_extensions_and_standard_padding_are_skipped() {
    // V=2 P=1 X=1 CC=2, a one-word foreign extension, 3 payload bytes, 3 bytes of padding.
    let mut d = vec![0xB2, 0x61, 0x00, 0x07, 0, 0, 0, 9, 0, 0, 0, 5];
    d.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]); // CSRCs
    d.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00]); // RFC 8285 one-byte
    d.extend_from_slice(&[7, 8, 9, 0, 0, 3]);
    let p = decode(
        &d,
        Accept {
            plain_rtp: true,
            ..Accept::default()
        },
    )
    .unwrap();
    assert_eq!(p.header.extension, None);
    assert_eq!(p.payload, [7, 8, 9]);
    assert_eq!(p.header.payload_type, 97);
}

#[test]
fn malformed_headers_are_errors_not_panics() {
    assert_eq!(decode(&[], Accept::default()), Err(DecodeError::Short));
    assert_eq!(
        decode(&[0x40; 12], Accept::default()),
        Err(DecodeError::Version(1))
    );
    // CC = 15 announces 60 CSRC bytes that are not there.
    assert_eq!(
        decode(&[0x8F; 20], Accept::default()),
        Err(DecodeError::Short)
    );
    // Extension header claims 0xFFFF words.
    let mut d = vec![
        0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x4F, 0x53, 0xFF, 0xFF,
    ];
    assert_eq!(decode(&d, Accept::default()), Err(DecodeError::Short));
    // Padding count larger than the body.
    d = vec![0xA0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 9];
    let plain = Accept {
        plain_rtp: true,
        ..Accept::default()
    };
    assert_eq!(decode(&d, plain), Err(DecodeError::Padding));
}

#[test]
fn encode_rejects_small_buffers_and_wide_payload_types() {
    let mut small = [0u8; 31];
    assert_eq!(
        encode(&v1_header(), &V1_PAYLOAD, SendForm::Padding, &mut small),
        Err(EncodeError::BufferTooSmall { needed: 32 })
    );
    let bad = Header {
        payload_type: 200,
        ..v1_header()
    };
    assert_eq!(
        encode(&bad, &V1_PAYLOAD, SendForm::Padding, &mut [0u8; 64]),
        Err(EncodeError::PayloadType(200))
    );
}

#[test]
fn random_datagrams_never_panic_and_never_read_outside() {
    // Deterministic xorshift so a failure reproduces; the fuzz target covers this properly.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let lenient = Accept {
        plain_rtp: true,
        legacy_no_crc: true,
    };
    for _ in 0..20_000 {
        let len = (next() % 80) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len > 0 {
            d[0] = 0x80 | (d[0] & 0x3F); // mostly version 2, to reach the deeper paths
        }
        for accept in [Accept::default(), lenient] {
            if let Ok(p) = decode(&d, accept) {
                assert!(p.payload.len() <= d.len());
            }
        }
    }
}
