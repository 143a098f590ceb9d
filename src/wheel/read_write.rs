//! POE::Wheel::ReadWrite: buffered, filtered reads and writes on a stream
//! (SPEC §7, trace 07).
//!
//! Reading: on readiness the wheel reads up to its *read budget* (bytes per
//! wakeup), feeding each chunk to the input filter and calling InputEvent
//! once per complete record, synchronously, before reading more. A source
//! is drained until `WouldBlock` (it is watched edge-triggered); when the
//! budget runs out first, the wheel asks to be visited again at the next
//! poll, so one busy peer cannot starve the others and nothing buffered is
//! forgotten.
//!
//! Writing: `put` frames records with the output filter into one buffer and
//! resumes the write watcher; the buffer is written when the stream is
//! writable, and FlushedEvent, HighEvent and LowEvent follow POE's rules.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, IoSlice};
use std::net::Shutdown;
use std::rc::Rc;

use super::{allocate_wheel_id, errno_of, errstr_of, WheelError};
use crate::filter::{append_terminator, Filter, FilterError, Line};
use crate::{
    args, ByteStream, Ctx, EventName, HandleId, Registration, SelfCall, SharedStream, Value, ARG0,
};

/// Bytes asked of the OS per read (POE::Driver::SysRW's BlockSize).
const DEFAULT_BLOCK_SIZE: usize = 65_536;
/// Bytes read per wakeup before the wheel yields to other sources.
const DEFAULT_READ_BUDGET: usize = 256 * 1024;

