//! POE::Wheel::SocketFactory: listen and accept, or connect (SPEC §6).
//!
//! Listening: every connection accepted is a SuccessEvent
//! `(socket, peer_address, peer_port, wheel_id)`, called synchronously, up
//! to a budget per wakeup (then the wheel is visited again at the next
//! poll). Accept errors never spin: errors that concern one connection
//! (aborted, reset, refused by a firewall) are skipped; running out of
//! descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses accepting
//! and retries from a timer, with one log line per episode.
//!
//! Connecting: non-blocking; SuccessEvent `(socket, peer_address,
//! peer_port, wheel_id)` once connected, FailureEvent `("connect", errnum,
//! errstr, wheel_id)` if refused, unreachable or timed out (by the OS, or by
//! [`connect_timeout`](SocketFactoryBuilder::connect_timeout)).
//!
//! Construction failures (a name that does not resolve, an address in use)
//! reach the session as a FailureEvent, yielded, as in POE.
//!
//! The socket in ARG0 is a `mio::net::TcpStream` (or `UnixStream`), taken
//! with `args.take_shared::<TcpStream>(ARG0)`; the address is text (POE
//! passes it packed).

use std::cell::RefCell;
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::rc::Rc;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use socket2::{Domain, Protocol, Socket, Type};

use super::{allocate_wheel_id, errno_of, errstr_of, WheelError};
use crate::{args, Ctx, EventName, HandleId, Registration, Value};

/// Connections accepted per wakeup before other sources get a turn.
const ACCEPT_BUDGET: usize = 64;
/// Seconds between accept retries while out of descriptors or memory.
const DEFAULT_RETRY_DELAY: f64 = 0.1;

/// The socket domain (POE's `SocketDomain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SocketDomain {
    /// IPv4 (`AF_INET`, the default).
    #[default]
    Inet,
    /// IPv6 (`AF_INET6`); listening sockets are IPv6-only, so `::` and
    /// `0.0.0.0` can both be bound.
    Inet6,
    /// Unix-domain stream sockets (`AF_UNIX`): addresses are paths.
    Unix,
}

/// Settings for a [`SocketFactory`] (POE's constructor parameters).
#[derive(Clone, Debug, Default)]
pub struct SocketFactoryBuilder {
    domain: SocketDomain,
    bind_address: Option<String>,
    bind_port: Option<u16>,
    remote_address: Option<String>,
    remote_port: Option<u16>,
    listen_queue: Option<i32>,
    reuse: bool,
    success_event: Option<EventName>,
    failure_event: Option<EventName>,
    connect_timeout: Option<f64>,
    retry_delay: Option<f64>,
}

/// Listens and accepts, or connects (POE::Wheel::SocketFactory).
///
/// Created inside a handler; its events go to that session. Dropping it
/// stops accepting and closes the listening socket (POE's `delete
/// $heap->{server}`), or abandons a connect in progress.
pub struct SocketFactory(Rc<RefCell<Inner>>);

enum Role {
    Listening,
    Connecting,
    /// Failed at construction, or connected: nothing is watched.
    Inert,
}

struct Inner {
    id: u64,
    reg: Option<Registration>,
    role: Role,
    domain: SocketDomain,
    local: Option<SocketAddr>,
    success: EventName,
    failure: EventName,
    /// Paused by the user (`pause_accept`), not by a shortage.
    user_paused: bool,
    /// In a descriptor or memory shortage episode (for the one log line).
    starved: bool,
    /// A retry timer is set.
    retry_pending: bool,
    retries: u64,
    retry_delay: f64,
}

impl SocketFactory {
    /// Starts building a wheel (POE's `POE::Wheel::SocketFactory->new`).
    // The POE name is kept for porters: `SocketFactory::new()...create(ctx)`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> SocketFactoryBuilder {
        SocketFactoryBuilder::default()
    }
}

