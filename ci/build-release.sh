#!/usr/bin/env bash
# Builds the release binaries (dataplane, dpctl, cni-sriov). Every script that needs release
# binaries calls this one command: cargo unifies dependency features over the packages it is
# given, so a different package list would rebuild the (fat-LTO) binaries from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p dataplane -p dpctl -p cni-sriov --bins
