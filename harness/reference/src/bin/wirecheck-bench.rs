//! `wirecheck-bench`: the reference broker's speed against the limit, over loopback, in one
//! run on one machine (BENCHMARKS.md).
//!
//! ```text
//! wirecheck-bench [--connections N] [--requests M] [--rss-requests R] [--body BYTES]
//!                 [--max-seconds S] [--broker PATH | --broker-addr HOST:PORT]
//!                 [--relay-cmd "CMD ... {upstream} ..."]
//! ```
//!
//! It starts, each in its own process on 127.0.0.1: a raw tokio-tungstenite echo server
//! (this binary with `--echo-server`) and `wirecheck-broker --quiet`. Then it measures
//! round trips/s and p50/p99 of: the echo server with N connections (the limit); the
//! broker with N senders and N receivers; with `--relay-cmd`, the same broker load through
//! the relay that command starts (`{upstream}` is replaced by the broker's address; the
//! command prints its address as the last word of its first stdout line); and the broker's
//! resident memory over R requests, sampled every tenth. Every phase stops by itself at
//! its request count or after `--max-seconds`. `--broker-addr` measures a broker that is
//! already running instead (one started under a profiler, say; no memory phase then).

use std::process::Command;
use std::time::Duration;
use wirecheck_reference::bench::{
    broker_load, cpu_time, echo_load, rss_kib, serve_echo, LoadSpec, Progress, Server, Summary,
};

const USAGE: &str = "usage: wirecheck-bench [--connections N] [--requests M] [--rss-requests R] \
[--body BYTES] [--max-seconds S] [--broker PATH | --broker-addr HOST:PORT] [--relay-cmd CMD]

