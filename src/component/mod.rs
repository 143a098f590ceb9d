//! Components (POE::Component::*): ready-made sessions built only on the
//! public kernel, wheel and filter APIs.
//!
//! - [`ServerTcp`], POE::Component::Server::TCP.

pub mod server_tcp;

pub use self::server_tcp::{Client, ClientHeap, ListenerHeap, ServerTcp, ServerTcpError};
