//! Diagnostics through `tracing`: a subscriber that writes to stderr (around any
//! progress bar), filtered by `RUST_LOG` (EnvFilter syntax: `RUST_LOG=wirecheck=debug`,
//! `RUST_LOG=wirecheck::targets=trace,turmoil=info`). Without `RUST_LOG` only warnings
//! of wirecheck's own crates are shown, so results and error messages (plain stdout and
//! stderr) look as they always did.

use std::io::{IsTerminal, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// What is logged when `RUST_LOG` is not set.
pub(crate) const DEFAULT_FILTER: &str =
    "wirecheck=warn,wirecheck_core=warn,wirecheck_reference=warn";

/// Installs the subscriber; a `RUST_LOG` that does not parse is reported and the default
/// used instead.
pub(crate) fn init() {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).unwrap_or_else(|e| {
            eprintln!(
                "warning: RUST_LOG={v:?} is not a log filter ({e}); using {DEFAULT_FILTER}\n  hint: e.g. RUST_LOG=wirecheck=debug"
            );
            EnvFilter::new(DEFAULT_FILTER)
        }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// stderr, with progress bars cleared while a log line is written.
struct Stderr;

struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    /// One event is written whole, in one go, when the formatter is done with it.
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        super::progress::suspended(|| {
            let _ = std::io::stderr().lock().write_all(&buf);
        });
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::new())
    }
}