thread_local! {
    /// The read buffer all wheels of the thread share (reads never nest:
    /// InputEvents run after the read, from the filter).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Buffered, filtered I/O on a stream (POE::Wheel::ReadWrite).
///
/// Created inside a handler with [`ReadWrite::new`]`(stream)...create(ctx)`;
/// its events go to that session. The value is a reference-counted handle,
/// as a POE wheel is an object reference: clone it to call a method that
/// needs the handler's `ctx` while the wheel sits in the heap
/// (`let w = ctx.heap.wheel.clone(); w.flush(ctx);`). The wheel stops
/// watching, and its stream closes, when the last handle is dropped.
///
/// Events, with POE's arguments (ARG0...):
/// - InputEvent `(record, wheel_id)`, called once per record;
/// - ErrorEvent `(operation, errnum, errstr, wheel_id)`: `read` with errnum
///   0 at end of file, `read`/`write` with the OS error, `filter` when the
///   input filter rejects the stream (a line over its limit, say), `put`
///   when the output filter rejects a record;
/// - FlushedEvent `(wheel_id)` when the output buffer empties;
/// - HighEvent / LowEvent `(wheel_id)` when the buffered output reaches
///   HighMark, then falls to LowMark.
#[derive(Clone)]
pub struct ReadWrite(Rc<RefCell<Inner>>);

/// Settings for a [`ReadWrite`] (POE's constructor parameters).
pub struct ReadWriteBuilder {
    stream: SharedStream,
    input_filter: Option<Box<dyn Filter>>,
    output_filter: Option<Box<dyn Filter>>,
    events: Events,
    high_mark: Option<usize>,
    low_mark: Option<usize>,
    auto_flush: bool,
    block_size: usize,
    read_budget: usize,
}

#[derive(Clone, Default)]
struct Events {
    input: Option<EventName>,
    error: Option<EventName>,
    flushed: Option<EventName>,
    high: Option<EventName>,
    low: Option<EventName>,
}

struct Inner {
    id: u64,
    session: crate::SessionId,
    stream: SharedStream,
    reg: Registration,
    input_filter: Box<dyn Filter>,
    output_filter: Box<dyn Filter>,
    events: Events,
    /// Counts InputEvent renames, so that the read loop notices one
    /// without comparing names per record.
    input_renames: u32,
    high_mark: Option<usize>,
    low_mark: Option<usize>,
    high_state: bool,
    /// HighEvent is owed (sent by the next write handler run).
    high_pending: bool,
    auto_flush: bool,
    /// Output waiting to be written, as framed: small records copied into
    /// reused buffers, big ones queued as they are, all written with one
    /// vectored write.
    out: VecDeque<Chunk>,
    /// An emptied copy buffer kept for the next output (see [`SPARE_MAX`]).
    spare: Vec<u8>,
    /// Bytes of the front chunk already written.
    front_written: usize,
    /// Octets in `out` not yet written.
    buffered: usize,
    /// `put` calls not entirely written (POE's driver messages).
    puts_pending: usize,
    /// Octets and `put` calls written early (see [`Inner::write_early`])
    /// that the write handler has not run for yet: POE would still hold
    /// them, so the driver counts report them until then.
    early_octets: usize,
    early_puts: usize,
    block_size: usize,
    read_budget: usize,
    /// The stream's [`ByteStream::short_read_drains`].
    short_read_drains: bool,
    input_paused: bool,
    /// End of file, an error, a filter error or `shutdown_input`.
    input_done: bool,
    /// A write error or `shutdown_output`.
    output_done: bool,
    /// An error found outside a handler, reported by the write handler.
    pending_error: Option<(&'static str, i64, String)>,
    octets_read: u64,
    octets_written: u64,
    records_read: u64,
    records_written: u64,
}

enum ReadOutcome {
    /// Bytes were read; `short`: fewer than the buffer had room for.
    Data {
        short: bool,
    },
    WouldBlock,
    Eof,
    Failed(io::Error),
    Filter(FilterError),
}

impl ReadWrite {
    /// Starts building a wheel on `stream` (POE's `Handle`): a
    /// `mio::net::TcpStream`, `mio::net::UnixStream`, or any [`ByteStream`].
    // The POE name is kept for porters: `ReadWrite::new(...)`, then `create`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<S: ByteStream>(stream: S) -> ReadWriteBuilder {
        Self::on_shared(SharedStream::new(stream))
    }

    /// Starts building a wheel on a stream already shared.
    pub fn on_shared(stream: SharedStream) -> ReadWriteBuilder {
        ReadWriteBuilder {
            stream,
            input_filter: None,
            output_filter: None,
            events: Events::default(),
            high_mark: None,
            low_mark: None,
            auto_flush: false,
            block_size: DEFAULT_BLOCK_SIZE,
            read_budget: DEFAULT_READ_BUDGET,
        }
    }
}

impl ReadWriteBuilder {
    /// The filter for both directions (POE's `Filter`; default: a Line
    /// filter). The output side gets a [fresh](Filter::fresh) copy.
    pub fn filter(mut self, filter: impl Filter + 'static) -> Self {
        self.output_filter = Some(filter.fresh());
        self.input_filter = Some(Box::new(filter));
        self
    }

    /// The filter for input alone (POE's `InputFilter`).
    pub fn input_filter(mut self, filter: impl Filter + 'static) -> Self {
        self.input_filter = Some(Box::new(filter));
        self
    }

    /// The filter for output alone (POE's `OutputFilter`).
    pub fn output_filter(mut self, filter: impl Filter + 'static) -> Self {
        self.output_filter = Some(Box::new(filter));
        self
    }

    /// The filter for both directions, boxed (for a filter chosen at run time).
    pub fn boxed_filters(mut self, input: Box<dyn Filter>, output: Box<dyn Filter>) -> Self {
        self.input_filter = Some(input);
        self.output_filter = Some(output);
        self
    }

    /// POE's `InputEvent`: without it the wheel does not read.
    pub fn input_event(mut self, name: impl Into<EventName>) -> Self {
        self.events.input = Some(name.into());
        self
    }

    /// POE's `ErrorEvent`.
    pub fn error_event(mut self, name: impl Into<EventName>) -> Self {
        self.events.error = Some(name.into());
        self
    }

    /// POE's `FlushedEvent`.
    pub fn flushed_event(mut self, name: impl Into<EventName>) -> Self {
        self.events.flushed = Some(name.into());
        self
    }

    /// POE's `HighEvent` (needs a high mark).
    pub fn high_event(mut self, name: impl Into<EventName>) -> Self {
        self.events.high = Some(name.into());
        self
    }

    /// POE's `LowEvent` (needs a low mark).
    pub fn low_event(mut self, name: impl Into<EventName>) -> Self {
        self.events.low = Some(name.into());
        self
    }

    /// POE's `HighMark`: buffered output octets that make `put` return true.
    pub fn high_mark(mut self, octets: usize) -> Self {
        self.high_mark = Some(octets);
        self
    }

    /// POE's `LowMark`: buffered output octets at which LowEvent fires.
    pub fn low_mark(mut self, octets: usize) -> Self {
        self.low_mark = Some(octets);
        self
    }

    /// POE's `AutoFlush`: `put` writes at once when the buffer was empty.
    pub fn auto_flush(mut self, on: bool) -> Self {
        self.auto_flush = on;
        self
    }

    /// Octets asked of the OS per read (POE::Driver::SysRW's `BlockSize`,
    /// default 65536).
    pub fn block_size(mut self, octets: usize) -> Self {
        self.block_size = octets.max(1);
        self
    }

    /// Octets read per wakeup before the wheel lets other sources run
    /// (default 256 KiB; at least 1).
    pub fn read_budget(mut self, octets: usize) -> Self {
        self.read_budget = octets.max(1);
        self
    }

    fn validate(&self) -> Result<(), WheelError> {
        match (self.high_mark, self.low_mark) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(WheelError::Config(
                    "HighMark and LowMark go together (POE: water mark errors)",
                ))
            }
            (Some(h), Some(l)) if h == 0 || l == 0 => {
                return Err(WheelError::Config("HighMark and LowMark must be above 0"))
            }
            (Some(h), Some(l)) if l >= h => {
                return Err(WheelError::Config("LowMark must be below HighMark"))
            }
            _ => {}
        }
        if self.events.high.is_some() && self.high_mark.is_none() {
            return Err(WheelError::Config("HighEvent needs a HighMark"));
        }
        if self.events.low.is_some() != self.low_mark.is_some() {
            return Err(WheelError::Config("LowMark and LowEvent go together"));
        }
        Ok(())
    }

    /// Creates the wheel in the running session, which receives its events.
    ///
    /// # Errors
    /// [`WheelError::Config`] for settings POE croaks on: HighMark without
    /// LowMark or the reverse, marks of 0 or LowMark not below HighMark,
    /// HighEvent without HighMark, LowEvent without LowMark or the reverse.
    pub fn create<H: 'static>(self, ctx: &mut Ctx<'_, H>) -> Result<ReadWrite, WheelError> {
        self.validate()?;
        let id = allocate_wheel_id();
        let reg = ctx.kernel.register(self.stream.clone());
        let h = reg.id();
        let input_filter = self
            .input_filter
            .unwrap_or_else(|| Box::new(Line::new()) as Box<dyn Filter>);
        let output_filter = self.output_filter.unwrap_or_else(|| input_filter.fresh());
        let reads = self.events.input.is_some();
        let short_read_drains = self.stream.get().short_read_drains();
        let inner = Rc::new(RefCell::new(Inner {
            id,
            session: ctx.session(),
            short_read_drains,
            stream: self.stream,
            reg,
            input_filter,
            output_filter,
            events: self.events,
            input_renames: 0,
            high_mark: self.high_mark,
            low_mark: self.low_mark,
            high_state: false,
            high_pending: false,
            auto_flush: self.auto_flush,
            out: VecDeque::new(),
            spare: Vec::new(),
            front_written: 0,
            buffered: 0,
            puts_pending: 0,
            early_octets: 0,
            early_puts: 0,
            block_size: self.block_size,
            read_budget: self.read_budget,
            input_paused: false,
            input_done: !reads,
            output_done: false,
            pending_error: None,
            octets_read: 0,
            octets_written: 0,
            records_read: 0,
            records_written: 0,
        }));
        let weak = Rc::downgrade(&inner);
        let mut registered = ctx.select_write_state_paused(
            h,
            format!("POE::Wheel::ReadWrite({id}) -> select write"),
            move |ctx: &mut Ctx<'_, H>, _| {
                if let Some(rc) = weak.upgrade() {
                    on_write(ctx, &rc);
                }
            },
        );
        if reads && registered.is_ok() {
            let weak = Rc::downgrade(&inner);
            registered = ctx.select_read_state(
                h,
                format!("POE::Wheel::ReadWrite({id}) -> select read"),
                move |ctx: &mut Ctx<'_, H>, _| {
                    if let Some(rc) = weak.upgrade() {
                        on_read(ctx, &rc);
                    }
                },
            );
        }
        if let Err(e) = registered {
            // The handle was registered a moment ago by this session.
            log::error!("ReadWrite({id}): watching its own stream failed: {e}");
        }
        Ok(ReadWrite(inner))
    }
}

