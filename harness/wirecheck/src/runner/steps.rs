//! Script steps as short labels, for failure messages.

use crate::model::Action;
use crate::render::fmt_time;

/// The step as a short label: `app.result r1`, `partition app broker`.
pub fn step_label(a: &Action) -> String {
    match a {
        Action::Wait(d) => format!("wait {}", fmt_time(*d)),
        Action::Partition { a, b } => format!("partition {a} {b}"),
        Action::Repair { a, b } => format!("repair {a} {b}"),
        Action::PartitionOneway { from, to } => format!("partition_oneway {from} {to}"),
        Action::RepairOneway { from, to } => format!("repair_oneway {from} {to}"),
        Action::Latency { a, b, min, max } => {
            format!("latency {a} {b} {}", crate::render::fmt_range(*min, *max))
        }
        Action::Hold { a, b } => format!("hold {a} {b}"),
        Action::Release { a, b } => format!("release {a} {b}"),
        Action::Crash { host } => format!("crash {host}"),
        Action::Bounce { host } => format!("bounce {host}"),
        Action::Heal { within } => format!("heal (answers within {})", fmt_time(*within)),
        Action::Connect { host, id } => format!("{host}.connect {id}"),
        Action::Request { host, call } => format!("{host}.request {}", call.id),
        Action::Batch { host, batch } => {
            let ids: Vec<&str> = batch.calls.iter().map(|c| c.id.as_str()).collect();
            format!("{host}.batch {}", ids.join(","))
        }
        Action::Notify { host, notify } => format!("{host}.notify {}", notify.method),
        Action::Cancel { host, id } => format!("{host}.cancel {id}"),
        Action::Disconnect { host } => format!("{host}.disconnect"),
        Action::Serve { host, serve } => format!("{host}.serve {}", serve.channel),
        Action::Result { host, id, .. } => format!("{host}.result {id}"),
        Action::Send { host, .. } => format!("{host}.send"),
        Action::Expect { host, pattern, .. } => format!("{host}.expect {}", pattern.kind),
        Action::First {
            of, pattern, alias, ..
        } => format!("first of {} {} as {alias}", of.join(","), pattern.kind),
        Action::Counters { expect, .. } => format!("{}.counters", expect.host),
        Action::ScriptedConnect { host } => format!("{host}.connect"),
        Action::ScriptedClose { host } => format!("{host}.close"),
        Action::ProxyRelease { host } => format!("{host}.release"),
        Action::SendTo { host, to, .. } => format!("{host}.send to {to}"),
    }
}