impl SocketFactoryBuilder {
    /// POE's `SocketDomain` (default [`SocketDomain::Inet`]).
    pub fn socket_domain(mut self, domain: SocketDomain) -> Self {
        self.domain = domain;
        self
    }

    /// POE's `BindAddress`: an IP address, a host name (resolved now, as
    /// POE does, blocking), or for Unix sockets a path. Default: any.
    pub fn bind_address(mut self, address: impl Into<String>) -> Self {
        self.bind_address = Some(address.into());
        self
    }

    /// POE's `BindPort` (0, the default, picks a free port).
    pub fn bind_port(mut self, port: u16) -> Self {
        self.bind_port = Some(port);
        self
    }

    /// POE's `RemoteAddress`: connect rather than listen.
    pub fn remote_address(mut self, address: impl Into<String>) -> Self {
        self.remote_address = Some(address.into());
        self
    }

    /// POE's `RemotePort`.
    pub fn remote_port(mut self, port: u16) -> Self {
        self.remote_port = Some(port);
        self
    }

    /// POE's `ListenQueue` (default `SOMAXCONN`).
    pub fn listen_queue(mut self, backlog: i32) -> Self {
        self.listen_queue = Some(backlog);
        self
    }

    /// POE's `Reuse`: `SO_REUSEADDR` on the socket.
    pub fn reuse(mut self, on: bool) -> Self {
        self.reuse = on;
        self
    }

    /// POE's `SuccessEvent` (required).
    pub fn success_event(mut self, name: impl Into<EventName>) -> Self {
        self.success_event = Some(name.into());
        self
    }

    /// POE's `FailureEvent` (required).
    pub fn failure_event(mut self, name: impl Into<EventName>) -> Self {
        self.failure_event = Some(name.into());
        self
    }

    /// Gives up a connect after `seconds`, with FailureEvent `("connect",
    /// ETIMEDOUT, ...)`. POE has no such timeout; without it the OS decides.
    pub fn connect_timeout(mut self, seconds: f64) -> Self {
        self.connect_timeout = Some(seconds);
        self
    }

    /// Seconds between accept retries while out of descriptors or memory
    /// (default 0.1).
    pub fn accept_retry_delay(mut self, seconds: f64) -> Self {
        self.retry_delay = Some(seconds);
        self
    }

