//! Target files: YAML loaded with serde-saphyr, errors as [`LoadError`] with
//! `file:line:col`, a snippet and a hint, like scenario files.

use super::{Arg, Capability, Ready, Role, Target};
use crate::model::Loc;
use crate::scenario::LoadError;
use serde::Deserialize;
use serde_saphyr::{Location, MessageFormatter, Spanned};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a target: a map with name, role, start and ready"
)]
struct RawTarget {
    name: S<String>,
    #[serde(default)]
    about: Option<String>,
    role: S<String>,
    start: S<Vec<RawArg>>,
    ready: S<RawReady>,
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    capabilities: Option<S<Vec<S<String>>>>,
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a string, or a list of strings repeated once per token"
)]
enum RawArg {
    One(String),
    PerToken(Vec<String>),
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a readiness check: `{ stdout: \"text\" }`, `{ stderr: \"text\" }` or `{ tcp: true }`"
)]
struct RawReady {
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
    #[serde(default)]
    tcp: Option<bool>,
    #[serde(default)]
    timeout: Option<S<String>>,
}

/// Reads and loads a target file.
pub fn load_file(path: &Path) -> Result<Target, LoadError> {
    let src = std::fs::read_to_string(path).map_err(|e| LoadError {
        loc: None,
        message: format!("cannot read target file `{}`: {e}", path.display()),
        hint: Some("check that the file exists and is readable UTF-8".into()),
        snippet: None,
    })?;
    load_str(&src, path)
}

struct Ck<'a> {
    src: &'a str,
    file: &'a Path,
}

impl Ck<'_> {
    fn err(&self, at: &Location, message: String, hint: Option<String>) -> LoadError {
        LoadError {
            loc: Some(Loc {
                file: self.file.to_path_buf(),
                line: at.line(),
                column: at.column(),
            }),
            message,
            hint,
            snippet: snippet(self.src, at.line(), at.column()),
        }
    }
}

/// Loads a target from text; `file` names it in messages and anchors a relative `cwd`.
pub fn load_str(src: &str, file: &Path) -> Result<Target, LoadError> {
    let ck = Ck { src, file };
    let raw: RawTarget = serde_saphyr::from_str(src).map_err(|e| {
        let message = serde_saphyr::DefaultMessageFormatter
            .format_message(e.without_snippet())
            .into_owned();
        let hint = if message.starts_with("unknown field") {
            Some("a target takes: name, about, role, start, ready, env, cwd, capabilities".into())
        } else if message.starts_with("missing field") {
            Some("see fixtures/targets/refbroker.yaml for a complete target file".into())
        } else {
            None
        };
        match e.location().filter(|l| l.line() > 0) {
            Some(at) => ck.err(&at, message, hint),
            None => LoadError {
                loc: Some(Loc {
                    file: file.to_path_buf(),
                    line: 0,
                    column: 0,
                }),
                message,
                hint,
                snippet: None,
            },
        }
    })?;
    let role = match raw.role.value.as_str() {
        "broker" => Role::Broker,
        "client" => {
            return Err(ck.err(
                &raw.role.referenced,
                "role `client` is not supported yet".into(),
                Some("only `role: broker` targets can be run today".into()),
            ))
        }
        other => {
            return Err(ck.err(
                &raw.role.referenced,
                format!("unknown role `{other}`"),
                Some("write `role: broker`".into()),
            ))
        }
    };
    let start: Vec<Arg> = raw
        .start
        .value
        .into_iter()
        .map(|a| match a {
            RawArg::One(s) => Arg::One(s),
            RawArg::PerToken(v) => Arg::PerToken(v),
        })
        .collect();
    if !matches!(start.first(), Some(Arg::One(p)) if !p.is_empty()) {
        return Err(ck.err(
            &raw.start.referenced,
            "`start` must begin with the program to run".into(),
            Some("e.g. `start: [./my-broker, --port, \"{port}\"]`".into()),
        ));
    }
    let timeout = match &raw.ready.value.timeout {
        None => Duration::from_secs(10),
        Some(t) => parse_duration(&t.value).ok_or_else(|| {
            ck.err(
                &t.referenced,
                format!("bad duration `{}`", t.value),
                Some("write a number and a unit: `500ms`, `10s`".into()),
            )
        })?,
    };
    let r = &raw.ready.value;
    let ready = match (&r.stdout, &r.stderr, r.tcp) {
        (Some(t), None, None) => Ready::Stdout(t.clone()),
        (None, Some(t), None) => Ready::Stderr(t.clone()),
        (None, None, Some(true)) => Ready::Tcp,
        _ => {
            return Err(ck.err(
                &raw.ready.referenced,
                "`ready` needs exactly one of `stdout: TEXT`, `stderr: TEXT` or `tcp: true`".into(),
                Some("`stdout: \"listening on\"` waits for a line containing the text; `tcp: true` waits until the port accepts".into()),
            ))
        }
    };
    let capabilities = match raw.capabilities {
        None => Capability::ALL.to_vec(),
        Some(list) => {
            let mut out = Vec::new();
            for c in list.value {
                match Capability::from_name(&c.value) {
                    Some(cap) => out.push(cap),
                    None => {
                        let names: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                        return Err(ck.err(
                            &c.referenced,
                            format!("unknown capability `{}`", c.value),
                            Some(format!("capabilities are: {}", names.join(", "))),
                        ));
                    }
                }
            }
            out
        }
    };
    let base = file.parent().unwrap_or(Path::new("."));
    Ok(Target {
        name: raw.name.value,
        about: raw.about.unwrap_or_default(),
        role,
        start,
        ready,
        ready_timeout: timeout,
        env: raw.env.unwrap_or_default(),
        cwd: raw.cwd.map(|c| base.join(c)),
        capabilities,
        file: file.to_path_buf(),
    })
}

