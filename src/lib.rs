//! Locksmith: win back access to on-premises CRMs by working on their databases.

pub mod journal;
pub mod schemes;
pub mod secret;
