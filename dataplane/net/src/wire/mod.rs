//! Wire formats: zero-copy views and `Repr`s for the protocols the dataplane speaks.
