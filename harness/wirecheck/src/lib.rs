//! wirecheck: scenario model and loader, simulated world, runner, trace and rendering.
//!
//! Flow: [`scenario::load_file`] turns YAML into a [`model::Scenario`]; [`runner::run`]
//! builds a turmoil world of host drivers ([`world`]), executes the script, records a
//! [`trace::Trace`] and renders it ([`render`]) into the report a snapshot holds.

pub mod bench;
pub mod catalog;
pub mod chaos;
pub mod checkers;
pub mod corpus;
pub mod docs;
pub mod gen;
pub mod hosts;
pub mod model;
pub mod render;
pub mod reports;
pub mod runner;
pub mod scenario;
pub mod schema;
pub mod select;
pub mod sweep;
pub mod targets;
pub mod template;
pub mod trace;
pub mod world;
pub mod zoo;