impl fmt::Debug for ReadWriteBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadWriteBuilder")
            .field("high_mark", &self.high_mark)
            .field("low_mark", &self.low_mark)
            .field("auto_flush", &self.auto_flush)
            .finish_non_exhaustive()
    }
}

/// Framed output of one or more `put` calls.
struct Chunk {
    bytes: Vec<u8>,
    /// The `put` calls that end in this chunk.
    puts: usize,
    /// A buffer that small records are copied into (not one record's own
    /// bytes, queued as they are).
    copied: bool,
}

/// Records smaller than this are copied into a buffer that is reused from
/// flush to flush, and their own allocation freed at once, so many short
/// lines make one write and few allocations. Bigger records are queued as
/// they are: since replies are written at the end of the read handler (see
/// [`Inner::write_early`]) they live briefly. (Held until the next poll,
/// 4 KiB records made the allocator hand memory back to the OS and fault it
/// in again: 15% of the server's time.)
const COPY_MAX: usize = 2048;
/// A copy buffer takes records until it holds this much.
const CHUNK_MAX: usize = 256 * 1024;
/// An emptied copy buffer up to this capacity is kept for the next output;
/// this is what a connection holds between bursts, at most.
const SPARE_MAX: usize = 128 * 1024;
/// Copies a small record and its terminator into the last copy buffer of
/// `out` if it has room, else into a new one (`spare`, if kept).
#[inline(always)]
fn copy_into_chunks(out: &mut VecDeque<Chunk>, spare: &mut Vec<u8>, record: &[u8], term: &[u8]) {
    let n = record.len() + term.len();
    if let Some(last) = out.back_mut() {
        if last.copied && last.bytes.len() + n <= CHUNK_MAX {
            last.bytes.extend_from_slice(record);
            append_terminator(&mut last.bytes, term);
            last.puts += 1;
            return;
        }
    }
    let mut buf = std::mem::take(spare);
    if buf.capacity() == 0 {
        // Powers of two, so that growth stops at SPARE_MAX exactly.
        buf.reserve_exact(n.max(4096).next_power_of_two());
    }
    buf.extend_from_slice(record);
    append_terminator(&mut buf, term);
    out.push_back(Chunk {
        bytes: buf,
        puts: 1,
        copied: true,
    });
}

/// Slices per vectored write.
const MAX_SLICES: usize = 64;

impl Inner {
    fn buffered(&self) -> usize {
        self.buffered
    }

    fn clear_output(&mut self) {
        self.out.clear();
        self.front_written = 0;
        self.buffered = 0;
        self.puts_pending = 0;
        self.early_octets = 0;
        self.early_puts = 0;
    }

