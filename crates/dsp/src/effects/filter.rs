//! Filter effects: the parametric EQ.
