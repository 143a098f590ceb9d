//! The user guide's DESCRIPTION: a server that echoes input back to the
//! client.
//!
//! Run: `cargo run --example echo_server [-- PORT] [--address ADDR]`
//! (default port 12345, every IPv4 interface).
//!
//! ```perl
//! use POE qw(Component::Server::TCP);
//! POE::Component::Server::TCP->new(
//!   Port => 12345,
//!   ClientInput => sub { $_[HEAP]{client}->put($_[ARG0]) },
//! );
//! POE::Kernel->run();
//! ```

use rpoe::component::ServerTcp;
use rpoe::{Kernel, ARG0};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut port = 12345;
    let mut address = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--address" {
            address = args.get(i + 1).cloned();
            i += 2;
            continue;
        }
        port = args[i].parse()?;
        i += 1;
    }

    let mut kernel = Kernel::new()?;
    let mut server = ServerTcp::new()
        .port(port)
        .client_input(|ctx, mut args| ctx.heap.client.put(args.take(ARG0)));
    if let Some(address) = address {
        server = server.address(address);
    }
    server.create(&mut kernel)?;
    kernel.run()?;
    Ok(())
}
