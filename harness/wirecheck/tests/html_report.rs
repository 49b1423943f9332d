//! The HTML report's structure, read back with an XML reader (the pages are well-formed
//! XML as well as HTML): the matrix cell of a failing run is coloured as failed and links
//! to a page that exists; that page draws every trace event in the SVG, highlights the
//! events its violations name and links each violation to them; every in-page link
//! resolves; untrusted text (scenario files, message bodies, names) cannot add markup.

use quick_xml::events::Event as X;
use quick_xml::{Reader, XmlVersion};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wirecheck::reports::html::{self, Entry, File};
use wirecheck::reports::{Case, CaseVerdict};
use wirecheck::runner::{run, Report, RunOptions};
use wirecheck::scenario::{load_file, load_str};
use wirecheck::trace::EventKind;
use wirecheck_core::flaws::{Flaw, Flaws};

/// An element: name, attributes, and its children and text in document order.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    content: Vec<Piece>,
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Element(Node),
}

impl Node {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }

    fn has_class(&self, c: &str) -> bool {
        self.attr("class")
            .is_some_and(|v| v.split_whitespace().any(|x| x == c))
    }

    /// Every element below (and including) this one, depth first.
    fn all(&self) -> Vec<&Node> {
        let mut v = vec![self];
        for p in &self.content {
            if let Piece::Element(c) = p {
                v.extend(c.all());
            }
        }
        v
    }

    fn find(&self, f: impl Fn(&Node) -> bool) -> Vec<&Node> {
        self.all().into_iter().filter(|n| f(n)).collect()
    }

    fn by_id(&self, id: &str) -> Option<&Node> {
        self.all().into_iter().find(|n| n.attr("id") == Some(id))
    }

    /// All text below, concatenated.
    fn text_content(&self) -> String {
        self.content
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Element(c) => c.text_content(),
            })
            .collect()
    }
}

/// Parses a page; panics (failing the test) on anything that is not well-formed.
fn parse(f: &File) -> Node {
    let mut reader = Reader::from_str(&f.text);
    let mut stack = vec![Node::default()];
    let element = |e: &quick_xml::events::BytesStart| {
        let mut n = Node {
            name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
            ..Node::default()
        };
        for a in e.attributes() {
            let a = a.unwrap_or_else(|e| panic!("{}: bad attribute: {e}", f.path));
            let v = a
                .normalized_value(XmlVersion::Implicit1_0)
                .unwrap_or_else(|e| panic!("{}: bad attribute value: {e}", f.path));
            n.attrs.insert(
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                v.into_owned(),
            );
        }
        n
    };
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("{} is not well-formed: {e}", f.path));
        match ev {
            X::Start(e) => stack.push(element(&e)),
            X::Empty(e) => {
                let n = element(&e);
                stack.last_mut().unwrap().content.push(Piece::Element(n));
            }
            X::End(e) => {
                let n = stack.pop().unwrap();
                assert_eq!(
                    n.name.as_bytes(),
                    e.name().as_ref(),
                    "{}: mismatched end tag",
                    f.path
                );
                stack.last_mut().unwrap().content.push(Piece::Element(n));
            }
            X::Text(t) => {
                let t = t.decode().unwrap().into_owned();
                stack.last_mut().unwrap().content.push(Piece::Text(t));
            }
            X::GeneralRef(r) => {
                let c = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => match &*r.decode().unwrap() {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        n => panic!("{}: entity &{n}; is not one of XML's", f.path),
                    },
                };
                stack.last_mut().unwrap().content.push(Piece::Text(c));
            }
            X::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "{}: unclosed elements", f.path);
    stack.pop().unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(rel: &str) -> PathBuf {
    repo().join("fixtures/cli/scenarios").join(rel)
}

/// Runs `file` in simulation with `flaws` and returns its case and report.
fn simulate(file: &Path, flaws: Flaws) -> (Case, Report) {
    let s = load_file(file).unwrap_or_else(|e| panic!("{e}"));
    let r = run(
        &s,
        &RunOptions {
            flaws,
            ..RunOptions::default()
        },
    );
    (Case::simulated(file.to_path_buf(), &r), r)
}

fn file<'a>(files: &'a [File], path: &str) -> &'a File {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no file {path} in the report"))
}

/// Every `href="#x"` on the page names an element of the page.
fn assert_local_links_resolve(f: &File, page: &Node) {
    for a in page.find(|n| n.name == "a") {
        if let Some(id) = a.attr("href").and_then(|h| h.strip_prefix('#')) {
            assert!(
                page.by_id(id).is_some(),
                "{}: link #{id} leads nowhere",
                f.path
            );
        }
    }
}

