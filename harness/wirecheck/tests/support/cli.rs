//! Running the `wirecheck` binary in a directory: exit code, stdout, stderr.
//! (`#[path = "support/cli.rs"] mod cli_support;` in the CLI tests.)

use std::path::Path;
use std::process::Command;

pub fn wirecheck(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wirecheck"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run wirecheck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
