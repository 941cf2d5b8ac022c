//! Locksmith: win back access to on-premises CRMs by working on their databases.

pub mod backend;
pub mod cli;
pub mod config;
pub mod connector;
pub mod demo;
pub mod journal;
pub mod ops;
pub mod schemes;
pub mod secret;
pub mod tui;
