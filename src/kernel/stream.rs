//! Byte streams the kernel watches for wheels: the one place that names
//! mio's stream types, so that another kind of stream (an in-memory one
//! driven by virtual time, say) needs no change to the wheels.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;

use mio::event::Source;
use mio::{Interest, Registry, Token};

/// A non-blocking, watchable byte stream: what `ReadWrite` reads and writes.
pub trait ByteStream: Read + Write + Source + 'static {
    /// Shuts down one or both directions (`shutdown(2)`).
    ///
    /// # Errors
    /// The OS error.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;

    /// The peer's address as text, if the stream has one (for logs).
    fn peer_name(&self) -> Option<String> {
        None
    }

    /// Whether a read that fills less than its buffer proves the stream's
    /// receive buffer empty, so that a reader may stop without one more
    /// read that only returns `WouldBlock` (see
    /// [`KernelHandle::input_closed`](crate::KernelHandle::input_closed)).
    /// True of stream sockets (epoll(7)); the default, `false`, reads until
    /// `WouldBlock`, right for any stream.
    fn short_read_drains(&self) -> bool {
        false
    }
}

impl ByteStream for mio::net::TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::TcpStream::shutdown(self, how)
    }
    fn peer_name(&self) -> Option<String> {
        self.peer_addr().ok().map(|a| a.to_string())
    }
    fn short_read_drains(&self) -> bool {
        true
    }
}

impl ByteStream for mio::net::UnixStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::UnixStream::shutdown(self, how)
    }
    fn short_read_drains(&self) -> bool {
        true
    }
}

/// A stream shared by a wheel and the kernel that watches it: the wheel
/// reads and writes it, the kernel registers it. Cloning shares it; the
/// stream closes when the last clone is dropped.
#[derive(Clone)]
pub struct SharedStream(Rc<RefCell<dyn ByteStream>>);

impl SharedStream {
    /// Shares `stream`.
    pub fn new<S: ByteStream>(stream: S) -> Self {
        SharedStream(Rc::new(RefCell::new(stream)))
    }

    /// Borrows the stream. Never hold the borrow across a kernel call.
    pub fn get(&self) -> RefMut<'_, dyn ByteStream> {
        self.0.borrow_mut()
    }
}

impl fmt::Debug for SharedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedStream").finish_non_exhaustive()
    }
}

impl Source for SharedStream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.0.borrow_mut().register(registry, token, interests)
    }
    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.0.borrow_mut().reregister(registry, token, interests)
    }
    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.0.borrow_mut().deregister(registry)
    }
}
