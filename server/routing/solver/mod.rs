//! Terrane's vehicle-routing solver for a rep's day and a team's day (see docs/routing.md).

mod problem;

pub use problem::{
    Break, Limits, Location, Matrix, Objective, PlacedBreak, Problem, Route, Solution, Stop,
    Vehicle, Visit, Window,
};
