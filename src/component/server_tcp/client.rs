//! The default acceptor's connection sessions (SPEC §8.3): one session per
//! connection, child of the listener, holding the ReadWrite wheel as
//! `HEAP{client}`; the Client* callbacks run here.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;

use mio::net::{TcpStream, UnixStream};

use super::config::Config;
use super::listener::{run, ListenerHeap};
use crate::filter::{Filter, Line};
use crate::wheel::ReadWrite;
use crate::{
    args, AlarmId, Args, Ctx, Session, SessionId, SharedStates, StateTable, Value, ARG0, ARG1, ARG2,
};

/// `HEAP{client}`: the connection's ReadWrite wheel, gone (`None`) once the
/// connection has ended. Its methods do nothing, with a debug log line,
/// when the wheel is gone, where Perl would die on an undefined value.
#[derive(Default)]
pub struct Client(Option<ReadWrite>);

impl Client {
    /// The wheel, while the connection lasts.
    pub fn wheel(&self) -> Option<&ReadWrite> {
        self.0.as_ref()
    }

    /// Whether the connection still has its wheel.
    pub fn is_connected(&self) -> bool {
        self.0.is_some()
    }

    /// Drops the wheel (POE's `delete $heap->{client}`): the socket closes.
    pub fn close(&mut self) {
        self.0 = None;
    }

    /// Sends one record to the client ([`ReadWrite::put`]); returns whether
    /// buffered output reached HighMark.
    #[inline]
    pub fn put(&self, record: impl Into<Value>) -> bool {
        match &self.0 {
            Some(w) => w.put(record),
            None => {
                log::debug!("put on a closed connection: dropped");
                false
            }
        }
    }

    /// Sends several records ([`ReadWrite::put_all`]).
    pub fn put_all(&self, records: Vec<Value>) -> bool {
        match &self.0 {
            Some(w) => w.put_all(records),
            None => false,
        }
    }

    /// Octets buffered for the client.
    pub fn get_driver_out_octets(&self) -> usize {
        self.0.as_ref().map_or(0, ReadWrite::get_driver_out_octets)
    }

    /// Stops reading from the client ([`ReadWrite::pause_input`]).
    pub fn pause_input(&self) {
        if let Some(w) = &self.0 {
            w.pause_input();
        }
    }

    /// Reads from the client again ([`ReadWrite::resume_input`]).
    pub fn resume_input(&self) {
        if let Some(w) = &self.0 {
            w.resume_input();
        }
    }

    /// The wheel's id (POE's `$heap->{client}->ID`), 0 once closed.
    #[allow(non_snake_case)]
    pub fn ID(&self) -> u64 {
        self.0.as_ref().map_or(0, ReadWrite::id)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Client").field(&self.0).finish()
    }
}

/// A connection session's heap: POE's client HEAP members, beside the
/// program's own data in `user`.
pub struct ClientHeap<C> {
    /// POE's `HEAP{client}`: the ReadWrite wheel.
    pub client: Client,
    /// POE's `HEAP{remote_ip}` (`"LOCAL"` for Unix sockets).
    pub remote_ip: String,
    /// POE's `HEAP{remote_port}` (0 for Unix sockets).
    pub remote_port: u16,
    /// POE's `HEAP{remote_addr}` (documented by POE, never set there).
    pub remote_addr: Option<SocketAddr>,
    /// POE's `HEAP{shutdown}`: a shutdown is under way; input is ignored,
    /// and the connection ends at the next FlushedEvent.
    pub shutdown: bool,
    /// POE's `HEAP{shutdown_on_error}`.
    pub shutdown_on_error: bool,
    /// POE's `HEAP{got_an_error}`: end without flushing.
    pub got_an_error: bool,
    /// The listener session.
    pub listener: SessionId,
    /// The program's own connection data.
    pub user: C,
    drain_alarm: Option<AlarmId>,
    /// Output is shut (FIN sent); input is read and discarded until the
    /// peer closes, so closing never resets the peer while our last bytes
    /// are on their way.
    lingering: bool,
}

