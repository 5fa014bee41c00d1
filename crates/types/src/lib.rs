//! Redis data types on top of `ferrokv-storage`: what each command means for the stored
//! records (strings, keyspace operations, expiry), with Redis semantics and typed errors.
//! Commands call into this crate; this crate is the only user of the storage encoding.

mod bitmap;
mod collection;
mod db;
pub mod dump;
mod error;
pub mod geo;
pub mod glob;
mod hash;
mod hll;
mod introspect;
mod keyspace;
mod list;
mod locks;
pub mod numbers;
mod run;
mod set;
pub mod sortedint;
mod stream;
mod stream_group;
mod strings;
mod zset;

pub use bitmap::{BitOp, BitRange, BitfieldAction, BitfieldOp, Overflow};
pub use db::Database;
pub use error::TypeError;
pub use ferrokv_storage::metadata::DataType;
pub use ferrokv_storage::now_ms;
pub use hash::FieldValues;
pub use introspect::DEFAULT_MEMORY_SAMPLES;
pub use keyspace::{ExpireCondition, ScanPage, Ttl};
pub use list::End;
pub use run::{Applied, RunWrite};
pub use set::{Moved, SetOp};
pub use stream::{IdSpec, StreamEntry, StreamId, StreamInfo, Trim, TrimStrategy, XAddOptions};
pub use stream_group::{
    AutoClaim, AutoClaimQuery, ClaimOptions, ConsumerInfo, GroupCreate, GroupDetail, GroupInfo,
    GroupRead, GroupResult, GroupStart, MaybeEntry, Missing, PendingEntry, PendingQuery,
    PendingSummary, ENTRIES_READ_UNKNOWN,
};
pub use strings::{SetCondition, SetExpiry, SetOptions, SetOutcome};
pub use zset::{
    Aggregate, LexBound, LexRange, RangeBy, RangeSpec, ScoreRange, ScoredMembers, ZAddOptions,
    ZAddOutcome, ZSetOp,
};

pub type Result<T> = std::result::Result<T, TypeError>;

/// Most elements a negative-count random pick (SRANDMEMBER, HRANDFIELD, ZRANDMEMBER)
/// returns: the reply is built in memory, and a count like -10^9 on a small key must
/// not take the node down (Redis would stream it; the cap is far above real use).
pub const MAX_RANDOM_PICKS: u64 = 1 << 24;

/// How many repeating random picks `count` (< 0) asks for, within the cap.
pub(crate) fn repeating_picks(count: i64) -> Result<u64> {
    let wanted = count.unsigned_abs();
    if wanted > MAX_RANDOM_PICKS {
        return Err(TypeError::ValueOutOfRange);
    }
    Ok(wanted)
}

/// The random picks of HRANDFIELD, SRANDMEMBER and ZRANDMEMBER from `all` (not empty):
/// `count` > 0 distinct items in random order, or all of them in their stored order
/// when `count` reaches the size (Redis' "case 1": the whole collection), < 0 `-count`
/// items that may repeat (`ValueOutOfRange` past [`MAX_RANDOM_PICKS`]).
pub(crate) fn random_picks<T: Clone>(mut all: Vec<T>, count: i64) -> Result<Vec<T>> {
    use rand::seq::SliceRandom;
    use rand::Rng;
    let mut rng = rand::thread_rng();
    if count > 0 && count as u64 >= all.len() as u64 {
        return Ok(all);
    }
    if count > 0 {
        all.shuffle(&mut rng);
        all.truncate(count as usize);
        Ok(all)
    } else {
        Ok((0..repeating_picks(count)?)
            .map(|_| all[rng.gen_range(0..all.len())].clone())
            .collect())
    }
}

/// One page of an iteration: the items found and where to continue (`None` = done).
pub type Page<T> = (Vec<T>, Option<Vec<u8>>);
