//! The per-stream jitter buffer: fixed capacity, allocation-free after `new`, run on the audio thread.
