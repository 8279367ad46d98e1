//! Filter effects: the parametric EQ.

pub mod eq;
