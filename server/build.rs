//! `sqlx::migrate!` embeds `migrations/` when the crate compiles, but cargo does not know the
//! directory is an input: without this, a new migration file is missing from an incremental
//! build until some Rust file changes.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
