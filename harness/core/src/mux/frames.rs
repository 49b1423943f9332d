//! What the multiplexer sends and hands out: requests, incoming requests, answers, and
//! the frames they become; durations as traces print them.

use super::ConnNo;
use crate::wire::{Dir, Message};
use std::time::Duration;

/// A request to send.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    pub id: String,
    pub channel: String,
    pub body: String,
    /// Sent as `chunk` frames after `start`, then `end`. Empty: one `start` with `end: true`.
    pub chunks: Vec<String>,
    /// `None`: the configured default.
    pub timeout: Option<Duration>,
}

/// A request received on a served channel, fully assembled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    pub req: String,
    pub channel: String,
    pub body: String,
    /// The connection it arrived on: an answer is sent only while that one is current.
    pub conn: ConnNo,
}

/// How to answer an [`Incoming`] request.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// `start` with the first part, a `chunk` per further part, then `end`. One part: a
    /// single `start` with `end: true`.
    Parts(Vec<String>),
    Error(String),
}

/// The frames of a request: `start`, then (when chunked) each `chunk` and `end`.
pub fn request_frames(req: &Request) -> Vec<Message> {
    let mut frames = vec![Message::Start {
        req: req.id.clone(),
        channel: req.channel.clone(),
        dir: Dir::Request,
        body: req.body.clone(),
        end: req.chunks.is_empty(),
    }];
    if !req.chunks.is_empty() {
        for (seq, data) in req.chunks.iter().enumerate() {
            frames.push(Message::Chunk {
                req: req.id.clone(),
                dir: Dir::Request,
                seq: seq as u64,
                data: data.clone(),
            });
        }
        frames.push(Message::End {
            req: req.id.clone(),
            dir: Dir::Request,
        });
    }
    frames
}

/// The frames of an answer to `req`.
pub fn answer_frames(req: &str, answer: Answer) -> Vec<Message> {
    match answer {
        Answer::Error(c) => vec![Message::error(Some(req), &c, "")],
        Answer::Parts(parts) => {
            let mut it = parts.into_iter();
            let first = it.next().unwrap_or_default();
            let rest: Vec<String> = it.collect();
            let mut frames = vec![Message::Start {
                req: req.to_owned(),
                channel: String::new(),
                dir: Dir::Response,
                body: first,
                end: rest.is_empty(),
            }];
            if !rest.is_empty() {
                for (seq, data) in rest.into_iter().enumerate() {
                    frames.push(Message::Chunk {
                        req: req.to_owned(),
                        dir: Dir::Response,
                        seq: seq as u64,
                        data,
                    });
                }
                frames.push(Message::End {
                    req: req.to_owned(),
                    dir: Dir::Response,
                });
            }
            frames
        }
    }
}

/// `1.500s`, `250ms`: durations as traces print them.
pub fn fmt_dur(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}
