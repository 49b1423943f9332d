//! `wirecheck-rpc-server`: the reference JSON-RPC 2.0 server on real TCP.
//!
//! ```text
//! wirecheck-rpc-server [--listen 127.0.0.1:7400] [--quiet]
//! ```

const USAGE: &str = "usage: wirecheck-rpc-server [--listen ADDR] [--quiet]

Runs the wirecheck reference JSON-RPC 2.0 server over WebSocket (path /), serving
`echo` (params back), `sleep` ([ms, value]: value after ms) and `fail` ([code, message]:
that error object); see DRIVER.md. Prints `listening on ADDR` once it accepts.
  --listen ADDR   address to listen on (default 127.0.0.1:7400; port 0 picks one)
  --quiet         do not log received messages";

fn main() {
    let mut listen = "127.0.0.1:7400".to_owned();
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => match args.next() {
                Some(v) => listen = v,
                None => fail("--listen needs an address"),
            },
            "--quiet" => quiet = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument `{other}`")),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => fail(&format!("cannot listen on {listen}: {e}")),
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or(listen);
        println!("listening on {addr}");
        wirecheck_reference::rpc_server::run_tcp(listener, quiet).await;
    });
}

fn fail(why: &str) -> ! {
    eprintln!("wirecheck-rpc-server: {why}\n\n{USAGE}");
    std::process::exit(2)
}
