#![cfg(loom)]
fn main_placeholder() {}
