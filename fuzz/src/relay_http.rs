//! The room server's HTTP bodies: a wallet charge (`POST /api/wallet/charge`) and a listener's
//! fingerprint report (`POST /api/fingerprint`).

/// Feeds `data` to both body parsers; a report that parses is taken twice from its one device,
/// which must never make a consensus (one vote per distinct device).
pub fn relay_http(data: &[u8]) {
    let _ = relay::charge::http::parse_body(data);
    assert_eq!(relay::consensus::fuzz_report_body(data), None);
}

pub(crate) fn seeds() -> Vec<Vec<u8>> {
    [
        r#"{"device_id":"dev-0001","amount":"0.010000","token":"1741996800:c0cc0194943781c7a95c6c450be73ac02327cf9ac96c9f36b5815a8cd2fdfce1"}"#,
        r#"{"device_id":"dev-0002","amount":2.5,"token":""}"#,
        r#"{"channel":"room","device_id":"listener-1","fingerprint":"87cff7ff2fdcf9ec","timestamp":1741996800,"duration":5,"sample_rate":48000,"window_sec":5.0}"#,
        r#"{"channel":"room","device_id":"listener-2","hash":"87cff7ff2fdcf9ed","timestamp":1741996830.5}"#,
    ]
    .iter()
    .map(|body| body.as_bytes().to_vec())
    .collect()
}