    /// Creates the wheel in the running session: listens, or starts
    /// connecting. A failure here (a name that does not resolve, an address
    /// in use) is *yielded* to the session as FailureEvent `(operation,
    /// errnum, errstr, wheel_id)`, as POE does, and the wheel is inert.
    ///
    /// # Errors
    /// [`WheelError::Config`] without SuccessEvent or FailureEvent, or for
    /// an Internet `RemoteAddress` without `RemotePort` (POE croaks).
    pub fn create<H: 'static>(self, ctx: &mut Ctx<'_, H>) -> Result<SocketFactory, WheelError> {
        let success = self
            .success_event
            .clone()
            .ok_or(WheelError::Config("SuccessEvent is required"))?;
        let failure = self
            .failure_event
            .clone()
            .ok_or(WheelError::Config("FailureEvent is required"))?;
        if self.remote_address.is_some()
            && self.remote_port.is_none()
            && self.domain != SocketDomain::Unix
        {
            return Err(WheelError::Config("RemoteAddress needs a RemotePort"));
        }
        let id = allocate_wheel_id();
        let inner = Rc::new(RefCell::new(Inner {
            id,
            reg: None,
            role: Role::Inert,
            domain: self.domain,
            local: None,
            success,
            failure: failure.clone(),
            user_paused: false,
            starved: false,
            retry_pending: false,
            retries: 0,
            retry_delay: self.retry_delay.unwrap_or(DEFAULT_RETRY_DELAY),
        }));
        let started = if self.remote_address.is_some() {
            self.start_connect(ctx, &inner)
        } else {
            self.start_listen(ctx, &inner)
        };
        if let Err((op, e)) = started {
            log::debug!("SocketFactory({id}): {op} failed: {e}");
            ctx.yield_(failure, args![op, errno_of(&e), errstr_of(&e), id as i64]);
        }
        Ok(SocketFactory(inner))
    }

    /// The address to bind or connect to, resolved.
    fn resolve(
        &self,
        address: Option<&str>,
        port: u16,
    ) -> Result<SocketAddr, (&'static str, io::Error)> {
        let v6 = self.domain == SocketDomain::Inet6;
        let Some(address) = address else {
            let any = if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            return Ok(SocketAddr::new(any, port));
        };
        if let Ok(ip) = address.parse::<IpAddr>() {
            if ip.is_ipv6() != v6 {
                return Err((
                    "getaddrinfo",
                    io::Error::from_raw_os_error(nix::errno::Errno::EAFNOSUPPORT as i32),
                ));
            }
            return Ok(SocketAddr::new(ip, port));
        }
        let found = (address, port)
            .to_socket_addrs()
            .map_err(|e| ("getaddrinfo", e))?
            .find(|a| a.is_ipv6() == v6);
        found.ok_or_else(|| {
            (
                "getaddrinfo",
                io::Error::new(ErrorKind::NotFound, format!("no address for {address}")),
            )
        })
    }

    fn tcp_socket(&self, addr: &SocketAddr) -> Result<Socket, (&'static str, io::Error)> {
        let domain = if addr.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let socket =
            Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(|e| ("socket", e))?;
        if self.reuse {
            socket
                .set_reuse_address(true)
                .map_err(|e| ("setsockopt", e))?;
        }
        if addr.is_ipv6() {
            socket.set_only_v6(true).map_err(|e| ("setsockopt", e))?;
        }
        socket.set_nonblocking(true).map_err(|e| ("fcntl", e))?;
        Ok(socket)
    }

    fn start_listen<H: 'static>(
        &self,
        ctx: &mut Ctx<'_, H>,
        inner: &Rc<RefCell<Inner>>,
    ) -> Result<(), (&'static str, io::Error)> {
        let backlog = self.listen_queue.unwrap_or(1024);
        let reg = if self.domain == SocketDomain::Unix {
            let path = PathBuf::from(self.bind_address.clone().unwrap_or_default());
            let listener = UnixListener::bind(&path).map_err(|e| ("bind", e))?;
            ctx.kernel.register(listener)
        } else {
            let addr = self.resolve(self.bind_address.as_deref(), self.bind_port.unwrap_or(0))?;
            let socket = self.tcp_socket(&addr)?;
            socket.bind(&addr.into()).map_err(|e| ("bind", e))?;
            socket.listen(backlog).map_err(|e| ("listen", e))?;
            let local = socket.local_addr().ok().and_then(|a| a.as_socket());
            inner.borrow_mut().local = local;
            let listener = TcpListener::from_std(socket.into());
            ctx.kernel.register(listener)
        };
        let h = reg.id();
        let id = {
            let mut i = inner.borrow_mut();
            i.reg = Some(reg);
            i.role = Role::Listening;
            i.id
        };
        let weak = Rc::downgrade(inner);
        let watched = ctx.select_read_state(
            h,
            format!("POE::Wheel::SocketFactory({id}) -> select accept"),
            move |ctx: &mut Ctx<'_, H>, _| {
                if let Some(rc) = weak.upgrade() {
                    on_accept(ctx, &rc, h);
                }
            },
        );
        if let Err(e) = watched {
            log::error!("SocketFactory({id}): watching its own socket failed: {e}");
        }
        Ok(())
    }

    fn start_connect<H: 'static>(
        &self,
        ctx: &mut Ctx<'_, H>,
        inner: &Rc<RefCell<Inner>>,
    ) -> Result<(), (&'static str, io::Error)> {
        let reg = if self.domain == SocketDomain::Unix {
            let path = PathBuf::from(self.remote_address.clone().unwrap_or_default());
            let stream = UnixStream::connect(&path).map_err(|e| ("connect", e))?;
            ctx.kernel.register(stream)
        } else {
            let remote = self.resolve(
                self.remote_address.as_deref(),
                self.remote_port.unwrap_or(0),
            )?;
            let socket = self.tcp_socket(&remote)?;
            if self.bind_address.is_some() || self.bind_port.is_some() {
                let local =
                    self.resolve(self.bind_address.as_deref(), self.bind_port.unwrap_or(0))?;
                socket.bind(&local.into()).map_err(|e| ("bind", e))?;
            }
            match socket.connect(&remote.into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(("connect", e)),
            }
            let stream = TcpStream::from_std(socket.into());
            ctx.kernel.register(stream)
        };
        let h = reg.id();
        let id = {
            let mut i = inner.borrow_mut();
            i.reg = Some(reg);
            i.role = Role::Connecting;
            i.id
        };
        let weak = Rc::downgrade(inner);
        let watched = ctx.select_write_state(
            h,
            format!("POE::Wheel::SocketFactory({id}) -> select connect"),
            move |ctx: &mut Ctx<'_, H>, _| {
                if let Some(rc) = weak.upgrade() {
                    on_connect(ctx, &rc, h, None);
                }
            },
        );
        if let Err(e) = watched {
            log::error!("SocketFactory({id}): watching its own socket failed: {e}");
        }
        if let Some(seconds) = self.connect_timeout {
            let weak = Rc::downgrade(inner);
            ctx.delay_set_state(
                format!("POE::Wheel::SocketFactory({id}) -> connect timeout"),
                seconds,
                args![],
                move |ctx: &mut Ctx<'_, H>, _| {
                    if let Some(rc) = weak.upgrade() {
                        let timed_out =
                            io::Error::from_raw_os_error(nix::errno::Errno::ETIMEDOUT as i32);
                        on_connect(ctx, &rc, h, Some(timed_out));
                    }
                },
            );
        }
        Ok(())
    }
}

