//! Read-copy-update with quiescent-state-based reclamation (QSBR) for tables workers read.
