//! `new`: the starting scenario a newcomer edits; `schema`: what editors check files with.

use super::args::{NewArgs, NewProtocol, SchemaOf};
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
    let written = file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let header = wirecheck::schema::header_for(&file);
            std::fs::write(&file, template(&a.name, protocol, header.as_deref()))
        });
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

/// `schema`: the JSON Schema of scenario files or target files.
pub(crate) fn cmd_schema(of: SchemaOf) -> ExitCode {
    let schema = match of {
        SchemaOf::Scenario => wirecheck::schema::scenario(),
        SchemaOf::Target => wirecheck::schema::target(),
        SchemaOf::Report => wirecheck::reports::json::schema(),
    };
    print!("{}", wirecheck::schema::render(&schema));
    ExitCode::SUCCESS
}
