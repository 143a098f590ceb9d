//! Filters: the Line and Stream parts of POE's reference trace 06
//! (SPEC §5.2, §5.3, §12.K), and rpoe's limits, which POE lacks.

use rpoe::filter::{Filter, FilterError, Line, Stream};
use rpoe::Value;

fn v(s: &str) -> Value {
    Value::from(s)
}

/// Records as strings (the trace's q_ quoting is left out).
fn strs(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.as_bytes().unwrap()).into_owned())
        .collect()
}

/// get for each chunk in turn, as the trace's `feed`.
fn feed(f: &mut dyn Filter, chunks: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend(strs(&f.get(vec![v(c)]).unwrap()));
    }
    out
}

/// Trace 06, Line default: CR, LF, CRLF and LFCR all end lines; the rest is
/// pending; put appends CRLF; a CRLF split across reads gives an empty line;
/// empty lines are records; get_one_start/get_one; nothing pending -> None.
#[test]
fn line_default() {
    let mut l = Line::new();
    assert_eq!(
        strs(&l.get(vec![v("a\nb\r\nc\rd\n\re")]).unwrap()),
        ["a", "b", "c", "d"]
    );
    assert_eq!(strs(&l.get_pending().unwrap()), ["e"]);
    assert_eq!(
        strs(&l.put(vec![v("x"), v("y")]).unwrap()),
        ["x\r\n", "y\r\n"]
    );
    assert_eq!(feed(&mut Line::new(), &["a\r", "\nb\n"]), ["a", "", "b"]);
    assert_eq!(
        strs(&Line::new().get(vec![v("x\n\n\ny\n")]).unwrap()),
        ["x", "", "", "y"]
    );
    let mut l = Line::new();
    l.get_one_start(vec![v("p\nq\n")]).unwrap();
    let mut got = Vec::new();
    while let Some(r) = l.get_one().unwrap() {
        got.push(r);
    }
    assert_eq!(strs(&got), ["p", "q"]);
    assert!(Line::new().get_pending().is_none());
}

/// Trace 06, Literal '|' both ways; InputLiteral empty = autodetect, with
/// the split-CR case; a matcher in place of InputRegexp '[,;]' with
/// OutputLiteral "\n".
#[test]
fn line_literal_autodetect_and_matcher() {
    let mut l = Line::builder().literal("|").build().unwrap();
    assert_eq!(strs(&l.get(vec![v("a|b\n|c")]).unwrap()), ["a", "b\n"]);
    assert_eq!(strs(&l.put(vec![v("z")]).unwrap()), ["z|"]);
    assert_eq!(strs(&l.get_pending().unwrap()), ["c"]);

    let mut l = Line::builder().autodetect().build().unwrap();
    assert_eq!(
        strs(&l.get(vec![v("one\r\ntwo\nthree\r\n")]).unwrap()),
        ["one", "two\nthree"]
    );
    let mut l = Line::builder().input_literal("").build().unwrap();
    assert_eq!(feed(&mut l, &["one\r", "\ntwo\r\n"]), ["one", "two"]);

    let mut l = Line::builder()
        .input_matcher(|d| {
            d.iter()
                .position(|&b| b == b',' || b == b';')
                .map(|i| (i, 1))
        })
        .output_literal("\n")
        .build()
        .unwrap();
    assert_eq!(strs(&l.get(vec![v("a,b;c")]).unwrap()), ["a", "b"]);
    assert_eq!(strs(&l.put(vec![v("a")]).unwrap()), ["a\n"]);
}

/// SPEC §12.K autodetect cases with OutputLiteral '!'.
#[test]
fn line_autodetect_cases() {
    let cases: [(&[&str], &str); 3] = [
        (&["a\r", "\nb\r\n", "c\n\r", "\n"], "a!b!c\n!"),
        (&["a\n\r", "\rb\n\r", "c\r", "\n\r"], "a!\rb!c\r!"),
        (&["a\n", "b\r\n", "c\r", "\n"], "a!b\r!c\r!"),
    ];
    for (chunks, want) in cases {
        let mut l = Line::builder()
            .autodetect()
            .output_literal("!")
            .build()
            .unwrap();
        let lines = feed(&mut l, chunks);
        let put = l.put(lines.iter().map(|s| v(s)).collect()).unwrap();
        assert_eq!(strs(&put).concat(), want, "{chunks:?}");
    }
}