/// Whether an accept error concerns one connection only.
fn per_connection(e: &io::Error) -> bool {
    use nix::errno::Errno;
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) || e.raw_os_error().is_some_and(|n| {
        [
            Errno::EPROTO,
            Errno::EPERM,
            Errno::ENOPROTOOPT,
            Errno::EHOSTDOWN,
            Errno::ENONET,
            Errno::EHOSTUNREACH,
            Errno::EOPNOTSUPP,
            Errno::ENETUNREACH,
            Errno::ENETDOWN,
        ]
        .iter()
        .any(|x| *x as i32 == n)
    })
}

/// Whether an accept error means the process or system ran out of something.
fn resource_shortage(e: &io::Error) -> bool {
    use nix::errno::Errno;
    e.raw_os_error().is_some_and(|n| {
        [Errno::EMFILE, Errno::ENFILE, Errno::ENOBUFS, Errno::ENOMEM]
            .iter()
            .any(|x| *x as i32 == n)
    })
}

/// One accepted connection, whatever the domain.
enum Accepted {
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream, Option<String>),
}

fn accept_one<H: 'static>(
    ctx: &mut Ctx<'_, H>,
    h: HandleId,
    domain: SocketDomain,
) -> Option<io::Result<Accepted>> {
    if domain == SocketDomain::Unix {
        let l = ctx.kernel.io::<UnixListener>(h)?;
        Some(l.accept().map(|(s, a)| {
            let path = a.as_pathname().map(|p| p.display().to_string());
            Accepted::Unix(s, path)
        }))
    } else {
        let l = ctx.kernel.io::<TcpListener>(h)?;
        Some(l.accept().map(|(s, a)| Accepted::Tcp(s, a)))
    }
}

