//! Redis data types on top of `ferrokv-storage`: what each command means for the stored
//! records (strings, keyspace operations, expiry), with Redis semantics and typed errors.
//! Commands call into this crate; this crate is the only user of the storage encoding.

mod bitmap;
mod collection;
mod db;
mod error;
pub mod glob;
mod hash;
mod hll;
mod keyspace;
mod list;
mod locks;
pub mod numbers;
mod set;
mod stream;
mod strings;
mod zset;

pub use bitmap::{BitOp, BitRange, BitfieldAction, BitfieldOp, Overflow};
pub use db::Database;
pub use error::TypeError;
pub use ferrokv_storage::metadata::DataType;
pub use ferrokv_storage::now_ms;
pub use hash::FieldValues;
pub use keyspace::{ExpireCondition, ScanPage, Ttl};
pub use list::End;
pub use set::SetOp;
pub use stream::{IdSpec, StreamEntry, StreamId, StreamInfo, Trim, TrimStrategy, XAddOptions};
pub use strings::{SetCondition, SetExpiry, SetOptions, SetOutcome};
pub use zset::{
    Aggregate, LexBound, LexRange, RangeBy, RangeSpec, ScoreRange, ScoredMembers, ZAddOptions,
    ZAddOutcome, ZSetOp,
};

pub type Result<T> = std::result::Result<T, TypeError>;

/// One page of an iteration: the items found and where to continue (`None` = done).
pub type Page<T> = (Vec<T>, Option<Vec<u8>>);