Measures over loopback, in one run: a raw tokio-tungstenite echo server (the limit), the
reference broker (sender -> broker -> receiver -> broker -> sender), optionally a relay in
front of the broker, and the broker's RSS over many requests. Prints a Markdown report.
  --connections N   concurrent connections; the broker gets N senders and N receivers (default 16)
  --requests M      round trips per speed phase (default 200000)
  --rss-requests R  requests of the memory phase (default 1000000; 0 skips it)
  --body BYTES      request body size (default 64)
  --max-seconds S   each phase stops after this long, done or not (default 120)
  --broker PATH     the broker binary (default: wirecheck-broker next to this one)
  --broker-addr A   measure the broker already listening on A (e.g. under a profiler);
                    no memory phase
  --relay-cmd CMD   start a relay with this shell command ({upstream}: the broker's address)
                    and measure the broker load through it";

struct Args {
    spec: LoadSpec,
    rss_requests: u64,
    broker: std::path::PathBuf,
    broker_addr: Option<String>,
    relay_cmd: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut spec = LoadSpec {
        connections: 16,
        requests: 200_000,
        body: 64,
        max_time: Duration::from_secs(120),
    };
    let mut rss_requests = 1_000_000;
    let mut broker = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("wirecheck-broker");
    let mut relay_cmd = None;
    let mut broker_addr = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let num = |v: String, name: &str| v.parse::<u64>().map_err(|e| format!("{name}: {e}"));
        match arg.as_str() {
            "--connections" => spec.connections = num(value(&arg)?, &arg)?.max(1) as usize,
            "--requests" => spec.requests = num(value(&arg)?, &arg)?,
            "--rss-requests" => rss_requests = num(value(&arg)?, &arg)?,
            "--body" => spec.body = num(value(&arg)?, &arg)? as usize,
            "--max-seconds" => spec.max_time = Duration::from_secs(num(value(&arg)?, &arg)?),
            "--broker" => broker = value(&arg)?.into(),
            "--relay-cmd" => relay_cmd = Some(value(&arg)?),
            "--broker-addr" => broker_addr = Some(value(&arg)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Args {
        spec,
        rss_requests,
        broker,
        broker_addr,
        relay_cmd,
    })
}

/// CPU used by the server process and by this one (the load) during a phase.
#[derive(Clone, Copy)]
struct Cpu {
    server: Duration,
    load: Duration,
}

/// Runs `phase`, measuring the CPU time `server` and this process use meanwhile.
async fn with_cpu<T>(
    server: Option<u32>,
    phase: impl std::future::Future<Output = Result<T, String>>,
) -> Result<(T, Option<Cpu>), String> {
    let read = || {
        let srv = server.and_then(|p| cpu_time(&p.to_string()));
        srv.zip(cpu_time("self"))
    };
    let before = read();
    let out = phase.await?;
    let cpu = before.zip(read()).map(|((s0, l0), (s1, l1))| Cpu {
        server: s1.saturating_sub(s0),
        load: l1.saturating_sub(l0),
    });
    Ok((out, cpu))
}

fn row(name: &str, s: &Summary, cpu: Option<Cpu>, limit: Option<&Summary>) -> String {
    let ratio = limit.map_or("1.00 (the limit)".to_owned(), |l| {
        format!("{:.2}", s.rate() / l.rate())
    });
    let per = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6 / s.round_trips.max(1) as f64);
    let (server, load) = cpu.map_or(("-".into(), "-".into()), |c| (per(c.server), per(c.load)));
    format!(
        "| {name} | {} | {:.1} | {:.0} | {:.0} | {server} | {load} | {ratio} |",
        s.round_trips,
        s.rate(),
        s.p50.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6
    )
}

async fn run(args: Args) -> Result<(), String> {
    let spec = &args.spec;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut echo_cmd = Command::new(&me);
    echo_cmd.arg("--echo-server");
    let echo = Server::start(echo_cmd)?;
    let broker = match &args.broker_addr {
        Some(_) => None,
        None => {
            let mut broker_cmd = Command::new(&args.broker);
            broker_cmd.args(["--listen", "127.0.0.1:0", "--quiet"]);
            Some(Server::start(broker_cmd)?)
        }
    };
    let broker_addr = match (&args.broker_addr, &broker) {
        (Some(addr), _) => addr.clone(),
        (None, Some(b)) => b.addr.clone(),
        (None, None) => unreachable!("a broker is started when no address is given"),
    };
    println!(
        "# wirecheck-bench: {} connections, {} round trips per phase, body {} bytes, {} cores",
        spec.connections,
        spec.requests,
        spec.body,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| server | round trips | round trips/s | p50 µs | p99 µs | server CPU µs per round trip | load CPU µs per round trip | ratio to echo |");
    println!("|---|---|---|---|---|---|---|---|");
    let (limit, cpu) = with_cpu(Some(echo.pid()), echo_load(&echo.addr, spec)).await?;
    println!("{}", row("raw tokio-tungstenite echo", &limit, cpu, None));
    drop(echo);
    let (direct, cpu) = with_cpu(
        broker.as_ref().map(Server::pid),
        broker_load(&broker_addr, spec, None),
    )
    .await?;
    println!(
        "{}",
        row(
            "reference broker (sender→receiver→sender)",
            &direct,
            cpu,
            Some(&limit)
        )
    );
    match &args.relay_cmd {
        Some(cmd) => {
            let line = cmd.replace("{upstream}", &broker_addr);
            let mut relay_cmd = Command::new("sh");
            relay_cmd.arg("-c").arg(format!("exec {line}"));
            let relay = Server::start(relay_cmd)?;
            let (via, cpu) =
                with_cpu(Some(relay.pid()), broker_load(&relay.addr, spec, None)).await?;
            println!(
                "{}",
                row(
                    "broker through the relay (server CPU: the relay's)",
                    &via,
                    cpu,
                    Some(&limit)
                )
            );
            println!();
            println!(
                "relay overhead: {:.2} of the direct broker's round trips/s",
                via.rate() / direct.rate()
            );
        }
        None => {
            println!();
            println!("relay: not measured (no --relay-cmd)");
        }
    }
    println!(
        "broker / echo: {:.2} (goal: at least 0.50)",
        direct.rate() / limit.rate()
    );
    match &broker {
        Some(broker) if args.rss_requests > 0 => rss_phase(broker, spec, args.rss_requests).await?,
        None if args.rss_requests > 0 => println!("memory: not measured (--broker-addr)"),
        _ => {}
    }
    Ok(())
}

/// The broker's resident memory over `total` requests, sampled every tenth.
async fn rss_phase(broker: &Server, spec: &LoadSpec, total: u64) -> Result<(), String> {
    let pid = broker.pid();
    let samples = std::sync::Mutex::new(vec![(0u64, rss_kib(pid).unwrap_or(0))]);
    let record = |n: u64| {
        let rss = rss_kib(pid).unwrap_or(0);
        samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((n, rss));
    };
    let load = LoadSpec {
        requests: total,
        max_time: spec.max_time * 5,
        ..spec.clone()
    };
    let every = (total / 10).max(1);
    let s = broker_load(
        &broker.addr,
        &load,
        Some(Progress {
            every,
            call: &record,
        }),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    record(s.round_trips); // after the load, settled
    let samples = samples.into_inner().unwrap_or_else(|p| p.into_inner());
    println!();
    println!(
        "broker RSS over {} requests ({:.0} round trips/s):",
        s.round_trips,
        s.rate()
    );
    println!();
    println!("| requests done | broker RSS KiB |");
    // (the last row is read 200 ms after the load ended)
    println!("|---|---|");
    for (n, rss) in &samples {
        println!("| {n} | {rss} |");
    }
    // Flatness: from the first tenth (after warm-up) to the end.
    if let (Some(&(_, first)), Some(&(_, last))) = (samples.get(1), samples.last()) {
        let growth = (last as f64 - first as f64) / (first.max(1) as f64);
        println!();
        println!(
            "RSS from {} to {} requests: {first} → {last} KiB ({:+.1} %; goal: within ±10 %)",
            samples[1].0,
            s.round_trips,
            growth * 100.0
        );
    }
    Ok(())
}

fn main() {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if std::env::args().nth(1).as_deref() == Some("--echo-server") {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("local address");
            println!("echo server listening on {addr}");
            serve_echo(listener).await
        });
        return;
    }
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
