//! Spatial effects: stereo width and placement.
