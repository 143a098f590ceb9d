//! `WheelError`: what POE's wheel constructors `croak` about.

use std::fmt;

/// A wheel built with settings POE would croak on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WheelError {
    /// Inconsistent settings (what is wrong), e.g. POE's "Water mark errors".
    Config(&'static str),
}

impl fmt::Display for WheelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WheelError::Config(why) => write!(f, "invalid wheel settings: {why}"),
        }
    }
}

impl std::error::Error for WheelError {}