    /// Frames one record other than `Bytes` (see [`put_bytes`](Self::put_bytes))
    /// and queues it: a `Str` one as its bytes where the output filter
    /// frames by terminator, the rest through the filter.
    fn put_one(&mut self, record: Value) -> Result<(), FilterError> {
        match record {
            Value::Str(s) if self.output_filter.record_terminator().is_some() => {
                self.put_bytes(s.into_bytes())
            }
            record => {
                let bytes = self.output_filter.put_one_owned(record)?;
                self.queue(bytes);
                Ok(())
            }
        }
    }

    /// Frames one `Bytes` record, given its bytes, and queues it. If the
    /// output filter frames it as its bytes and a fixed terminator (Line,
    /// Stream), a small record is copied with the terminator straight into
    /// the output and its buffer goes back to the input filter for the
    /// next record: no framed record is made, and none comes back from the
    /// filter (a 24-byte return the caller read in 16-byte pieces while the
    /// filter's 8-byte stores of it were still in flight).
    #[inline(always)]
    fn put_bytes(&mut self, mut bytes: Vec<u8>) -> Result<(), FilterError> {
        let Some(term) = self.output_filter.record_terminator() else {
            let framed = self.output_filter.put_one_owned(Value::Bytes(bytes))?;
            self.queue(framed);
            return Ok(());
        };
        let n = bytes.len() + term.len();
        if n == 0 || n >= COPY_MAX {
            bytes.extend_from_slice(term);
            self.queue(bytes);
            return Ok(());
        }
        self.buffered += n;
        self.puts_pending += 1;
        copy_into_chunks(&mut self.out, &mut self.spare, &bytes, term);
        self.input_filter.recycle(bytes);
        Ok(())
    }

    /// Queues the bytes of one `put` call.
    fn queue(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.buffered += bytes.len();
        self.puts_pending += 1;
        if bytes.len() >= COPY_MAX {
            self.out.push_back(Chunk {
                bytes,
                puts: 1,
                copied: false,
            });
            return;
        }
        copy_into_chunks(&mut self.out, &mut self.spare, &bytes, &[]);
        self.input_filter.recycle(bytes);
    }

    /// Writes what input handlers just queued, without waiting for the
    /// next poll, so that a reply leaves while its peer waits (with many
    /// connections ready at once, waiting made every reply wait for every
    /// other connection's input). The write watcher stays resumed: its
    /// handler still runs at the next poll and sends HighEvent, LowEvent
    /// and FlushedEvent in POE's order; only the bytes leave sooner.
    fn write_early(&mut self) {
        if self.buffered == 0 || self.output_done {
            return;
        }
        let (octets, puts) = (self.buffered, self.puts_pending);
        let result = self.flush_out();
        self.early_octets += octets - self.buffered;
        self.early_puts += puts - self.puts_pending;
        if let Err(e) = result {
            self.fail_write(&e);
        }
    }

    /// A write outside the write handler failed: output ends, and the
    /// write handler reports ErrorEvent `write` at its next run.
    fn fail_write(&mut self, e: &io::Error) {
        self.clear_output();
        self.output_done = true;
        self.pending_error = Some(("write", errno_of(e), errstr_of(e)));
        self.reg.resume_write();
    }

    /// Marks `n` octets written.
    fn advance(&mut self, mut n: usize) {
        self.buffered -= n;
        self.octets_written += n as u64;
        while n > 0 {
            let Some(front) = self.out.front() else { break };
            let left = front.bytes.len() - self.front_written;
            if n < left {
                self.front_written += n;
                break;
            }
            n -= left;
            self.front_written = 0;
            if let Some(done) = self.out.pop_front() {
                self.puts_pending -= done.puts;
                self.records_written += done.puts as u64;
                let cap = done.bytes.capacity();
                if !done.copied {
                    // A big record written as it was: its buffer can
                    // take the next one.
                    self.input_filter.recycle(done.bytes);
                } else if cap <= SPARE_MAX && cap > self.spare.capacity() {
                    let mut bytes = done.bytes;
                    bytes.clear();
                    self.spare = bytes;
                }
            }
        }
    }

