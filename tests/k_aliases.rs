//! POE::Test::Loops `k_aliases` scenarios (SPEC §12.B), ported.

use std::cell::RefCell;
use std::rc::Rc;

use rpoe::{args, Error, Kernel, Session, SessionId};

/// alias_set twice is fine; resolution by alias, by id and by number;
/// unknown aliases resolve to nothing; id lookups round-trip (the kernel
/// too); alias_list is sorted; another session cannot take or remove it.
#[test]
fn alias_api() {
    let mut kernel = Kernel::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let other = Session::new(())
        .inline_state("_start", |ctx, _| ctx.alias_set("other").unwrap())
        .inline_state("try_steal", |ctx, _| {
            assert!(matches!(
                ctx.alias_set("new name"),
                Err(Error::AliasInUse { .. })
            ));
            assert!(matches!(
                ctx.alias_remove("new name"),
                Err(Error::NotPermitted(_))
            ));
            assert!(matches!(
                ctx.alias_remove("never set"),
                Err(Error::NoSuchAlias(_))
            ));
            ctx.alias_remove("other").unwrap();
        })
        .create(&mut kernel)
        .unwrap();
    Session::new(seen.clone())
        .inline_state("_start", move |ctx, _| {
            let me = ctx.session();
            assert!(ctx.alias_set("new name").is_ok());
            assert!(
                ctx.alias_set("new name").is_ok(),
                "setting our own alias again is not an error"
            );
            assert_eq!(ctx.alias_resolve("new name"), Some(me));
            assert_eq!(ctx.alias_resolve(me), Some(me));
            assert_eq!(ctx.alias_resolve(me.id().to_string().as_str()), Some(me));
            assert_eq!(ctx.alias_resolve("no such alias"), None);
            assert_eq!(ctx.id_to_session(me.id()), Some(me));
            assert_eq!(ctx.id_to_session(0), Some(SessionId::KERNEL));
            assert_eq!(ctx.alias_list(me), ["new name"]);
            ctx.alias_set("a second").unwrap();
            assert_eq!(ctx.alias_list(me), ["a second", "new name"]);
            ctx.call(other, "try_steal", args![]).unwrap();
            ctx.alias_remove("a second").unwrap();
            ctx.alias_remove("new name").unwrap();
            assert_eq!(ctx.alias_list(me), Vec::<String>::new());
            ctx.heap.borrow_mut().push("done".into());
        })
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*seen.borrow(), ["done"]);
    assert_eq!(kernel.alias_resolve("new name"), None);
}

#[derive(Default)]
struct Counts {
    idle: u32,
    zombie: u32,
    stopped: bool,
}

fn watcher(counts: Rc<RefCell<Counts>>, keep_alias: bool) -> Session<Rc<RefCell<Counts>>> {
    Session::new(counts)
        .inline_state("_start", move |ctx, _| {
            ctx.alias_set("watcher").unwrap();
            ctx.sig("IDLE", "sig_idle");
            ctx.sig("ZOMBIE", "sig_zombie");
            if !keep_alias {
                ctx.alias_remove("watcher").unwrap();
            }
        })
        .inline_state("sig_idle", |ctx, _| {
            let c = &mut *ctx.heap.borrow_mut();
            assert!(!c.stopped);
            c.idle += 1;
            ctx.kernel.sig_handled();
        })
        .inline_state("sig_zombie", |ctx, _| {
            ctx.heap.borrow_mut().zombie += 1;
            ctx.kernel.sig_handled();
        })
        .inline_state("_stop", |ctx, _| ctx.heap.borrow_mut().stopped = true)
}

/// A session held only by an alias, watching IDLE and ZOMBIE and handling
/// both, gets exactly one IDLE and one ZOMBIE (non-maskable) before `_stop`.
#[test]
fn alias_only_session_gets_one_idle_and_one_zombie() {
    let mut kernel = Kernel::new().unwrap();
    let counts = Rc::new(RefCell::new(Counts::default()));
    watcher(counts.clone(), true).create(&mut kernel).unwrap();
    kernel.run().unwrap();
    let c = counts.borrow();
    assert_eq!((c.idle, c.zombie, c.stopped), (1, 1, true));
}

/// A session that removes its only alias in `_start` is collected before
/// the kernel goes idle: it gets neither IDLE nor ZOMBIE.
#[test]
fn session_without_alias_gets_neither() {
    let mut kernel = Kernel::new().unwrap();
    let counts = Rc::new(RefCell::new(Counts::default()));
    watcher(counts.clone(), false).create(&mut kernel).unwrap();
    kernel.run().unwrap();
    let c = counts.borrow();
    assert_eq!((c.idle, c.zombie, c.stopped), (0, 0, true));
}

/// k_signals' nested-session case: a session with alias 'server', created
/// inside another session, answers a post; the kernel does not go idle
/// while the exchange is under way, and then everything ends.
#[test]
fn nested_aliased_server_answers_without_premature_idle() {
    let mut kernel = Kernel::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    Session::new(log.clone())
        .inline_state("_start", |ctx, _| {
            Session::new(())
                .inline_state("_start", |ctx, _| ctx.alias_set("server").unwrap())
                .inline_state("ask", |ctx, _| {
                    let sender = ctx.sender();
                    ctx.post(sender, "answer", args!["42"]).unwrap();
                    ctx.alias_remove("server").unwrap();
                })
                .create(ctx)
                .unwrap();
            ctx.sig("IDLE", "idle");
            ctx.delay("ask", 0.01, args![]);
        })
        .inline_state("ask", |ctx, _| ctx.post("server", "ask", args![]).unwrap())
        .inline_state("answer", |ctx, args| {
            ctx.heap.borrow_mut().push(args.get::<String>(0).unwrap())
        })
        .inline_state("idle", |ctx, _| ctx.heap.borrow_mut().push("IDLE".into()))
        .create(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *log.borrow(),
        ["42"],
        "no IDLE before the answer, none after (nothing holds the sessions)"
    );
}
