//! Why a session, or a further track of it, could not start.

use crate::config::ConfigError;

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range (the caller's fault).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The codec refused its settings.
    #[error("codec: {0}")]
    Codec(#[from] codec::opus::Error),
    /// The network could not start (address in use, no permission).
    #[error(transparent)]
    Net(#[from] net::Error),
    /// A server's host name did not resolve (or resolved to nothing).
    #[error("cannot resolve {what} {host:?}: {reason}")]
    Resolve {
        /// Which server (`room server`, `STUN server`, `TURN server`).
        what: &'static str,
        /// As configured.
        host: String,
        /// The resolver's reason.
        reason: String,
    },
    /// The session has stopped, or holds its most tracks already.
    #[error("the session cannot take another track ({0})")]
    Track(&'static str),
}
