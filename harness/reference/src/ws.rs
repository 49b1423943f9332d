//! The WebSocket settings of every connection the reference opens or accepts (and the
//! harness's scripted peers and proxies, which take them from here too).

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Bytes read from the socket at a time.
///
/// tungstenite zero-fills its whole read buffer before every read, so its default of
/// 128 KiB costs a 128 KiB `memset` per read: measured with callgrind, over half of the
/// instructions of a simulated catalog run once idle time is skipped. The messages here
/// are small; a larger one simply takes several reads.
pub const READ_BUFFER: usize = 8 * 1024;

/// tungstenite's defaults with a [`READ_BUFFER`] read buffer.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}