#[test]
fn a_failing_run_is_a_red_cell_linking_to_its_page_with_the_violation_highlighted() {
    let flaw = Flaw::from_name("receiver-loss-silent").unwrap();
    let gone = fixture("broker/receiver-gone.yaml");
    let (bad_case, bad) = simulate(&gone, Flaws::one(flaw));
    let dup = fixture("mux/duplicate-response.yaml");
    let (ok_case, ok) = simulate(&dup, Flaws::none());
    assert_eq!(bad_case.verdict, CaseVerdict::Failed, "{}", bad.explain());
    assert_eq!(ok_case.verdict, CaseVerdict::Ok, "{}", ok.explain());
    let gone_text = std::fs::read_to_string(&gone).unwrap();
    let entries = [
        Entry {
            case: &bad_case,
            report: Some(&bad),
            source: Some(&gone_text),
        },
        Entry {
            case: &ok_case,
            report: Some(&ok),
            source: None,
        },
    ];
    let files = html::render(&entries);
    assert_eq!(files.len(), 3, "index and one page per case");
    let index_file = file(&files, "index.html");
    let index = parse(index_file);
    assert!(
        index_file.text.contains(".v-failed { background: #cf222e;"),
        "the CSS colours failed cells red"
    );
    let cells = index.find(|n| n.name == "td" && n.has_class("cell"));
    assert_eq!(cells.len(), 2);
    let red = cells
        .iter()
        .find(|c| c.has_class("v-failed"))
        .expect("a failed cell");
    assert_eq!(red.attr("data-verdict"), Some("FAILED"));
    assert!(red.text_content().contains("BRK-6"), "rules in the cell");
    let link = red.find(|n| n.name == "a")[0]
        .attr("href")
        .unwrap()
        .to_string();
    assert_eq!(link, "cases/reference/broker__receiver-gone.html");
    assert!(cells.iter().any(|c| c.has_class("v-ok")));
    assert!(index
        .by_id("summary")
        .unwrap()
        .text_content()
        .starts_with("2 cases: 1 passed, 1 failed, 0 skipped"));

    let page_file = file(&files, &link);
    let page = parse(page_file);
    assert_local_links_resolve(page_file, &page);
    assert!(page.by_id("verdict").unwrap().has_class("v-failed"));
    let back = page.find(|n| n.name == "a" && n.attr("href") == Some("../../index.html"));
    assert_eq!(back.len(), 1, "a way back to the index");
    let svg = page.find(|n| n.name == "svg" && n.has_class("trace"));
    assert_eq!(svg.len(), 1);
    let svg = svg[0];
    // One group per event, numbered as the trace; one lane per host.
    let events = svg.find(|n| n.name == "g" && n.has_class("ev"));
    assert_eq!(events.len(), bad.events.len());
    assert_eq!(svg.find(|n| n.has_class("lane")).len(), bad.hosts.len());
    let recvs = bad
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Recv { .. }))
        .count();
    assert_eq!(svg.find(|n| n.has_class("k-recv")).len(), recvs);
    assert_eq!(
        svg.find(|n| n.has_class("msg")).len(),
        recvs,
        "every received message is an arrow"
    );
    // The violation's events, and only those, are highlighted, and the violation links them.
    let named: Vec<usize> = bad
        .violations
        .iter()
        .flat_map(|v| v.events.clone())
        .collect();
    assert!(!named.is_empty());
    for (n, g) in events.iter().enumerate() {
        assert_eq!(g.attr("id"), Some(format!("ev-{n}").as_str()));
        assert_eq!(g.has_class("hl"), named.contains(&n), "event #{n}");
    }
    let row = page.by_id("v-0").expect("the violation's row");
    assert!(row.has_class("unexpected"));
    assert!(row.text_content().contains("BRK-6"));
    let links: Vec<&str> = row
        .find(|n| n.name == "a")
        .iter()
        .filter_map(|a| a.attr("href"))
        .collect();
    let want: Vec<String> = bad.violations[0]
        .events
        .iter()
        .map(|n| format!("#ev-{n}"))
        .collect();
    assert_eq!(links, want);
    // The step failure links its line of the scenario file, which is shown numbered.
    let failure = page.find(|n| n.has_class("failure"));
    assert_eq!(failure.len(), 1);
    let line = bad.failures[0].loc.as_ref().unwrap().line;
    assert_eq!(
        failure[0].find(|n| n.name == "a")[0].attr("href"),
        Some(format!("#L{line}").as_str())
    );
    let lines = page.find(|n| n.has_class("line"));
    assert_eq!(lines.len(), gone_text.lines().count());
    assert!(
        lines[0]
            .text_content()
            .ends_with("name: broker/receiver-gone"),
        "{:?}",
        lines[0]
    );
    // Final counters: a row per host, the broker's values shown.
    let counters = page.find(|n| n.name == "table" && n.has_class("counters"))[0];
    assert_eq!(
        counters.find(|n| n.name == "tr").len(),
        bad.counters.len() + 1
    );
    assert!(counters.text_content().contains("pending = 1"));

    // The passing case's page: nothing highlighted, no violation table, no source.
    let ok_page = parse(file(&files, "cases/reference/mux__duplicate-response.html"));
    assert!(ok_page.find(|n| n.has_class("hl")).is_empty());
    assert!(ok_page.by_id("violations").is_none());
    assert!(ok_page.by_id("verdict").unwrap().has_class("v-ok"));
}

