//! Which member's clock is the session master (`reference/osp.md` §1 priority rule, with hysteresis).
