//! Wheels (POE::Wheel::*): I/O state machines that live in a session's heap
//! and talk to it through named events.
//!
//! - [`SocketFactory`]: listen and accept, or connect (POE::Wheel::SocketFactory).
//! - [`ReadWrite`]: buffered, filtered reads and writes on a stream
//!   (POE::Wheel::ReadWrite).
//!
//! As in POE, a wheel is created inside a handler of the session that will
//! receive its events, keeps that session alive while it exists, and stops
//! watching when it is dropped (`delete $heap->{wheel}` is
//! `ctx.heap.wheel = None`). Wheels use only the kernel's public API: they
//! [`register`](crate::KernelHandle::register) their sources and watch them
//! with handlers of their own
//! ([`select_read_state`](crate::Ctx::select_read_state)), named as POE
//! names them (`"POE::Wheel::ReadWrite(3) -> select read"`), so CALLER_STATE
//! in the events they send reads as in POE.

mod error;
mod read_write;
mod socket_factory;

pub use self::error::WheelError;
pub use self::read_write::{ReadWrite, ReadWriteBuilder};
pub use self::socket_factory::{SocketDomain, SocketFactory, SocketFactoryBuilder};

use std::sync::atomic::{AtomicU64, Ordering};

/// A new wheel id (POE's `POE::Wheel::allocate_wheel_id`): unique in the
/// process, counting from 1.
pub fn allocate_wheel_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The errno of an I/O error, 0 if it has none.
pub(crate) fn errno_of(e: &std::io::Error) -> i64 {
    e.raw_os_error().map_or(0, i64::from)
}

/// POE's `$!` text for an I/O error: the OS message without Rust's
/// " (os error N)" suffix.
pub(crate) fn errstr_of(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// An address as text, as POE's `inet_ntoa`: IPv4 written by hand (the
/// standard formatter costs more than the accept it reports), IPv6 by the
/// standard library.
pub(crate) fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut s = String::with_capacity(15);
            for (k, octet) in v4.octets().into_iter().enumerate() {
                if k > 0 {
                    s.push('.');
                }
                if octet >= 100 {
                    s.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    s.push(char::from(b'0' + octet / 10 % 10));
                }
                s.push(char::from(b'0' + octet % 10));
            }
            s
        }
        std::net::IpAddr::V6(_) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    /// The hand-written IPv4 text is the standard one for every octet value.
    #[test]
    fn ip_text_matches_the_standard_formatter() {
        for octet in 0..=255u8 {
            for ip in [
                Ipv4Addr::new(octet, 0, 10, 255),
                Ipv4Addr::new(127, octet, 1, 100),
                Ipv4Addr::new(9, 99, octet, 199),
                Ipv4Addr::new(200, 1, 0, octet),
            ] {
                assert_eq!(super::ip_text(IpAddr::V4(ip)), ip.to_string());
            }
        }
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(super::ip_text(v6), "::1");
    }
}
