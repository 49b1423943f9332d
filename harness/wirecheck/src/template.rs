//! The starting scenario `wirecheck new AREA/NAME` writes: a commented file that loads and
//! passes as it is, so a newcomer edits something that works.

use crate::model::Protocol;

/// Why a name cannot be a new scenario's.
pub fn check_new_name(name: &str) -> Result<(), String> {
    let ok_seg = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    let segs: Vec<&str> = name.split('/').collect();
    if segs.len() < 2 || !segs.iter().all(|s| ok_seg(s)) {
        return Err(format!(
            "`{name}` is not AREA/NAME: write e.g. `mux/late-reply` (lowercase letters, digits, `-` and `_`; areas: mux, broker, auth, conn, failover, chaos, checkers, regressions, jsonrpc)"
        ));
    }
    Ok(())
}

/// The file's text for scenario `name` (AREA/NAME), speaking `protocol`, after `header`
/// (the editor's schema line, [`crate::schema::header_for`], when there is one).
pub fn template(name: &str, protocol: Protocol, header: Option<&str>) -> String {
    let mut s = header.unwrap_or_default().to_owned();
    s.push_str(&format!(
        "# A wirecheck scenario. README.md (\"Adding a scenario\") lists every field and step;\n\
         # PROTOCOL.md explains the rules. Run it: wirecheck show <this file>\n\
         name: {name}\n"
    ));
    s.push_str(match protocol {
        Protocol::WirecheckV1 => V1,
        Protocol::JsonRpc2 => JSONRPC,
    });
    s
}

const V1: &str = "\
# One paragraph: what happens, and which behaviour it proves.
about: >
  A client sends one request through the broker to a worker that echoes it, and gets its
  own answer back. (Describe your scenario here.)
# The numbered rules it exercises (`wirecheck rules` lists them).
rules: [MUX-2, BRK-2]
# seed: 0           # same seed, same trace (default 0)
# duration: 120s    # limit of simulated time (default 120s)
# network: { latency: { min: 1ms, max: 20ms } }   # default: 1ms on every link
hosts:              # the order is the lane order of the diagram
  broker: { broker: {} }                                    # the reference broker
  worker: { client: { connect: [broker], serve: [ { channel: jobs, reply: echo } ] } }
  app: { client: { connect: [broker] } }                    # the reference multiplexer
script:             # each step runs when the previous one is done
  - worker.result: { id: connect, ok: welcome }             # wait until registered
  - app.result: { id: connect, ok: welcome }
  - app.request: { id: r1, channel: jobs, body: ping, timeout: 5s }
  - app.result: { id: r1, ok: ping }                        # the echo of its own body
  # Faults: `- partition: [app, broker]`, `- crash: broker`, `- bounce: broker`.
  # Waiting: `- wait: 2s`, or `- app.counters: { reconnects: 1, within: 10s }`.
expect:             # final counters, after the script and 1s of quiet
  app: { pending: 0, completed: 1 }
  broker: { requests: 0 }
";

const JSONRPC: &str = "\
protocol: jsonrpc-2.0
# One paragraph: what happens, and which behaviour it proves.
about: >
  Two calls are in flight on one connection; the slower one was sent first. Each result
  reaches its own call, matched by id. (Describe your scenario here.)
# The numbered rules it exercises (`wirecheck rules` lists them).
rules: [MUX-2]
hosts:              # the order is the lane order of the diagram
  server: { rpc-server: {} }            # the reference JSON-RPC server: echo, sleep, fail, blob
  app: { client: { connect: [server] } }                    # the reference multiplexer
  # A scripted server instead plays the peer step by step:
  #   server: { scripted: server }
  #   - server.expect: { request: { call: r1 } }
  #   - server.send: { response: { call: r1, result: 1 } }
script:             # each step runs when the previous one is done
  - app.result: { id: connect, ok: welcome }                # the socket is open
  - app.request: { id: r1, method: sleep, params: [50, slow], timeout: 5s }
  - app.request: { id: r2, method: echo, params: [2], timeout: 5s }
  - app.result: { id: r2, ok: [2] }
  - app.result: { id: r1, ok: slow }
expect:             # final counters, after the script and 1s of quiet
  app: { pending: 0, completed: 2 }
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{run, RunOptions, Verdict};
    use crate::scenario::load_str;
    use std::path::Path;

    #[test]
    fn both_templates_load_and_pass() {
        for (protocol, name) in [
            (Protocol::WirecheckV1, "mux/new-case"),
            (Protocol::JsonRpc2, "jsonrpc/new-case"),
        ] {
            let header = "# yaml-language-server: $schema=../../schemas/scenario.schema.json\n";
            let text = template(name, protocol, Some(header));
            let file = format!("scenarios/{name}.yaml");
            let s = load_str(&text, Path::new(&file)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((s.name.as_str(), s.protocol), (name, protocol));
            let r = run(&s, &RunOptions::default());
            assert_eq!(r.grade(), Verdict::Ok, "{}", r.explain());
        }
    }

    #[test]
    fn names_are_area_slash_name() {
        assert!(check_new_name("mux/late-reply").is_ok());
        assert!(check_new_name("jsonrpc/a/b_2").is_ok());
        for bad in ["late-reply", "mux/", "/x", "Mux/x", "mux/x.yaml", "mux/a b"] {
            let e = check_new_name(bad).unwrap_err();
            assert!(e.contains("AREA/NAME"), "{bad}: {e}");
        }
    }
}
