//! rpoe: Perl's POE reactor, ported to Rust.
pub mod kernel;
pub use kernel::*;
