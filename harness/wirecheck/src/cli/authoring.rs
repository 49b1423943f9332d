//! `new`: the starting scenario a newcomer edits.

use super::args::{NewArgs, NewProtocol};
use super::usage_error;
use std::process::ExitCode;
use wirecheck::model::Protocol;
use wirecheck::template::{check_new_name, template};

pub(crate) fn cmd_new(a: &NewArgs) -> ExitCode {
    if let Err(e) = check_new_name(&a.name) {
        return usage_error(&e);
    }
    let file = a.root.join(format!("{}.yaml", a.name));
    if file.exists() {
        return usage_error(&format!(
            "`{}` exists already: pick another name, or edit that file",
            file.display()
        ));
    }
    let protocol = match a.protocol {
        NewProtocol::WirecheckV1 => Protocol::WirecheckV1,
        NewProtocol::JsonRpc2 => Protocol::JsonRpc2,
    };
    let text = template(&a.name, protocol, None);
    let written = file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&file, text));
    if let Err(e) = written {
        eprintln!("error: cannot write `{}`: {e}", file.display());
        return ExitCode::from(2);
    }
    println!("wrote {}", file.display());
    println!("run it:        wirecheck show {}", file.display());
    println!(
        "snapshot it:   cargo test -- {} (then `cargo insta review`, or INSTA_UPDATE=always)",
        a.name
    );
    ExitCode::SUCCESS
}
