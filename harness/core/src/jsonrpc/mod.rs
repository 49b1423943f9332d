//! The JSON-RPC 2.0 profile's sans-IO pieces: frames ([`frame`]) shared by the reference
//! client's codec, the reference JSON-RPC server and the harness's trace decoding.

pub mod frame;

pub use frame::{canonical, canonical_text, codes, ErrorObj, Frame, Id, Item};
