//! The routes the router declares, read from its source (axum cannot list its routes), so
//! tests can check that every one is documented and has a row in the access matrix.

use std::collections::BTreeSet;

/// Every file of `server/web/` that calls `.route(`: each module's own `router()`, merged by
/// `web::router` (a test below checks that none is missing).
const SOURCES: [(&str, &str); 15] = [
    ("accounts.rs", include_str!("accounts.rs")),
    ("alerts.rs", include_str!("alerts.rs")),
    ("auth.rs", include_str!("auth.rs")),
    ("days.rs", include_str!("days.rs")),
    ("devices.rs", include_str!("devices.rs")),
    ("geocoding.rs", include_str!("geocoding.rs")),
    ("health.rs", include_str!("health.rs")),
    ("live_map.rs", include_str!("live_map.rs")),
    ("openapi.rs", include_str!("openapi.rs")),
    ("outbox.rs", include_str!("outbox.rs")),
    ("pages.rs", include_str!("pages.rs")),
    ("pings.rs", include_str!("pings.rs")),
    ("sync.rs", include_str!("sync.rs")),
    ("territories.rs", include_str!("territories.rs")),
    ("webhooks.rs", include_str!("webhooks.rs")),
];

/// `(method, path)` of every route, the method in lower case (`"get"`, `"post"`, ...).
pub fn declared() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (_, source) in SOURCES {
        for chunk in source.split(".route(").skip(1) {
            let Some(path) = chunk.split('"').nth(1) else {
                continue;
            };
            let handlers = &chunk[..call_end(chunk)];
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

/// Where the `.route(` call that `chunk` follows closes (its arguments are `chunk[..end]`).
fn call_end(chunk: &str) -> usize {
    let mut depth = 1usize;
    for (i, c) in chunk.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    chunk.len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reader_finds_routes_of_every_router_with_every_method() {
        let routes = super::declared();
        let has = |m: &str, p: &str| routes.contains(&(m.to_owned(), p.to_owned()));
        assert!(has("get", "/"));
        assert!(has("put", "/api/rules/{id}") && has("delete", "/api/rules/{id}"));
        assert!(has("post", "/territories/outbox/{id}/retry"));
        assert!(has("post", "/admin/import/{what}"));
        assert!(routes.len() >= 60, "{} routes", routes.len());
    }

    #[test]
    fn every_web_file_that_declares_routes_is_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("server/web");
        let read: Vec<&str> = super::SOURCES.iter().map(|(name, _)| *name).collect();
        for entry in std::fs::read_dir(&dir).expect("server/web") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name == "routes.rs" || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("source");
            assert!(
                !source.contains(".route(") || read.contains(&name),
                "{name} declares routes: list it in SOURCES"
            );
        }
    }
}
