//! OpenStreetMap data: the `.osm.pbf` reader, geometry helpers (rings, centroids, local
//! metric frames, a line index) and tag helpers, used by the geocoder's index builder and by the
//! demo-data builder.

pub mod geometry;
pub mod pbf;
pub mod tags;
