//! Target files: YAML loaded with serde-saphyr, errors as [`LoadError`] with
//! `file:line:col`, a snippet and a hint, like scenario files.

use super::{Arg, Capability, Documented, FlawSpec, Ready, Role, Target};
use crate::model::Loc;
use crate::model::Protocol;
use crate::scenario::{LoadError, OrderedMap};
use serde::Deserialize;
use serde_saphyr::{Location, MessageFormatter, Spanned};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a target: a map with name, role, start and (for a broker) ready"
)]
struct RawTarget {
    name: S<String>,
    #[serde(default)]
    about: Option<String>,
    role: S<String>,
    start: S<Vec<RawArg>>,
    #[serde(default)]
    ready: Option<S<RawReady>>,
    #[serde(default)]
    flaws: Option<OrderedMap<S<RawFlaw>>>,
    #[serde(default)]
    documented: Option<OrderedMap<S<RawDocumented>>>,
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    capabilities: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    protocol: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a flaw: `{ about: \"what goes wrong\", rules: [MUX-6] }`"
)]
struct RawFlaw {
    #[serde(default)]
    about: Option<String>,
    #[serde(default)]
    rules: Option<Vec<S<String>>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a documented behaviour: `{ why: \"what the docs say\", link: https://…, rules: [MUX-6] }`"
)]
struct RawDocumented {
    why: S<String>,
    link: S<String>,
    #[serde(default)]
    rules: Option<Vec<S<String>>>,
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
            Some(
                "a target takes: name, about, role, start, ready, env, cwd, capabilities, flaws, documented, protocol"
                    .into(),
            )
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
        "client" => Role::Client,
        "server" => Role::Server,
        other => {
            return Err(ck.err(
                &raw.role.referenced,
                format!("unknown role `{other}`"),
                Some("write `role: broker` or `role: client` (wirecheck-v1), or `role: server` or `role: client` with `protocol: jsonrpc-2.0`".into()),
            ))
        }
    };
    let protocol = match &raw.protocol {
        None => Protocol::default(),
        Some(p) => Protocol::from_name(p.value.trim()).ok_or_else(|| {
            let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.name()).collect();
            ck.err(
                &p.referenced,
                format!("unknown protocol `{}`", p.value),
                Some(format!(
                    "protocols: {} (default {})",
                    names.join(", "),
                    Protocol::default()
                )),
            )
        })?,
    };
    let role_fits = match role {
        Role::Broker => protocol == Protocol::WirecheckV1,
        Role::Server => protocol == Protocol::JsonRpc2,
        Role::Client => true,
    };
    if !role_fits {
        return Err(ck.err(
            &raw.role.referenced,
            format!("a `{}` target cannot speak {protocol}", role.name()),
            Some("a broker speaks wirecheck-v1 (PROTOCOL.md); a JSON-RPC server is `role: server` with `protocol: jsonrpc-2.0` (DRIVER.md)".into()),
        ));
    }
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
    let (ready, timeout) = match (&raw.ready, role) {
        (None, Role::Broker | Role::Server) => {
            return Err(ck.err(
                &raw.role.referenced,
                format!("a {} target needs `ready`", role.name()),
                Some("add `ready: { stdout: \"listening on\" }` (a line it prints once it accepts connections) or `ready: { tcp: true }`".into()),
            ))
        }
        (None, Role::Client) => (Ready::Tcp, Duration::from_secs(10)),
        (Some(r), role) => ck.ready(r, role)?,
    };
    let capabilities = match (raw.capabilities, role) {
        (None, Role::Server) => Vec::new(),
        (None, _) => Capability::ALL.to_vec(),
        (Some(list), Role::Server) => {
            return Err(ck.err(
                &list.referenced,
                "a server target does not list capabilities".into(),
                Some("a JSON-RPC server serves `echo`, `sleep` and `fail` (DRIVER.md, \"Server targets\"); remove `capabilities:`".into()),
            ))
        }
        (Some(list), Role::Client) => {
            return Err(ck.err(
                &list.referenced,
                "a client target does not list capabilities".into(),
                Some("the adapter reports them in its reply to `init` (DRIVER.md, \"Capabilities\"); remove `capabilities:`".into()),
            ))
        }
        (Some(list), Role::Broker) => {
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
    let mut flaws = BTreeMap::new();
    for (name, flaw) in raw.flaws.map(|m| m.0).unwrap_or_default() {
        flaws.insert(name.value.clone(), ck.flaw(&name, flaw)?);
    }
    let mut documented = BTreeMap::new();
    for (name, d) in raw.documented.map(|m| m.0).unwrap_or_default() {
        documented.insert(name.value.clone(), ck.documented(d)?);
    }
    let base = file.parent().unwrap_or(Path::new("."));
    Ok(Target {
        name: raw.name.value,
        about: raw.about.unwrap_or_default(),
        role,
        protocol,
        start,
        ready,
        ready_timeout: timeout,
        env: raw.env.unwrap_or_default(),
        cwd: raw.cwd.map(|c| base.join(c)),
        capabilities,
        flaws,
        documented,
        extra_env: BTreeMap::new(),
        file: file.to_path_buf(),
    })
}

impl Ck<'_> {
    fn ready(&self, r: &S<RawReady>, role: Role) -> Result<(Ready, Duration), LoadError> {
        let timeout = match &r.value.timeout {
            None => Duration::from_secs(10),
            Some(t) => parse_duration(&t.value).ok_or_else(|| {
                self.err(
                    &t.referenced,
                    format!("bad duration `{}`", t.value),
                    Some("write a number and a unit: `500ms`, `10s`".into()),
                )
            })?,
        };
        let v = &r.value;
        let ready = match (&v.stdout, &v.stderr, v.tcp, role) {
            (None, None, None, Role::Client) => Ready::Tcp,
            (_, _, _, Role::Client) => {
                return Err(self.err(
                    &r.referenced,
                    "a client target is ready when it answers `init`: `ready` takes only `timeout`".into(),
                    Some("write `ready: { timeout: 10s }`, or leave `ready` out".into()),
                ))
            }
            (Some(t), None, None, _) => Ready::Stdout(t.clone()),
            (None, Some(t), None, _) => Ready::Stderr(t.clone()),
            (None, None, Some(true), _) => Ready::Tcp,
            _ => {
                return Err(self.err(
                    &r.referenced,
                    "`ready` needs exactly one of `stdout: TEXT`, `stderr: TEXT` or `tcp: true`".into(),
                    Some("`stdout: \"listening on\"` waits for a line containing the text; `tcp: true` waits until the port accepts".into()),
                ))
            }
        };
        Ok((ready, timeout))
    }

    fn flaw(&self, name: &S<String>, f: S<RawFlaw>) -> Result<FlawSpec, LoadError> {
        let ok_name = !name.value.is_empty()
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok_name {
            return Err(self.err(
                &name.referenced,
                format!("bad flaw name `{}`", name.value),
                Some(
                    "use letters, digits, `-` and `_` (it is passed as WIRECHECK_FLAW=name)".into(),
                ),
            ));
        }
        Ok(FlawSpec {
            about: f.value.about.unwrap_or_default(),
            rules: self.rules(f.value.rules)?,
        })
    }

    fn rules(&self, rules: Option<Vec<S<String>>>) -> Result<Vec<String>, LoadError> {
        let mut out = Vec::new();
        for r in rules.unwrap_or_default() {
            if wirecheck_core::rules::rule(&r.value).is_none() {
                return Err(self.err(
                    &r.referenced,
                    format!("unknown rule `{}`", r.value),
                    Some("`wirecheck rules` lists the rule ids".into()),
                ));
            }
            out.push(r.value);
        }
        Ok(out)
    }

    fn documented(&self, d: S<RawDocumented>) -> Result<Documented, LoadError> {
        for (field, v) in [("why", &d.value.why), ("link", &d.value.link)] {
            if v.value.trim().is_empty() {
                return Err(self.err(
                    &v.referenced,
                    format!("`{field}` is empty"),
                    Some("a documented behaviour says what the implementation's documentation states (`why`) and where (`link`: a URL or a file and section)".into()),
                ));
            }
        }
        Ok(Documented {
            why: d.value.why.value,
            link: d.value.link.value,
            rules: self.rules(d.value.rules)?,
        })
    }
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
        let e = err("name: t\nrole: sever\nstart: [b]\nready: { tcp: true }\n");
        assert!(
            e.contains("t.yaml:2:7") && e.contains("unknown role `sever`"),
            "{e}"
        );
        let e = err("name: t\nrole: server\nstart: [b]\nready: { tcp: true }\n");
        assert!(
            e.contains("t.yaml:2:7") && e.contains("a `server` target cannot speak wirecheck-v1"),
            "{e}"
        );
        let e = err("name: t\nrole: client\nprotocol: json-rpc\nstart: [b]\n");
        assert!(
            e.contains("t.yaml:3:11") && e.contains("unknown protocol"),
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

    #[test]
    fn client_targets_and_flaws() {
        let t = load_str(
            "name: c\nrole: client\nstart: [a]\nflaws:\n  lose-it: { about: x, rules: [MUX-6] }\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        assert_eq!(t.role, Role::Client);
        assert_eq!(t.flaws["lose-it"].rules, ["MUX-6"]);
        let e = err("name: c\nrole: client\nstart: [a]\ncapabilities: [info]\n");
        assert!(
            e.contains("t.yaml:4:15") && e.contains("does not list capabilities"),
            "{e}"
        );
        let e = err("name: c\nrole: client\nstart: [a]\nready: { tcp: true }\n");
        assert!(e.contains("ready` takes only `timeout`"), "{e}");
        let e = err("name: b\nrole: broker\nstart: [a]\n");
        assert!(e.contains("a broker target needs `ready`"), "{e}");
        let e = err("name: c\nrole: client\nstart: [a]\nflaws:\n  x: { rules: [MUX-99] }\n");
        assert!(
            e.contains("t.yaml:5:16") && e.contains("unknown rule `MUX-99`"),
            "{e}"
        );
        let e = err("name: c\nrole: client\nstart: [a]\nflaws:\n  \"a b\": {}\n");
        assert!(e.contains("bad flaw name `a b`"), "{e}");
    }

    #[test]
    fn documented_behaviour_names_what_and_where() {
        let head = "name: c\nrole: client\nstart: [a]\ndocumented:\n";
        let t = load_str(
            &format!("{head}  mux/x: {{ why: caps at 1 MiB, link: \"https://d.example/#max\", rules: [MUX-6] }}\n  mux/y: {{ why: no reconnect, link: README.md }}\n"),
            Path::new("t.yaml"),
        )
        .unwrap();
        let x = &t.documented["mux/x"];
        assert!(x.covers(&["MUX-6"]) && !x.covers(&["MUX-6", "MUX-2"]));
        assert!(t.documented["mux/y"].covers(&["MUX-2", "CONN-5"]));
        assert_eq!(
            x.note(),
            "documented: caps at 1 MiB (https://d.example/#max)"
        );
        let e = err(&format!("{head}  mux/x: {{ why: \"\", link: l }}\n"));
        assert!(
            e.contains("t.yaml:5:17") && e.contains("`why` is empty"),
            "{e}"
        );
        let e = err(&format!("{head}  mux/x: {{ why: w }}\n"));
        assert!(e.contains("missing field `link`"), "{e}");
        let e = err(&format!(
            "{head}  mux/x: {{ why: w, link: l, rules: [MUX-0] }}\n"
        ));
        assert!(e.contains("unknown rule `MUX-0`"), "{e}");
    }
}
