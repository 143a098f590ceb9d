//! The listener session (SPEC §8.2): binds, accepts, counts connections
//! for Concurrency, and answers `shutdown`, `set_concurrency` and
//! `disconnected`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use super::client::{self, ClientHeap};
use super::config::{Cb, Config};
use super::error::ServerTcpError;
use crate::wheel::{SocketDomain, SocketFactory};
use crate::{
    args, Args, Ctx, Session, SessionHost, SessionId, SharedStates, ARG0, ARG1, ARG2, ARG3,
};

/// The listener session's heap: POE's listener HEAP members, beside the
/// program's own data in `user`.
pub struct ListenerHeap<L> {
    /// POE's `HEAP{alias}`.
    pub alias: Option<String>,
    /// POE's `HEAP{concurrency}` (-1: unlimited).
    pub concurrency: i64,
    /// POE's `HEAP{connections}`: connections now open.
    pub connections: usize,
    /// POE's `HEAP{listener}`: one SocketFactory per bound address (empty
    /// after `shutdown`).
    pub listener: Vec<SocketFactory>,
    /// The program's own listener data.
    pub user: L,
    /// Address text by listening wheel id, for error messages.
    addresses: HashMap<u64, String>,
}

impl<L: std::fmt::Debug> std::fmt::Debug for ListenerHeap<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerHeap")
            .field("alias", &self.alias)
            .field("concurrency", &self.concurrency)
            .field("connections", &self.connections)
            .field("listener", &self.listener)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl<L> ListenerHeap<L> {
    /// The addresses listened on (with port 0, the ports the OS chose).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listener
            .iter()
            .filter_map(SocketFactory::getsockname)
            .collect()
    }

    fn pause(&self) {
        for l in &self.listener {
            l.pause_accept();
        }
    }

    fn resume(&self) {
        for l in &self.listener {
            l.resume_accept();
        }
    }

    /// Pauses or resumes accepting to match the connection count.
    fn apply_concurrency(&self) {
        if self.concurrency < 0 {
            return;
        }
        if self.connections as i64 >= self.concurrency {
            self.pause();
        } else {
            self.resume();
        }
    }
}

/// Calls a callback, logging its failure as a handler's would be.
#[inline]
pub(crate) fn run<Hp>(cb: &Cb<Hp>, ctx: &mut Ctx<'_, Hp>, args: Args) -> crate::Value {
    match cb(ctx, args) {
        Ok(v) => v,
        Err(e) => {
            log::error!(
                "Server::TCP callback in session {} ('{}') failed: {e}",
                ctx.session(),
                ctx.state()
            );
            crate::Value::Undef
        }
    }
}

/// The addresses to bind, as text.
fn bind_addresses<L, C>(cfg: &Config<L, C>) -> Vec<Option<String>> {
    if !cfg.addresses.is_empty() {
        cfg.addresses.iter().cloned().map(Some).collect()
    } else if let Some(h) = &cfg.hostname {
        vec![Some(h.clone())]
    } else {
        vec![None]
    }
}

/// Starts the listener session.
pub(crate) fn create<L: 'static, C: 'static, K: SessionHost + ?Sized>(
    user: L,
    cfg: Rc<Config<L, C>>,
    host: &mut K,
) -> Result<SessionId, ServerTcpError> {
    let heap = ListenerHeap {
        alias: cfg.alias.clone(),
        concurrency: cfg.concurrency,
        connections: 0,
        listener: Vec::new(),
        user,
        addresses: HashMap::new(),
    };
    let mut session = Session::new(heap);
    for (name, value) in &cfg.listener_options {
        session = session.option(name, value.clone());
    }
    for (name, cb) in &cfg.listener_states {
        let cb = cb.clone();
        session = session.inline_state(name.clone(), move |ctx, args| cb(ctx, args));
    }
    let c = cfg.clone();
    session = session.inline_state("_start", move |ctx, _| start(ctx, &c));
    let c = cfg.clone();
    let table = client::states(&cfg);
    session = session.inline_state("tcp_server_got_connection", move |ctx, args| {
        got_connection(ctx, &c, &table, args)
    });
    let c = cfg.clone();
    session = session.inline_state("tcp_server_got_error", move |ctx, args| {
        got_error(ctx, &c, args)
    });
    session = session
        .inline_state("disconnected", |ctx: &mut Ctx<'_, ListenerHeap<L>>, _| {
            let h = &mut *ctx.heap;
            if h.connections == 0 {
                log::warn!(
                    "Server::TCP {}: excessive 'disconnected' event",
                    ctx.kernel.session()
                );
            } else {
                h.connections -= 1;
            }
            h.apply_concurrency();
        })
        .inline_state(
            "set_concurrency",
            |ctx: &mut Ctx<'_, ListenerHeap<L>>, args| {
                let n: i64 = args.get(ARG0)?;
                ctx.heap.concurrency = n.max(-1);
                if n < 0 {
                    ctx.heap.resume();
                } else {
                    ctx.heap.apply_concurrency();
                }
                Ok::<_, crate::ArgError>(())
            },
        )
        .inline_state("shutdown", |ctx: &mut Ctx<'_, ListenerHeap<L>>, _| {
            ctx.heap.listener.clear();
            if let Some(alias) = ctx.heap.alias.clone() {
                let _ = ctx.kernel.alias_remove(&alias);
            }
        })
        .inline_state("_child", |_: &mut Ctx<'_, ListenerHeap<L>>, _| {});
    let c = cfg;
    session = session.inline_state("_stop", move |ctx, args| {
        if let Some(stopped) = &c.stopped {
            run(stopped, ctx, args);
        }
    });
    session.create(host).map_err(ServerTcpError::Kernel)
}

