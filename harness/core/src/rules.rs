//! The protocol's rules: stable ids, level, requirement and the production failure each
//! one prevents. PROTOCOL.md's rule table is generated from (and tested against) this list.

/// How binding a rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Must,
    Should,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
        }
    }
}

/// One numbered rule of the protocol.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub id: &'static str,
    pub level: Level,
    /// The requirement, one sentence.
    pub requirement: &'static str,
    /// Which production failure the rule prevents.
    pub why: &'static str,
}

macro_rules! rules {
    ($($id:literal $level:ident $req:literal because $why:literal)*) => {
        /// Every rule, in catalog order.
        pub const RULES: &[Rule] = &[$(Rule { id: $id, level: Level::$level, requirement: $req, why: $why }),*];
    };
}

rules! {
    "MUX-1" Must "Exactly one task reads a connection; every other component waits on a completion handle keyed by request id."
        because "Two readers on one socket steal each other's frames (\"cannot call recv while another coroutine is already waiting\")."
    "MUX-2" Must "A response completes only the request whose id it carries."
        because "Matching replies by arrival order hands one caller another caller's answer."
    "MUX-3" Must "A request completes at most once."
        because "A duplicated response otherwise wakes a second waiter or overwrites a delivered result."
    "MUX-4" Must "Responses for unknown, completed, timed-out or cancelled ids are dropped and counted, never delivered."
        because "Late or duplicated frames otherwise complete an unrelated request that reused the slot."
    "MUX-5" Must "A pending entry is removed on every exit path: completion, timeout, cancellation and disconnect."
        because "Entries left behind on timeout or cancel make the pending map grow without bound."
    "MUX-6" Must "When the connection is lost every pending request fails at once with `disconnected`."
        because "Callers otherwise sit out their full timeouts on a connection that is already dead."
    "MUX-7" Must "A failed send is reported to the caller as an error."
        because "A swallowed send error turns into a silent timeout far from its cause."
    "MUX-8" Must "Every request has a timeout; on expiry the caller gets `timeout` and the broker gets `cancel`."
        because "A request without a deadline waits forever when its answer is lost."
    "MUX-9" Must "A request delivered to a client on a channel it serves is answered (response or error) unless it is cancelled or the connection closes."
        because "A receiver that loses or forgets requests leaves senders waiting for their timeouts."
    "AUTH-1" Must "Registration succeeds only on `welcome`; `error` fails with the broker's code; anything else is a failure."
        because "An auth step that treats any reply as success runs unauthenticated."
    "AUTH-2" Must "Registration has a timeout; when it expires the attempt fails `timeout` and its connection and reader are closed."
        because "A broker that never answers `hello` otherwise hangs the client forever."
    "AUTH-3" Must "Messages that arrive during or right after registration are dispatched, not lost."
        because "An auth step that reads the socket itself drops whatever arrives before its reply."
    "AUTH-4" Must "A broker accepts nothing but `hello` before it has sent `welcome`."
        because "Frames accepted before registration run with no identity attached."
    "AUTH-5" Must "A client id that is connected cannot be taken over by a second connection."
        because "A takeover lets any peer hijack another client's requests and responses."
    "CONN-1" Must "Heartbeats detect a dead connection within the heartbeat timeout."
        because "A partitioned TCP stream never errors; without heartbeats the client waits forever."
    "CONN-2" Should "Reconnect attempts back off exponentially from a base to a cap, with seeded jitter."
        because "Clients that reconnect in a tight loop turn a broker restart into a reconnect storm."
    "CONN-3" Should "Reconnect attempts are rate limited (at most N per window, a minimum gap apart)."
        because "A flapping broker otherwise gets hammered even with backoff reset on every success."
    "CONN-4" Must "Failover tries broker addresses in the configured order and requests succeed on the one reached."
        because "Failover that forgets the order or the in-flight work loses requests."
    "CONN-5" Must "A client with reconnect enabled that loses its connection attempts to reconnect (within its backoff cap plus its rate-limit window)."
        because "A client that silently stops reconnecting is an outage nobody notices until traffic stops."
    "CONN-6" Must "A relay (proxy) that loses one side of a connection closes the other side at once."
        because "A relay that keeps the client's side open after its upstream died leaves the client talking to nobody until a heartbeat notices."
    "CONN-7" Must "Once every fault has healed (a scenario's `heal` step), every request a client makes is answered by its peer within the stated bound."
        because "A system that survives each fault but never recovers from it (stuck streams, leaked credits, stale registrations) is an outage that only a restart ends."
    "BRK-1" Must "Each channel has one shared queue of request starts; receivers wait on it with `receive`, and a request goes to the first waiting receiver as soon as both are there (no polling)."
        because "Polling receivers with sleeps wastes wake-ups and adds latency."
    "BRK-2" Must "Each request is assigned to exactly one receiver."
        because "Broadcasting request frames to every receiver interleaves chunks and duplicates work."
    "BRK-3" Must "A request's chunk and end frames go only to its assigned receiver, in order."
        because "Frames routed to another receiver corrupt both requests."
    "BRK-4" Must "Response frames go only to the request's original sender."
        because "A response delivered to the wrong client leaks data and starves the sender."
    "BRK-5" Must "The assignment is removed when the response ends (or the request is cancelled)."
        because "Assignments never removed leak memory and keep receivers looking busy."
    "BRK-6" Must "When a receiver disconnects mid-request, the sender gets `error receiver_gone` for that request promptly."
        because "Otherwise the sender waits for a response that can never come."
    "BRK-7" Must "When a sender disconnects, its in-flight requests are cancelled toward their receivers."
        because "Receivers otherwise keep working for a sender that is gone."
    "BRK-8" Must "A response from a connection the request is not assigned to is rejected with `not_assigned` and not routed."
        because "Accepting it lets any client spoof answers to any request."
    "BRK-9" Must "Each connection's outbound queue is bounded; only a peer that does not keep up is closed as a slow consumer (`slow_consumer`): a peer that keeps reading is never cut off, by a burst or by other clients' traffic."
        because "One slow consumer otherwise grows the broker's memory without bound, and a broker that cuts off healthy peers turns one client's burst into everyone's outage."
    "BRK-10" Must "A message larger than the maximum size is rejected with `too_large`; the connection keeps being served."
        because "Unbounded messages let one client exhaust the broker's memory."
    "BRK-11" Must "Malformed input is answered with `malformed` and harms no other client."
        because "A parser panic or a poisoned shared state takes every client down."
    "BRK-12" Must "All registry, queue and assignment state of a closed connection is freed."
        because "Stale entries leak and make a reconnecting client look still connected."
    "BRK-13" Should "Broker-answered requests (`$info`) go through the ordinary request/response path."
        because "A side channel for broker queries needs its own reader, which reintroduces two readers."
    "LB-1" Must "A relay reads each client's socket with exactly one task for the connection's whole life, failovers included, and each backend connection with one task."
        because "A new reader per backend handler leaves two tasks reading one client socket: the old one steals messages and forwards them to a dead backend."
    "LB-2" Must "A relay gives a client connection at most one backend connection at a time: a lost backend starts one failover per client, however many of its tasks notice."
        because "Several handlers for one connection each fail it over, opening duplicate backend connections and registrations."
    "LB-3" Must "A relay rate limits the failover attempts of each client (at most `max_attempts` per `window`, at least `min_gap` apart) and closes the client after `max_attempts` failed attempts in a row."
        because "Unlimited failover attempts turn a dead or flapping backend into a connection storm against the backends that are left."
    "LB-4" Must "A relay sends each new client, and each client whose backend is lost, to the first backend in the configured order it holds healthy (each in turn when it holds none healthy), keeping a moved client's connection and replaying its registration and credits; a client it cannot place within its failover limit is closed, never left connected to nothing."
        because "Clients stranded on a dead primary, or dropped while a secondary is there, turn one backend's death into an outage."
    "LB-5" Must "When a client's backend is lost, the relay answers each request the client had in flight through it with `error backend_gone` and cancels each request the client was serving, at once."
        because "Failover that silently drops in-flight work leaves callers waiting for answers that can never come."
    "LB-6" Must "The relay's per-backend connection counts equal its open backend connections and never go negative, and a closed client leaves nothing in its tracking maps."
        because "Counts and maps left stale after a close make gone clients look connected, skew balancing and leak memory."
    "LB-7" Must "When a client closes its side, the relay closes that client's backend connection at once (the first direction to end cancels the other)."
        because "A backend connection left open for a gone client keeps its registration and credits alive: the backend keeps routing work to nobody."
    "JSONRPC-1" Must "A server answers every request that has an `id` with exactly one response carrying the same `id`, on the connection the request came in on."
        because "A response with a rewritten or missing id reaches the wrong caller or none, and a second one completes a call twice."
    "JSONRPC-2" Must "A server never replies to a notification (a request without `id`), in a batch or alone."
        because "A reply to a notification carries an id the client never used: clients that do not drop it fail or die."
    "JSONRPC-3" Must "A server answers text that is not JSON with error -32700 and `id: null`, and answers a JSON value that is not a request with error -32600 and `id: null` (an item of a batch, per item)."
        because "A server that ignores bad input leaves its caller waiting; one that guesses an id may complete someone else's call."
    "JSONRPC-4" Should "A server answers a batch with one array holding one response per request in it and none for its notifications; an empty array with a single -32600 error; a batch of notifications with nothing."
        because "A client matching a batch by position, or waiting for an answer to a notification, hangs or mixes up results."
    "JSONRPC-5" Must "A server keeps serving a connection after answering an error, malformed input or an invalid request."
        because "A server that drops the connection on one bad message fails every other call in flight on it."
    "JSONRPC-6" Must "A client keeps its connection and its other calls when it receives a message it cannot use: a response with an unknown, duplicate, null or missing id, a notification, an array of responses it did not ask for, an invalid item or text that is not JSON."
        because "One stray message ends the client's reader task and every later call fails (jsonrpsee #220, web3.py listener deaths)."
    "JSONRPC-7" Must "A client sends a notification its caller made as a request without `id`."
        because "A server must answer a request that has an id: the answer to a notification sent with one arrives as a response nobody waits for, and the server cannot tell that the caller wanted no answer."
}