    /// Writes until the queue is empty or the stream would block; returns
    /// the octets left (POE::Driver::SysRW's `flush`).
    fn flush_out(&mut self) -> io::Result<usize> {
        while !self.out.is_empty() {
            let r = {
                let front = &self.out[0].bytes[self.front_written..];
                if self.out.len() == 1 {
                    self.stream.get().write(front)
                } else {
                    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                    let mut n = 0;
                    for (slot, c) in slices.iter_mut().zip(&self.out) {
                        *slot = IoSlice::new(if n == 0 { front } else { &c.bytes });
                        n += 1;
                    }
                    self.stream.get().write_vectored(&slices[..n])
                }
            };
            match r {
                Ok(0) => return Err(io::Error::new(ErrorKind::WriteZero, "wrote nothing")),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.buffered)
    }

    /// One read of at most the remaining budget, fed to the input filter.
    /// The bytes land in a scratch buffer shared by every wheel of the
    /// thread (the filter keeps what it needs), so an idle connection holds
    /// no read buffer; a filter whose framing buffer already has room for
    /// half a block (a connection carrying bulk data) is read into
    /// directly, saving that copy.
    fn read_chunk(&mut self, budget: &mut usize) -> ReadOutcome {
        let want = self.block_size.min(*budget).max(1);
        let (read, fed) = match self.input_filter.input_room((want / 2).max(1)) {
            Some(room) => {
                let n = room.len().min(want);
                match self.stream.get().read(&mut room[..n]) {
                    Ok(k) if k > 0 => (Ok((k, k < n)), self.input_filter.commit_input(k)),
                    other => (other.map(|k| (k, true)), Ok(())),
                }
            }
            None => SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                if scratch.len() < want {
                    scratch.resize(want, 0);
                }
                match self.stream.get().read(&mut scratch[..want]) {
                    Ok(k) if k > 0 => (
                        Ok((k, k < want)),
                        self.input_filter.get_one_start_bytes(&scratch[..k]),
                    ),
                    other => (other.map(|k| (k, true)), Ok(())),
                }
            }),
        };
        match read {
            Ok((0, _)) => ReadOutcome::Eof,
            Ok((n, short)) => {
                *budget = budget.saturating_sub(n);
                self.octets_read += n as u64;
                match fed {
                    Ok(()) => ReadOutcome::Data { short },
                    Err(e) => ReadOutcome::Filter(e),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
            Err(e) if e.kind() == ErrorKind::Interrupted => ReadOutcome::Data { short: false },
            Err(e) => ReadOutcome::Failed(e),
        }
    }
}

/// The errno a filter error is reported with.
fn filter_errno(e: &FilterError) -> i64 {
    match e {
        FilterError::LineTooLong { .. }
        | FilterError::BlockTooLong { .. }
        | FilterError::BufferFull { .. } => nix::errno::Errno::EMSGSIZE as i64,
        _ => nix::errno::Errno::EPROTO as i64,
    }
}

/// Calls ErrorEvent, if there is one.
fn send_error<H: 'static>(
    ctx: &mut Ctx<'_, H>,
    rc: &Rc<RefCell<Inner>>,
    op: &str,
    errnum: i64,
    errstr: String,
) {
    let (event, id) = {
        let i = rc.borrow();
        (i.events.error.clone(), i.id)
    };
    match event {
        Some(event) => {
            let me = ctx.session();
            let _ = ctx.call(me, event, args![op, errnum, errstr, id as i64]);
        }
        None => log::debug!("ReadWrite({id}): {op} error {errnum} ({errstr}) with no ErrorEvent"),
    }
}

/// Ends input after end of file or an error: POE removes the read watcher.
fn end_input<H: 'static>(ctx: &mut Ctx<'_, H>, rc: &Rc<RefCell<Inner>>) {
    let h = {
        let mut i = rc.borrow_mut();
        i.input_done = true;
        i.reg.id()
    };
    let _ = ctx.kernel.select_read_remove(h);
}

/// Calls InputEvent for each complete record the input filter holds.
/// `false` if input stopped (paused, ended, or the wheel was dropped).
fn deliver_records<H: 'static>(ctx: &mut Ctx<'_, H>, rc: &Rc<RefCell<Inner>>) -> bool {
    // The InputEvent handler, looked up once per read, not per record
    // (looked up again if a handler renames the event meanwhile).
    let mut prepared: Option<(u32, SelfCall<H>)> = None;
    loop {
        // The record goes straight into the event's arguments: each move
        // of a record through a temporary was a copy of it on the way.
        let failed = {
            let mut i = rc.borrow_mut();
            if i.input_paused || i.input_done {
                return false;
            }
            if i.events.input.is_none() {
                return false;
            }
            // The filter writes the record into the event's arguments
            // itself: returned through memory and then moved there, it was
            // read back in 16-byte pieces while the filter's 8-byte stores
            // of it were still in flight.
            let mut args = args![Value::Undef, i.id as i64];
            let Some(slot) = args.get_mut(ARG0) else {
                return false; // not reached: the arguments hold two values
            };
            match i.input_filter.get_one_into(slot) {
                Ok(true) => {
                    i.records_read += 1;
                    if !prepared
                        .as_ref()
                        .is_some_and(|(renames, _)| *renames == i.input_renames)
                    {
                        prepared = i
                            .events
                            .input
                            .clone()
                            .map(|event| (i.input_renames, ctx.prepare_call(event)));
                    }
                    drop(i);
                    if let Some((_, call)) = &prepared {
                        ctx.call_prepared_for_effect(call, &mut args);
                    }
                    None
                }
                Ok(false) => return true,
                Err(e) => Some(e),
            }
        };
        if let Some(e) = failed {
            log::warn!("ReadWrite({}): input rejected: {e}", rc.borrow().id);
            end_input(ctx, rc);
            send_error(ctx, rc, "filter", filter_errno(&e), e.to_string());
            return false;
        }
        if Rc::strong_count(rc) == 1 {
            return false; // the session dropped the wheel
        }
    }
}