#[test]
fn untrusted_text_cannot_add_markup() {
    let evil = r#"name: evil
about: "<script>alert(0)</script> & 'friends'"
rules: [MUX-2]
hosts:
  server: { scripted: server }
  app: { client: { connect: [server], heartbeat: off, reconnect: off } }
script:
  - server.expect: { hello: { client: app } }
  - server.send: { welcome: { client: app } }
  - app.result: { id: connect, ok: welcome }
  - app.request: { id: r1, channel: "<ch>", body: "</text></svg><script>alert(2)</script>", timeout: 1s }
  - server.send: { raw: "<img src=x onerror=alert(3)>\u0000\u001b[31m" }
  - app.result: { id: r1, ok: "never" }
"#;
    let s = load_str(evil, Path::new("evil.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let r = run(&s, &RunOptions::default());
    let case = Case::simulated(PathBuf::from("evil.yaml"), &r);
    assert_ne!(case.verdict, CaseVerdict::Ok, "the last step fails");
    let mut named = Case::invalid(
        "t<\"x\">'&",
        "a/<b>".to_string(),
        PathBuf::from("x\".yaml"),
        "error: <here> & \"there\"".to_string(),
    );
    named.rules = vec!["<MUX-1>".to_string()];
    let entries = [
        Entry {
            case: &case,
            report: Some(&r),
            source: Some(evil),
        },
        Entry {
            case: &named,
            report: None,
            source: Some("a: <b>\n"),
        },
    ];
    let files = html::render(&entries);
    for f in &files {
        let doc = parse(f);
        for bad in ["script", "img"] {
            assert!(
                doc.find(|n| n.name == bad).is_empty(),
                "{}: a <{bad}> element got in",
                f.path
            );
        }
        assert!(
            doc.all()
                .iter()
                .all(|n| !n.attrs.keys().any(|k| k.starts_with("on"))),
            "{}: an event handler attribute got in",
            f.path
        );
        assert!(
            !f.text.contains('\u{0}') && !f.text.contains('\u{1b}'),
            "{}: control characters are escaped",
            f.path
        );
    }
    // The text is there, as text.
    let page = parse(&files[1]);
    let svg_text = page.find(|n| n.name == "svg")[0].text_content();
    assert!(
        svg_text.contains(r#"request <ch> "</text></svg><script>alert(2)</script>""#),
        "{svg_text}"
    );
    assert!(
        svg_text.contains("<img src=x onerror=alert(3)>"),
        "{svg_text}"
    );
    let yaml = page.find(|n| n.has_class("yaml"))[0].text_content();
    assert!(yaml.contains(r#"about: "<script>alert(0)</script> & 'friends'""#));
    let index = parse(&files[0]);
    let heads: Vec<String> = index
        .find(|n| n.name == "th")
        .iter()
        .map(|n| n.text_content())
        .collect();
    assert!(heads.contains(&"t<\"x\">'&".to_string()), "{heads:?}");
    assert!(heads.contains(&"a/<b>".to_string()), "{heads:?}");
    let invalid = parse(&files[2]);
    assert!(invalid.by_id("verdict").unwrap().has_class("v-invalid"));
    assert_eq!(
        invalid.find(|n| n.has_class("diagnosis"))[0].text_content(),
        "error: <here> & \"there\""
    );
}
