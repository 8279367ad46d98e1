//! Spatial effects: stereo width and placement.

pub mod stereo_imager;
