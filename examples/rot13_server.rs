//! The user guide's SYNOPSIS: a rot13 server. It greets each client with
//! "Smile from the server!", answers each line with its rot13, and prints
//! "got a connection from IP".
//!
//! Run: `cargo run --example rot13_server [-- --port N]` (default 12345),
//! then `telnet 127.0.0.1 12345`.
//!
//! The Perl original, line for line:
//!
//! ```perl
//! POE::Component::Server::TCP->new(
//!   Port => 12345,
//!   ClientConnected => sub {
//!     print "got a connection from $_[HEAP]{remote_ip}\n";
//!     $_[HEAP]{client}->put("Smile from the server!");
//!   },
//!   ClientInput => sub {
//!     my $client_input = $_[ARG0];
//!     $client_input =~ tr[a-zA-Z][n-za-mN-ZA-M];
//!     $_[HEAP]{client}->put($client_input);
//!   },
//! );
//! POE::Kernel->run;
//! ```

use rpoe::component::ServerTcp;
use rpoe::{Kernel, ARG0};

/// Perl's `tr[a-zA-Z][n-za-mN-ZA-M]`.
fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='m' | 'A'..='M' => (c as u8 + 13) as char,
            'n'..='z' | 'N'..='Z' => (c as u8 - 13) as char,
            c => c,
        })
        .collect()
}

/// `--port N` from the command line, else 12345.
fn port() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(12345)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let mut kernel = Kernel::new()?;

    ServerTcp::new()
        .port(port())
        .client_connected(|ctx, _| {
            println!("got a connection from {}", ctx.heap.remote_ip);
            ctx.heap.client.put("Smile from the server!");
        })
        .client_input(|ctx, args| {
            let client_input = args.value(ARG0).and_then(|v| v.as_utf8()).unwrap_or("");
            let client_input = rot13(client_input);
            ctx.heap.client.put(client_input);
        })
        .create(&mut kernel)?;

    kernel.run()?;
    Ok(())
}
