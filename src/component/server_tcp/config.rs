//! `ServerTcp`: the typed builder for POE::Component::Server::TCP's
//! constructor parameters, checked when the server is created.

use std::fmt;
use std::rc::Rc;

use super::client::ClientHeap;
use super::error::ServerTcpError;
use super::listener::{self, ListenerHeap};
use crate::filter::Filter;
use crate::wheel::SocketDomain;
use crate::{
    Args, Ctx, EventName, HandlerError, HandlerReturn, SessionHost, SessionId, StateHandler, Value,
};

/// A callback as the component stores it: POE's CODE reference.
pub(crate) type Cb<Hp> = Rc<dyn Fn(&mut Ctx<'_, Hp>, Args) -> Result<Value, HandlerError>>;

/// Makes a fresh filter for each connection.
pub(crate) type FilterMaker = Rc<dyn Fn() -> Box<dyn Filter>>;

fn cb<Hp: 'static, F, R>(f: F) -> Cb<Hp>
where
    F: Fn(&mut Ctx<'_, Hp>, Args) -> R + 'static,
    R: HandlerReturn,
{
    Rc::new(move |ctx, args| f(ctx, args).into_return())
}

/// Everything the listener and connection sessions share once created.
pub(crate) struct Config<L, C> {
    pub alias: Option<String>,
    pub addresses: Vec<String>,
    pub hostname: Option<String>,
    pub port: u16,
    pub domain: SocketDomain,
    pub concurrency: i64,
    pub listen_queue: Option<i32>,
    pub acceptor: Option<Cb<ListenerHeap<L>>>,
    pub error: Option<Cb<ListenerHeap<L>>>,
    pub started: Option<Cb<ListenerHeap<L>>>,
    pub stopped: Option<Cb<ListenerHeap<L>>>,
    pub listener_args: Args,
    pub listener_states: Vec<(EventName, Cb<ListenerHeap<L>>)>,
    pub listener_options: Vec<(String, Value)>,
    pub client_heap: Rc<dyn Fn() -> C>,
    pub client_args: Args,
    /// The input state: ClientInput behind POE's shutdown check.
    pub client_input: Option<StateHandler<ClientHeap<C>>>,
    pub client_connected: Option<Cb<ClientHeap<C>>>,
    pub client_disconnected: Option<Cb<ClientHeap<C>>>,
    pub client_error: Option<Cb<ClientHeap<C>>>,
    pub client_flushed: Option<Cb<ClientHeap<C>>>,
    pub client_pre_connect: Option<Cb<ClientHeap<C>>>,
    pub client_high: Option<Cb<ClientHeap<C>>>,
    pub client_low: Option<Cb<ClientHeap<C>>>,
    pub client_filter: Option<FilterMaker>,
    pub client_input_filter: Option<FilterMaker>,
    pub client_output_filter: Option<FilterMaker>,
    pub shutdown_on_error: bool,
    pub keep_half_open: bool,
    pub high_mark: Option<usize>,
    pub low_mark: Option<usize>,
    pub client_states: Vec<(EventName, Cb<ClientHeap<C>>)>,
    pub client_options: Vec<(String, Value)>,
    pub drain_timeout: Option<f64>,
    pub read_budget: Option<usize>,
}

/// POE::Component::Server::TCP, built with its parameters as methods.
///
/// `L` is the listener session's own heap data (`ctx.heap.user` in Started,
/// Acceptor, Error, Stopped and listener states), `C` each connection
/// session's (`ctx.heap.user` in the Client* callbacks); both are `()`
/// unless set with [`with_heaps`](ServerTcp::with_heaps).
///
/// Every parameter of the user guide is here under its snake-case name:
/// `Port` is [`port`](Self::port), `ClientInput` is
/// [`client_input`](Self::client_input), and so on. [`create`](Self::create)
/// checks the combination as POE's constructor does, but returns an error
/// instead of croaking, and starts the listener session; it returns the
/// listener session's id.
pub struct ServerTcp<L = (), C = ()> {
    listener_heap: L,
    cfg: Config<L, C>,
}

impl ServerTcp<(), ()> {
    /// A server with POE's defaults: port 0 (any free port), every IPv4
    /// address, unlimited concurrency, Line filters, ClientShutdownOnError on.
    #[allow(clippy::new_ret_no_self, clippy::new_without_default)]
    pub fn new() -> ServerTcp<(), ()> {
        ServerTcp::with_heaps((), || ())
    }
}

impl<L: 'static, C: 'static> ServerTcp<L, C> {
    /// A server whose listener session holds `listener_heap` and whose
    /// connection sessions each hold what `client_heap` makes, reached as
    /// `ctx.heap.user` beside the component's own heap members.
    pub fn with_heaps(listener_heap: L, client_heap: impl Fn() -> C + 'static) -> Self {
        ServerTcp {
            listener_heap,
            cfg: Config {
                alias: None,
                addresses: Vec::new(),
                hostname: None,
                port: 0,
                domain: SocketDomain::Inet,
                concurrency: -1,
                listen_queue: None,
                acceptor: None,
                error: None,
                started: None,
                stopped: None,
                listener_args: Args::new(),
                listener_states: Vec::new(),
                listener_options: Vec::new(),
                client_heap: Rc::new(client_heap),
                client_args: Args::new(),
                client_input: None,
                client_connected: None,
                client_disconnected: None,
                client_error: None,
                client_flushed: None,
                client_pre_connect: None,
                client_high: None,
                client_low: None,
                client_filter: None,
                client_input_filter: None,
                client_output_filter: None,
                shutdown_on_error: true,
                keep_half_open: false,
                high_mark: None,
                low_mark: None,
                client_states: Vec::new(),
                client_options: Vec::new(),
                drain_timeout: Some(60.0),
                read_budget: None,
            },
        }
    }

    /// POE's `Port` (default 0: the OS picks a free port; see
    /// [`ListenerHeap::local_addrs`] for the one it chose).
    pub fn port(mut self, port: u16) -> Self {
        self.cfg.port = port;
        self
    }

    /// POE's `Address`: the interface to bind (default: every IPv4
    /// address). An IPv6 address such as `"::1"` binds IPv6.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.cfg.addresses = vec![address.into()];
        self
    }

    /// Several addresses for one server (beyond POE), e.g. `["127.0.0.1",
    /// "::1"]`: one listening socket each, on the same port (with port 0,
    /// the port the first one got), one connection count for all.
    pub fn addresses<I, S>(mut self, addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg.addresses = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// POE's `Hostname`: a name to resolve and bind, used when no Address
    /// is given.
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.cfg.hostname = Some(name.into());
        self
    }

    /// POE's `Domain` (default [`SocketDomain::Inet`]; with an IPv6 Address
    /// the domain follows the address).
    pub fn domain(mut self, domain: SocketDomain) -> Self {
        self.cfg.domain = domain;
        self
    }

    /// POE's `Alias` for the listener session.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.cfg.alias = Some(alias.into());
        self
    }

    /// POE's `Concurrency`: at most this many connections at once (-1, the
    /// default: unlimited). Accepting pauses at the limit and resumes when a
    /// connection ends. Unlike POE, 0 accepts nothing until raised with the
    /// listener's `set_concurrency` event.
    pub fn concurrency(mut self, n: i64) -> Self {
        self.cfg.concurrency = n;
        self
    }

    /// The listen backlog (SocketFactory's `ListenQueue`).
    pub fn listen_queue(mut self, backlog: i32) -> Self {
        self.cfg.listen_queue = Some(backlog);
        self
    }

    /// POE's `Acceptor`: handle each accepted socket yourself, in the
    /// listener session, with SocketFactory's SuccessEvent arguments
    /// `(socket, peer_address, peer_port, wheel_id)`. With an Acceptor, post
    /// `disconnected` to the listener when a connection ends, or
    /// Concurrency counts it forever (as in POE).
    pub fn acceptor<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ListenerHeap<L>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.acceptor = Some(cb(f));
        self
    }

    /// POE's `Error`: the listener could not bind, listen or accept;
    /// arguments `(operation, errnum, errstr, wheel_id, address)` (the
    /// address, `"host:port"`, is beyond POE). The default logs the error,
    /// naming the address, and closes that listening socket.
    pub fn error<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ListenerHeap<L>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.error = Some(cb(f));
        self
    }

    /// POE's `Started`: called at the end of the listener's `_start`, with
    /// ARG0.. = [`listener_args`](Self::listener_args).
    pub fn started<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ListenerHeap<L>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.started = Some(cb(f));
        self
    }

    /// POE's `Stopped`: called from the listener's `_stop`.
    pub fn stopped<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ListenerHeap<L>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.stopped = Some(cb(f));
        self
    }

    /// POE's `ListenerArgs`: what Started receives as ARG0...
    pub fn listener_args(mut self, args: Args) -> Self {
        self.cfg.listener_args = args;
        self
    }

    /// A state of the listener session (beyond POE, whose InlineStates go
    /// to the connection sessions only).
    pub fn listener_state<F, R>(mut self, name: impl Into<EventName>, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ListenerHeap<L>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.listener_states.push((name.into(), cb(f)));
        self
    }

    /// A session option of the listener session (POE's `SessionParams`
    /// `options`, for the listener alone).
    pub fn listener_option(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.cfg
            .listener_options
            .push((name.to_owned(), value.into()));
        self
    }

    /// POE's `SessionParams => [options => {...}]`: a session option for the
    /// listener *and* every connection session, as POE passes SessionParams
    /// to both. [`listener_option`](Self::listener_option) and
    /// [`client_option`](Self::client_option) set one side only.
    pub fn session_option(mut self, name: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        self.cfg
            .listener_options
            .push((name.to_owned(), value.clone()));
        self.cfg.client_options.push((name.to_owned(), value));
        self
    }

    /// POE's `ClientArgs`: what `ClientConnected` receives as ARG0...
    pub fn client_args(mut self, args: Args) -> Self {
        self.cfg.client_args = args;
        self
    }

    /// POE's `ClientInput`: one record from the client, `(record, wheel_id)`.
    pub fn client_input<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        // The state `tcp_server_got_input` itself (POE's: return if
        // `$heap->{shutdown}`, else the callback), made here, where the
        // program's closure has its own type: a line costs one handler
        // call, not a state calling the callback through a second one.
        self.cfg.client_input = Some(Rc::new(
            move |ctx: &mut Ctx<'_, ClientHeap<C>>, args: &mut Args| {
                if ctx.heap.shutdown {
                    return Ok(Value::Undef);
                }
                // (record, wheel id): two values, one of them owned, which
                // `take_all` would only test and then move whole.
                f(ctx, std::mem::take(args)).into_return()
            },
        ));
        self
    }

    /// POE's `ClientConnected`: the end of the connection session's
    /// `_start`, with ARG0.. = [`client_args`](Self::client_args).
    pub fn client_connected<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.client_connected = Some(cb(f));
        self
    }

    /// POE's `ClientDisconnected`: the connection is ending (after a
    /// graceful shutdown has flushed, or after an error), before the wheel
    /// is dropped.
    pub fn client_disconnected<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.client_disconnected = Some(cb(f));
        self
    }

    /// POE's `ClientError`: ReadWrite's ErrorEvent `(operation, errnum,
    /// errstr, wheel_id)`. The default logs errors other than end of file
    /// and resets.
    pub fn client_error<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.client_error = Some(cb(f));
        self
    }

    /// POE's `ClientFlushed`: the output buffer is empty, `(wheel_id)`.
    pub fn client_flushed<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.client_flushed = Some(cb(f));
        self
    }

    /// POE's `ClientPreConnect`: called in the connection session before
    /// its wheel exists, with ARG0 = the socket's descriptor number and
    /// ARG1 = the ClientArgs list (`remote_ip` and `remote_port` are set in
    /// the heap). Returning a false value (`false`, 0, undef) refuses the
    /// connection: it is closed and ClientConnected is never called. (POE's
    /// callback may return a different socket; rpoe's only decides.)
    pub fn client_pre_connect<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.client_pre_connect = Some(cb(f));
        self
    }

    /// POE's `ClientHigh`: buffered output reached HighMark.
    pub fn client_high<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.client_high = Some(cb(f));
        self
    }

    /// POE's `ClientLow`: buffered output fell back to LowMark.
    pub fn client_low<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.client_low = Some(cb(f));
        self
    }

    /// POE's `HighMark` (with LowMark, ClientHigh and ClientLow).
    pub fn high_mark(mut self, octets: usize) -> Self {
        self.cfg.high_mark = Some(octets);
        self
    }

    /// POE's `LowMark`.
    pub fn low_mark(mut self, octets: usize) -> Self {
        self.cfg.low_mark = Some(octets);
        self
    }

    /// POE's `ClientFilter` given as a value: each connection gets a
    /// [fresh](Filter::fresh) copy (POE's `clone`). Default: a Line filter
    /// (CRLF on output).
    pub fn client_filter(mut self, filter: impl Filter + 'static) -> Self {
        let proto: Rc<dyn Filter> = Rc::new(filter);
        self.cfg.client_filter = Some(Rc::new(move || proto.fresh()));
        self
    }

    /// POE's `ClientFilter` given as a constructor (POE's `[Class, @args]`).
    pub fn client_filter_with(mut self, make: impl Fn() -> Box<dyn Filter> + 'static) -> Self {
        self.cfg.client_filter = Some(Rc::new(make));
        self
    }

    /// POE's `ClientInputFilter` (needs a ClientOutputFilter).
    pub fn client_input_filter(mut self, filter: impl Filter + 'static) -> Self {
        let proto: Rc<dyn Filter> = Rc::new(filter);
        self.cfg.client_input_filter = Some(Rc::new(move || proto.fresh()));
        self
    }

    /// POE's `ClientOutputFilter` (needs a ClientInputFilter).
    pub fn client_output_filter(mut self, filter: impl Filter + 'static) -> Self {
        let proto: Rc<dyn Filter> = Rc::new(filter);
        self.cfg.client_output_filter = Some(Rc::new(move || proto.fresh()));
        self
    }

    /// POE's `ClientShutdownOnError` (default true): an error ends the
    /// connection. End of file ends it gracefully: what the session still
    /// writes reaches a client that only half-closed.
    pub fn client_shutdown_on_error(mut self, on: bool) -> Self {
        self.cfg.shutdown_on_error = on;
        self
    }

    /// Keeps a connection open after the client's end of file, until the
    /// program yields `shutdown` (beyond POE): for protocols where a client
    /// half-closes after its request and the answer comes later. By default
    /// end of file ends the connection once what is buffered is written.
    pub fn keep_half_open(mut self, on: bool) -> Self {
        self.cfg.keep_half_open = on;
        self
    }

    /// POE's `InlineStates`: a state of every connection session. A `_stop`
    /// here runs after the component's own (which reports the disconnection
    /// to the listener), so it cannot break the connection count.
    pub fn inline_state<F, R>(mut self, name: impl Into<EventName>, f: F) -> Self
    where
        F: Fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R + 'static,
        R: HandlerReturn,
    {
        self.cfg.client_states.push((name.into(), cb(f)));
        self
    }

    /// POE's `ObjectStates`: a method of the connection heap's type.
    pub fn object_state<R: HandlerReturn + 'static>(
        self,
        name: impl Into<EventName>,
        method: fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R,
    ) -> Self {
        self.inline_state(name, method)
    }

    /// POE's `PackageStates`: the same as [`object_state`](Self::object_state).
    pub fn package_state<R: HandlerReturn + 'static>(
        self,
        name: impl Into<EventName>,
        function: fn(&mut Ctx<'_, ClientHeap<C>>, Args) -> R,
    ) -> Self {
        self.inline_state(name, function)
    }

    /// A session option of each connection session (POE's `SessionParams
    /// => [options => {...}]`).
    pub fn client_option(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.cfg
            .client_options
            .push((name.to_owned(), value.into()));
        self
    }

    /// Seconds a graceful `shutdown` waits for buffered output to drain
    /// before closing anyway (default 60; `None` waits forever, as POE).
    pub fn drain_timeout(mut self, seconds: Option<f64>) -> Self {
        self.cfg.drain_timeout = seconds;
        self
    }

    /// The connection wheels' read budget per wakeup (see
    /// [`ReadWriteBuilder::read_budget`](crate::wheel::ReadWriteBuilder::read_budget)).
    pub fn read_budget(mut self, octets: usize) -> Self {
        self.cfg.read_budget = Some(octets);
        self
    }

    fn validate(&self) -> Result<(), ServerTcpError> {
        let c = &self.cfg;
        let any_client = c.client_connected.is_some()
            || c.client_disconnected.is_some()
            || c.client_error.is_some()
            || c.client_flushed.is_some()
            || c.client_pre_connect.is_some()
            || c.client_high.is_some()
            || c.client_low.is_some()
            || c.client_filter.is_some()
            || c.client_input_filter.is_some()
            || c.client_output_filter.is_some()
            || !c.client_states.is_empty();
        if c.acceptor.is_some() && c.client_input.is_some() {
            return Err(ServerTcpError::Config(
                "ClientInput and Acceptor are exclusive",
            ));
        }
        if c.acceptor.is_none() && c.client_input.is_none() {
            return Err(ServerTcpError::Config(
                "ClientInput is required unless an Acceptor is given",
            ));
        }
        if any_client && c.client_input.is_none() {
            return Err(ServerTcpError::Config(
                "Client* parameters need ClientInput (they belong to the default acceptor)",
            ));
        }
        if c.client_input_filter.is_some() != c.client_output_filter.is_some() {
            return Err(ServerTcpError::Config(
                "ClientInputFilter and ClientOutputFilter go together",
            ));
        }
        let marks = [
            c.high_mark.is_some(),
            c.low_mark.is_some(),
            c.client_high.is_some(),
            c.client_low.is_some(),
        ];
        if marks.iter().any(|&m| m) && !marks.iter().all(|&m| m) {
            return Err(ServerTcpError::Config(
                "HighMark, LowMark, ClientHigh and ClientLow go together",
            ));
        }
        if let (Some(h), Some(l)) = (c.high_mark, c.low_mark) {
            if l == 0 || l >= h {
                return Err(ServerTcpError::Config(
                    "LowMark must be above 0 and below HighMark",
                ));
            }
        }
        if c.concurrency < -1 {
            return Err(ServerTcpError::Config(
                "Concurrency must be -1 (unlimited) or more",
            ));
        }
        for (name, _) in &c.client_states {
            let n = name.as_str();
            if matches!(n, "_start" | "_child" | "shutdown") || n.starts_with("tcp_server_got_") {
                return Err(ServerTcpError::ReservedState(n.to_owned()));
            }
        }
        for (name, _) in &c.listener_states {
            let n = name.as_str();
            if matches!(
                n,
                "_start" | "_stop" | "_child" | "shutdown" | "disconnected" | "set_concurrency"
            ) || n.starts_with("tcp_server_got_")
            {
                return Err(ServerTcpError::ReservedState(n.to_owned()));
            }
        }
        Ok(())
    }

    /// Checks the parameters and starts the listener session (a child of
    /// `host`'s session, or top-level from the kernel). Returns its id.
    ///
    /// # Errors
    /// [`ServerTcpError::Config`] for a combination POE croaks on (ClientInput
    /// with Acceptor, neither, a Client* parameter without ClientInput, one
    /// of the input/output filter pair, part of the watermark group),
    /// [`ServerTcpError::ReservedState`] for an InlineState that would
    /// replace one of the component's, and [`ServerTcpError::Kernel`] if the
    /// session cannot be created. Failing to bind is not an error here: it
    /// reaches the Error callback, as in POE.
    pub fn create<K: SessionHost + ?Sized>(
        self,
        host: &mut K,
    ) -> Result<SessionId, ServerTcpError> {
        self.validate()?;
        listener::create(self.listener_heap, Rc::new(self.cfg), host)
    }
}

impl<L, C> fmt::Debug for ServerTcp<L, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTcp")
            .field("port", &self.cfg.port)
            .field("addresses", &self.cfg.addresses)
            .field("alias", &self.cfg.alias)
            .field("concurrency", &self.cfg.concurrency)
            .finish_non_exhaustive()
    }
}