/// The read watcher's handler: reads and delivers input, then writes at
/// once whatever the input handlers queued, unless output was already
/// backed up (then the write watcher waits for writability as before).
fn on_read<H: 'static>(ctx: &mut Ctx<'_, H>, rc: &Rc<RefCell<Inner>>) {
    let backlog = rc.borrow().buffered > 0;
    read_input(ctx, rc);
    if !backlog && Rc::strong_count(rc) > 1 {
        rc.borrow_mut().write_early();
    }
}

/// Reads until `WouldBlock` (or the budget runs out), delivering records.
/// A stream socket whose read fills less than its buffer is drained, unless
/// the poller has seen its peer's end of output (which the next read
/// returns): then reading stops there, without one more `read` that would
/// only return `WouldBlock` (tokio and libuv do the same; epoll(7)).
fn read_input<H: 'static>(ctx: &mut Ctx<'_, H>, rc: &Rc<RefCell<Inner>>) {
    let (mut budget, may_stop_short) = {
        let i = rc.borrow();
        let h = i.reg.id();
        (
            i.read_budget,
            i.short_read_drains && !ctx.kernel.input_closed(h),
        )
    };
    let mut drained = false;
    loop {
        if !deliver_records(ctx, rc) || drained {
            return;
        }
        if budget == 0 {
            rc.borrow().reg.wake_read();
            return;
        }
        let outcome = rc.borrow_mut().read_chunk(&mut budget);
        match outcome {
            ReadOutcome::Data { short } => drained = short && may_stop_short,
            ReadOutcome::WouldBlock => return,
            ReadOutcome::Eof => {
                end_input(ctx, rc);
                send_error(ctx, rc, "read", 0, String::new());
                return;
            }
            ReadOutcome::Failed(e) => {
                end_input(ctx, rc);
                send_error(ctx, rc, "read", errno_of(&e), errstr_of(&e));
                return;
            }
            ReadOutcome::Filter(e) => {
                log::warn!("ReadWrite({}): input rejected: {e}", rc.borrow().id);
                end_input(ctx, rc);
                send_error(ctx, rc, "filter", filter_errno(&e), e.to_string());
                return;
            }
        }
    }
}

/// The write watcher's handler, also run by `flush`.
fn on_write<H: 'static>(ctx: &mut Ctx<'_, H>, rc: &Rc<RefCell<Inner>>) {
    let me = ctx.session();
    let (id, h, high, pending) = {
        let mut i = rc.borrow_mut();
        i.early_octets = 0;
        i.early_puts = 0;
        let high = if std::mem::take(&mut i.high_pending) {
            i.events.high.clone()
        } else {
            None
        };
        (i.id, i.reg.id(), high, i.pending_error.take())
    };
    if let Some(event) = high {
        let _ = ctx.call(me, event, args![id as i64]);
    }
    if let Some((op, errnum, errstr)) = pending {
        send_error(ctx, rc, op, errnum, errstr);
    }
    if rc.borrow().output_done {
        let _ = ctx.kernel.select_write_remove(h);
        return;
    }
    let result = rc.borrow_mut().flush_out();
    let left = match result {
        Ok(left) => left,
        Err(e) => {
            {
                let mut i = rc.borrow_mut();
                i.clear_output();
                i.output_done = true;
            }
            let _ = ctx.kernel.select_write_remove(h);
            send_error(ctx, rc, "write", errno_of(&e), errstr_of(&e));
            return;
        }
    };
    let mark_event = {
        let mut i = rc.borrow_mut();
        if i.high_state {
            if i.low_mark.is_some_and(|low| left <= low) {
                i.high_state = false;
                i.events.low.clone()
            } else {
                None
            }
        } else if i.high_mark.is_some_and(|high| left >= high) {
            i.high_state = true;
            i.events.high.clone()
        } else {
            None
        }
    };
    if let Some(event) = mark_event {
        let _ = ctx.call(me, event, args![id as i64]);
    }
    if left == 0 {
        ctx.kernel.select_pause_write(h);
        let flushed = rc.borrow().events.flushed.clone();
        if let Some(event) = flushed {
            let _ = ctx.call(me, event, args![id as i64]);
        }
    }
}

impl ReadWrite {
    /// The wheel's id (POE's `ID`), as its events carry it.
    #[allow(non_snake_case)]
    pub fn ID(&self) -> u64 {
        self.0.borrow().id
    }

    /// The wheel's id.
    pub fn id(&self) -> u64 {
        self.0.borrow().id
    }

    /// The id of the stream's handle in the kernel.
    pub fn handle_id(&self) -> HandleId {
        self.0.borrow().reg.id()
    }

    /// The stream (POE's `get_input_handle` / `get_output_handle`).
    pub fn stream(&self) -> SharedStream {
        self.0.borrow().stream.clone()
    }

    /// Queues one record for writing (POE's `put`); returns whether the
    /// buffered output has reached HighMark.
    #[inline(always)]
    pub fn put(&self, record: impl Into<Value>) -> bool {
        // A byte record's buffer is taken out here, where the program's
        // value was just stored, in the pieces it was stored in: moved on
        // whole, the value was read back across them.
        match record.into() {
            Value::Bytes(bytes) => self.put_with(|i| i.put_bytes(bytes)),
            record => self.put_with(|i| i.put_one(record)),
        }
    }