impl<C: fmt::Debug> fmt::Debug for ClientHeap<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHeap")
            .field("remote_ip", &self.remote_ip)
            .field("remote_port", &self.remote_port)
            .field("shutdown", &self.shutdown)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// An accepted socket of either domain.
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn fd(&self) -> i64 {
        match self {
            Socket::Tcp(s) => i64::from(s.as_raw_fd()),
            Socket::Unix(s) => i64::from(s.as_raw_fd()),
        }
    }
}

/// Perl's truth for a callback's return value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Undef => false,
        Value::Bool(b) => *b,
        Value::Int(n) => *n != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty() && s != "0",
        _ => true,
    }
}

/// The default acceptor: one connection session per accepted socket.
pub(crate) fn accept<L: 'static, C: 'static>(
    ctx: &mut Ctx<'_, ListenerHeap<L>>,
    cfg: &Rc<Config<L, C>>,
    table: &SharedStates<ClientHeap<C>>,
    mut args: Args,
) {
    let socket = match args.take_shared::<TcpStream>(ARG0) {
        Ok(s) => Socket::Tcp(s),
        Err(_) => match args.take_shared::<UnixStream>(ARG0) {
            Ok(s) => Socket::Unix(s),
            Err(e) => {
                log::error!("Server::TCP: accepted something that is not a socket: {e}");
                ctx.heap.connections = ctx.heap.connections.saturating_sub(1);
                return;
            }
        },
    };
    let (remote_ip, remote_port, remote_addr) = match &socket {
        Socket::Tcp(s) => {
            let ip = args.get::<&str>(ARG1).unwrap_or("").to_owned();
            let port = args.get::<i64>(ARG2).unwrap_or(0) as u16;
            // The accept already told us the peer: no getpeername(2) call.
            let addr = match ip.parse::<IpAddr>() {
                Ok(a) => Some(SocketAddr::new(a, port)),
                Err(_) => s.peer_addr().ok(),
            };
            (ip, port, addr)
        }
        Socket::Unix(_) => ("LOCAL".to_owned(), 0, None),
    };
    let heap = ClientHeap {
        client: Client(None),
        remote_ip,
        remote_port,
        remote_addr,
        shutdown: false,
        shutdown_on_error: cfg.shutdown_on_error,
        got_an_error: false,
        listener: ctx.session(),
        user: (cfg.client_heap)(),
        drain_alarm: None,
        lingering: false,
    };
    let mut start_args = Args::new();
    start_args.push(Value::shared(socket));
    start_args.extend(cfg.client_args.iter().cloned());
    let mut session = Session::with_shared_states(heap, table);
    for (name, value) in &cfg.client_options {
        session = session.option(name, value.clone());
    }
    let created = session.args(start_args).create(ctx);
    if let Err(e) = created {
        log::error!("Server::TCP: cannot start a connection session: {e}");
        ctx.heap.connections = ctx.heap.connections.saturating_sub(1);
    }
}