/// The listening socket's read handler.
fn on_accept<H: 'static>(ctx: &mut Ctx<'_, H>, rc: &Rc<RefCell<Inner>>, h: HandleId) {
    let me = ctx.session();
    for _ in 0..ACCEPT_BUDGET {
        let domain = rc.borrow().domain;
        let Some(result) = accept_one(ctx, h, domain) else {
            return;
        };
        match result {
            Ok(accepted) => {
                let (id, success) = {
                    let mut i = rc.borrow_mut();
                    if i.starved {
                        log::info!(
                            "SocketFactory({}): accepting again after {} retries",
                            i.id,
                            i.retries
                        );
                        i.starved = false;
                        i.retries = 0;
                    }
                    (i.id, i.success.clone())
                };
                let args = match accepted {
                    Accepted::Tcp(s, a) => {
                        args![
                            Value::shared(s),
                            super::ip_text(a.ip()),
                            i64::from(a.port()),
                            id as i64
                        ]
                    }
                    Accepted::Unix(s, path) => {
                        let path = path.map_or(Value::Undef, Value::from);
                        args![Value::shared(s), path, Value::Undef, id as i64]
                    }
                };
                let _ = ctx.call(me, success, args);
                if Rc::strong_count(rc) == 1 || rc.borrow().user_paused {
                    return; // dropped or paused by the session
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if per_connection(&e) => {
                log::debug!("SocketFactory: accept skipped a connection: {e}");
            }
            Err(e) if resource_shortage(&e) => {
                starve(ctx, rc, h, &e);
                return;
            }
            Err(e) => {
                let (id, failure) = {
                    let i = rc.borrow();
                    (i.id, i.failure.clone())
                };
                let _ = ctx.call(
                    me,
                    failure,
                    args!["accept", errno_of(&e), errstr_of(&e), id as i64],
                );
                return;
            }
        }
    }
    if let Some(reg) = rc.borrow().reg.as_ref() {
        reg.wake_read();
    }
}

/// Out of descriptors or memory: stop accepting, retry from a timer.
fn starve<H: 'static>(ctx: &mut Ctx<'_, H>, rc: &Rc<RefCell<Inner>>, h: HandleId, e: &io::Error) {
    let (id, delay) = {
        let mut i = rc.borrow_mut();
        if !i.starved {
            log::warn!(
                "SocketFactory({}): accept failed ({e}); pausing accepts, retrying every {}s",
                i.id,
                i.retry_delay
            );
            i.starved = true;
        }
        i.retries += 1;
        if std::mem::replace(&mut i.retry_pending, true) {
            drop(i);
            ctx.kernel.select_pause_read(h);
            return; // a retry is already on its way
        }
        (i.id, i.retry_delay)
    };
    ctx.kernel.select_pause_read(h);
    let weak = Rc::downgrade(rc);
    ctx.delay_set_state(
        format!("POE::Wheel::SocketFactory({id}) -> retry accept"),
        delay,
        args![],
        move |ctx: &mut Ctx<'_, H>, _| {
            if let Some(rc) = weak.upgrade() {
                let user_paused = {
                    let mut i = rc.borrow_mut();
                    i.retry_pending = false;
                    i.user_paused
                };
                if !user_paused {
                    ctx.kernel.select_resume_read(h);
                }
            }
        },
    );
}

