//! The message-level chaos proxy host (see `model::ProxySpec`).

use crate::model::ProxySpec;
use crate::world::Ctx;

pub async fn proxy_host(spec: ProxySpec, ctx: Ctx) -> turmoil::Result {
    let _ = (spec, ctx);
    Err("the proxy host kind is not implemented yet".into())
}
