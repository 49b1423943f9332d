#!/usr/bin/env bash
# The HTML report (`wirecheck run --html DIR`) in a real browser: Debian's headless
# Chromium loads a report over a small corpus with a failing scenario, takes screenshots,
# and ci/html-report/probe.html reads what was rendered (computed colours, the SVG
# diagram, links); this script judges it. Installs chromium with apt-get when missing.
# Then `wirecheck show --format mermaid` is rendered by Mermaid's own library (npm ci in
# ci/html-report/mermaid/, a committed lockfile) in the same browser.
# Usable locally: `bash ci/html-report.sh` (outputs in target/html-report/).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
chromium --version

out="$PWD/target/html-report"
rm -rf "$out"
mkdir -p "$out"

# The frozen CLI corpus with a flaw of the reference: broker/receiver-gone FAILS (BRK-6),
# mux/duplicate-response passes. Exit code 1 is the expected outcome here.
set +e
cargo run --release --locked -q -p wirecheck -- \
  run fixtures/cli/scenarios --flaw receiver-loss-silent --html "$out/report" \
  >"$out/run.txt" 2>"$out/run.err"
code=$?
set -e
if [ "$code" != 1 ]; then
  echo "expected exit code 1 (a scenario failed), got $code"
  cat "$out/run.txt" "$out/run.err"
  exit 1
fi

# Flags the probe needs as root on a machine with no display and a closed network.
browser() {
  local profile
  profile="$(mktemp -d)"
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" "$@" 2>>"$out/chromium.err"
  rm -rf "$profile"
}

browser --window-size=1280,900 --screenshot="$out/index.png" "file://$out/report/index.html" >/dev/null
browser --window-size=1400,1400 --screenshot="$out/case.png" \
  "file://$out/report/cases/reference/broker__receiver-gone.html" >/dev/null
browser --allow-file-access-from-files --virtual-time-budget=10000 --dump-dom \
  "file://$PWD/ci/html-report/probe.html?report=file://$out/report" >"$out/probe.html"

python3 - "$out" <<'PY'
import json, os, re, sys
out = sys.argv[1]
dom = open(os.path.join(out, "probe.html"), encoding="utf-8").read()
m = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
assert m, "the probe wrote nothing"
import html
seen = json.loads(html.unescape(m.group(1)))
print(json.dumps(seen, indent=1)[:3000])
assert not seen["errors"], seen["errors"]

def rgb(s):
    r, g, b = (int(x) for x in re.findall(r"\d+", s)[:3])
    return r, g, b

def red(s):
    r, g, b = rgb(s)
    return r >= 180 and g <= 90 and b <= 90

def reddish(s):
    r, g, b = rgb(s)
    return r >= 200 and r - g >= 30 and r - b >= 30

cells = seen["index"]["cells"]
failed = [c for c in cells if c["verdict"] == "FAILED"]
ok = [c for c in cells if c["verdict"] == "OK"]
assert len(failed) == 1 and len(ok) == 1, cells
f = failed[0]
assert f["visible"], f
assert red(f["background"]), f"the FAILED cell is not red: {f['background']}"
assert not red(ok[0]["background"]), f"the OK cell is red: {ok[0]['background']}"
assert "BRK-6" in f["text"], f
assert os.path.isfile(os.path.join(out, "report", f["href"])), f["href"]

page = seen["page"]
assert page["url"].endswith(f["href"]), (page["url"], f["href"])
assert page["h1"] == "broker/receiver-gone", page["h1"]
assert page["verdict"] == "FAILED" and red(page["verdict_background"]), page
svg = page["svg"]
assert svg and svg["width"] > 300 and svg["height"] > 100, f"no rendered SVG diagram: {svg}"
assert svg["lanes"] == 3 and svg["events"] > 10 and svg["arrows"] > 3, svg
hl = page["highlighted"]
assert hl, "no highlighted trace event"
for e in hl:
    assert reddish(e["fill"]), f"highlighted event {e['id']} is not red: {e['fill']}"
