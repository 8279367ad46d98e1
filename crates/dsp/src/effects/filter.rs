//! Filter effects: the parametric EQ, the wah and the multi-mode filter.

pub mod eq;
pub mod multi_filter;
pub mod wah;
