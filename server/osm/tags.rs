//! Small helpers over OpenStreetMap tag values shared by the readers of an extract.

/// Named highways that are not postal streets: motorways have no frontage, and the rest are
/// not built (yet or any more) or are not roads at all.
const NON_ADDRESS_HIGHWAYS: &[&str] = &[
    "motorway",
    "motorway_link",
    "construction",
    "proposed",
    "abandoned",
    "disused",
    "raceway",
    "rest_area",
    "services",
    "platform",
    "bus_stop",
    "corridor",
    "elevator",
    "escape",
];

/// Whether a named way with this `highway` value can appear as the street of an address.
pub fn is_address_street(highway: &str) -> bool {
    !NON_ADDRESS_HIGHWAYS.contains(&highway)
}

/// A trimmed tag value, treating empty values as absent.
pub fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motorways_are_not_address_streets_but_footways_are() {
        assert!(!is_address_street("motorway"));
        assert!(is_address_street("residential"));
        assert!(is_address_street("footway"));
    }
}