    /// Queues records for writing (POE's `put(@records)`); returns whether
    /// the buffered output has reached HighMark.
    ///
    /// The write happens when the stream is writable (the write watcher is
    /// resumed), or at once with AutoFlush. A record the output filter
    /// rejects is dropped and reported as ErrorEvent `put`; after
    /// `shutdown_output` or a write error, records are dropped.
    pub fn put_all(&self, records: Vec<Value>) -> bool {
        self.put_with(|i| {
            let mut out = Vec::new();
            i.output_filter.put_bytes(records, &mut out)?;
            i.queue(out);
            Ok(())
        })
    }

    /// Frames records with `frame`, which queues them, then does what a
    /// `put` does after (flushing or resuming the write watcher, HighMark).
    #[inline(always)]
    fn put_with(&self, frame: impl FnOnce(&mut Inner) -> Result<(), FilterError>) -> bool {
        let mut guard = self.0.borrow_mut();
        let i = &mut *guard;
        if i.output_done {
            log::debug!("ReadWrite({}): put after output ended: dropped", i.id);
            return i.high_state;
        }
        let was_empty = i.buffered() == 0;
        match frame(i) {
            Ok(()) => {}
            Err(e) => {
                log::warn!(
                    "ReadWrite({}): record rejected by the output filter: {e}",
                    i.id
                );
                i.pending_error = Some(("put", nix::errno::Errno::EINVAL as i64, e.to_string()));
                i.reg.resume_write();
                return i.high_state;
            }
        }
        if was_empty && i.buffered() > 0 {
            if i.auto_flush {
                match i.flush_out() {
                    Ok(0) => {
                        // POE calls FlushedEvent inside put; without the
                        // handler's ctx here, it is yielded (DIFFERENCES.md).
                        if let Some(event) = i.events.flushed.clone() {
                            i.reg.yield_(event, args![i.id as i64]);
                        }
                    }
                    Ok(_) => i.reg.resume_write(),
                    Err(e) => i.fail_write(&e),
                }
            } else {
                i.reg.resume_write();
            }
        }
        match i.high_mark {
            Some(high) if i.buffered() >= high => {
                if !i.high_state {
                    i.high_state = true;
                    i.high_pending = i.events.high.is_some();
                }
                true
            }
            _ => false,
        }
    }

