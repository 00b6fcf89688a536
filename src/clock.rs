//! Time as smsync stores it: microseconds since the Unix epoch, UTC, with formatting helpers.

use chrono::{DateTime, SecondsFormat, Utc};

/// The current wall-clock time in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// The instant as RFC 3339 in UTC with microseconds, e.g. `2026-11-25T17:51:06.123456Z`.
pub fn format_micros(us: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(us) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Micros, true),
        None => us.to_string(),
    }
}

/// The instant as a name for a run's files and reports: [`format_micros`] without `:` and
/// `-`, e.g. `20261125T175106.123456Z` (sorts as time does, and is a valid file name
/// everywhere).
pub fn run_id(us: i64) -> String {
    format_micros(us).replace([':', '-'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_micros() {
        assert_eq!(format_micros(1_000_001), "1970-01-01T00:00:01.000001Z");
        assert_eq!(run_id(1_000_001), "19700101T000001.000001Z");
    }
}