/// MaxLength: a long line is an error (trace: "dies"), found while scanning,
/// before its terminator arrives; the filter then goes on. A buffer limit
/// below the line limit is refused, as POE croaks.
#[test]
fn line_limits() {
    let mut l = Line::builder().max_length(4).build().unwrap();
    assert_eq!(
        l.get(vec![v("abcdefgh\n")]),
        Err(FilterError::LineTooLong { max: 4 })
    );
    assert_eq!(strs(&l.get(vec![v("ok\n")]).unwrap()), ["ok"]);

    // 10 MB with no newline, in 64 KiB reads, against a 1 MiB limit: the
    // error comes once a bit over 1 MiB is buffered, not at the end.
    let mut l = Line::builder().max_length(1 << 20).build().unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut fed = 0;
    let err = loop {
        fed += chunk.len();
        l.get_one_start_bytes(&chunk).unwrap();
        match l.get_one() {
            Ok(None) => assert!(fed < 10 << 20, "never rejected"),
            Ok(Some(_)) => panic!("no terminator was sent"),
            Err(e) => break e,
        }
    };
    assert_eq!(err, FilterError::LineTooLong { max: 1 << 20 });
    assert!(fed <= (1 << 20) + chunk.len());

    let mut l = Line::builder().max_length(4).max_buffer(8).build().unwrap();
    assert_eq!(
        l.get_one_start(vec![v("123456789")]),
        Err(FilterError::BufferFull { max: 8 })
    );
    assert!(l.get_pending().is_none(), "the buffer was dropped");
    assert!(Line::builder()
        .max_length(10)
        .max_buffer(5)
        .build()
        .is_err());
    assert!(Line::builder().max_length(0).build().is_err());
    assert!(Line::builder().literal("").build().is_err());
}

/// A fresh copy has the settings and none of the state (POE's clone),
/// including an autodetected terminator; invalid UTF-8 is never a panic.
#[test]
fn fresh_copies_and_bytes() {
    let mut l = Line::builder().autodetect().build().unwrap();
    l.get(vec![v("a\r\nrest")]).unwrap();
    let mut f = l.fresh();
    assert!(f.get_pending().is_none());
    assert_eq!(
        strs(&f.get(vec![v("x\ny\n")]).unwrap()),
        ["x", "y"],
        "autodetects again"
    );
    let got = Line::new()
        .get(vec![Value::Bytes(vec![0xff, 0xfe, b'\n'])])
        .unwrap();
    assert_eq!(got[0].as_utf8(), None);
    assert_eq!(got[0].as_bytes(), Some(&[0xff, 0xfe][..]));
    assert!(Line::new().put(vec![Value::Int(1)]).is_err());
}

/// Trace 06, Stream: everything buffered is one record; put passes through.
#[test]
fn stream() {
    let mut s = Stream::new();
    assert_eq!(strs(&s.get(vec![v("ab"), v("cd")]).unwrap()), ["abcd"]);
    assert_eq!(strs(&s.put(vec![v("x"), v("y")]).unwrap()), ["x", "y"]);
    assert!(s.get_pending().is_none());
}

/// Trace 06, Block default framing: put frames each record; a record split
/// across reads; a junk prefix is dropped (one warning) and that get
/// returns nothing.
#[test]
fn block_default_framing() {
    use rpoe::filter::Block;
    let mut b = Block::new();
    assert_eq!(
        strs(&b.put(vec![v("hello"), v("")]).unwrap()),
        ["5\0hello", "0\0"]
    );
    assert_eq!(feed(&mut b, &["5\0hel", "lo3\0abc"]), ["hello", "abc"]);
    assert!(Block::new().get(vec![v("xx2\0ab")]).unwrap().is_empty());
}

/// Trace 06, Block BlockSize 3: fixed records, remainder pending, put joins
/// without padding. A header above max_length fails before the payload is
/// buffered.
#[test]
fn block_fixed_and_limits() {
    use rpoe::filter::Block;
    let mut b = Block::fixed(3).unwrap();
    assert_eq!(strs(&b.get(vec![v("abcdefgh")]).unwrap()), ["abc", "def"]);
    assert_eq!(strs(&b.get_pending().unwrap()), ["gh"]);
    assert_eq!(strs(&b.put(vec![v("a"), v("bcde")]).unwrap()), ["abcde"]);
    assert!(Block::fixed(0).is_err());
    let mut b = Block::new().max_length(10);
    assert_eq!(
        b.get(vec![v("999999999\0x")]),
        Err(FilterError::BlockTooLong {
            len: 999_999_999,
            max: 10
        })
    );
}

