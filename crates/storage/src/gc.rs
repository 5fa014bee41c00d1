//! Reclaiming members of dead collections. Deleting, expiring or overwriting a
//! collection only touches its metadata record (O(1)); its members become garbage,
//! recognisable because their version no longer matches the live metadata. This
//! compaction filter drops them while RocksDB compacts, so the cost is paid in the
//! background and proportionally to data that is rewritten anyway.

use std::ffi::{CStr, CString};
use std::sync::{Arc, OnceLock, Weak};

use rocksdb::compaction_filter::{CompactionFilter, Decision};
use rocksdb::compaction_filter_factory::{CompactionFilterContext, CompactionFilterFactory};
use rocksdb::DB;

use crate::encoding::{decode_member_key, metadata_key_in_slot};
use crate::metadata::{self, Record};

/// Filled in once the database is open (the filter is configured before it exists).
pub(crate) type DbCell = Arc<OnceLock<Weak<DB>>>;

pub(crate) struct StaleMemberFilterFactory {
    db: DbCell,
    name: CString,
}

impl StaleMemberFilterFactory {
    pub(crate) fn new(db: DbCell, name: &str) -> Self {
        StaleMemberFilterFactory {
            db,
            name: CString::new(name).unwrap_or_default(),
        }
    }
}

impl CompactionFilterFactory for StaleMemberFilterFactory {
    type Filter = StaleMemberFilter;

    fn create(&mut self, _context: CompactionFilterContext) -> StaleMemberFilter {
        StaleMemberFilter {
            db: self.db.get().cloned(),
            name: self.name.clone(),
            last: None,
        }
    }

    fn name(&self) -> &CStr {
        &self.name
    }
}

pub(crate) struct StaleMemberFilter {
    db: Option<Weak<DB>>,
    name: CString,
    /// Members of one collection are adjacent: remember the last verdict.
    last: Option<(Vec<u8>, u64, bool)>,
}

impl StaleMemberFilter {
    fn is_live(&self, meta_key: &[u8], version: u64) -> bool {
        let Some(db) = self.db.as_ref().and_then(Weak::upgrade) else {
            // No database handle (shutting down): never drop what we cannot check.
            return true;
        };
        let Some(cf) = db.cf_handle("metadata") else {
            return true;
        };
        let live = match db.get_pinned_cf(cf, meta_key) {
            Ok(Some(raw)) => match metadata::decode(&raw) {
                Ok(Record::Collection(meta)) => {
                    meta.version == version
                        && !metadata::is_expired(meta.expire_ms, crate::now_ms())
                }
                Ok(Record::String { .. }) => false,
                Err(_) => true,
            },
            Ok(None) => false,
            Err(_) => true,
        };
        live
    }
}

impl CompactionFilter for StaleMemberFilter {
    fn filter(&mut self, _level: u32, key: &[u8], _value: &[u8]) -> Decision {
        let Some(member) = decode_member_key(key) else {
            return Decision::Keep;
        };
        let meta_key = metadata_key_in_slot(member.slot, member.user_key);
        let live = match &self.last {
            Some((k, v, live)) if *k == meta_key && *v == member.version => *live,
            _ => {
                let live = self.is_live(&meta_key, member.version);
                self.last = Some((meta_key, member.version, live));
                live
            }
        };
        if live {
            Decision::Keep
        } else {
            Decision::Remove
        }
    }

    fn name(&self) -> &CStr {
        &self.name
    }
}
