//! Online migration of slot ranges, source side: a job copies a snapshot of the slots to
//! the destination, ships the captured tail until the lag is small, fences writes to the
//! slots, ships the last tail, and commits. It talks to the destination over RESP
//! (`CLUSTER IMPORT`, `APPLYBATCH` with raw RocksDB write batches) and changes the
//! node's routing through [`ClusterControl`], which the server implements.

mod client;
mod job;
mod runner;
mod throttle;

pub use client::{Link, LinkError};
pub use ferrokv_protocol::Reply;
pub use job::{Job, JobPhase, JobState, JobStatus, Migrations, Options};
pub use runner::{
    resolve_in_doubt, run_job, ClusterControl, ControlError, Destination, Resolution,
};
pub use throttle::Throttle;
