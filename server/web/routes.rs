//! The routes the router declares, read from its source (axum cannot list its routes), so
//! tests can check that every one is documented and has a row in the access matrix.

use std::collections::BTreeSet;

/// The files that call `.route(`: the router and the outbox's own router.
const SOURCES: [&str; 2] = [include_str!("mod.rs"), include_str!("outbox.rs")];

/// `(method, path)` of every route, the method in lower case (`"get"`, `"post"`, ...).
pub fn declared() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for source in SOURCES {
        for chunk in source.split(".route(").skip(1) {
            let Some(path) = chunk.split('"').nth(1) else {
                continue;
            };
            let handlers = chunk.split(';').next().unwrap_or(chunk);
            for method in ["get", "post", "put", "delete", "patch"] {
                let called = |prefix: char| handlers.contains(&format!("{prefix}{method}("));
                if called(' ') || called('.') {
                    found.insert((method.to_owned(), path.to_owned()));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reader_finds_routes_of_both_routers_with_every_method() {
        let routes = super::declared();
        let has = |m: &str, p: &str| routes.contains(&(m.to_owned(), p.to_owned()));
        assert!(has("get", "/"));
        assert!(has("put", "/api/rules/{id}") && has("delete", "/api/rules/{id}"));
        assert!(has("post", "/territories/outbox/{id}/retry"));
        assert!(has("post", "/admin/import/{what}"));
        assert!(routes.len() >= 60, "{} routes", routes.len());
    }
}