fn start<L: 'static, C: 'static>(ctx: &mut Ctx<'_, ListenerHeap<L>>, cfg: &Rc<Config<L, C>>) {
    if let Some(alias) = &cfg.alias {
        if let Err(e) = ctx.kernel.alias_set(alias) {
            log::error!("Server::TCP: cannot set alias '{alias}': {e}");
        }
    }
    let mut port = cfg.port;
    for address in bind_addresses(cfg) {
        let domain = match (&address, cfg.domain) {
            (Some(a), SocketDomain::Inet) if a.contains(':') => SocketDomain::Inet6,
            (_, d) => d,
        };
        let mut b = SocketFactory::new()
            .socket_domain(domain)
            .bind_port(port)
            .reuse(true)
            .success_event("tcp_server_got_connection")
            .failure_event("tcp_server_got_error");
        if let Some(a) = &address {
            b = b.bind_address(a.clone());
        }
        if let Some(q) = cfg.listen_queue {
            b = b.listen_queue(q);
        }
        let sf = match b.create(ctx) {
            Ok(sf) => sf,
            Err(e) => {
                log::error!("Server::TCP: {e}");
                continue;
            }
        };
        let shown = match sf.getsockname() {
            Some(a) => a.to_string(),
            None => format!("{}:{port}", address.as_deref().unwrap_or("*")),
        };
        if port == 0 {
            if let Some(a) = sf.getsockname() {
                port = a.port(); // further addresses share the chosen port
            }
        }
        ctx.heap.addresses.insert(sf.id(), shown);
        if cfg.concurrency == 0 {
            sf.pause_accept();
        }
        ctx.heap.listener.push(sf);
    }
    if let Some(started) = &cfg.started {
        run(started, ctx, cfg.listener_args.clone());
    }
}

fn got_connection<L: 'static, C: 'static>(
    ctx: &mut Ctx<'_, ListenerHeap<L>>,
    cfg: &Rc<Config<L, C>>,
    table: &SharedStates<ClientHeap<C>>,
    args: Args,
) {
    ctx.heap.connections += 1;
    ctx.heap.apply_concurrency();
    match &cfg.acceptor {
        Some(acceptor) => {
            run(acceptor, ctx, args);
        }
        None => client::accept(ctx, cfg, table, args),
    }
}

fn got_error<L: 'static, C: 'static>(
    ctx: &mut Ctx<'_, ListenerHeap<L>>,
    cfg: &Rc<Config<L, C>>,
    args: Args,
) {
    let op = args.get::<&str>(ARG0).unwrap_or("?").to_owned();
    let errnum = args.get::<i64>(ARG1).unwrap_or(0);
    let errstr = args.get::<&str>(ARG2).unwrap_or("").to_owned();
    let wheel_id = args.get::<i64>(ARG3).unwrap_or(0);
    let address = ctx
        .heap
        .addresses
        .get(&(wheel_id as u64))
        .cloned()
        .unwrap_or_else(|| "?".to_owned());
    match &cfg.error {
        Some(error) => {
            run(error, ctx, args![op, errnum, errstr, wheel_id, address]);
        }
        None => {
            log::error!(
                "Server::TCP session {} got {op} error {errnum} ({errstr}) on {address}",
                ctx.kernel.session()
            );
            // As POE's default: close that listening socket (alias kept).
            ctx.heap.listener.retain(|l| l.id() != wheel_id as u64);
        }
    }
}