/// `500ms`, `10s`, `2m`.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

fn snippet(src: &str, line: u64, column: u64) -> Option<String> {
    let text = src
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let pad = line.to_string().len();
    let col = usize::try_from(column.max(1) - 1).unwrap_or(0);
    Some(format!(
        "{:pad$} |\n{line} | {text}\n{:pad$} | {}^",
        "",
        "",
        " ".repeat(col.min(text.chars().count()))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BrokerSpec;

    fn err(src: &str) -> String {
        load_str(src, Path::new("t.yaml")).unwrap_err().to_string()
    }

    const OK: &str = "name: t\nrole: broker\nstart: [b, \"{host}:{port}\", [--token, \"{client}={token}\"]]\nready: { tcp: true }\n";

    #[test]
    fn loads_a_target_with_defaults() {
        let t = load_str(OK, Path::new("dir/t.yaml")).unwrap();
        assert_eq!(t.role, Role::Broker);
        assert_eq!(t.ready, Ready::Tcp);
        assert_eq!(t.capabilities, Capability::ALL.to_vec());
        assert!(t.passes_tokens() && !t.uses("queue"));
    }

    #[test]
    fn substitutes_placeholders_and_repeats_token_groups() {
        let t = load_str(OK, Path::new("t.yaml")).unwrap();
        let mut spec = BrokerSpec::default();
        spec.tokens.insert("a".into(), "x".into());
        spec.tokens.insert("b".into(), "y".into());
        let at = super::super::Endpoint {
            host: [127, 9, 0, 2].into(),
            port: 4000,
        };
        let (argv, _) = t.command(&spec, &at);
        assert_eq!(
            argv,
            ["b", "127.9.0.2:4000", "--token", "a=x", "--token", "b=y"]
        );
    }

    #[test]
    fn errors_have_location_snippet_and_hint() {
        let e = err("name: t\nrole: broker\nstrat: [b]\nready: { tcp: true }\n");
        assert!(
            e.starts_with("t.yaml:3:1: error: unknown field `strat`"),
            "{e}"
        );
        assert!(e.contains("3 | strat: [b]") && e.contains("hint:"), "{e}");
        let e = err("name: t\nrole: server\nstart: [b]\nready: { tcp: true }\n");
        assert!(
            e.contains("t.yaml:2:7") && e.contains("unknown role `server`"),
            "{e}"
        );
        let e = err("name: t\nrole: broker\nstart: [b]\nready: { tcp: true }\ncapabilities: [info, telepathy]\n");
        assert!(
            e.contains("t.yaml:5:22") && e.contains("capabilities are: tokens"),
            "{e}"
        );
        let e = err("name: t\nrole: broker\nstart: [b]\nready: { tcp: true, stdout: up }\n");
        assert!(
            e.contains("t.yaml:4:8") && e.contains("exactly one of"),
            "{e}"
        );
        let e = err("name: t\nrole: broker\nstart: [b]\nready: { tcp: true, timeout: soon }\n");
        assert!(e.contains("bad duration `soon`"), "{e}");
    }
}
