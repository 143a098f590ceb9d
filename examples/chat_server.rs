//! A chat server: every line a client types goes to every other client.
//! ClientConnected and ClientDisconnected keep the shared namespace of the
//! user guide's "Master Listener Session" section (a map keyed on session
//! ids); a client that types "quit" gets "B'bye!" and is shut down, as in
//! the guide's "Per-Connection Commands".
//!
//! Run: `cargo run --example chat_server [-- --port N]` (default 12345),
//! then connect with several `telnet 127.0.0.1 12345`.
//!
//! ```perl
//! my %client_namespace;
//! POE::Component::Server::TCP->new(
//!   Port => 12345,
//!   ClientConnected => sub {
//!     $client_namespace{$_[SESSION]->ID} = $_[HEAP]{remote_ip};
//!     broadcast($_[SESSION]->ID, "$_[HEAP]{remote_ip} joined");
//!   },
//!   ClientDisconnected => sub {
//!     delete $client_namespace{$_[SESSION]->ID};
//!     broadcast($_[SESSION]->ID, "$_[HEAP]{remote_ip} left");
//!   },
//!   ClientInput => sub {
//!     if ($_[ARG0] eq "quit") {
//!       $_[HEAP]{client}->put("B'bye!");
//!       $_[KERNEL]->yield("shutdown");
//!       return;
//!     }
//!     broadcast($_[SESSION]->ID, "$_[HEAP]{remote_ip}: $_[ARG0]");
//!   },
//!   InlineStates => { say => sub { $_[HEAP]{client}->put($_[ARG0]) } },
//! );
//! sub broadcast {
//!   my ($from, $line) = @_;
//!   $poe_kernel->post($_ => say => $line) for grep { $_ != $from } keys %client_namespace;
//! }
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rpoe::component::{ClientHeap, ServerTcp};
use rpoe::{args, Ctx, Kernel, SessionId, ARG0};

/// The shared namespace: connected sessions and their names.
type Namespace = Rc<RefCell<BTreeMap<SessionId, String>>>;

/// Posts `say` to every connection but `from`.
fn broadcast(ctx: &mut Ctx<ClientHeap<()>>, ns: &Namespace, line: &str) {
    let from = ctx.session();
    let others: Vec<SessionId> = ns.borrow().keys().copied().filter(|s| *s != from).collect();
    for other in others {
        let _ = ctx.post(other, "say", args![line]);
    }
}

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
    let namespace: Namespace = Rc::default();

    let (ns1, ns2, ns3) = (namespace.clone(), namespace.clone(), namespace);
    ServerTcp::new()
        .port(port())
        .alias("chat")
        .client_connected(move |ctx, _| {
            let name = format!("{}:{}", ctx.heap.remote_ip, ctx.heap.remote_port);
            ns1.borrow_mut().insert(ctx.session(), name.clone());
            ctx.heap.client.put(format!("welcome, {name}"));
            broadcast(ctx, &ns1, &format!("{name} joined"));
        })
        .client_disconnected(move |ctx, _| {
            let name = ns2.borrow_mut().remove(&ctx.session()).unwrap_or_default();
            broadcast(ctx, &ns2, &format!("{name} left"));
        })
        .client_input(move |ctx, args| {
            let line = args
                .value(ARG0)
                .and_then(|v| v.as_utf8())
                .unwrap_or("")
                .to_owned();
            if line == "quit" {
                ctx.heap.client.put("B'bye!");
                ctx.yield_("shutdown", args![]);
                return;
            }
            let name = ns3
                .borrow()
                .get(&ctx.session())
                .cloned()
                .unwrap_or_default();
            broadcast(ctx, &ns3, &format!("{name}: {line}"));
        })
        .inline_state("say", |ctx, args| {
            if let Some(line) = args.value(ARG0).and_then(|v| v.as_utf8()) {
                ctx.heap.client.put(line.to_owned());
            }
        })
        .create(&mut kernel)?;

    kernel.run()?;
    Ok(())
}
