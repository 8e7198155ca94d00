//! An actor's messages to itself go through its mailbox.
//!
//! hcal's actors append to their journal from atomic handlers
//! (`AtomicResponse`: the actor waits for the write before its next message),
//! so that two appends never prepare at the same expected version. actix
//! keeps that promise for messages from the mailbox only: after the mailbox
//! hands over a message whose handler queued a wait, actix 0.13 still polls
//! one spawned item before it notices the wait, and `ctx.notify` delivers its
//! message as a spawned item. A notified atomic handler can so run beside
//! another one, and the second append fails with a wrong expected version
//! (seen as a 503 on `PUT /admin/v1/orgs/{org}/users/{email}`).

use actix::{Actor, AsyncContext, Context, Handler, Message};

/// Delivers `msg` to the actor itself through its mailbox, behind any
/// atomic handler in flight (use this, not `ctx.notify`, for self-messages).
pub fn to_self<A, M>(ctx: &Context<A>, msg: M)
where
    A: Actor<Context = Context<A>> + Handler<M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    ctx.address().do_send(msg);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix::prelude::*;

    use super::to_self;

    /// Counts atomic handlers that found another one in flight.
    #[derive(Default)]
    struct Probe {
        in_flight: bool,
        overlaps: u32,
        done: u32,
    }

    impl Actor for Probe {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Work;

    impl Handler<Work> for Probe {
        type Result = AtomicResponse<Self, ()>;

        fn handle(&mut self, _: Work, _: &mut Context<Self>) -> Self::Result {
            if self.in_flight {
                self.overlaps += 1;
            }
            self.in_flight = true;
            AtomicResponse::new(Box::pin(
                tokio::time::sleep(Duration::from_micros(200))
                    .into_actor(self)
                    .map(|_, act, _| {
                        act.in_flight = false;
                        act.done += 1;
                    }),
            ))
        }
    }

    /// Starts a short piece of work that ends by asking for `Work`.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Later;

    impl Handler<Later> for Probe {
        type Result = ();

        fn handle(&mut self, _: Later, ctx: &mut Context<Self>) {
            ctx.spawn(
                tokio::time::sleep(Duration::from_micros(150))
                    .into_actor(self)
                    .map(|_, _, ctx| to_self(ctx, Work)),
            );
        }
    }

    #[derive(Message)]
    #[rtype(result = "(u32, u32)")]
    struct Counts;

    impl Handler<Counts> for Probe {
        type Result = MessageResult<Counts>;

        fn handle(&mut self, _: Counts, _: &mut Context<Self>) -> Self::Result {
            MessageResult((self.done, self.overlaps))
        }
    }

    /// Mailbox messages and self-messages, interleaved so that a self-message
    /// is often due just as the mailbox hands over an atomic handler (with
    /// `ctx.notify` in `to_self`, about 200 of these 800 handlers overlapped).
    #[test]
    fn self_messages_never_run_beside_an_atomic_handler() {
        const ROUNDS: u32 = 400;
        let overlaps = System::new().block_on(async {
            let probe = Probe::default().start();
            for _ in 0..ROUNDS {
                probe.do_send(Later);
                probe.do_send(Work);
                tokio::time::sleep(Duration::from_micros(100)).await;
            }
            loop {
                let (done, overlaps) = probe.send(Counts).await.expect("probe runs");
                if done == 2 * ROUNDS {
                    return overlaps;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert_eq!(overlaps, 0);
    }
}
