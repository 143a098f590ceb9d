//! Port of POE's reference trace `07_readwrite.pl` (kept in `tests/traces/`):
//! POE::Wheel::ReadWrite over a socket pair: InputEvent / ErrorEvent /
//! FlushedEvent arguments and order, `put`'s return value, the watermark
//! events, `flush` with an empty buffer, AutoFlush, pause and resume, and
//! `set_filter` inside an InputEvent.
//!
//! Run: `cargo run --example trace_07_readwrite`. It prints POE 1.370's trace
//! except the lines listed in `tests/traces/07_readwrite.differences`.

#[macro_use]
pub(crate) mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;

use rpoe::filter::{Line, Stream};
use rpoe::wheel::ReadWrite;
use rpoe::{args, Ctx, Kernel, Session, ARG0, ARG1, ARG2, ARG3};

/// The script's `pair`: our end non-blocking for the wheel, the peer's
/// blocking, as Perl's `sysread` on it is.
fn pair() -> (mio::net::UnixStream, StdUnixStream) {
    let (mine, peer) = StdUnixStream::pair().expect("socketpair");
    mine.set_nonblocking(true).expect("non-blocking");
    (mio::net::UnixStream::from_std(mine), peer)
}

/// The script's `esc`.
fn esc(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

/// `$_[CALLER_STATE] =~ s/\(\d+\)/(N)/r`.
fn caller_n(ctx: &Ctx<Heap>) -> String {
    let s = ctx.caller_state().unwrap_or("");
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('(') {
        let after = &rest[open + 1..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(')') {
            out.push_str(&rest[..open]);
            out.push_str("(N)");
            rest = &after[digits + 1..];
        } else {
            out.push_str(&rest[..=open]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

type Peer = Rc<RefCell<Option<StdUnixStream>>>;

#[derive(Default)]
struct Heap {
    w: Option<ReadWrite>,
    w2: Option<ReadWrite>,
    b: Option<StdUnixStream>,
    peer: Peer,
    id: i64,
    step: &'static str,
}

impl Heap {
    fn w(&self) -> ReadWrite {
        self.w.clone().expect("the wheel")
    }
}

fn peer_write(ctx: &Ctx<Heap>, data: &[u8]) {
    if let Some(p) = ctx.heap.peer.borrow_mut().as_mut() {
        p.write_all(data).expect("peer write");
    }
}

pub(crate) fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = env_logger::try_init();
    let mut kernel = Kernel::new()?;
    let peer: Peer = Rc::default();

    Session::new(Heap {
        peer: peer.clone(),
        ..Heap::default()
    })
    .inline_state("_start", |ctx, _| {
        let (mine, peer) = pair();
        *ctx.heap.peer.borrow_mut() = Some(peer);
        let w = ReadWrite::new(mine)
            .filter(Line::builder().literal("\n").build().expect("literal"))
            .input_event("in")
            .error_event("err")
            .flushed_event("flushed")
            .high_mark(10)
            .low_mark(5)
            .high_event("high")
            .low_event("low")
            .create(ctx)
            .expect("watermarks are valid");
        T!("wheel ID is an integer: yes");
        ctx.heap.id = w.ID() as i64;
        ctx.heap.w = Some(w);
        peer_write(ctx, b"one\ntwo\nthree\npar");
        ctx.heap.step = "lines";
    })
    .inline_state("in", |ctx, args| {
        let line = args
            .value(ARG0)
            .and_then(|v| v.as_utf8())
            .unwrap_or("")
            .to_owned();
        let id: i64 = args.get(ARG1)?;
        T!(
            "in '{}' id_ok={} sender_is_self={} caller_state={}",
            esc(&line),
            i64::from(id == ctx.heap.id),
            i64::from(ctx.sender() == ctx.session()),
            caller_n(ctx)
        );
        let w = ctx.heap.w();
        if line == "three" {
            T!(
                "put('0123456789ab') returns {} (>= HighMark 10)",
                i64::from(w.put("0123456789ab"))
            );
            T!(
                "  out_octets={} out_messages={}",
                w.get_driver_out_octets(),
                w.get_driver_out_messages()
            );
            T!("put('x') returns {}", i64::from(w.put("x")));
        }
        if line == "pause" {
            w.pause_input();
            T!("paused input; peer writes 'while-paused'");
            peer_write(ctx, b"while-paused\n");
            ctx.delay("resume", 0.1, args![]);
        }
        if line == "switch" {
            T!("set_filter(Literal '|') inside InputEvent");
            w.set_filter(ctx, Line::builder().literal("|").build().expect("literal"));
            T!("set_filter returned");
        }
        if line == "end|" || line == "end" {
            T!("shutdown_output; peer reads until EOF");
            w.shutdown_output();
            let mut got = Vec::new();
            if let Some(p) = ctx.heap.peer.borrow_mut().as_mut() {
                p.read_to_end(&mut got).expect("peer read");
            }
            T!("peer saw EOF after {} pending bytes", got.len());
            *ctx.heap.peer.borrow_mut() = None; // close $h->{peer}
        }
        Ok::<_, rpoe::ArgError>(())
    })
    .inline_state("resume", |ctx, _| {
        T!("resume_input");
        ctx.heap.w().resume_input();
    })
    .inline_state("high", |ctx, args| {
        let id: i64 = args.get(ARG0)?;
        T!("HighEvent id_ok={}", i64::from(id == ctx.heap.id));
        Ok::<_, rpoe::ArgError>(())
    })
    .inline_state("low", |ctx, args| {
        let id: i64 = args.get(ARG0)?;
        T!("LowEvent id_ok={}", i64::from(id == ctx.heap.id));
        Ok::<_, rpoe::ArgError>(())
    })
    .inline_state("flushed", |ctx, args| {
        let id: i64 = args.get(ARG0)?;
        T!(
            "FlushedEvent id_ok={} caller_state={}",
            i64::from(id == ctx.heap.id),
            caller_n(ctx)
        );
        if ctx.heap.step == "lines" {
            let mut buf = [0u8; 4096];
            let n = match ctx.heap.peer.borrow_mut().as_mut() {
                Some(p) => p.read(&mut buf).expect("peer read"),
                None => 0,
            };
            T!(
                "peer received '{}'",
                esc(&String::from_utf8_lossy(&buf[..n]))
            );
            ctx.heap.step = "emptyflush";
            T!("calling flush() with an empty buffer");
            let w = ctx.heap.w();
            w.flush(ctx);
            T!("flush() returned");
            ctx.heap.step = "autoflush";
            ctx.yield_("autoflush", args![]);
        }
        Ok::<_, rpoe::ArgError>(())
    })
    .inline_state("autoflush", |ctx, _| {
        T!("-- AutoFlush wheel on a second pair");
        let (a, b) = pair();
        let w2 = ReadWrite::new(a)
            .auto_flush(true)
            .flushed_event("flushed2")
            .filter(Stream::new())
            .create(ctx)
            .expect("no watermarks");
        let high = w2.put("zz");
        T!(
            "w2 put returns {}, octets after put={}",
            i64::from(high),
            w2.get_driver_out_octets()
        );
        ctx.heap.w2 = Some(w2);
        let mut b = b;
        let mut buf = [0u8; 10];
        let n = b.read(&mut buf).expect("read w2's peer");
        T!("peer of w2 got '{}'", String::from_utf8_lossy(&buf[..n]));
        ctx.heap.b = Some(b);
        ctx.heap.w2 = None; // delete $h->{w2}
        peer_write(ctx, b"t\npause\n");
    })
    .inline_state("flushed2", |_, _| T!("flushed2 (synchronously inside put)"))
    .inline_state("err", |ctx, args| {
        let op: String = args.get::<&str>(ARG0)?.to_owned();
        let errnum: i64 = args.get(ARG1)?;
        let errstr: String = args.get::<&str>(ARG2)?.to_owned();
        let id: i64 = args.get(ARG3)?;
        T!(
            "ErrorEvent op={op} errnum={errnum} errstr='{errstr}' id_ok={}",
            i64::from(id == ctx.heap.id)
        );
        ctx.heap.w = None; // delete $h->{w}
        Ok::<_, rpoe::ArgError>(())
    })
    .inline_state("_stop", |_, _| T!("_stop"))
    .create(&mut kernel)?;

    // Feeds the remaining lines after 'pause'/'resume' (the script reaches
    // session 1's heap through ID_id_to_session; here they share the peer).
    Session::new(peer)
        .inline_state("_start", |ctx, _| {
            ctx.delay("more", 0.3, args![]);
        })
        .inline_state("more", |ctx, _| {
            if let Some(p) = ctx.heap.borrow_mut().as_mut() {
                p.write_all(b"switch\nb|c|end|").expect("peer write");
            }
        })
        .create(&mut kernel)?;
    kernel.run()?;
    T!("done");
    Ok(())
}