    /// Writes what is buffered now, synchronously, and sends FlushedEvent
    /// if the buffer is then empty, even if it was empty already (POE's
    /// `flush`, which calls the write handler).
    pub fn flush<H: 'static>(&self, ctx: &mut Ctx<'_, H>) {
        if !self.owned_by(ctx) {
            return;
        }
        on_write(ctx, &self.0.clone());
    }

    fn owned_by<H>(&self, ctx: &Ctx<'_, H>) -> bool {
        let i = self.0.borrow();
        if i.session != ctx.session() {
            log::error!(
                "ReadWrite({}) belongs to session {}, not {}",
                i.id,
                i.session,
                ctx.session()
            );
            return false;
        }
        true
    }

    /// Stops reading (POE's `pause_input`). Unlike POE, records of the
    /// chunk being delivered that are not yet delivered wait too.
    pub fn pause_input(&self) {
        let mut i = self.0.borrow_mut();
        i.input_paused = true;
        i.reg.pause_read();
    }

    /// Reads again (POE's `resume_input`); records already buffered are
    /// delivered at the next poll even if no new data arrives.
    pub fn resume_input(&self) {
        let mut i = self.0.borrow_mut();
        i.input_paused = false;
        i.reg.resume_read();
        i.reg.wake_read();
    }

    /// Shuts the stream's reading side and stops reading (POE's
    /// `shutdown_input`).
    pub fn shutdown_input(&self) {
        let mut i = self.0.borrow_mut();
        i.input_done = true;
        if let Err(e) = i.stream.get().shutdown(Shutdown::Read) {
            log::debug!("ReadWrite({}): shutdown_input: {e}", i.id);
        }
        i.reg.pause_read();
    }

    /// Shuts the stream's writing side, abandoning buffered output (POE's
    /// `shutdown_output`): the peer sees end of file.
    pub fn shutdown_output(&self) {
        let mut i = self.0.borrow_mut();
        i.output_done = true;
        i.clear_output();
        if let Err(e) = i.stream.get().shutdown(Shutdown::Write) {
            log::debug!("ReadWrite({}): shutdown_output: {e}", i.id);
        }
        i.reg.pause_write();
    }

    /// Replaces both filters (POE's `set_filter`): input the old filter
    /// holds is parsed by the new one at once, InputEvents included, before
    /// this returns; buffered output is not re-framed.
    pub fn set_filter<H: 'static>(&self, ctx: &mut Ctx<'_, H>, filter: impl Filter + 'static) {
        self.set_output_boxed(filter.fresh());
        self.set_input_boxed(ctx, Box::new(filter));
    }

    /// Replaces the input filter (POE's `set_input_filter`), as
    /// [`set_filter`](Self::set_filter) does.
    pub fn set_input_filter<H: 'static>(
        &self,
        ctx: &mut Ctx<'_, H>,
        filter: impl Filter + 'static,
    ) {
        self.set_input_boxed(ctx, Box::new(filter));
    }

    fn set_input_boxed<H: 'static>(&self, ctx: &mut Ctx<'_, H>, mut filter: Box<dyn Filter>) {
        let moved = {
            let mut i = self.0.borrow_mut();
            let pending = i.input_filter.get_pending();
            let moved = match pending {
                Some(chunks) => filter.get_one_start(chunks),
                None => Ok(()),
            };
            i.input_filter = filter;
            moved
        };
        let rc = self.0.clone();
        if let Err(e) = moved {
            end_input(ctx, &rc);
            send_error(ctx, &rc, "filter", filter_errno(&e), e.to_string());
            return;
        }
        if self.owned_by(ctx) {
            deliver_records(ctx, &rc);
        }
    }

    /// Replaces the output filter (POE's `set_output_filter`).
    pub fn set_output_filter(&self, filter: impl Filter + 'static) {
        self.set_output_boxed(Box::new(filter));
    }

    fn set_output_boxed(&self, filter: Box<dyn Filter>) {
        self.0.borrow_mut().output_filter = filter;
    }

    /// Renames or disables (`None`) an event (POE's `event`): `which` is
    /// `"InputEvent"`, `"ErrorEvent"`, `"FlushedEvent"`, `"HighEvent"` or
    /// `"LowEvent"`. Returns false for an unknown name, or a change POE
    /// ignores (HighEvent/LowEvent without marks, InputEvent on a wheel
    /// created without one).
    pub fn event(&self, which: &str, name: Option<&str>) -> bool {
        let mut i = self.0.borrow_mut();
        let name = name.map(|n| EventName::from(n.to_owned()));
        let (has_high, has_low) = (i.high_mark.is_some(), i.low_mark.is_some());
        let created_reading = i.events.input.is_some();
        if which == "InputEvent" {
            i.input_renames = i.input_renames.wrapping_add(1);
        }
        let slot = match which {
            "InputEvent" if created_reading && name.is_some() => &mut i.events.input,
            "InputEvent" if name.is_none() => {
                i.input_done = true;
                i.reg.pause_read();
                &mut i.events.input
            }
            "ErrorEvent" => &mut i.events.error,
            "FlushedEvent" => &mut i.events.flushed,
            "HighEvent" if has_high => &mut i.events.high,
            "LowEvent" if has_low => &mut i.events.low,
            _ => {
                log::warn!("ReadWrite::event: cannot set {which}");
                return false;
            }
        };
        *slot = name;
        true
    }

    /// Sets HighMark (POE's `set_high_mark`); ignored unless above LowMark.
    pub fn set_high_mark(&self, octets: usize) {
        let mut i = self.0.borrow_mut();
        match i.low_mark {
            Some(low) if octets > low => i.high_mark = Some(octets),
            _ => log::warn!("set_high_mark({octets}) ignored: it must be above LowMark"),
        }
    }

    /// Sets LowMark (POE's `set_low_mark`); ignored unless 0 < n < HighMark.
    pub fn set_low_mark(&self, octets: usize) {
        let mut i = self.0.borrow_mut();
        match i.high_mark {
            Some(high) if octets > 0 && octets < high => i.low_mark = Some(octets),
            _ => log::warn!("set_low_mark({octets}) ignored: it must be between 0 and HighMark"),
        }
    }

    /// Octets buffered and not yet written (POE's `get_driver_out_octets`).
    pub fn get_driver_out_octets(&self) -> usize {
        let i = self.0.borrow();
        i.buffered() + i.early_octets
    }

    /// `put` calls whose bytes are not all written yet (POE's
    /// `get_driver_out_messages`).
    pub fn get_driver_out_messages(&self) -> usize {
        let i = self.0.borrow();
        i.puts_pending + i.early_puts
    }

    /// Octets read from the stream so far.
    pub fn octets_read(&self) -> u64 {
        self.0.borrow().octets_read
    }

    /// Octets written to the stream so far.
    pub fn octets_written(&self) -> u64 {
        self.0.borrow().octets_written
    }

    /// Records delivered as InputEvents so far.
    pub fn records_read(&self) -> u64 {
        self.0.borrow().records_read
    }

    /// `put` calls whose bytes were all written so far.
    pub fn records_written(&self) -> u64 {
        self.0.borrow().records_written
    }

    /// Whether input has ended: end of file, a read or filter error,
    /// `shutdown_input`, or a wheel made without InputEvent.
    pub fn input_ended(&self) -> bool {
        self.0.borrow().input_done
    }

    /// Whether input was paused with [`pause_input`](Self::pause_input).
    pub fn input_paused(&self) -> bool {
        self.0.borrow().input_paused
    }
}

impl fmt::Debug for ReadWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.0.borrow();
        f.debug_struct("ReadWrite")
            .field("id", &i.id)
            .field("buffered_out", &i.buffered())
            .field("input_done", &i.input_done)
            .field("output_done", &i.output_done)
            .finish_non_exhaustive()
    }
}