/// The protocols a rule is judged under: wirecheck-v1 judges every family but JSONRPC
/// (the relay, and so LB, speaks wirecheck-v1 only);
/// JSON-RPC 2.0 judges the multiplexer's request rules (MUX-1..8, read through the
/// profile: no serving, so not MUX-9) and the JSONRPC family.
pub fn judged_under(id: &str, protocol: crate::Protocol) -> bool {
    let family = id.split_once('-').map_or(id, |(f, _)| f);
    match protocol {
        crate::Protocol::WirecheckV1 => family != "JSONRPC",
        crate::Protocol::JsonRpc2 => family == "JSONRPC" || (family == "MUX" && id != "MUX-9"),
    }
}

/// Looks a rule up by id (case-sensitive, e.g. `MUX-4`).
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = BTreeSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
            let (prefix, n) = r.id.split_once('-').expect("id has a dash");
            assert!(
                ["MUX", "AUTH", "CONN", "BRK", "LB", "JSONRPC"].contains(&prefix),
                "{}",
                r.id
            );
            assert!(n.parse::<u32>().is_ok(), "{}", r.id);
            assert!(
                r.requirement.ends_with('.') && r.why.ends_with('.'),
                "{}",
                r.id
            );
        }
        assert_eq!(rule("MUX-4").map(|r| r.level), Some(Level::Must));
        assert!(rule("MUX-99").is_none());
    }
}
