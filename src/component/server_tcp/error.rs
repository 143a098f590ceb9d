//! `ServerTcpError`: what POE's Server::TCP constructor croaks about.

use std::fmt;

/// A server that cannot be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerTcpError {
    /// A combination of parameters POE rejects (what is wrong).
    Config(&'static str),
    /// An InlineState named like one of the component's own states.
    ReservedState(String),
    /// The kernel refused to create the listener session.
    Kernel(crate::Error),
}

impl fmt::Display for ServerTcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerTcpError::Config(why) => write!(f, "Server::TCP: {why}"),
            ServerTcpError::ReservedState(name) => {
                write!(f, "Server::TCP: the state '{name}' is the component's own")
            }
            ServerTcpError::Kernel(e) => write!(f, "Server::TCP: cannot start the listener: {e}"),
        }
    }
}

impl std::error::Error for ServerTcpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerTcpError::Kernel(e) => Some(e),
            _ => None,
        }
    }
}
