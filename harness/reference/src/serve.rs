//! Serving a channel with a fixed reply behaviour: what the harness's reference client
//! host and the `wirecheck-client-adapter` binary both do when told to serve.

use crate::client::{Answer, Client};
use std::time::Duration;

/// How a served channel answers each request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Answer with the request body.
    Echo,
    /// Answer with this body.
    Fixed(String),
    /// Answer with a request-scoped `error` carrying this code.
    Error(String),
    /// Never answer.
    Ignore,
}

/// A channel to serve and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Serve {
    pub channel: String,
    pub reply: Reply,
    /// Delay before answering each request.
    pub delay: Duration,
    /// Chunks the answer is split into (0: one `start` with `end: true`).
    pub chunks: u32,
    /// Requests served at the same time (receive credits).
    pub concurrency: u32,
}

/// Serves `spec.channel` on `client` until the client stops; `on_failure` hears about
/// answers that could not be sent.
pub fn serve(client: &Client, spec: Serve, on_failure: impl Fn(String) + Clone + Send + 'static) {
    let mut incoming = client.serve(&spec.channel, spec.concurrency);
    let client = client.clone();
    tokio::spawn(async move {
        while let Some(inc) = incoming.recv().await {
            let client = client.clone();
            let spec = spec.clone();
            let on_failure = on_failure.clone();
            tokio::spawn(async move {
                if !spec.delay.is_zero() {
                    crate::time::sleep(spec.delay).await;
                }
                let answer = match &spec.reply {
                    Reply::Echo => Answer::Parts(split(&inc.body, spec.chunks)),
                    Reply::Fixed(b) => Answer::Parts(split(b, spec.chunks)),
                    Reply::Error(code) => Answer::Error(code.clone()),
                    Reply::Ignore => return,
                };
                if let Err(e) = client.respond(&inc, answer).await {
                    on_failure(format!("answer to {} failed: {e}", inc.req));
                }
            });
        }
    });
}

/// `chunks == 0`: the whole body in `start`. Otherwise an empty `start` and the body in
/// `chunks` near-equal pieces (by characters).
pub fn split(body: &str, chunks: u32) -> Vec<String> {
    if chunks == 0 {
        return vec![body.to_owned()];
    }
    let chars: Vec<char> = body.chars().collect();
    let n = chunks as usize;
    let mut parts = vec![String::new()];
    for i in 0..n {
        let (a, b) = (i * chars.len() / n, (i + 1) * chars.len() / n);
        parts.push(chars[a..b].iter().collect());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_keeps_every_character() {
        assert_eq!(split("hello", 0), vec!["hello"]);
        assert_eq!(split("hello", 2), vec!["", "he", "llo"]);
        assert_eq!(split("", 3), vec!["", "", "", ""]);
        assert_eq!(split("héllo", 2), vec!["", "hé", "llo"]);
    }
}
