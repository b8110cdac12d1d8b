//! HTTP geocoding providers and the chain that orders them (being written).
