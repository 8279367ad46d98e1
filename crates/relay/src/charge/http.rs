//! `POST /api/wallet/charge`: the body `{"device_id","amount","token":"<unix_ts>:<hmac_hex>"}`
//! and the response, without the HTTP server (`crate::http` routes to it).
//!
//! The amount may be a JSON number or a string; either way its text is parsed as a decimal
//! with at most 6 fractional digits, never through a float. Unknown fields are ignored; a
//! duplicated field, a field of the wrong type or a body that is not one JSON object is
//! `invalid_format`.

use std::borrow::Cow;

use proto::rendezvous::{ChargeRequest, MAX_NAME};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Cashier, ChargeError, Receipt};
use proto::time::Instant;

/// Longest body read; longer ones are `invalid_format` unread.
pub const MAX_BODY: usize = 1024;

/// A charge from an HTTP body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCharge {
    /// Whose balance to credit (the body names it; it is signed with the rest).
    pub device_id: String,
    /// Amount and token.
    pub request: ChargeRequest,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    device_id: Cow<'a, str>,
    #[serde(borrow)]
    amount: &'a RawValue,
    #[serde(borrow)]
    token: Cow<'a, str>,
}

/// Parses a body, refusing in the order format, amount, token present. A device id must be
/// 1 to 64 bytes without `:` or control characters (it is a field of the signed text).
///
/// # Errors
/// [`ChargeError::InvalidFormat`], [`ChargeError::InvalidAmount`] or
/// [`ChargeError::NoToken`]; never panics.
pub fn parse_body(body: &[u8]) -> Result<HttpCharge, ChargeError> {
    if body.len() > MAX_BODY {
        return Err(ChargeError::InvalidFormat);
    }
    let body: Body<'_> = serde_json::from_slice(body).map_err(|_| ChargeError::InvalidFormat)?;
    let device_id = body.device_id;
    let valid_id = !device_id.is_empty()
        && device_id.len() <= MAX_NAME
        && !device_id.contains(':')
        && !device_id.chars().any(char::is_control);
    if !valid_id {
        return Err(ChargeError::InvalidFormat);
    }
    let amount_text = body.amount.get();
    let amount: Cow<'_, str> = if amount_text.starts_with('"') {
        serde_json::from_str(amount_text).map_err(|_| ChargeError::InvalidFormat)?
    } else {
        Cow::Borrowed(amount_text)
    };
    let request = ChargeRequest::from_fields(&amount, &body.token).map_err(ChargeError::from)?;
    Ok(HttpCharge {
        device_id: device_id.into_owned(),
        request,
    })
}

impl Cashier {
    /// Parses `body` and charges it; `is_member` says whether the device id it names belongs
    /// to a current member.
    ///
    /// # Errors
    /// The first check that fails, in the module's order.
    pub fn charge_http(
        &mut self,
        now: Instant,
        body: &[u8],
        is_member: impl FnOnce(&str) -> bool,
    ) -> Result<Receipt, ChargeError> {
        let charge = parse_body(body)?;
        let device_id = Some(charge.device_id.as_str()).filter(|id| is_member(id));
        self.charge(now, device_id, &charge.request)
    }
}

/// The HTTP response to a charge: status and JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// 200 or [`ChargeError::http_status`].
    pub status: u16,
    /// `{"ok":true,"balance":"<amount>","charged":"<amount>"}` or
    /// `{"ok":false,"error":"<refusal>"}`; amounts are 6-decimal strings.
    pub body: String,
}

impl HttpResponse {
    /// The response for an outcome.
    pub fn new(outcome: &Result<Receipt, ChargeError>) -> Self {
        match outcome {
            Ok(receipt) => Self {
                status: 200,
                body: format!(
                    r#"{{"ok":true,"balance":"{}","charged":"{}"}}"#,
                    receipt.balance, receipt.amount
                ),
            },
            Err(error) => Self {
                status: error.http_status(),
                body: format!(r#"{{"ok":false,"error":"{}"}}"#, error.refusal().as_str()),
            },
        }
    }
}
