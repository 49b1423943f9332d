//! `wirecheck-broker`: the reference broker on real TCP.
//!
//! ```text
//! wirecheck-broker [--listen 127.0.0.1:7300] [--max-message BYTES] [--queue N]
//!                  [--idle-timeout SECS] [--handshake-timeout SECS] [--register-timeout SECS]
//!                  [--write-timeout SECS] [--max-connections N] [--max-auth-failures N]
//!                  [--max-parked-per-client N] [--max-parked-per-channel N]
//!                  [--max-parked-bytes-per-client BYTES] [--max-parked-bytes-per-channel BYTES]
//!                  [--token CLIENT=TOKEN]... [--quiet]
//! ```

use std::sync::Arc;
use std::time::Duration;
use wirecheck_reference::broker::{run_tcp_with, BrokerOptions, TcpLimits};
use wirecheck_reference::log::SummaryLog;
use wirecheck_reference::{NoObserver, Observer};

const USAGE: &str = "usage: wirecheck-broker [--listen ADDR] [--max-message BYTES] [--queue N] \
[--idle-timeout SECS] [--handshake-timeout SECS] [--register-timeout SECS] [--write-timeout SECS] \
[--max-connections N] [--max-auth-failures N] [--max-parked-per-client N] [--max-parked-per-channel N] \
[--max-parked-bytes-per-client BYTES] [--max-parked-bytes-per-channel BYTES] [--token CLIENT=TOKEN]... [--quiet]

Runs the wirecheck reference broker on TCP (WebSocket, JSON wire protocol v1; see PROTOCOL.md).
  --listen ADDR          address to listen on (default 127.0.0.1:7300)
  --max-message BYTES    largest accepted message (default 65536)
  --queue N              outbound budget per connection, in messages of --max-message bytes:
                         a peer with more waiting for it is closed as a slow consumer (default 64)
  --idle-timeout SECS    close connections silent this long (default 30)
  --handshake-timeout SECS  close connections whose WebSocket handshake is not done by then (default 10)
  --register-timeout SECS   close connections not registered (welcome) by then, pings or not (default 10)
  --write-timeout SECS   a write to a peer that makes no progress this long closes it as a
                         slow consumer (default 10)
  --max-connections N    connections served at once; more are closed at once (default 10000)
  --max-auth-failures N  failed registrations per address a minute before that address is
                         refused at once (default 30; 0: no limit)
  --max-parked-per-client N         requests one client may have waiting for a receiver (default 1000)
  --max-parked-per-channel N        requests one channel may hold waiting for a receiver (default 10000)
  --max-parked-bytes-per-client BYTES   their body and chunk bytes, per client (default 16777216)
  --max-parked-bytes-per-channel BYTES  their body and chunk bytes, per channel (default 67108864)
                         (beyond these a request is answered `error queue_full`)
  --token CLIENT=TOKEN   require this token from CLIENT (repeatable; any token list turns auth on)
  --quiet                do not log connections and received messages";

/// Log lines per second before the rest are counted instead of printed.
const LINES_PER_SECOND: u32 = 200;

fn parse() -> Result<(String, BrokerOptions, TcpLimits, bool), String> {
    let mut limits = TcpLimits::default();
    let mut listen = "127.0.0.1:7300".to_owned();
    let mut opts = BrokerOptions::default();
    // Zoo flaws for black-box kill matrices (`wirecheck zoo --target`).
    opts.config.flaws = wirecheck_core::flaws::Flaws::from_env()?;
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value("--listen")?,
            "--max-message" => {
                opts.config.max_message = value("--max-message")?
                    .parse()
                    .map_err(|e| format!("--max-message: {e}"))?
            }
            "--queue" => {
                opts.queue = value("--queue")?
                    .parse()
                    .map_err(|e| format!("--queue: {e}"))?
            }
            "--handshake-timeout" => {
                let secs: u64 = value("--handshake-timeout")?
                    .parse()
                    .map_err(|e| format!("--handshake-timeout: {e}"))?;
                opts.handshake_timeout = Duration::from_secs(secs);
            }
            "--register-timeout" => {
                opts.register_timeout = secs(value("--register-timeout")?, "--register-timeout")?
            }
            "--write-timeout" => {
                opts.write_timeout = secs(value("--write-timeout")?, "--write-timeout")?
            }
            "--max-auth-failures" => {
                limits.max_auth_failures =
                    num(value("--max-auth-failures")?, "--max-auth-failures")?
            }
            "--max-parked-per-client" => {
                opts.config.parked.per_client_requests =
                    num(value("--max-parked-per-client")?, "--max-parked-per-client")?
            }
            "--max-parked-per-channel" => {
                opts.config.parked.per_channel_requests = num(
                    value("--max-parked-per-channel")?,
                    "--max-parked-per-channel",
                )?
            }
            "--max-parked-bytes-per-client" => {
                opts.config.parked.per_client_bytes = num(
                    value("--max-parked-bytes-per-client")?,
                    "--max-parked-bytes-per-client",
                )?
            }
            "--max-parked-bytes-per-channel" => {
                opts.config.parked.per_channel_bytes = num(
                    value("--max-parked-bytes-per-channel")?,
                    "--max-parked-bytes-per-channel",
                )?
            }
            "--max-connections" => {
                limits.max_connections = value("--max-connections")?
                    .parse()
                    .map_err(|e| format!("--max-connections: {e}"))?
            }
            "--idle-timeout" => {
                let secs: u64 = value("--idle-timeout")?
                    .parse()
                    .map_err(|e| format!("--idle-timeout: {e}"))?;
                opts.idle_timeout = Duration::from_secs(secs);
            }
            "--token" => {
                let v = value("--token")?;
                let (client, token) = v
                    .split_once('=')
                    .ok_or(format!("--token wants CLIENT=TOKEN, got `{v}`"))?;
                opts.config
                    .tokens
                    .insert(client.to_owned(), token.to_owned());
            }
            "--quiet" => quiet = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((listen, opts, limits, quiet))
}

fn num(v: String, flag: &str) -> Result<usize, String> {
    v.parse().map_err(|e| format!("{flag}: {e}"))
}

fn secs(v: String, flag: &str) -> Result<Duration, String> {
    v.parse()
        .map(Duration::from_secs)
        .map_err(|e| format!("{flag}: {e}"))
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
    println!("wirecheck-broker listening on ws://{local}/");
    let observer: Arc<dyn Observer> = if quiet {
        Arc::new(NoObserver)
    } else {
        Arc::new(SummaryLog::new(LINES_PER_SECOND))
    };
    tokio::select! {
        r = run_tcp_with(listener, opts, limits, observer) => {
            if let Err(e) = r {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        _ = tokio::signal::ctrl_c() => println!("shutting down"),
    }
}
