//! The user guide's ClientFlushed streaming example: each client receives
//! the file named on the command line, 64 KiB at a time, each chunk sent
//! when the previous one has been flushed; then the connection is shut
//! down (gracefully: everything is written first).
//!
//! Run: `cargo run --example file_streamer -- FILE [--port N]` (default
//! 12345), then `nc 127.0.0.1 12345 > copy`.
//!
//! ```perl
//! POE::Component::Server::TCP->new(
//!   Port => 12345,
//!   ClientFilter => "POE::Filter::Stream",
//!   ClientConnected => sub {
//!     open $_[HEAP]{file_handle}, "<", $file or die;
//!     $_[KERNEL]->call($_[SESSION], "tcp_server_got_flush");   # first chunk
//!   },
//!   ClientFlushed => sub {
//!     my $data_source = $_[HEAP]{file_handle};
//!     my $read_count = sysread($data_source, my $buffer = "", 65536);
//!     if ($read_count) {
//!       $_[HEAP]{client}->put($buffer);
//!     }
//!     else {
//!       $_[KERNEL]->yield("shutdown");
//!     }
//!   },
//!   ClientInput => sub { },
//! );
//! ```

use std::fs::File;
use std::io::Read;

use rpoe::component::{ClientHeap, ServerTcp};
use rpoe::filter::Stream;
use rpoe::{args, Args, Ctx, Kernel};

/// Sends the next chunk, or shuts the connection down at end of file (the
/// guide's ClientFlushed).
fn send_next_chunk(ctx: &mut Ctx<ClientHeap<Option<File>>>, _args: Args) {
    let mut buffer = vec![0u8; 65536];
    let read_count = match ctx.heap.user.as_mut() {
        Some(file) => file.read(&mut buffer).unwrap_or(0),
        None => 0,
    };
    if read_count > 0 {
        buffer.truncate(read_count);
        ctx.heap.client.put(buffer);
    } else {
        ctx.yield_("shutdown", args![]);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<u16>().is_err())
        .cloned()
        .ok_or("usage: file_streamer FILE [--port N]")?;
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(12345);
    File::open(&path)?; // fail early on a missing file

    let mut kernel = Kernel::new()?;
    ServerTcp::with_heaps((), || None::<File>)
        .port(port)
        .client_filter(Stream::new())
        .client_connected(move |ctx, _| {
            match File::open(&path) {
                Ok(f) => ctx.heap.user = Some(f),
                Err(e) => log::error!("cannot open {path}: {e}"),
            }
            send_next_chunk(ctx, args![]);
        })
        .client_flushed(send_next_chunk)
        .client_input(|_, _| {})
        .create(&mut kernel)?;
    kernel.run()?;
    Ok(())
}
