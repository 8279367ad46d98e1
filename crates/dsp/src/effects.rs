//! The effects, one per file, grouped by category. Each file holds the effect's `Params` (serde
//! names are the reference JSON keys of osp.md §10, defaults and declared ranges beside them)
//! next to its `process`, so the parameter model and the DSP cannot drift apart.

pub mod drive;
pub mod dynamics;
pub mod lofi;
pub mod modulation;
pub mod param;