/// The connection sessions' states, built once per server and shared by
/// every connection: the component's, then the program's InlineStates (a
/// `_stop` of the program's runs after the component's).
pub(crate) fn states<L: 'static, C: 'static>(
    cfg: &Rc<Config<L, C>>,
) -> SharedStates<ClientHeap<C>> {
    let mut s = StateTable::new();
    let c = cfg.clone();
    s = s.inline_state("_start", move |ctx, args| start(ctx, &c, args));
    // ClientInput is the state (as in POE, where the callback is the
    // state): its outcome is the state's, a failure is logged by the
    // kernel as any handler's, and nothing wraps it (see `client_input`).
    s = match &cfg.client_input {
        Some(input) => s.handler_state("tcp_server_got_input", input.clone()),
        None => s.inline_state("tcp_server_got_input", |_, _| ()),
    };
    let c = cfg.clone();
    s = s.inline_state("tcp_server_got_error", move |ctx, args| {
        got_error(ctx, &c, args)
    });
    let c = cfg.clone();
    s = s.inline_state(
        "tcp_server_got_flush",
        move |ctx: &mut Ctx<'_, ClientHeap<C>>, args| {
            if let Some(flushed) = &c.client_flushed {
                run(flushed, ctx, args.clone());
            }
            if ctx.heap.shutdown && ctx.heap.client.is_connected() {
                disconnect(ctx, &c, args);
            }
        },
    );
    let c = cfg.clone();
    s = s.inline_state("shutdown", move |ctx, args| shutdown(ctx, &c, args));
    let c = cfg.clone();
    s = s.inline_state("tcp_server_got_drain_timeout", move |ctx: &mut Ctx<'_, ClientHeap<C>>, args| {
        ctx.heap.drain_alarm = None;
        if ctx.heap.lingering {
            ctx.heap.client.close();
            return;
        }
        if ctx.heap.client.is_connected() {
            log::warn!(
                "Server::TCP connection {} ({}:{}): output not drained in time; closing with {} octets unsent",
                ctx.kernel.session(),
                ctx.heap.remote_ip,
                ctx.heap.remote_port,
                ctx.heap.client.get_driver_out_octets()
            );
            ctx.heap.got_an_error = true;
            disconnect(ctx, &c, args);
        }
    });
    let c = cfg.clone();
    s = s.inline_state(
        "tcp_server_got_high",
        move |ctx: &mut Ctx<'_, ClientHeap<C>>, args| {
            if let Some(high) = &c.client_high {
                run(high, ctx, args);
            }
        },
    );
    let c = cfg.clone();
    s = s.inline_state(
        "tcp_server_got_low",
        move |ctx: &mut Ctx<'_, ClientHeap<C>>, args| {
            if let Some(low) = &c.client_low {
                run(low, ctx, args);
            }
        },
    );
    s = s.inline_state("_child", |_: &mut Ctx<'_, ClientHeap<C>>, _| {});
    let mut user_stop = None;
    for (name, cb) in &cfg.client_states {
        if name.as_str() == "_stop" {
            user_stop = Some(cb.clone());
            continue;
        }
        let cb = cb.clone();
        s = s.inline_state(name.clone(), move |ctx, args| cb(ctx, args));
    }
    s.inline_state("_stop", move |ctx: &mut Ctx<'_, ClientHeap<C>>, args| {
        let listener = ctx.heap.listener;
        // The listener may be gone already (it stopped first): fine.
        let _ = ctx.kernel.call(listener, "disconnected", args![]);
        if let Some(stop) = &user_stop {
            run(stop, ctx, args);
        }
    })
    .build()
}

fn start<L: 'static, C: 'static>(
    ctx: &mut Ctx<'_, ClientHeap<C>>,
    cfg: &Rc<Config<L, C>>,
    mut args: Args,
) {
    let Ok(socket) = args.take_shared::<Socket>(ARG0) else {
        log::error!(
            "Server::TCP connection {}: started without a socket",
            ctx.session()
        );
        return;
    };
    let client_args: Vec<Value> = args.into_vec().into_iter().skip(1).collect();
    if let Some(pre) = &cfg.client_pre_connect {
        let verdict = run(
            pre,
            ctx,
            args![socket.fd(), Value::List(client_args.clone())],
        );
        if !truthy(&verdict) {
            log::debug!(
                "Server::TCP connection {} from {}: refused by ClientPreConnect",
                ctx.session(),
                ctx.heap.remote_ip
            );
            return; // no wheel: the socket closes, the session ends
        }
    }
    let (input, output): (Box<dyn Filter>, Box<dyn Filter>) = match (
        &cfg.client_input_filter,
        &cfg.client_output_filter,
        &cfg.client_filter,
    ) {
        (Some(i), Some(o), _) => (i(), o()),
        (_, _, Some(f)) => {
            let f = f();
            let o = f.fresh();
            (f, o)
        }
        _ => (Box::new(Line::new()), Box::new(Line::new())),
    };
    let mut b = match socket {
        Socket::Tcp(s) => ReadWrite::new(s),
        Socket::Unix(s) => ReadWrite::new(s),
    }
    .boxed_filters(input, output)
    .input_event("tcp_server_got_input")
    .error_event("tcp_server_got_error")
    .flushed_event("tcp_server_got_flush");
    if let (Some(high), Some(low)) = (cfg.high_mark, cfg.low_mark) {
        b = b
            .high_mark(high)
            .low_mark(low)
            .high_event("tcp_server_got_high")
            .low_event("tcp_server_got_low");
    }
    if let Some(budget) = cfg.read_budget {
        b = b.read_budget(budget);
    }
    match b.create(ctx) {
        Ok(w) => ctx.heap.client = Client(Some(w)),
        Err(e) => {
            log::error!("Server::TCP connection {}: {e}", ctx.session());
            return;
        }
    }
    if let Some(connected) = &cfg.client_connected {
        run(connected, ctx, Args::from(client_args));
    }
}

