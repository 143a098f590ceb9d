//! Port of POE's reference trace `06_filters.pl` (kept in `tests/traces/`):
//! Line (CR/LF/CRLF/LFCR input, CRLF output, a CRLF split across reads,
//! empty lines, Literal, autodetect, a separator class, MaxLength), Stream,
//! Block (default framing, junk, BlockSize, LengthCodec), RecordBlock, Grep,
//! Map, Stackable, Reference, and fresh copies (POE's clone).
//!
//! Run: `cargo run --example trace_06_filters`. It prints POE 1.370's trace
//! except the lines listed in `tests/traces/06_filters.differences`.

#[macro_use]
pub(crate) mod common;

use std::collections::BTreeMap;

use rpoe::filter::{
    Block, Decoded, Filter, Grep, LengthCodec, Line, Map, RecordBlock, Reference, Stackable, Stream,
};
use rpoe::Value;

/// The script's `q_`: quoted, with CR, LF and NUL escaped.
fn q(v: &Value) -> String {
    match v {
        Value::Undef => "undef".to_owned(),
        other => {
            let s = match other.as_bytes() {
                Some(b) => String::from_utf8_lossy(b).into_owned(),
                None => other.to_string(),
            };
            format!(
                "'{}'",
                s.replace('\r', "\\r")
                    .replace('\n', "\\n")
                    .replace('\0', "\\0")
            )
        }
    }
}

/// The script's `show`: a label and a list of records.
fn show(label: &str, list: &[Value]) {
    let items: Vec<String> = list
        .iter()
        .map(|r| match r {
            Value::List(l) => format!("[{}]", l.iter().map(q).collect::<Vec<_>>().join(",")),
            other => q(other),
        })
        .collect();
    T!("{label} -> [{}]", items.join(", "));
}

fn s(x: &str) -> Value {
    Value::from(x)
}

/// The script's `feed`: one get per chunk.
fn feed(f: &mut dyn Filter, chunks: &[&str]) -> Vec<Value> {
    chunks
        .iter()
        .flat_map(|c| f.get(vec![s(c)]).unwrap())
        .collect()
}

fn pending(f: &dyn Filter) -> Vec<Value> {
    f.get_pending().unwrap_or_default()
}

/// POE's `pack('n')` length header.
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

fn upper(v: Value) -> Vec<Value> {
    vec![Value::from(v.as_utf8().unwrap_or_default().to_uppercase())]
}

