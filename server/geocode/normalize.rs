//! Address normalization into a stable cache key (being written).
