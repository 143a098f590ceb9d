//! The load client: one thread, pinned to its own core, driving many
//! connections with mio, so the client is not what is measured.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// What one measured run gave.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Messages echoed (or connections completed, for churn).
    pub count: u64,
    /// Wall time of the measured window.
    pub secs: f64,
    /// Round trips in nanoseconds (all of them, or of the pinging client).
    pub latencies: Vec<u64>,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.count as f64 / self.secs
    }
    /// The latency at quantile `q` (0..1), in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i] as f64 / 1000.0
    }
}

/// Warm-up, then the measured window.
struct Window {
    started: Instant,
    warmup: Duration,
    window: Duration,
    measuring: bool,
    window_start: Instant,
}

impl Window {
    fn new(started: Instant, warmup: Duration, window: Duration) -> Self {
        Window {
            started,
            warmup,
            window,
            measuring: false,
            window_start: started,
        }
    }

    /// Starts measuring after the warm-up; `Some(seconds measured)` once
    /// the window is over.
    fn tick(&mut self, on_start: &mut dyn FnMut(), on_end: &mut dyn FnMut()) -> Option<f64> {
        let now = Instant::now();
        if !self.measuring && now >= self.started + self.warmup {
            self.measuring = true;
            self.window_start = now;
            on_start();
        }
        if self.measuring && now >= self.window_start + self.window {
            on_end();
            return Some(now.duration_since(self.window_start).as_secs_f64());
        }
        None
    }
}

struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    sent: VecDeque<Instant>,
    /// Keep this many messages in flight (0: flood without waiting).
    depth: usize,
    measured: bool,
}

fn message(size: usize) -> Vec<u8> {
    let mut m = vec![b'x'; size.max(2) - 1];
    m.push(b'\n');
    m
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = StdTcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).ok();
    s.set_nonblocking(true).expect("non-blocking");
    TcpStream::from_std(s)
}

fn flush(c: &mut Conn) -> bool {
    while !c.out.is_empty() {
        match c.stream.write(&c.out) {
            Ok(n) => {
                c.out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// `conns` connections, each keeping `depth` messages of `size` bytes in
/// flight (depth 0: a flood, never waiting); with `pinger`, one more
/// connection keeps one message in flight and only its round trips are
/// recorded. Warms up for `warmup`, then measures for `window`; `on_start`
/// runs when the measured window begins, `on_end` when it ends.
#[allow(clippy::too_many_arguments)]
pub fn pipelined(
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    size: usize,
    pinger: bool,
    warmup: Duration,
    window: Duration,
    on_start: &mut dyn FnMut(),
    on_end: &mut dyn FnMut(),
) -> Outcome {
    let msg = message(size);
    let ping = message(64);
    let mut poll = Poll::new().expect("poll");
    let mut all: Vec<Conn> = Vec::new();
    for i in 0..conns + usize::from(pinger) {
        let is_pinger = pinger && i == conns;
        let mut stream = connect(addr);
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .expect("register");
        all.push(Conn {
            stream,
            out: Vec::new(),
            sent: VecDeque::new(),
            depth: if is_pinger { 1 } else { depth },
            measured: is_pinger || !pinger,
        });
    }
    let started = Instant::now();
    for c in &mut all {
        let (n, m) = if c.depth == 0 {
            (64, &msg)
        } else if c.measured && pinger {
            (1, &ping)
        } else {
            (c.depth, &msg)
        };
        for _ in 0..n {
            c.out.extend_from_slice(m);
            c.sent.push_back(started);
        }
        flush(c);
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    let mut out = Outcome::default();
    let mut clock = Window::new(started, warmup, window);
    loop {
        if let Some(secs) = clock.tick(on_start, on_end) {
            out.secs = secs;
            return out;
        }
        let measuring = clock.measuring;
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .expect("poll");
        for ev in &events {
            let c = &mut all[ev.token().0];
            if ev.is_readable() {
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => panic!("the server closed a connection"),
                        Ok(n) => {
                            let lines = buf[..n].iter().filter(|b| **b == b'\n').count();
                            let now = Instant::now();
                            for _ in 0..lines {
                                let t = c.sent.pop_front().unwrap_or(now);
                                if measuring && c.measured {
                                    out.count += 1;
                                    out.latencies.push(now.duration_since(t).as_nanos() as u64);
                                }
                                if c.depth > 0 {
                                    let m = if pinger && c.measured { &ping } else { &msg };
                                    c.out.extend_from_slice(m);
                                    c.sent.push_back(now);
                                }
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => panic!("read: {e}"),
                    }
                }
            }
            if c.depth == 0 && c.out.len() < 64 * 1024 {
                // The flood: always more queued.
                for _ in 0..64 {
                    c.out.extend_from_slice(&msg);
                    c.sent.push_back(Instant::now());
                }
            }
            flush(c);
        }
    }
}

/// Connect, one echo, close, over and over, on `flows` connections at a
/// time; counts completed cycles in the window.
pub fn churn(
    addr: SocketAddr,
    flows: usize,
    warmup: Duration,
    window: Duration,
    on_start: &mut dyn FnMut(),
    on_end: &mut dyn FnMut(),
) -> Outcome {
    let msg = message(64);
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(256);
    let mut buf = [0u8; 1024];
    struct Flow {
        stream: TcpStream,
        sent: bool,
        got: usize,
        began: Instant,
    }
    let open = |poll: &Poll, i: usize| {
        let mut stream = TcpStream::connect(addr).expect("connect");
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .expect("register");
        Flow {
            stream,
            sent: false,
            got: 0,
            began: Instant::now(),
        }
    };
    let mut flows_v: Vec<Flow> = (0..flows).map(|i| open(&poll, i)).collect();
    let started = Instant::now();
    let mut out = Outcome::default();
    let mut clock = Window::new(started, warmup, window);
    loop {
        if let Some(secs) = clock.tick(on_start, on_end) {
            out.secs = secs;
            return out;
        }
        let measuring = clock.measuring;
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .expect("poll");
        for ev in &events {
            let i = ev.token().0;
            let f = &mut flows_v[i];
            if ev.is_writable() && !f.sent && f.stream.write_all(&msg).is_ok() {
                f.sent = true;
            }
            if ev.is_readable() {
                loop {
                    match f.stream.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => f.got += n,
                        Err(_) => break,
                    }
                }
                if f.got >= msg.len() {
                    if measuring {
                        out.count += 1;
                        out.latencies.push(f.began.elapsed().as_nanos() as u64);
                    }
                    let _ = poll.registry().deregister(&mut f.stream);
                    *f = open(&poll, i);
                }
            }
        }
    }
}

/// Opens `n` connections and keeps them open, idle, until dropped.
pub fn idle(addr: SocketAddr, n: usize) -> Vec<StdTcpStream> {
    (0..n)
        .map(|_| StdTcpStream::connect(addr).expect("connect an idle client"))
        .collect()
}
