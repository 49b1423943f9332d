//! The JSON-RPC 2.0 profile's sans-IO pieces: frames ([`frame`]) shared by the reference
//! client's codec, the reference JSON-RPC server and the harness's trace decoding.

pub mod codec;
pub mod frame;
pub mod server;

pub use frame::{canonical, canonical_text, codes, summary, ErrorObj, Frame, Id, Item};