/// The connecting socket's write handler, or its timeout (`timed_out`).
fn on_connect<H: 'static>(
    ctx: &mut Ctx<'_, H>,
    rc: &Rc<RefCell<Inner>>,
    h: HandleId,
    timed_out: Option<io::Error>,
) {
    let (id, domain, success, failure) = {
        let mut i = rc.borrow_mut();
        if !matches!(i.role, Role::Connecting) {
            return;
        }
        i.role = Role::Inert;
        (i.id, i.domain, i.success.clone(), i.failure.clone())
    };
    let me = ctx.session();
    // POE tears the wheel down first: the socket leaves the kernel.
    let outcome: Result<(Value, Value, Value), (&str, io::Error)> = if domain == SocketDomain::Unix
    {
        match ctx.kernel.unwatch::<UnixStream>(h) {
            Err(_) => return,
            Ok(_) if timed_out.is_some() => Err(("connect", timed_out.expect("checked"))),
            Ok(s) => match s.take_error() {
                Ok(Some(e)) | Err(e) => Err(("connect", e)),
                Ok(None) => Ok((Value::shared(s), Value::Undef, Value::Undef)),
            },
        }
    } else {
        match ctx.kernel.unwatch::<TcpStream>(h) {
            Err(_) => return,
            Ok(_) if timed_out.is_some() => Err(("connect", timed_out.expect("checked"))),
            Ok(s) => match s.take_error() {
                Ok(Some(e)) | Err(e) => Err(("connect", e)),
                Ok(None) => match s.peer_addr() {
                    Ok(a) => Ok((
                        Value::shared(s),
                        Value::from(super::ip_text(a.ip())),
                        Value::from(i64::from(a.port())),
                    )),
                    Err(e) if e.kind() == ErrorKind::NotConnected => {
                        // Writable but not connected: the connect failed;
                        // SO_ERROR was read already, so ask the socket once more.
                        Err((
                            "connect",
                            io::Error::from_raw_os_error(nix::errno::Errno::ECONNREFUSED as i32),
                        ))
                    }
                    Err(e) => Err(("getpeername", e)),
                },
            },
        }
    };
    rc.borrow_mut().reg = None;
    let _ = match outcome {
        Ok((socket, addr, port)) => ctx.call(me, success, args![socket, addr, port, id as i64]),
        Err((op, e)) => ctx.call(
            me,
            failure,
            args![op, errno_of(&e), errstr_of(&e), id as i64],
        ),
    };
}

impl SocketFactory {
    /// The wheel's id (POE's `ID`).
    #[allow(non_snake_case)]
    pub fn ID(&self) -> u64 {
        self.0.borrow().id
    }

    /// The wheel's id.
    pub fn id(&self) -> u64 {
        self.0.borrow().id
    }

    /// The bound address (POE's `getsockname`): with port 0, the port the
    /// OS chose. `None` for Unix sockets and failed wheels.
    pub fn getsockname(&self) -> Option<SocketAddr> {
        self.0.borrow().local
    }

    /// Stops accepting (POE's `pause_accept`); connections wait in the
    /// backlog. A no-op unless listening.
    pub fn pause_accept(&self) {
        let mut i = self.0.borrow_mut();
        if matches!(i.role, Role::Listening) {
            i.user_paused = true;
            if let Some(reg) = i.reg.as_ref() {
                reg.pause_read();
            }
        }
    }

    /// Accepts again (POE's `resume_accept`).
    pub fn resume_accept(&self) {
        let mut i = self.0.borrow_mut();
        if matches!(i.role, Role::Listening) {
            i.user_paused = false;
            if let Some(reg) = i.reg.as_ref() {
                reg.resume_read();
            }
        }
    }

    /// Whether the wheel listens (it was built without `RemoteAddress` and
    /// did not fail).
    pub fn is_listening(&self) -> bool {
        matches!(self.0.borrow().role, Role::Listening)
    }

    /// Whether accepting is paused, by [`pause_accept`](Self::pause_accept)
    /// or by a descriptor shortage.
    pub fn accept_paused(&self) -> bool {
        let i = self.0.borrow();
        i.user_paused || i.starved
    }

    /// Renames SuccessEvent and FailureEvent (POE's `event`; `None` keeps
    /// the current name, as POE ignores undef with a warning).
    pub fn event(&self, success: Option<&str>, failure: Option<&str>) {
        let mut i = self.0.borrow_mut();
        if let Some(s) = success {
            i.success = EventName::from(s.to_owned());
        }
        if let Some(f) = failure {
            i.failure = EventName::from(f.to_owned());
        }
    }
}

impl fmt::Debug for SocketFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.0.borrow();
        f.debug_struct("SocketFactory")
            .field("id", &i.id)
            .field("local", &i.local)
            .finish_non_exhaustive()
    }
}
