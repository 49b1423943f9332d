//! Helpers shared by the property tests.
#![allow(dead_code)]

#[path = "quiet.rs"]
pub mod quiet;
#[path = "teeth.rs"]
pub mod teeth;
