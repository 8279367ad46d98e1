//! Per-peer link health (RTT, RFC 3550 jitter, loss, late, recovered, concealed) and the adaptive bitrate policy.
