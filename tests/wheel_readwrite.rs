//! POE::Wheel::ReadWrite (SPEC §7 and the wheel_readwrite scenario of
//! §12.I): constructor validation, `event()` renaming, pause and resume
//! around end of file, watermarks, flush chains, shutdown, distinct wheel
//! ids, filter switching that keeps every byte (99_filterchange), and a
//! filter error ending one stream alone.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;

use rpoe::filter::{Block, Line, Stream};
use rpoe::wheel::{ReadWrite, WheelError};
use rpoe::{args, Ctx, Kernel, Session, Value, ARG0, ARG1};

/// A wheel end (non-blocking, mio) and a blocking peer.
fn pair() -> (mio::net::UnixStream, StdUnixStream) {
    let (a, b) = StdUnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (mio::net::UnixStream::from_std(a), b)
}

/// POE croaks on inconsistent watermarks; rpoe returns a WheelError.
#[test]
fn constructor_validation() {
    let mut kernel = Kernel::new().unwrap();
    Session::new(())
        .inline_state("_start", |ctx, _| {
            let bad = |ctx: &mut Ctx<()>, f: fn(rpoe::wheel::ReadWriteBuilder) -> rpoe::wheel::ReadWriteBuilder| {
                let (a, _b) = pair();
                match f(ReadWrite::new(a)).create(ctx) {
                    Err(WheelError::Config(_)) => {}
                    other => panic!("accepted: {other:?}"),
                }
            };
            bad(ctx, |b| b.high_mark(10));
            bad(ctx, |b| b.low_mark(5).low_event("low"));
            bad(ctx, |b| b.high_mark(0).low_mark(0));
            bad(ctx, |b| b.high_mark(5).low_mark(10).low_event("low"));
            bad(ctx, |b| b.high_mark(10).low_mark(5)); // LowMark without LowEvent
            bad(ctx, |b| b.high_event("high"));
            bad(ctx, |b| b.low_event("low"));
            let (a, _b) = pair();
            let ok = ReadWrite::new(a)
                .high_mark(10)
                .low_mark(5)
                .low_event("low")
                .high_event("high")
                .create(ctx);
            assert!(ok.is_ok());
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
}

/// Wheel ids are distinct and increasing, as POE's global counter.
#[test]
fn wheel_ids_are_distinct() {
    let mut kernel = Kernel::new().unwrap();
    Session::new(())
        .inline_state("_start", |ctx, _| {
            let (a, _pa) = pair();
            let (b, _pb) = pair();
            let w1 = ReadWrite::new(a).create(ctx).unwrap();
            let w2 = ReadWrite::new(b).create(ctx).unwrap();
            assert!(w2.ID() > w1.ID());
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
}

#[derive(Default)]
struct Part2 {
    w: Option<ReadWrite>,
    peer: Option<StdUnixStream>,
    inputs: Vec<String>,
    flushes: u32,
    lows: u32,
    errors: Vec<(String, i64)>,
    stage: u32,
}

/// The wheel_readwrite part 2 scenario on a socket pair: events renamed
/// with `event()` before any fires; input paused after the first line while
/// more arrives; resumed later, all six lines arrive with the wheel's id;
/// then output in three flush-chained batches (LowMark 1, HighMark 12, so
/// LowEvent fires), then shutdown_input/output and drop. The peer gets
/// every line, then end of file.
#[test]
fn part2_pause_resume_marks_and_flush_chain() {
    let mut kernel = Kernel::new().unwrap();
    let got = Rc::new(RefCell::new(Part2::default()));
    let out = got.clone();
    Session::new(Part2::default())
        .inline_state("_start", |ctx, _| {
            let (a, mut peer) = pair();
            let w = ReadWrite::new(a)
                .input_event("x_in")
                .error_event("x_err")
                .flushed_event("x_flushed")
                .high_mark(12)
                .low_mark(1)
                .high_event("x_high")
                .low_event("x_low")
                .create(ctx)
                .unwrap();
            assert!(w.event("InputEvent", Some("got_input")));
            assert!(w.event("ErrorEvent", Some("got_error")));
            assert!(w.event("FlushedEvent", Some("got_flush")));
            assert!(w.event("LowEvent", Some("got_low")));
            assert!(w.event("HighEvent", Some("got_high")));
            assert!(!w.event("NoSuchEvent", Some("x")));
            peer.write_all(b"one\r\ntwo\r\nthree\r\n").unwrap();
            ctx.heap.peer = Some(peer);
            ctx.heap.w = Some(w);
        })
        .inline_state("got_input", |ctx, args| {
            let line = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            let id: i64 = args.get(ARG1).unwrap();
            let w = ctx.heap.w.clone().unwrap();
            assert_eq!(id as u64, w.ID());
            ctx.heap.inputs.push(line);
            if ctx.heap.inputs.len() == 1 {
                w.pause_input();
                assert!(w.input_paused());
                let peer = ctx.heap.peer.as_mut().unwrap();
                peer.write_all(b"four\r\nfive\r\nsix\r\n").unwrap();
                ctx.delay("resume", 0.2, args![]);
            }
            if ctx.heap.inputs.len() == 6 {
                w.put("LINE 1");
                ctx.heap.stage = 1;
            }
        })
        .inline_state("resume", |ctx, _| {
            assert_eq!(ctx.heap.inputs.len(), 1, "nothing delivered while paused");
            ctx.heap.w.as_ref().unwrap().resume_input();
        })
        .inline_state("got_flush", |ctx, _| {
            ctx.heap.flushes += 1;
            let w = ctx.heap.w.clone().unwrap();
            match ctx.heap.stage {
                1 => {
                    let high = w.put_all(vec!["LINE 2".into(), "LINE 3".into(), "LINE 4".into()]);
                    assert!(high, "24 octets >= HighMark 12");
                    ctx.heap.stage = 2;
                }
                2 => {
                    w.put_all(vec!["LINE 5".into(), "LINE 6".into(), "LINE 7".into()]);
                    ctx.heap.stage = 3;
                }
                _ => {
                    w.shutdown_input();
                    w.shutdown_output();
                    ctx.heap.w = None;
                }
            }
        })
        .inline_state("got_low", |ctx, _| ctx.heap.lows += 1)
        .inline_state("got_high", |_, _| {})
        .inline_state("got_error", |ctx, args| {
            let op: &str = args.get(ARG0).unwrap();
            let n: i64 = args.get(ARG1).unwrap();
            ctx.heap.errors.push((op.to_owned(), n));
        })
        .inline_state("_stop", move |ctx, _| {
            let mut o = out.borrow_mut();
            o.inputs = std::mem::take(&mut ctx.heap.inputs);
            o.flushes = ctx.heap.flushes;
            o.lows = ctx.heap.lows;
            o.errors = std::mem::take(&mut ctx.heap.errors);
            o.peer = ctx.heap.peer.take();
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let g = got.borrow();
    assert_eq!(g.inputs, ["one", "two", "three", "four", "five", "six"]);
    assert_eq!(g.flushes, 3);
    assert!(g.lows >= 1, "LowEvent fired");
    let mut all = String::new();
    g.peer.as_ref().unwrap().read_to_string(&mut all).unwrap();
    assert_eq!(
        all,
        "LINE 1\r\nLINE 2\r\nLINE 3\r\nLINE 4\r\nLINE 5\r\nLINE 6\r\nLINE 7\r\n"
    );
}

#[derive(Default)]
struct Switch {
    w: Option<ReadWrite>,
    records: Vec<Value>,
}

/// 99_filterchange: switching Line -> Block -> Stream mid-stream, inside
/// InputEvent, keeps every byte: what the old filter held is parsed by the
/// new one.
#[test]
fn switching_filters_keeps_all_data() {
    let mut kernel = Kernel::new().unwrap();
    let got: Rc<RefCell<Vec<Value>>> = Rc::default();
    let out = got.clone();
    Session::new(Switch::default())
        .inline_state("_start", |ctx, _| {
            let (a, mut peer) = pair();
            // A line that says "to block", then two blocks, then raw bytes.
            let mut data = b"hello\r\nto block\r\n".to_vec();
            data.extend_from_slice(b"5\0abcde3\0xyz");
            data.extend_from_slice(b"9\0to stream");
            data.extend_from_slice(b"...and the rest");
            peer.write_all(&data).unwrap();
            drop(peer);
            let w = ReadWrite::new(a)
                .input_event("input")
                .error_event("error")
                .create(ctx)
                .unwrap();
            ctx.heap.w = Some(w);
        })
        .inline_state("input", |ctx, args| {
            let rec = args.value(ARG0).unwrap().clone();
            ctx.heap.records.push(rec.clone());
            let w = ctx.heap.w.clone().unwrap();
            match rec.as_utf8() {
                Some("to block") => w.set_input_filter(ctx, Block::new()),
                Some("to stream") => w.set_input_filter(ctx, Stream::new()),
                _ => {}
            }
        })
        .inline_state("error", move |ctx, args| {
            assert_eq!(args.get::<i64>(ARG1).unwrap(), 0, "EOF");
            *out.borrow_mut() = std::mem::take(&mut ctx.heap.records);
            ctx.heap.w = None;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let recs: Vec<String> = got
        .borrow()
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes().unwrap()).into_owned())
        .collect();
    let stream_part: String = recs[5..].concat();
    assert_eq!(
        &recs[..5],
        ["hello", "to block", "abcde", "xyz", "to stream"]
    );
    assert_eq!(stream_part, "...and the rest");
}

#[derive(Default)]
struct TooLong {
    w: Option<ReadWrite>,
    lines: Vec<String>,
    error: Option<(String, i64)>,
}

/// A line over the filter's limit is an ErrorEvent ("filter", EMSGSIZE)
/// for this stream, which stops reading it; the lines before it arrived,
/// and nothing of the long line is buffered beyond the limit.
#[test]
fn overlong_line_is_an_error_for_this_stream() {
    let mut kernel = Kernel::new().unwrap();
    let got = Rc::new(RefCell::new(TooLong::default()));
    let out = got.clone();
    Session::new(TooLong::default())
        .inline_state("_start", |ctx, _| {
            let (a, mut peer) = pair();
            let w = ReadWrite::new(a)
                .filter(Line::builder().max_length(100).build().unwrap())
                .input_event("input")
                .error_event("error")
                .create(ctx)
                .unwrap();
            peer.write_all(b"short\r\n").unwrap();
            peer.write_all(&vec![b'x'; 100_000]).unwrap();
            ctx.heap.w = Some(w);
            std::mem::forget(peer); // the peer stays open: no EOF
        })
        .inline_state("input", |ctx, args| {
            let l = args.value(ARG0).unwrap().as_utf8().unwrap().to_owned();
            ctx.heap.lines.push(l);
        })
        .inline_state("error", move |ctx, args| {
            let op: &str = args.get(ARG0).unwrap();
            let n: i64 = args.get(ARG1).unwrap();
            let mut o = out.borrow_mut();
            o.error = Some((op.to_owned(), n));
            o.lines = std::mem::take(&mut ctx.heap.lines);
            ctx.heap.w = None;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let g = got.borrow();
    assert_eq!(g.lines, ["short"]);
    assert_eq!(g.error, Some(("filter".to_owned(), 90)));
}

/// Output keeps the order of `put` calls whatever their sizes: small
/// records are copied into reused buffers, big ones (2 KiB and more) are
/// queued as they are, and a peer that reads slowly gets every byte in
/// order. FlushedEvent comes once everything is written.
#[test]
fn mixed_record_sizes_are_written_in_order() {
    let sizes = [
        10usize,
        70_000,
        5,
        3,
        2047,
        2048,
        4096,
        9,
        100_000,
        64 * 1024 - 1,
        64 * 1024,
        1,
        300_000,
        7,
    ];
    let mut expected = Vec::new();
    for (k, &n) in sizes.iter().enumerate() {
        expected.extend(std::iter::repeat(b'a' + k as u8).take(n));
    }
    let (a, mut peer) = pair();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.len() % 65536 < 4096 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        got
    });
    let mut kernel = Kernel::new().unwrap();
    let flushed = Rc::new(RefCell::new(0));
    let seen = flushed.clone();
    let stream = RefCell::new(Some(a));
    Session::new(None::<ReadWrite>)
        .inline_state("_start", move |ctx, _| {
            let w = ReadWrite::new(stream.borrow_mut().take().unwrap())
                .filter(Stream::new())
                .flushed_event("flushed")
                .create(ctx)
                .unwrap();
            for (k, &n) in sizes.iter().enumerate() {
                w.put(Value::Bytes(vec![b'a' + k as u8; n]));
            }
            *ctx.heap = Some(w);
        })
        .inline_state("flushed", move |ctx, _| {
            *seen.borrow_mut() += 1;
            *ctx.heap = None; // closes the stream: the reader sees EOF
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let got = reader.join().unwrap();
    assert_eq!(*flushed.borrow(), 1);
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "bytes out of order");
}

/// Bulk input, once the Line filter's buffer has grown, is read straight
/// into it (no copy through the shared read buffer): every line of 8 MB in
/// lines of 1 byte to 100 KiB arrives whole and in order, split across
/// reads at every kind of boundary.
#[test]
fn bulk_lines_arrive_whole_through_direct_reads() {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut total = 0;
    let mut x: u64 = 12345;
    while total < 8 << 20 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let len = match x >> 60 {
            0 => 100_000,
            1..=3 => (x >> 20) as usize % 8192,
            _ => (x >> 20) as usize % 200,
        };
        let fill = b'a' + (lines.len() % 26) as u8;
        lines.push(vec![fill; len]);
        total += len + 1;
    }
    let mut data = Vec::with_capacity(total);
    for l in &lines {
        data.extend_from_slice(l);
        data.push(b'\n');
    }
    let (a, mut peer) = pair();
    let writer = std::thread::spawn(move || {
        for piece in data.chunks(50_000) {
            peer.write_all(piece).unwrap();
        }
    });
    let mut kernel = Kernel::new().unwrap();
    let got: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let out = got.clone();
    let stream = RefCell::new(Some(a));
    Session::new(None::<ReadWrite>)
        .inline_state("_start", move |ctx, _| {
            let w = ReadWrite::new(stream.borrow_mut().take().unwrap())
                .filter(Line::builder().literal("\n").build().unwrap())
                .input_event("input")
                .error_event("error")
                .create(ctx)
                .unwrap();
            *ctx.heap = Some(w);
        })
        .inline_state("input", move |_, args| {
            out.borrow_mut()
                .push(args.value(ARG0).unwrap().as_bytes().unwrap().to_vec());
        })
        .inline_state("error", |ctx, _| *ctx.heap = None)
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    writer.join().unwrap();
    let got = got.borrow();
    assert_eq!(got.len(), lines.len());
    assert!(*got == lines, "lines differ");
}

/// A reply `put` by an InputEvent handler leaves when the read handler
/// ends, but events keep POE's order and counts: an event the handler
/// yielded runs first and still sees the reply's octets in the driver
/// (POE has not written them yet at that point), then FlushedEvent comes,
/// with nothing left.
#[test]
fn early_write_keeps_poe_event_order_and_counts() {
    let (a, mut peer) = pair();
    peer.write_all(b"ping\n").unwrap();
    let mut kernel = Kernel::new().unwrap();
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let stream = RefCell::new(Some(a));
    Session::new(None::<ReadWrite>)
        .inline_state("_start", move |ctx, _| {
            let w = ReadWrite::new(stream.borrow_mut().take().unwrap())
                .filter(Line::builder().literal("\n").build().unwrap())
                .input_event("input")
                .flushed_event("flushed")
                .create(ctx)
                .unwrap();
            *ctx.heap = Some(w);
        })
        .inline_state("input", |ctx, _| {
            ctx.heap.as_ref().unwrap().put(Value::from("pong"));
            ctx.yield_("after_input", args![]);
        })
        .inline_state("after_input", move |ctx, _| {
            let n = ctx.heap.as_ref().unwrap().get_driver_out_octets();
            l1.borrow_mut().push(format!("after_input:{n}"));
        })
        .inline_state("flushed", move |ctx, _| {
            let n = ctx.heap.as_ref().unwrap().get_driver_out_octets();
            l2.borrow_mut().push(format!("flushed:{n}"));
            *ctx.heap = None;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let mut reply = String::new();
    peer.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "pong\n");
    assert_eq!(*log.borrow(), ["after_input:5", "flushed:0"]);
}

#[derive(Default)]
struct Renamed {
    w: Option<ReadWrite>,
    seen: Vec<String>,
}

/// POE reads InputEvent's name through a reference for every record: a
/// handler that renames it (`event(InputEvent => ...)`) sends the next
/// records of the same read to the new name. rpoe looks the handler up
/// once per read, and again after a rename. (Removing InputEvent stops
/// delivery at once in rpoe; the rest stays in the filter.)
#[test]
fn renaming_input_event_mid_read_takes_effect_at_the_next_record() {
    let mut kernel = Kernel::new().unwrap();
    let got: Rc<RefCell<Vec<String>>> = Rc::default();
    let out = got.clone();
    Session::new(Renamed::default())
        .inline_state("_start", |ctx, _| {
            let (a, mut peer) = pair();
            // One write, so one read holds every line.
            peer.write_all(b"a\nb\nc\nd\ne\n").unwrap();
            let w = ReadWrite::new(a).input_event("first").create(ctx).unwrap();
            ctx.heap.w = Some(w);
            // Keep the peer open until the records are in.
            ctx.delay_set("done", 0.5, args![Value::shared(RefCell::new(Some(peer)))]);
        })
        .inline_state("first", |ctx, args| {
            let line = args.value(ARG0).and_then(Value::as_utf8).unwrap();
            ctx.heap.seen.push(format!("first:{line}"));
            let w = ctx.heap.w.clone().unwrap();
            w.event("InputEvent", Some("second"));
        })
        .inline_state("second", |ctx, args| {
            let line = args.value(ARG0).and_then(Value::as_utf8).unwrap();
            ctx.heap.seen.push(format!("second:{line}"));
            if line == "c" {
                let w = ctx.heap.w.clone().unwrap();
                w.event("InputEvent", None);
            }
        })
        .inline_state("done", move |ctx, _| {
            *out.borrow_mut() = std::mem::take(&mut ctx.heap.seen);
            ctx.heap.w = None;
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*got.borrow(), ["first:a", "second:b", "second:c"]);
}

/// `put` of one record writes what the output filter's own `put` makes of
/// it: Line's output literal (one, two or five bytes) after each string or
/// byte record, empty, small and big (past the 2 KiB where records stop
/// being copied) alike, in `put` order; a Block filter, which frames
/// records with a length prefix, the same way. A record the filter cannot
/// frame (a number) is ErrorEvent `put` and is dropped alone. Pins the
/// wheel's direct framing of byte records (`Filter::record_terminator`)
/// against the filters' `put`.
#[test]
fn put_writes_what_the_output_filters_put_makes() {
    use rpoe::filter::Filter;
    let records = || {
        vec![
            Value::from("abc"),
            Value::Bytes(Vec::new()),
            Value::Bytes(vec![b'x'; 5000]),
            Value::Int(7),
            Value::from("\u{e9}t\u{e9}"),
            Value::Bytes(vec![b'y'; 2046]),
            Value::Bytes(vec![b'z'; 2047]),
        ]
    };
    type MakeFilter = fn() -> Box<dyn Filter>;
    let filters: [MakeFilter; 4] = [
        || Box::new(Line::builder().output_literal("\n").build().unwrap()),
        || Box::new(Line::new()),
        || Box::new(Line::builder().output_literal("<EOL>").build().unwrap()),
        || Box::new(Block::new()),
    ];
    for make in filters {
        let mut expected = Vec::new();
        let mut reference = make();
        for r in records() {
            if let Ok(chunks) = reference.put(vec![r]) {
                for c in chunks {
                    expected.extend_from_slice(c.as_bytes().unwrap());
                }
            }
        }
        let (a, mut peer) = pair();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).unwrap();
            got
        });
        let mut kernel = Kernel::new().unwrap();
        let errors = Rc::new(RefCell::new(Vec::new()));
        let seen = errors.clone();
        let stream = RefCell::new(Some(a));
        Session::new(None::<ReadWrite>)
            .inline_state("_start", move |ctx, _| {
                let w = ReadWrite::new(stream.borrow_mut().take().unwrap())
                    .boxed_filters(Box::new(Line::new()), make())
                    .flushed_event("flushed")
                    .error_event("error")
                    .create(ctx)
                    .unwrap();
                for r in records() {
                    w.put(r);
                }
                *ctx.heap = Some(w);
                // A wheel whose count of buffered bytes goes wrong never
                // flushes: fail then, rather than hang.
                ctx.delay("give_up", 10.0, args![]);
            })
            .inline_state("error", move |_, args| {
                seen.borrow_mut()
                    .push(args.get::<&str>(ARG0).unwrap().to_owned());
            })
            .inline_state("flushed", |ctx, _| {
                *ctx.heap = None; // closes the stream: the reader sees EOF
                ctx.alarm_remove_all();
            })
            .inline_state("give_up", |ctx, _| {
                *ctx.heap = None;
            })
            .create(&mut kernel)
            .unwrap();
        kernel.run().unwrap();
        let got = reader.join().unwrap();
        assert_eq!(*errors.borrow(), ["put"]);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "framed bytes differ from the filter's put");
    }
}
