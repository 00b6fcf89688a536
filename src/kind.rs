//! The kinds of Service Master record: their command-line names and key prefixes. A leaf
//! module, so that both [`crate::model`] and [`crate::fields`] can use it.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Error, Result};

/// The kinds of Service Master record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Client,
    Location,
    User,
    Tech,
    Si,
    Employee,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Client,
        Kind::Location,
        Kind::User,
        Kind::Tech,
        Kind::Si,
        Kind::Employee,
    ];

    /// The name used on the command line (`admin add KIND`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Location => "location",
            Kind::User => "user",
            Kind::Tech => "tech",
            Kind::Si => "si",
            Kind::Employee => "employee",
        }
    }

    /// The prefix of this kind's keys, e.g. `SM-L` for `SM-L42`.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Kind::Client => "SM-C",
            Kind::Location => "SM-L",
            Kind::User => "SM-U",
            Kind::Tech => "SM-T",
            Kind::Si => "SI-",
            Kind::Employee => "SM-E",
        }
    }

    /// Whether records of this kind go to Outlook as contacts.
    pub fn is_contact(self) -> bool {
        matches!(self, Kind::Location | Kind::User | Kind::Tech)
    }

    pub fn names() -> String {
        Kind::ALL.map(Kind::name).join(", ")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == lower)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown kind '{s}'; valid kinds: {}",
                    Kind::names()
                ))
            })
    }
}
