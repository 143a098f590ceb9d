//! The README's side-by-side program: a session that counts down with
//! `yield` and `delay`, holding an alias until it is done. Its Perl original:
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
//! Run: `cargo run --example counter` (set `RUST_LOG=trace` to see every
//! dispatch).

use rpoe::{args, Kernel, Session, ARG0};

#[derive(Default)]
struct Heap {
    left: i64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let mut kernel = Kernel::new()?;
    Session::new(Heap::default())
        .args(args![3])
        .inline_state("_start", |ctx, args| {
            ctx.heap.left = args.get(ARG0)?;
            ctx.alias_set("counter")?;
            ctx.yield_("tick", args![]);
            Ok::<_, rpoe::Error>(())
        })
        .inline_state("tick", |ctx, _| {
            println!("tick {}", ctx.heap.left);
            ctx.heap.left -= 1;
            if ctx.heap.left > 0 {
                ctx.delay("tick", 0.01, args![]);
            } else {
                ctx.alias_remove("counter").unwrap();
            }
        })
        .inline_state("_stop", |_, _| println!("done"))
        .create(&mut kernel)?;
    kernel.run()?;
    Ok(())
}
