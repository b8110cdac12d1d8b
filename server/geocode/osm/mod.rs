//! The built-in geocoder over the region's OpenStreetMap addresses (being written).
