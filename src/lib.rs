//! # rpoe: Perl's POE reactor, ported to Rust
//!
//! A single-threaded event loop written by hand on [`mio`], in which
//! *sessions* live in a slab, carry a typed *heap*, and receive *named
//! events* through a kernel queue, in the order and with the lifecycle POE
//! programs expect. A POE program translates almost line by line:
//!
//! ```perl
//! use POE;
//! POE::Session->create(
//!   args => [ 3 ],
//!   inline_states => {
//!     _start => sub {
//!       $_[HEAP]{left} = $_[ARG0];
//!       $_[KERNEL]->alias_set('counter');
//!       $_[KERNEL]->yield('tick');
//!     },
//!     tick => sub {
//!       print "tick $_[HEAP]{left}\n";
//!       if (--$_[HEAP]{left}) { $_[KERNEL]->delay(tick => 0.01) }
//!       else { $_[KERNEL]->alias_remove('counter') }
//!     },
//!     _stop => sub { print "done\n" },
//!   },
//! );
//! POE::Kernel->run();
//! ```
//!
//! ```
//! use rpoe::{args, Kernel, Session, ARG0};
//!
//! #[derive(Default)]
//! struct Heap { left: i64 }
//!
//! let mut kernel = Kernel::new()?;
//! Session::new(Heap::default())
//!     .args(args![3])
//!     .inline_state("_start", |ctx, args| {
//!         ctx.heap.left = args.get(ARG0)?;
//!         ctx.alias_set("counter")?;
//!         ctx.yield_("tick", args![]);
//!         Ok::<_, rpoe::Error>(())
//!     })
//!     .inline_state("tick", |ctx, _| {
//!         println!("tick {}", ctx.heap.left);
//!         ctx.heap.left -= 1;
//!         if ctx.heap.left > 0 { ctx.delay("tick", 0.01, args![]); }
//!         else { ctx.alias_remove("counter").unwrap(); }
//!     })
//!     .inline_state("_stop", |_, _| println!("done"))
//!     .create(&mut kernel)?;
//! kernel.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Wheels, filters and Server::TCP
//!
//! [`wheel::SocketFactory`] and [`wheel::ReadWrite`] are POE's wheels, the
//! [`filter`] module its filters, and [`component::ServerTcp`]
//! POE::Component::Server::TCP. The user guide's SYNOPSIS, whose Perl is
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
//!
//! reads in Rust:
//!
//! ```no_run
//! use rpoe::component::ServerTcp;
//! use rpoe::{Kernel, ARG0};
//!
//! fn rot13(s: &str) -> String {
//!     s.chars().map(|c| match c {
//!         'a'..='m' | 'A'..='M' => (c as u8 + 13) as char,
//!         'n'..='z' | 'N'..='Z' => (c as u8 - 13) as char,
//!         c => c,
//!     }).collect()
//! }
//!
//! let mut kernel = Kernel::new()?;
//! ServerTcp::new()
//!     .port(12345)
//!     .client_connected(|ctx, _| {
//!         println!("got a connection from {}", ctx.heap.remote_ip);
//!         ctx.heap.client.put("Smile from the server!");
//!     })
//!     .client_input(|ctx, args| {
//!         let client_input = args.value(ARG0).and_then(|v| v.as_utf8()).unwrap_or("");
//!         ctx.heap.client.put(rot13(client_input));
//!     })
//!     .create(&mut kernel)?;
//! kernel.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## From POE's `@_` to a handler's arguments
//!
//! | POE | rpoe |
//! |---|---|
//! | `$_[KERNEL]->post(...)` | `ctx.post(...)` (or `ctx.kernel.post(...)`) |
//! | `$_[KERNEL]->yield(...)` | `ctx.yield_(...)`: `yield` is a Rust keyword |
//! | `$_[KERNEL]->call(...)` | `ctx.call(...)` returns `Result<Value, Error>` |
//! | `$_[HEAP]` | `ctx.heap`: the session's own type, no downcasting |
//! | `$_[SESSION]`, `$_[SENDER]`, `$_[STATE]`, `$_[CALLER_STATE]` | `ctx.session()`, `ctx.sender()`, `ctx.state()`, `ctx.caller_state()` |
//! | `$_[ARG0]` .. `$_[ARG9]` | `args.get::<T>(ARG0)` .. : a typed read, an [`ArgError`] if missing or mistyped |
//! | `POE::Session->create(inline_states => {...})` | `Session::new(heap).inline_state(..).create(&mut kernel)` |
//! | `object_states`, `package_states` | `.object_state(name, Heap::method)`, `.package_state(..)` |
//! | `$!` after a failed call | the [`Error`] variant; [`Error::errno`] gives POE's value |
//!
//! SENDER and CALLER_STATE on each delivery path are POE's: a post or yield
//! has the posting session and its active event; a call to another session
//! the caller and its active event; a call to the session itself the
//! session, keeping the outer active event; timers the session and the
//! event active when set; `_start` the creating session (the kernel outside
//! handlers); `_stop` the kernel during garbage collection; `_child` and
//! `_parent` the kernel; signal watchers the kernel, with the event active
//! when `signal` was called.
//!
//! Kernel-generated events and their arguments: `_start` (the session's
//! `args`), `_stop` (none), `_child` (`"create" | "gain" | "lose"`, the
//! child's [`SessionId`], and for create/lose the child's `_start`/`_stop`
//! return value), `_parent` (old parent, new parent), `_default` (the
//! original event name, a [`Value::List`] of its arguments), signal
//! watchers (the signal name, the signal's arguments, then the watcher's).
//!
//! Every deliberate difference from POE is listed in `DIFFERENCES.md`; the
//! design is described in `ARCHITECTURE.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod component;
pub mod filter;
pub mod kernel;
pub mod wheel;

pub use kernel::*;
