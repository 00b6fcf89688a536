//! FILETIME, MAPI's point in time (PtypTime): 100-nanosecond intervals since
//! 1601-01-01 00:00 UTC.

use chrono::{DateTime, NaiveDate, Utc};

/// A FILETIME value as stored (PtypTime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Filetime(pub u64);

/// 100-ns intervals per microsecond.
const PER_MICRO: u64 = 10;
/// Microseconds from 1601-01-01 to 1970-01-01.
const EPOCH_DIFF_MICROS: i64 = 11_644_473_600_000_000;

impl Filetime {
    /// 1970-01-01 00:00 UTC.
    pub const UNIX_EPOCH: Filetime = Filetime(116_444_736_000_000_000);

    /// Outlook's "None" date, 4501-01-01 00:00: what Outlook stores in a date property it
    /// shows as empty. The readers do not treat it specially (a date of 4501-01-01 comes
    /// through as that date).
    pub const NONE: Filetime = Filetime(0x0CB3_4557_A3DD_4000);

    /// Microseconds since the Unix epoch (sub-microsecond digits dropped).
    pub fn to_micros(self) -> i64 {
        (self.0 / PER_MICRO) as i64 - EPOCH_DIFF_MICROS
    }

    /// The FILETIME of a point given in microseconds since the Unix epoch; `None` before
    /// 1601 or beyond the FILETIME range.
    pub fn from_micros(us: i64) -> Option<Filetime> {
        let since_1601 = us.checked_add(EPOCH_DIFF_MICROS)?;
        u64::try_from(since_1601)
            .ok()?
            .checked_mul(PER_MICRO)
            .map(Filetime)
    }

    /// The point in time, to the microsecond.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.to_micros())
    }

    /// The FILETIME of a point in time (sub-microsecond digits dropped); `None` before 1601.
    pub fn from_datetime(t: DateTime<Utc>) -> Option<Filetime> {
        Filetime::from_micros(t.timestamp_micros())
    }

    /// The calendar date of the point in UTC: how a task's start and due dates are read.
    pub fn to_date(self) -> Option<NaiveDate> {
        self.to_datetime().map(|t| t.date_naive())
    }

    /// Midnight UTC of a date: how a date-only property (a task's start or due date) is
    /// written, so that [`Filetime::to_date`] gives the same date back in every time zone.
    pub fn from_date(d: NaiveDate) -> Option<Filetime> {
        Filetime::from_datetime(d.and_hms_opt(0, 0, 0)?.and_utc())
    }

    /// Whether this is Outlook's "None" date.
    pub fn is_none_date(self) -> bool {
        self == Filetime::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap()
    }

    #[test]
    fn known_values_convert_both_ways() {
        for (t, ft) in [
            (utc(1601, 1, 1, 0, 0, 0), 0u64),
            (utc(1970, 1, 1, 0, 0, 0), 116_444_736_000_000_000),
            (utc(2026, 3, 14, 15, 9, 26), 134_179_745_660_000_000),
            (utc(4501, 1, 1, 0, 0, 0), 0x0CB3_4557_A3DD_4000),
        ] {
            assert_eq!(Filetime::from_datetime(t), Some(Filetime(ft)), "{t}");
            assert_eq!(Filetime(ft).to_datetime(), Some(t), "{ft:#x}");
        }
        assert_eq!(
            Filetime::from_datetime(utc(1970, 1, 1, 0, 0, 0)),
            Some(Filetime::UNIX_EPOCH)
        );
        assert_eq!(Filetime::UNIX_EPOCH.to_micros(), 0);
        assert!(Filetime::NONE.is_none_date());
        assert_eq!(
            Filetime::NONE.to_date(),
            NaiveDate::from_ymd_opt(4501, 1, 1)
        );
    }

    #[test]
    fn micros_keep_the_readers_formula_and_drop_only_sub_microseconds() {
        // 2026-03-14 15:09:26.123456 UTC and 7 more 100-ns ticks.
        let ft = 134_179_745_661_234_567u64;
        assert_eq!(
            Filetime(ft).to_micros(),
            (ft / 10) as i64 - 11_644_473_600_000_000
        );
        assert_eq!(Filetime(ft).to_micros(), 1_773_500_966_123_456);
        assert_eq!(
            Filetime::from_micros(1_773_500_966_123_456),
            Some(Filetime(134_179_745_661_234_560))
        );
        // Before 1601 there is no FILETIME.
        assert_eq!(Filetime::from_micros(-11_644_473_600_000_001), None);
        assert_eq!(Filetime::from_micros(i64::MIN), None);
        assert_eq!(
            Filetime::from_micros(-11_644_473_600_000_000),
            Some(Filetime(0))
        );
    }

    #[test]
    fn dates_are_midnight_utc_and_read_back_unshifted() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 14).unwrap();
        let ft = Filetime::from_date(d).unwrap();
        assert_eq!(ft, Filetime(134_179_200_000_000_000));
        assert_eq!(ft.to_date(), Some(d));
        // The last tick of the day is still that date.
        assert_eq!(
            Filetime(ft.0 + 864_000_000_000 - 1).to_date(),
            Some(d),
            "one tick before the next midnight"
        );
        assert_eq!(
            Filetime::from_date(NaiveDate::from_ymd_opt(1600, 12, 31).unwrap()),
            None
        );
    }
}