pub(crate) fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = env_logger::try_init();

    T!("== Line (default: input any of CRLF, LF, CR, LFCR; output CRLF)");
    let mut l = Line::new();
    show(
        "get 'a\\nb\\r\\nc\\rd\\n\\re'",
        &l.get(vec![s("a\nb\r\nc\rd\n\re")])?,
    );
    show("  get_pending", &pending(&l));
    show("put ['x','y']", &l.put(vec![s("x"), s("y")])?);
    show(
        "CRLF split across reads: 'a\\r' then '\\nb\\n'",
        &feed(&mut Line::new(), &["a\r", "\nb\n"]),
    );
    show(
        "empty lines 'x\\n\\n\\ny\\n'",
        &Line::new().get(vec![s("x\n\n\ny\n")])?,
    );
    let mut l = Line::new();
    l.get_one_start(vec![s("p\nq\n")])?;
    let mut r = Vec::new();
    while let Some(x) = l.get_one()? {
        r.push(x);
    }
    show("get_one_start/get_one", &r);
    T!(
        "get_pending when empty -> {}",
        if Line::new().get_pending().is_some() {
            "defined"
        } else {
            "undef"
        }
    );

    T!("== Line Literal => '|'");
    let mut l = Line::builder().literal("|").build()?;
    show("get 'a|b\\n|c'", &l.get(vec![s("a|b\n|c")])?);
    show("  put ['z']", &l.put(vec![s("z")])?);
    show("  get_pending", &pending(&l));

    T!("== Line InputLiteral => undef (autodetect), OutputLiteral default");
    let mut l = Line::builder().autodetect().build()?;
    show(
        "autodetect from 'one\\r\\ntwo\\nthree\\r\\n'",
        &l.get(vec![s("one\r\ntwo\nthree\r\n")])?,
    );
    let mut l = Line::builder().autodetect().build()?;
    show(
        "autodetect 'one\\r' then '\\ntwo\\r\\n'",
        &feed(&mut l, &["one\r", "\ntwo\r\n"]),
    );
    // POE's InputRegexp '[,;]' is a matcher function here.
    let mut l = Line::builder()
        .input_matcher(|d| {
            d.iter()
                .position(|&b| b == b',' || b == b';')
                .map(|i| (i, 1))
        })
        .output_literal("\n")
        .build()?;
    show("InputRegexp '[,;]' on 'a,b;c'", &l.get(vec![s("a,b;c")])?);
    show("  put with OutputLiteral \\n", &l.put(vec![s("a")])?);
    let mut l = Line::builder().max_length(4).build()?;
    let dies = l.get(vec![s("abcdefgh\n")]).is_err();
    T!(
        "MaxLength=4 on 8-char line dies: {}",
        if dies { "yes" } else { "no" }
    );
    T!("Literal+InputRegexp: not expressible, a LineBuilder has one input separator");

    T!("== Stream");
    let mut st = Stream::new();
    show("get ['ab','cd']", &st.get(vec![s("ab"), s("cd")])?);
    show("put ['x','y']", &st.put(vec![s("x"), s("y")])?);

    T!("== Block default (length-prefixed 'LEN\\0DATA')");
    let mut b = Block::new();
    show("put ['hello','']", &b.put(vec![s("hello"), s("")])?);
    show(
        "get '5\\0hel' then 'lo3\\0abc'",
        &feed(&mut b, &["5\0hel", "lo3\0abc"]),
    );
    show(
        "junk prefix 'xx2\\0ab'",
        &Block::new().get(vec![s("xx2\0ab")])?,
    );
    T!("== Block BlockSize => 3");
    let mut b = Block::fixed(3)?;
    show("get 'abcdefgh'", &b.get(vec![s("abcdefgh")])?);
    show("  get_pending", &pending(&b));
    show(
        "  put ['a','bcde'] (no padding, joined)",
        &b.put(vec![s("a"), s("bcde")])?,
    );
    T!("== Block LengthCodec");
    let mut b = Block::with_codec(Be16);
    let hex: Vec<Value> = b
        .put(vec![s("AB")])?
        .iter()
        .map(|c| {
            Value::from(
                c.as_bytes()
                    .unwrap_or_default()
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>(),
            )
        })
        .collect();
    show("put ['AB']", &hex);
    let wire = b.put(vec![s("AB"), s("C")])?;
    show("get roundtrip", &b.get(wire)?);

    T!("== RecordBlock BlockSize => 2");
    let mut rb = RecordBlock::new(2)?;
    show("get [1,2,3]", &rb.get(vec![1.into(), 2.into(), 3.into()])?);
    show("  get_pending", &pending(&rb));
    let blocks = vec![
        Value::List(vec![1.into(), 2.into()]),
        Value::List(vec![3.into()]),
    ];
    show("put [[1,2],[3]] (CheckPut off: flattens)", &rb.put(blocks)?);
    let mut rb = RecordBlock::new(2)?.check_put(true);
    show(
        "put [[1,2,3]] CheckPut on",
        &rb.put(vec![Value::List(vec![1.into(), 2.into(), 3.into()])])?,
    );
    show("  put_pending", rb.put_pending());

    T!("== Grep / Map");
    let mut g = Grep::new(|r| r.as_utf8().is_some_and(|x| x.starts_with('k')));
    show(
        "Grep get [kx, no, ky]",
        &g.get(vec![s("kx"), s("no"), s("ky")])?,
    );
    show("Grep put [kx, no]", &g.put(vec![s("kx"), s("no")])?);
    let mut m = Map::get_put(upper, |v| {
        vec![Value::from(v.as_utf8().unwrap_or_default().to_lowercase())]
    });
    show("Map get [a,b]", &m.get(vec![s("a"), s("b")])?);
    show("Map put [A]", &m.put(vec![s("A")])?);
    let mut m = Map::new(|v| {
        if v.as_utf8() == Some("drop") {
            vec![]
        } else {
            vec![v]
        }
    });
    show(
        "Map get [x, drop, y] (empty result stops get())",
        &m.get(vec![s("x"), s("drop"), s("y")])?,
    );
    show("  get_pending", &pending(&m));

    T!("== Stackable [Line, Map(uc)]");
    let wrap = |v: Value| {
        vec![Value::from(format!(
            "<{}>",
            v.as_utf8().unwrap_or_default()
        ))]
    };
    let mut st = Stackable::new(vec![
        Box::new(Line::builder().literal("\n").build()?),
        Box::new(Map::get_put(upper, wrap)),
    ]);
    show("get 'ab\\ncd\\nef'", &st.get(vec![s("ab\ncd\nef")])?);
    show("put ['x']", &st.put(vec![s("x")])?);
    show("get_pending", &pending(&st));
    T!("filter_types: {}", st.filter_types().join(","));

    T!("== Reference (default serializer)");
    let mut r = Reference::new();
    let mut map = BTreeMap::new();
    map.insert("a".to_owned(), Value::Int(1));
    let frozen = r.put(vec![Value::Map(map), Value::List(vec![2.into(), 3.into()])])?;
    let framed = frozen[0].as_bytes().and_then(|b| {
        let nul = b.iter().position(|&x| x == 0)?;
        let len: usize = std::str::from_utf8(&b[..nul]).ok()?.parse().ok()?;
        Some(len == b.len() - nul - 1)
    });
    T!(
        "put gives {} chunks, each 'LEN\\0FROZEN': {}",
        frozen.len(),
        if framed == Some(true) { "yes" } else { "no" }
    );
    let joined: Vec<u8> = frozen
        .iter()
        .flat_map(|c| c.as_bytes().unwrap_or_default().to_vec())
        .collect();
    let back = r.get(vec![Value::Bytes(joined)])?;
    let a = match &back[0] {
        Value::Map(m) => m.get("a").cloned().unwrap_or_default(),
        _ => Value::Undef,
    };
    let list = back[1]
        .as_list()
        .unwrap_or_default()
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(",");
    T!("roundtrip: a={a} list={list}");
    let dies = r.put(vec![s("not a ref")]).is_err();
    T!(
        "put non-reference dies: {}",
        if dies { "yes" } else { "no" }
    );

    T!("== clone() gives an empty buffer with the same settings");
    let mut l = Line::builder().literal("|").build()?;
    l.get_one_start(vec![s("partial")])?;
    let mut c = l.fresh();
    show("clone get_pending", &pending(&*c));
    show("clone get 'a|'", &c.get(vec![s("a|")])?);
    Ok(())
}
