//! Demo data: deriving it from OpenStreetMap (`build`) and loading it into the database (`load`).

pub mod build;
pub mod dataset;
pub mod load;
