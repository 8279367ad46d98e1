//! Shared helpers live in `it/`; this library is intentionally empty so the package has a target.
