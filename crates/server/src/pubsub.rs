//! Pub/Sub: the node's subscriber registry (who listens on which channel, pattern or
//! shard channel) and one connection's subscriptions. Messages are node-local, as in
//! Kvrocks (PUBLISH reaches the subscribers of the node it runs on; Redis Cluster's
//! bus broadcast has no counterpart in a Kvrocks-style cluster).
//!
//! A publisher builds each message frame once (a `Frame::Push`, which RESP2 clients get
//! as the `message`/`pmessage`/`smessage` array Redis 7 sends) and puts it on every
//! subscriber's queue; the subscriber's connection writes it out between commands.
//! A queue that fills up (the subscriber does not read) marks the subscriber
//! overflowed and its connection is closed, as Redis' `client-output-buffer-limit
//! pubsub` does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use ferrokv_protocol::Frame;
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// Messages waiting for one subscriber before it is disconnected.
const QUEUE_LIMIT: usize = 64 * 1024;

/// The three kinds of subscription, with Redis' reply words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The confirmation word of a subscribe (`subscribe`, `psubscribe`, `ssubscribe`).
    pub fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    /// The confirmation word of an unsubscribe.
    pub fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// What a subscriber's queue carries.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A message push, ready to encode.
    Message(Arc<Frame>),
    /// This node stopped serving the slot of a shard channel: the subscription ends
    /// and the client gets a `sunsubscribe` push (Redis 7's behaviour on slot loss).
    ShardLost(Bytes),
}

/// A subscriber's end of the registry: where its messages go.
#[derive(Clone)]
struct Entry {
    client: u64,
    queue: mpsc::Sender<Delivery>,
    overflowed: Arc<AtomicBool>,
}

impl Entry {
    /// Queues `delivery`; false when the subscriber's queue is full (or its
    /// connection gone): it is marked overflowed and must leave the registry.
    fn deliver(&self, delivery: Delivery) -> bool {
        if self.queue.try_send(delivery).is_ok() {
            return true;
        }
        self.overflowed.store(true, Ordering::Relaxed);
        false
    }
}

/// Delivers one message to every entry, dropping the subscribers that cannot take it;
/// returns how many took it.
fn deliver_all(entries: &mut Vec<Entry>, message: &Arc<Frame>) -> usize {
    entries.retain(|entry| entry.deliver(Delivery::Message(message.clone())));
    entries.len()
}

type Table = Mutex<HashMap<Bytes, Vec<Entry>>>;

/// Every subscription of the node.
#[derive(Default)]
pub struct PubSub {
    channels: Table,
    patterns: Table,
    shard_channels: Table,
}

impl PubSub {
    fn table(&self, kind: Kind) -> &Table {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    fn add(&self, kind: Kind, name: &Bytes, entry: Entry) {
        let mut table = self.table(kind).lock();
        let entries = table.entry(name.clone()).or_default();
        if !entries.iter().any(|e| e.client == entry.client) {
            entries.push(entry);
        }
    }

    fn remove(&self, kind: Kind, name: &[u8], client: u64) {
        let mut table = self.table(kind).lock();
        if let Some(entries) = table.get_mut(name) {
            entries.retain(|e| e.client != client);
            if entries.is_empty() {
                table.remove(name);
            }
        }
    }

    /// PUBLISH: delivers to the channel's subscribers, then to every matching
    /// pattern's; returns how many deliveries were made (a client subscribed both
    /// ways counts twice, as in Redis).
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let mut receivers = 0;
        {
            let mut table = self.channels.lock();
            if let Some(entries) = table.get_mut(channel) {
                let message = Arc::new(Frame::Push(vec![
                    Frame::bulk_from_str("message"),
                    Frame::Bulk(channel.clone()),
                    Frame::Bulk(payload.clone()),
                ]));
                receivers += deliver_all(entries, &message);
                if entries.is_empty() {
                    table.remove(channel);
                }
            }
        }
        let mut patterns = self.patterns.lock();
        for (pattern, entries) in patterns.iter_mut() {
            if !ferrokv_types::glob::matches(pattern, channel) {
                continue;
            }
            let message = Arc::new(Frame::Push(vec![
                Frame::bulk_from_str("pmessage"),
                Frame::Bulk(pattern.clone()),
                Frame::Bulk(channel.clone()),
                Frame::Bulk(payload.clone()),
            ]));
            receivers += deliver_all(entries, &message);
        }
        patterns.retain(|_, entries| !entries.is_empty());
        receivers
    }

