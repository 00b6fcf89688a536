//! smsync: an offline, file-based bridge between the Service Master database and Microsoft
//! Outlook (and any vCard/iCalendar client). See ARCHITECTURE.md for the module map.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod demo;
pub mod error;
pub mod export;
pub mod fields;
pub mod fsutil;
pub mod ingest;
pub mod kind;
pub mod mapi;
pub mod model;
pub mod profile;
pub mod progress;
pub mod pst_write;
pub mod reconcile;
pub mod report;
pub mod rules;
pub mod seed;
pub mod store;
pub mod summary;
pub mod undo;
pub mod watch;
