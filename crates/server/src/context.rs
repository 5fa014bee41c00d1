//! What a command handler gets: the node and the calling connection.

use std::sync::Arc;

use crate::client::Client;
use crate::server::Server;

pub struct Context<'a> {
    pub server: &'a Arc<Server>,
    pub client: &'a mut Client,
    /// True while EXEC runs the queued commands: blocking commands must not block.
    pub in_exec: bool,
    /// Set by a write command that changed only some of its keys (SMOVE adding nothing
    /// to its destination): only these are touched afterwards (WATCH, blocked clients),
    /// as Redis signals only the keys it modified. `None`: every key argument.
    pub touches: Option<Vec<bytes::Bytes>>,
}

impl Context<'_> {
    /// Makes the connection wait for a write to one of `keys` and run the command again,
    /// replying `timeout_reply` if `timeout` passes first. Inside EXEC nothing waits:
    /// the timeout reply is the answer at once.
    pub fn block(
        &mut self,
        keys: Vec<bytes::Bytes>,
        timeout: Option<std::time::Duration>,
        timeout_reply: ferrokv_protocol::Frame,
        retry_args: Option<Vec<bytes::Bytes>>,
    ) -> crate::error::CmdResult {
        if self.in_exec {
            return Ok(timeout_reply);
        }
        self.client.action = Some(crate::client::Action::Block(crate::blocking::BlockSpec {
            wake: crate::blocking::Wake::Keys(keys),
            deadline: timeout.map(|t| std::time::Instant::now() + t),
            timeout_reply,
            retry_args,
            on_timeout: crate::blocking::OnTimeout::Reply,
        }));
        Ok(ferrokv_protocol::Frame::Null)
    }

    /// Which slots listings (KEYS, SCAN, DBSIZE, RANDOMKEY) may show.
    pub fn visible_slots(&self) -> Box<dyn Fn(u16) -> bool + '_> {
        match self.server.cluster.as_ref() {
            None => Box::new(|_| true),
            Some(cluster) => {
                let hidden = cluster.hidden_slots();
                Box::new(move |slot| !hidden.contains(slot))
            }
        }
    }
}