    /// SPUBLISH: delivers to the shard channel's subscribers.
    pub fn spublish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let mut table = self.shard_channels.lock();
        let Some(entries) = table.get_mut(channel) else {
            return 0;
        };
        let message = Arc::new(Frame::Push(vec![
            Frame::bulk_from_str("smessage"),
            Frame::Bulk(channel.clone()),
            Frame::Bulk(payload.clone()),
        ]));
        let receivers = deliver_all(entries, &message);
        if entries.is_empty() {
            table.remove(channel);
        }
        receivers
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: active channels matching `pattern` (all
    /// without one).
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.table(kind)
            .lock()
            .keys()
            .filter(|name| pattern.is_none_or(|p| ferrokv_types::glob::matches(p, name)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one channel.
    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        self.table(kind).lock().get(name).map_or(0, Vec::len)
    }

    /// Whether nobody subscribes to a channel or a pattern (a publication would reach
    /// no one; keyspace notifications are then not even derived).
    pub fn is_empty(&self) -> bool {
        self.channels.lock().is_empty() && self.patterns.lock().is_empty()
    }

    /// PUBSUB NUMPAT: the number of distinct patterns subscribed to.
    pub fn pattern_count(&self) -> usize {
        self.patterns.lock().len()
    }

    /// This node stopped serving the slots `lost` says: every subscription to a shard
    /// channel of those slots ends, its subscriber told with a `sunsubscribe` push.
    pub fn shard_slots_lost(&self, lost: impl Fn(u16) -> bool) {
        let mut table = self.shard_channels.lock();
        table.retain(|channel, entries| {
            if !lost(ferrokv_keyslot::key_slot(channel)) {
                return true;
            }
            for entry in entries.iter() {
                // A full queue marks the subscriber overflowed: it is closed anyway.
                entry.deliver(Delivery::ShardLost(channel.clone()));
            }
            false
        });
    }
}

/// Names in the order they were subscribed: UNSUBSCRIBE without names confirms them
/// in that order (what clients and Kvrocks' tests expect).
#[derive(Default)]
struct Names {
    order: std::collections::BTreeMap<u64, Bytes>,
    at: HashMap<Bytes, u64>,
    next: u64,
}

impl Names {
    fn contains(&self, name: &Bytes) -> bool {
        self.at.contains_key(name)
    }

    fn insert(&mut self, name: Bytes) {
        if !self.at.contains_key(&name) {
            self.order.insert(self.next, name.clone());
            self.at.insert(name, self.next);
            self.next += 1;
        }
    }

    /// False when `name` was not there.
    fn remove(&mut self, name: &Bytes) -> bool {
        match self.at.remove(name) {
            Some(at) => {
                self.order.remove(&at);
                true
            }
            None => false,
        }
    }

    fn len(&self) -> usize {
        self.at.len()
    }

    fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.order.values()
    }
}

/// One connection's subscriptions, and the queue its messages arrive on (created with
/// the first subscription).
#[derive(Default)]
pub struct Subscriptions {
    channels: Names,
    patterns: Names,
    shard_channels: Names,
    queue: Option<(mpsc::Sender<Delivery>, mpsc::Receiver<Delivery>)>,
    overflowed: Arc<AtomicBool>,
}

impl Subscriptions {
    fn set(&self, kind: Kind) -> &Names {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    fn set_mut(&mut self, kind: Kind) -> &mut Names {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// The count a (un)subscribe confirmation reports: channels and patterns together,
    /// shard channels on their own (Redis 7).
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
            Kind::Shard => self.shard_channels.len(),
        }
    }

