//! smsync: an offline, file-based bridge between the Service Master database and Microsoft
//! Outlook (and any vCard/iCalendar client). See ARCHITECTURE.md for the module map.

pub mod clock;
pub mod error;
pub mod fields;
pub mod model;
pub mod store;
pub mod admin;
pub mod seed;
pub mod cli;
pub mod demo;