fn got_error<L: 'static, C: 'static>(
    ctx: &mut Ctx<'_, ClientHeap<C>>,
    cfg: &Rc<Config<L, C>>,
    args: Args,
) {
    if ctx.heap.lingering {
        // The peer closed (or failed) after our graceful end: done.
        ctx.heap.client.close();
        if let Some(alarm) = ctx.heap.drain_alarm.take() {
            let _ = ctx.kernel.alarm_remove(alarm);
        }
        return;
    }
    let op = args.get::<&str>(ARG0).unwrap_or("").to_owned();
    let errnum = args.get::<i64>(ARG1).unwrap_or(0);
    let econnaborted = nix::errno::Errno::ECONNABORTED as i64;
    let econnreset = nix::errno::Errno::ECONNRESET as i64;
    if op == "accept" && errnum == econnaborted {
        return;
    }
    match &cfg.client_error {
        Some(error) => {
            run(error, ctx, args);
        }
        None => {
            if !(op == "read" && (errnum == 0 || errnum == econnreset)) {
                let errstr = args.get::<&str>(ARG2).unwrap_or("");
                let errstr = if errnum == 0 { "(no error)" } else { errstr };
                log::warn!(
                    "Server::TCP client session {} ({}:{}) got {op} error {errnum} ({errstr})",
                    ctx.kernel.session(),
                    ctx.heap.remote_ip,
                    ctx.heap.remote_port
                );
            }
        }
    }
    let eof = op == "read" && errnum == 0;
    if eof && cfg.keep_half_open {
        return; // the program yields `shutdown` when it has answered
    }
    if ctx.heap.shutdown_on_error {
        // End of file is a graceful end: a client that only shut down its
        // sending side still gets what is buffered (POE drops it).
        if !(op == "read" && errnum == 0) {
            ctx.heap.got_an_error = true;
        }
        ctx.kernel.yield_("shutdown", args![]);
    }
}

fn shutdown<L: 'static, C: 'static>(
    ctx: &mut Ctx<'_, ClientHeap<C>>,
    cfg: &Rc<Config<L, C>>,
    args: Args,
) {
    ctx.heap.shutdown = true;
    if !ctx.heap.client.is_connected() {
        return;
    }
    if ctx.heap.got_an_error || ctx.heap.client.get_driver_out_octets() == 0 {
        disconnect(ctx, cfg, args);
        return;
    }
    ctx.heap.client.pause_input();
    if let (Some(seconds), None) = (cfg.drain_timeout, ctx.heap.drain_alarm) {
        ctx.heap.drain_alarm = Some(ctx.kernel.delay_set(
            "tcp_server_got_drain_timeout",
            seconds,
            args![],
        ));
    }
}

/// ClientDisconnected, then the wheel goes.
fn disconnect<L: 'static, C: 'static>(
    ctx: &mut Ctx<'_, ClientHeap<C>>,
    cfg: &Rc<Config<L, C>>,
    args: Args,
) {
    if let Some(disconnected) = &cfg.client_disconnected {
        run(disconnected, ctx, args);
    }
    if let Some(alarm) = ctx.heap.drain_alarm.take() {
        let _ = ctx.kernel.alarm_remove(alarm);
    }
    // A graceful end shuts our side first and reads what the peer still
    // sends until it closes (at most LINGER seconds): closing a socket with
    // unread input would reset the peer, and a reset can destroy the last
    // bytes we sent before the peer has read them.
    let linger = match ctx.heap.client.wheel() {
        Some(w) if !ctx.heap.got_an_error && !w.input_ended() => {
            w.shutdown_output();
            w.resume_input();
            true
        }
        _ => false,
    };
    if linger {
        ctx.heap.lingering = true;
        ctx.heap.drain_alarm = Some(ctx.kernel.delay_set(
            "tcp_server_got_drain_timeout",
            LINGER,
            args![],
        ));
    } else {
        ctx.heap.client.close();
    }
}

/// Seconds a gracefully closed connection waits for the peer to close.
const LINGER: f64 = 2.0;
