//! Connectivity tests on virtual time.
