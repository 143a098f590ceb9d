//! POE::Component::Server::TCP: a listener session that accepts
//! connections and, by default, starts one session per connection, whose
//! callbacks (ClientInput, ClientConnected, ...) run in that connection's
//! own session, as in POE (SPEC §8; the user guide in the crate docs).
//!
//! ```no_run
//! use rpoe::component::ServerTcp;
//! use rpoe::{Kernel, ARG0};
//!
//! let mut kernel = Kernel::new().unwrap();
//! ServerTcp::new()
//!     .port(12345)
//!     .client_connected(|ctx, _| {
//!         println!("got a connection from {}", ctx.heap.remote_ip);
//!         ctx.heap.client.put("Smile from the server!");
//!     })
//!     .client_input(|ctx, args| {
//!         let input = args.value(ARG0).and_then(|v| v.as_utf8()).unwrap_or("");
//!         let rot13: String = input.chars().map(|c| match c {
//!             'a'..='m' | 'A'..='M' => (c as u8 + 13) as char,
//!             'n'..='z' | 'N'..='Z' => (c as u8 - 13) as char,
//!             c => c,
//!         }).collect();
//!         ctx.heap.client.put(rot13);
//!     })
//!     .create(&mut kernel)
//!     .unwrap();
//! kernel.run().unwrap();
//! ```

mod client;
mod config;
mod error;
mod listener;

pub use self::client::{Client, ClientHeap};
pub use self::config::ServerTcp;
pub use self::error::ServerTcpError;
pub use self::listener::ListenerHeap;