links = page["violation_links"]
assert links and all(page["link_targets"]), page
assert {l[1:] for l in links} <= {e["id"] for e in hl}, (links, hl)

for png in ("index.png", "case.png"):
    data = open(os.path.join(out, png), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000, f"{png}: no screenshot"
print("html report in chromium: FAILED cell red and linked, case page with the SVG diagram "
      f"and {len(hl)} highlighted event(s); screenshots in {out}")
PY

# --- Mermaid: `show --format mermaid` drawn by Mermaid itself -----------------------------
(cd ci/html-report/mermaid && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
# Text Mermaid would misread if it were not escaped: `;` ends a statement, `#` starts an
# entity, `%%` a comment, `<b>` is markup.
cat >"$out/hostile.yaml" <<'YAML'
about: Message text with characters Mermaid reads as syntax.
rules: [MUX-3]
hosts:
  server: { scripted: server }
  app: { client: { connect: [server], heartbeat: off, reconnect: off } }
script:
  - server.expect: { hello: { client: app } }
  - server.send: { welcome: { client: app } }
  - app.result: { id: connect, ok: welcome }
  - app.request: { id: r1, channel: jobs, body: "x;y #1 50%% <b>z</b> & w", timeout: 1s }
  - server.expect: { start: { req: r1 } }
  - server.send: { start: { req: r1, dir: response, body: "ok;#2", end: true } }
  - app.result: { id: r1, ok: "ok;#2" }
YAML
mermaid() {
  cargo run --release --locked -q -p wirecheck -- show "$@" --format mermaid || true
}
mermaid fixtures/cli/scenarios/broker/receiver-gone.yaml --flaw receiver-loss-silent >"$out/flawed.mmd"
mermaid "$out/hostile.yaml" >"$out/hostile.mmd"
for name in flawed hostile; do
  python3 - "$out" "$name" "$PWD/ci/html-report" <<'PY'
import html, sys
out, name, here = sys.argv[1:]
page = open(f"{here}/mermaid.html", encoding="utf-8").read()
src = open(f"{out}/{name}.mmd", encoding="utf-8").read()
page = page.replace('src="mermaid/node_modules', f'src="file://{here}/mermaid/node_modules')
page = page.replace("<pre id=\"src\">SOURCE</pre>", f"<pre id=\"src\">{html.escape(src)}</pre>")
open(f"{out}/{name}-mermaid.html", "w", encoding="utf-8").write(page)
PY
  browser --virtual-time-budget=10000 --dump-dom "file://$out/$name-mermaid.html" >"$out/$name-mermaid-dom.html"
done

python3 - "$out" <<'PY'
import html, json, re, sys
out = sys.argv[1]
def seen(name):
    dom = open(f"{out}/{name}-mermaid-dom.html", encoding="utf-8").read()
    m = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert m, f"{name}: the Mermaid probe wrote nothing"
    s = json.loads(html.unescape(m.group(1)))
    assert not s["errors"] and s["parsed"], f"{name}: Mermaid did not take it: {s['errors']}"
    return s

f = seen("flawed")
assert sorted(f["actors"]) == ["app (client)", "broker (broker)", "worker (client)"], f["actors"]
assert "#4 0.004s hello worker" in f["messages"], f["messages"][:6]
assert f["rects"] >= 2, f"the violation's event and note are in red rects: {f['rects']}"
assert any(n.startswith("[UNEXPECTED] MUST BRK-6 at 0.507s") for n in f["notes"]), f["notes"][-3:]

h = seen("hostile")
assert h["scripts"] == 0
texts = h["notes"] + h["messages"]
want = 'call r1: request jobs "x;y #1 50%% <b>z</b> & w"'
assert any(want in t for t in texts), f"{want!r} not drawn as text: {texts}"
assert any('start r1 resp "ok;#2" end' in t for t in h["messages"]), h["messages"]
print(f"mermaid: both diagrams parsed and drawn by Mermaid ({len(f['messages'])} and "
      f"{len(h['messages'])} messages), hostile text drawn as text")
PY
