//! The location column group of `accounts` (`location`, `h3_cell`, `geocode_*`, pins): the
//! only writer of those columns. The geocoder and manual pins call these functions.
