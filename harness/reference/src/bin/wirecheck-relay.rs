//! `wirecheck-relay`: the reference relay (a failover load balancer in front of brokers)
//! on real TCP.
//!
//! ```text
//! wirecheck-relay [--listen 127.0.0.1:7400] --backend ADDR [--backend ADDR]...
//!                 [--max-attempts N] [--window SECS] [--min-gap SECS] [--probe-interval SECS]
//!                 [--connect-timeout SECS] [--buffer N] [--queue N] [--max-message BYTES]
//!                 [--handshake-timeout SECS] [--idle-timeout SECS] [--max-connections N] [--quiet]
//! ```

use std::sync::Arc;
use std::time::Duration;
use wirecheck_reference::log::SummaryLog;
use wirecheck_reference::relay::{run_tcp, RelayOptions, TcpLimits};
use wirecheck_reference::{NoObserver, Observer};

const USAGE: &str = "usage: wirecheck-relay [--listen ADDR] --backend ADDR [--backend ADDR]... \
[--max-attempts N] [--window SECS] [--min-gap SECS] [--probe-interval SECS] [--connect-timeout SECS] \
[--buffer N] [--queue N] [--max-message BYTES] [--handshake-timeout SECS] [--idle-timeout SECS] \
[--max-connections N] [--quiet]

Runs the wirecheck reference relay on TCP: clients connect to it as to a broker; it forwards
each client to the first healthy backend and moves it to the next one when its backend dies
(replaying its registration and credits; see PROTOCOL.md, \"The relay\").
  --listen ADDR            address to listen on (default 127.0.0.1:7400)
  --backend ADDR           a broker address (host:port), in order of preference (repeatable, at least one)
  --max-attempts N         failover attempts per client per window; this many failed in a row and
                           the client is closed (default 3)
  --window SECS            the rate limit's window (default 60)
  --min-gap SECS           at least this long between two attempts for one client (default 5)
  --probe-interval SECS    how often a backend held down is probed (default 1)
  --connect-timeout SECS   a backend dial (TCP and WebSocket handshake) longer than this fails (default 5)
  --buffer N               messages held per client while it has no backend; one more closes it (default 64)
  --queue N                outbound queue per socket, in messages; a full one closes it (default 1024)
  --max-message BYTES      largest message read on either side (default 1048576)
  --handshake-timeout SECS close client connections whose handshake is not done by then (default 10)
  --idle-timeout SECS      close client connections silent this long (default 30)
  --max-connections N      client connections served at once; more are closed at once (default 10000)
  --quiet                  log nothing but errors (default: one summary line per message and
                           event, at most 200 a second, tokens never printed)";

fn secs(name: &str, v: String) -> Result<Duration, String> {
    let s: f64 = v.parse().map_err(|e| format!("{name}: {e}"))?;
    if !(s.is_finite() && s >= 0.0) {
        return Err(format!("{name}: `{v}` is not a number of seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn number<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| format!("{name}: {e}"))
}

fn parse() -> Result<(String, RelayOptions, TcpLimits, bool), String> {
    let mut listen = "127.0.0.1:7400".to_owned();
    let mut opts = RelayOptions::default();
    let mut limits = TcpLimits::default();
    // Zoo flaws for black-box kill matrices (`wirecheck zoo --target`).
    opts.config.flaws = wirecheck_core::flaws::Flaws::from_env()?;
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let c = &mut opts.config;
        match arg.as_str() {
            "--listen" => listen = value("--listen")?,
            "--backend" => c.backends.push(value("--backend")?),
            "--max-attempts" => {
                c.failover.max_attempts = number("--max-attempts", value("--max-attempts")?)?;
                if c.failover.max_attempts == 0 {
                    return Err("--max-attempts must be at least 1".into());
                }
            }
            "--window" => c.failover.window = secs("--window", value("--window")?)?,
            "--min-gap" => c.failover.min_gap = secs("--min-gap", value("--min-gap")?)?,
            "--probe-interval" => {
                c.probe_interval = secs("--probe-interval", value("--probe-interval")?)?
            }
            "--connect-timeout" => {
                c.connect_timeout = secs("--connect-timeout", value("--connect-timeout")?)?
            }
            "--buffer" => c.buffer = number("--buffer", value("--buffer")?)?,
            "--queue" => opts.queue = number("--queue", value("--queue")?)?,
            "--max-message" => opts.max_message = number("--max-message", value("--max-message")?)?,
            "--handshake-timeout" => {
                opts.handshake_timeout = secs("--handshake-timeout", value("--handshake-timeout")?)?
            }
            "--idle-timeout" => {
                opts.idle_timeout = secs("--idle-timeout", value("--idle-timeout")?)?
            }
            "--max-connections" => {
                limits.max_connections = number("--max-connections", value("--max-connections")?)?
            }
            "--quiet" => quiet = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if opts.config.backends.is_empty() {
        return Err("give at least one --backend ADDR (host:port), in order of preference".into());
    }
    Ok((listen, opts, limits, quiet))
}

#[tokio::main]
async fn main() {
    let (listen, opts, limits, quiet) = match parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let (listener, local) = wirecheck_reference::accept::bind_or_exit(listen).await;
    // The one stdout line ends with the address, as the broker's does (tools read its
    // last word and may close the pipe after it).
    println!("wirecheck-relay listening on ws://{local}/");
    if !quiet {
        eprintln!("backends, in order: {}", opts.config.backends.join(", "));
    }
    let observer: Arc<dyn Observer> = if quiet {
        Arc::new(NoObserver)
    } else {
        Arc::new(SummaryLog::new(200))
    };
    tokio::select! {
        r = run_tcp(listener, opts, limits, observer) => {
            if let Err(e) = r {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        _ = tokio::signal::ctrl_c() => println!("shutting down"),
    }
}
