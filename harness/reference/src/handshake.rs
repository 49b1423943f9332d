//! The server side of the WebSocket handshake: [`accept_within`], the reference broker's
//! and relay's (their settings, a deadline); [`accept`], the JSON-RPC servers' (the
//! reference server and the harness's scripted peers), which selects the first subprotocol the client
//! offers, if any. MCP clients offer `mcp` and fail the handshake when the server selects
//! none (the MCP TypeScript SDK over ws or Node's own WebSocket: "Server sent no
//! subprotocol", "Server did not respond with sent protocols"); a client that offers
//! none (the reference client, most libraries) gets the same handshake as before.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error;
use tokio_tungstenite::WebSocketStream;

const PROTOCOL_HEADER: &str = "Sec-WebSocket-Protocol";

/// The first subprotocol in a `Sec-WebSocket-Protocol` header value, if it names one.
pub fn first_offered(header: &str) -> Option<&str> {
    header.split(',').map(str::trim).find(|p| !p.is_empty())
}

/// Accepts a WebSocket on `stream` with the reference's settings ([`crate::ws::config`]),
/// selecting the first subprotocol the client offers.
pub async fn accept<S>(stream: S) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio_tungstenite::accept_hdr_async_with_config(stream, select_first, Some(crate::ws::config()))
        .await
}

/// The server side of a handshake with `config`, given `within` to complete: the
/// WebSocket, or `None` after noting why not (failed, or not done in time) for `peer`.
pub async fn accept_within<S>(
    stream: S,
    config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
    within: std::time::Duration,
    peer: &str,
    observer: &dyn crate::observe::Observer,
) -> Option<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(config));
    match crate::time::timeout(within, handshake).await {
        Ok(Ok(ws)) => Some(ws),
        Ok(Err(e)) => {
            observer.note(&format!("handshake with {peer} failed: {e}"));
            None
        }
        Err(_) => {
            observer.note(&format!(
                "handshake with {peer} not done within {within:?}: closed"
            ));
            None
        }
    }
}

#[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
fn select_first(req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    let offered = req
        .headers()
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok());
    if let Some(p) = offered.and_then(first_offered) {
        if let Ok(v) = HeaderValue::from_str(p) {
            resp.headers_mut().insert(PROTOCOL_HEADER, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_offered_takes_the_first_named_protocol() {
        assert_eq!(first_offered("mcp"), Some("mcp"));
        assert_eq!(first_offered(" mcp , graphql-ws"), Some("mcp"));
        assert_eq!(first_offered(", x"), Some("x"));
        assert_eq!(first_offered(""), None);
        assert_eq!(first_offered(" , "), None);
    }

    #[tokio::test]
    async fn the_offered_subprotocol_is_selected_and_none_when_none_is_offered() {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        for offer in [Some("mcp, other"), None] {
            let (a, b) = tokio::io::duplex(4096);
            let server = tokio::spawn(async move { accept(b).await.map(|_| ()) });
            let mut req = "ws://server/".into_client_request().unwrap();
            if let Some(o) = offer {
                req.headers_mut()
                    .insert(PROTOCOL_HEADER, HeaderValue::from_static(o));
            }
            let (_ws, resp) = tokio_tungstenite::client_async(req, a).await.unwrap();
            let got = resp
                .headers()
                .get(PROTOCOL_HEADER)
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(got.as_deref(), offer.map(|_| "mcp"));
            server.await.unwrap().unwrap();
        }
    }
}
