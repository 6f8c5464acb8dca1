//! dpctl: the dataplane control CLI (being written).

#![forbid(unsafe_code)]

fn main() {}