    /// Whether the connection is in the subscribed state (any subscription).
    pub fn active(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty() || !self.shard_channels.is_empty()
    }

    /// Subscribes to `name`; returns the confirmation push.
    pub fn subscribe(&mut self, registry: &PubSub, client: u64, kind: Kind, name: &Bytes) -> Frame {
        if !self.set(kind).contains(name) {
            let (sender, _) = self.queue.get_or_insert_with(|| mpsc::channel(QUEUE_LIMIT));
            let entry = Entry {
                client,
                queue: sender.clone(),
                overflowed: self.overflowed.clone(),
            };
            registry.add(kind, name, entry);
            self.set_mut(kind).insert(name.clone());
        }
        self.confirmation(kind.subscribe_word(), Frame::Bulk(name.clone()), kind)
    }

    /// Unsubscribes from `names`, or from every subscription of the kind when empty;
    /// returns one confirmation push per name (one with a nil name when there was
    /// nothing to leave).
    pub fn unsubscribe(
        &mut self,
        registry: &PubSub,
        client: u64,
        kind: Kind,
        names: &[Bytes],
    ) -> Vec<Frame> {
        let names: Vec<Bytes> = if names.is_empty() {
            self.set(kind).iter().cloned().collect()
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            return vec![self.confirmation(kind.unsubscribe_word(), Frame::Null, kind)];
        }
        names
            .into_iter()
            .map(|name| {
                if self.set_mut(kind).remove(&name) {
                    registry.remove(kind, &name, client);
                }
                self.confirmation(kind.unsubscribe_word(), Frame::Bulk(name), kind)
            })
            .collect()
    }

    /// Leaves every subscription without confirmations (RESET, connection end).
    pub fn clear(&mut self, registry: &PubSub, client: u64) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in std::mem::take(self.set_mut(kind)).order.into_values() {
                registry.remove(kind, &name, client);
            }
        }
    }

    fn confirmation(&self, word: &str, name: Frame, kind: Kind) -> Frame {
        Frame::Push(vec![
            Frame::bulk_from_str(word),
            name,
            Frame::Integer(self.count(kind) as i64),
        ])
    }

    /// A delivery turned into the push to write: messages as they are, a lost shard
    /// channel as the `sunsubscribe` push after leaving it.
    pub fn push_for(&mut self, delivery: Delivery) -> Option<Frame> {
        match delivery {
            Delivery::Message(frame) => Some(Arc::unwrap_or_clone(frame)),
            Delivery::ShardLost(channel) => {
                if !self.shard_channels.remove(&channel) {
                    return None;
                }
                Some(self.confirmation(
                    Kind::Shard.unsubscribe_word(),
                    Frame::Bulk(channel),
                    Kind::Shard,
                ))
            }
        }
    }

    /// Deliveries already waiting (none without a subscription ever made).
    pub fn try_next(&mut self) -> Option<Delivery> {
        self.queue.as_mut()?.1.try_recv().ok()
    }

    /// Waits for the next delivery; never returns for a connection that never
    /// subscribed.
    pub async fn next(&mut self) -> Option<Delivery> {
        match self.queue.as_mut() {
            Some((_, receiver)) => receiver.recv().await,
            None => std::future::pending().await,
        }
    }

    /// True when a delivery was dropped because the queue was full: the connection
    /// must be closed, as Redis closes a pub/sub client past its output limit.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Number of channel, pattern and shard subscriptions (CLIENT LIST `sub`, `psub`,
    /// `ssub`).
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.channels.len(),
            self.patterns.len(),
            self.shard_channels.len(),
        )
    }
}