/// Trace 06, Block LengthCodec: a two-byte big-endian header.
#[test]
fn block_length_codec() {
    use rpoe::filter::{Block, Decoded, LengthCodec};
    struct Be16;
    impl LengthCodec for Be16 {
        fn encode(&self, len: usize, out: &mut Vec<u8>) {
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        fn decode(&self, buf: &[u8]) -> Decoded {
            match buf {
                [a, b, ..] => Decoded::Frame {
                    header: 2,
                    len: u16::from_be_bytes([*a, *b]) as usize,
                },
                _ => Decoded::Need,
            }
        }
    }
    let mut b = Block::with_codec(Be16);
    let wire = b.put(vec![v("AB")]).unwrap();
    assert_eq!(wire, [Value::Bytes(vec![0, 2, b'A', b'B'])]);
    let wire = b.put(vec![v("AB"), v("C")]).unwrap();
    assert_eq!(strs(&b.get(wire).unwrap()), ["AB", "C"]);
}

/// Trace 06, RecordBlock 2: groups, pending, put flattens; CheckPut keeps
/// partial blocks back.
#[test]
fn record_block() {
    use rpoe::filter::RecordBlock;
    let mut rb = RecordBlock::new(2).unwrap();
    let got = rb.get(vec![1.into(), 2.into(), 3.into()]).unwrap();
    assert_eq!(got, [Value::List(vec![1.into(), 2.into()])]);
    assert_eq!(rb.get_pending().unwrap(), [Value::Int(3)]);
    let blocks = vec![
        Value::List(vec![1.into(), 2.into()]),
        Value::List(vec![3.into()]),
    ];
    assert_eq!(rb.put(blocks).unwrap(), [Value::Int(1), 2.into(), 3.into()]);
    let mut rb = RecordBlock::new(2).unwrap().check_put(true);
    assert_eq!(
        rb.put(vec![Value::List(vec![1.into(), 2.into(), 3.into()])])
            .unwrap(),
        [Value::Int(1), 2.into()]
    );
    assert_eq!(rb.put_pending(), [Value::Int(3)]);
}

/// Trace 06, Grep and Map, with Map's quirk: a record mapped to nothing
/// ends that get(); the rest stays pending.
#[test]
fn grep_and_map() {
    use rpoe::filter::{Grep, Map};
    let mut g = Grep::new(|r| r.as_utf8().is_some_and(|s| s.starts_with('k')));
    assert_eq!(
        strs(&g.get(vec![v("kx"), v("no"), v("ky")]).unwrap()),
        ["kx", "ky"]
    );
    assert_eq!(strs(&g.put(vec![v("kx"), v("no")]).unwrap()), ["kx"]);
    let upper = |r: Value| vec![Value::from(r.as_utf8().unwrap().to_uppercase())];
    let lower = |r: Value| vec![Value::from(r.as_utf8().unwrap().to_lowercase())];
    let mut m = Map::get_put(upper, lower);
    assert_eq!(strs(&m.get(vec![v("a"), v("b")]).unwrap()), ["A", "B"]);
    assert_eq!(strs(&m.put(vec![v("A")]).unwrap()), ["a"]);
    let mut m = Map::new(|r| {
        if r.as_utf8() == Some("drop") {
            vec![]
        } else {
            vec![r]
        }
    });
    assert_eq!(
        strs(&m.get(vec![v("x"), v("drop"), v("y")]).unwrap()),
        ["x"]
    );
    assert_eq!(strs(&m.get_pending().unwrap()), ["y"]);
}

/// Trace 06, Stackable [Line, Map]: input through both, output back through
/// both; get_pending gives the first filter's raw pending data (POE's gives
/// the last filter's, losing it; see DIFFERENCES.md); fresh copies each stage.
#[test]
fn stackable() {
    use rpoe::filter::{Map, Stackable};
    let map = Map::get_put(
        |r: Value| vec![Value::from(r.as_utf8().unwrap().to_uppercase())],
        |r: Value| vec![Value::from(format!("<{}>", r.as_utf8().unwrap()))],
    );
    let mut st = Stackable::new(vec![
        Box::new(Line::builder().literal("\n").build().unwrap()),
        Box::new(map),
    ]);
    assert_eq!(strs(&st.get(vec![v("ab\ncd\nef")]).unwrap()), ["AB", "CD"]);
    assert_eq!(strs(&st.put(vec![v("x")]).unwrap()), ["<x>\n"]);
    assert_eq!(strs(&st.get_pending().unwrap()), ["ef"]);
    assert_eq!(
        st.filter_types(),
        ["rpoe::filter::line::Line", "rpoe::filter::map::Map"]
    );
    let mut f = st.fresh();
    assert!(f.get_pending().is_none());
    assert_eq!(strs(&f.get(vec![v("q\n")]).unwrap()), ["Q"]);
}

/// Reference: round trip of nested values; non-references refused; garbage
/// is an error (or, with no_fatals, a string record), never a panic; a
/// frozen length larger than the data allocates nothing.
#[test]
fn reference_round_trip_and_garbage() {
    use rpoe::filter::{Reference, Serializer, ValueCodec};
    let mut r = Reference::new();
    let nested = Value::List(vec![
        1.into(),
        Value::List(vec!["x".into(), Value::Undef]),
        2.5.into(),
    ]);
    let wire = r.put(vec![nested.clone()]).unwrap();
    assert_eq!(r.get(wire).unwrap(), [nested]);
    assert!(matches!(
        r.put(vec![v("scalar")]),
        Err(FilterError::BadRecord(_))
    ));
    assert!(matches!(
        r.get(vec![v("3\0abc")]),
        Err(FilterError::Thaw(_))
    ));
    let mut lenient = Reference::new().no_fatals(true);
    assert!(lenient.get(vec![v("3\0abc")]).unwrap()[0]
        .as_utf8()
        .unwrap()
        .contains("cannot thaw"));
    // A list claiming u64::MAX elements in a few bytes.
    let mut bomb = vec![6u8];
    bomb.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(ValueCodec.thaw(&bomb).is_err());
}

/// Hostile input never panics any byte filter: pseudo-random chunks of
/// random bytes, fed in random sizes.
#[test]
fn random_bytes_never_panic() {
    use rpoe::filter::{Block, Reference};
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut filters: Vec<Box<dyn Filter>> = vec![
        Box::new(
            Line::builder()
                .max_length(64)
                .max_buffer(256)
                .build()
                .unwrap(),
        ),
        Box::new(
            Line::builder()
                .autodetect()
                .max_length(64)
                .max_buffer(256)
                .build()
                .unwrap(),
        ),
        Box::new(Block::new().max_length(64).max_buffer(256)),
        Box::new(Reference::new().max_length(64)),
        Box::new(Stream::new()),
    ];
    for _ in 0..2000 {
        let len = (next() % 40) as usize;
        let chunk: Vec<u8> = (0..len)
            .map(|_| (next() % 8) as u8 + if next() % 2 == 0 { b'0' } else { 0 })
            .collect();
        for f in filters.iter_mut() {
            if f.get_one_start_bytes(&chunk).is_ok() {
                for _ in 0..8 {
                    match f.get_one() {
                        Ok(Some(_)) | Err(_) => {}
                        Ok(None) => break,
                    }
                }
            }
        }
    }
}

/// `get_one_into`, the wheels' way to take a record (written into the
/// event's arguments), gives exactly what `get_one` gives, in every Line
/// mode and for the other byte filters, chunk boundaries and errors
/// included; with no record it says so and leaves the slot as it was.
#[test]
fn get_one_into_gives_what_get_one_gives() {
    type Make = fn() -> Box<dyn Filter>;
    let filters: [Make; 6] = [
        || Box::new(Line::new()),
        || Box::new(Line::builder().input_literal("<EOL>").build().unwrap()),
        || Box::new(Line::builder().autodetect().build().unwrap()),
        || Box::new(Line::builder().max_length(8).build().unwrap()),
        || Box::new(Stream::new()),
        || Box::new(rpoe::filter::Block::new()),
    ];
    let chunks = [
        "one\r\ntwo\nthr",
        "ee\n\rfour<EOL>fi",
        "ve<EOL>\r",
        "\na much longer line than eight\n",
        "8\0abcdefgh",
        "",
        "last",
    ];
    for make in filters {
        let (mut a, mut b) = (make(), make());
        for chunk in chunks {
            a.get_one_start(vec![v(chunk)]).unwrap();
            b.get_one_start(vec![v(chunk)]).unwrap();
            loop {
                let want = a.get_one();
                let mut slot = Value::Int(-1);
                let got = b.get_one_into(&mut slot);
                match (want, got) {
                    (Ok(Some(record)), Ok(true)) => {
                        assert_eq!(slot.as_bytes(), record.as_bytes(), "{}", a.type_name())
                    }
                    (Ok(None), Ok(false)) => {
                        assert!(matches!(slot, Value::Int(-1)), "slot changed");
                        break;
                    }
                    (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
                    (want, got) => {
                        panic!("{}: get_one {want:?}, get_one_into {got:?}", a.type_name())
                    }
                }
            }
        }
    }
}
