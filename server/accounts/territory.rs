//! The territory column group of `accounts` (`territory_id`, `owner_rep_id` as a plan sets
//! them): the only writer of those columns. Plans, publishing and arrivals call these functions.
