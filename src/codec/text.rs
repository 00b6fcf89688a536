//! Content-line text shared by the vCard and iCalendar codecs: escaping (RFC 6350 §3.4,
//! RFC 5545 §3.3.11), folding at 75 octets, vCard 2.1 quoted-printable, and the
//! configurable short-date format of Outlook CSV.

use chrono::{Datelike, NaiveDate};

use crate::error::{Error, Result};

/// Escapes a TEXT value: backslash, comma, semicolon and line breaks.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded to lines of at most 75 octets (never splitting a UTF-8 character),
/// each ended by CRLF; continuation lines start with one space.
pub fn push_folded(out: &mut String, line: &str) {
    const LIMIT: usize = 75;
    let mut start = 0;
    let mut first = true;
    let bytes = line.len();
    while start < bytes {
        let budget = if first { LIMIT } else { LIMIT - 1 };
        let mut end = (start + budget).min(bytes);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        if !first {
            out.push(' ');
        }
        out.push_str(&line[start..end]);
        out.push_str("\r\n");
        start = end;
        first = false;
    }
    if bytes == 0 {
        out.push_str("\r\n");
    }
}

/// Whether a value must be quoted-printable in vCard 2.1: non-ASCII, control characters
/// (line breaks) or a leading/trailing space.
pub fn needs_qp(s: &str) -> bool {
    s.bytes().any(|b| !(0x20..0x7F).contains(&b)) || s.starts_with(' ') || s.ends_with(' ')
}

/// Quoted-printable encoding (RFC 2045) of UTF-8 text for a vCard 2.1 property whose name
/// and parameters take `prefix_len` octets: soft line breaks keep lines within 76 octets.
pub fn quoted_printable(s: &str, prefix_len: usize) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    let mut line = prefix_len;
    let text = s.replace("\r\n", "\n");
    for &b in text.as_bytes() {
        let piece = match b {
            b'\n' => "=0D=0A".to_string(),
            b'=' => "=3D".to_string(),
            0x21..=0x7E => (b as char).to_string(),
            b' ' => " ".to_string(),
            _ => format!("={b:02X}"),
        };
        if line + piece.len() > 75 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    // A space at the end of an encoded line would be lost by readers; encode it.
    if out.ends_with(' ') {
        out.pop();
        out.push_str("=20");
    }
    out
}

/// An Outlook short-date format such as `M/D/YYYY`, `DD.MM.YYYY` or `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    tokens: Vec<DateToken>,
    pattern: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DateToken {
    Year4,
    Year2,
    Month2,
    Month,
    Day2,
    Day,
    Literal(char),
}

impl Default for DateFormat {
    fn default() -> Self {
        DateFormat::parse("M/D/YYYY").expect("default date format")
    }
}

impl DateFormat {
    /// Parses a pattern of `YYYY`, `YY`, `MM`, `M`, `DD`, `D` and separators.
    pub fn parse(pattern: &str) -> Result<Self> {
        let mut tokens = Vec::new();
        let mut rest = pattern;
        let (mut y, mut m, mut d) = (false, false, false);
        while !rest.is_empty() {
            let (tok, len) = if rest.starts_with("YYYY") {
                y = true;
                (DateToken::Year4, 4)
            } else if rest.starts_with("YY") {
                y = true;
                (DateToken::Year2, 2)
            } else if rest.starts_with("MM") {
                m = true;
                (DateToken::Month2, 2)
            } else if rest.starts_with('M') {
                m = true;
                (DateToken::Month, 1)
            } else if rest.starts_with("DD") {
                d = true;
                (DateToken::Day2, 2)
            } else if rest.starts_with('D') {
                d = true;
                (DateToken::Day, 1)
            } else {
                let c = rest.chars().next().expect("non-empty");
                if c.is_ascii_alphanumeric() {
                    return Err(Error::invalid(format!(
                        "date format '{pattern}': '{c}' is not one of YYYY, YY, MM, M, DD, D \
                         or a separator (example: M/D/YYYY, DD.MM.YYYY, YYYY-MM-DD)"
                    )));
                }
                (DateToken::Literal(c), c.len_utf8())
            };
            tokens.push(tok);
            rest = &rest[len..];
        }
        if !(y && m && d) {
            return Err(Error::invalid(format!(
                "date format '{pattern}' needs a year, a month and a day (example: M/D/YYYY)"
            )));
        }
        Ok(DateFormat {
            tokens,
            pattern: pattern.to_string(),
        })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Formats a date; `None` gives Outlook's empty date (`0/0/00` in `M/D/YYYY`).
    pub fn format(&self, date: Option<NaiveDate>) -> String {
        let mut out = String::new();
        for t in &self.tokens {
            match (t, date) {
                (DateToken::Year4, Some(d)) => out.push_str(&format!("{:04}", d.year())),
                (DateToken::Year2, Some(d)) => {
                    out.push_str(&format!("{:02}", d.year().rem_euclid(100)))
                }
                (DateToken::Month2, Some(d)) => out.push_str(&format!("{:02}", d.month())),
                (DateToken::Month, Some(d)) => out.push_str(&d.month().to_string()),
                (DateToken::Day2, Some(d)) => out.push_str(&format!("{:02}", d.day())),
                (DateToken::Day, Some(d)) => out.push_str(&d.day().to_string()),
                (DateToken::Year4 | DateToken::Year2, None) => out.push_str("00"),
                (DateToken::Month2 | DateToken::Day2, None) => out.push_str("00"),
                (DateToken::Month | DateToken::Day, None) => out.push('0'),
                (DateToken::Literal(c), _) => out.push(*c),
            }
        }
        out
    }
}

impl DateFormat {
    /// An example of this format (7 March 2026), for messages.
    pub fn example(&self) -> String {
        self.format(NaiveDate::from_ymd_opt(2026, 3, 7))
    }

    /// Reads a date written in exactly this format: the same separators in the same
    /// places, the fields in the format's order, `YYYY` four digits, `YY` two, a month or a
    /// day one or two digits, and a real date (month 1–12, a day the month has). Outlook's
    /// empty date (all zeros, `0/0/00`) and an empty cell are `None`; ISO `YYYY-MM-DD` is
    /// accepted too (it cannot be misread). Anything else is an error that names the value
    /// and the expected format: a date is never guessed (under `DD.MM.YYYY`, `12/1/2027`
    /// is refused, not read as 12 January).
    pub fn read(&self, s: &str) -> std::result::Result<Option<NaiveDate>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let wrong = || {
            format!(
                "'{s}' is not a date in the profile's format {} (e.g. {}); write it as \
                 {} or set the profile's date format to the one Outlook uses",
                self.pattern,
                self.example(),
                self.pattern
            )
        };
        let all_zero = s.chars().any(|c| c.is_ascii_digit())
            && s.chars().all(|c| c == '0' || !c.is_ascii_alphanumeric());
        if all_zero {
            return Ok(None);
        }
        // ISO is taken as such only where the format cannot read the same text otherwise
        // (a format that starts with the year, `YYYY-DD-MM`, reads it by its own order).
        if !matches!(self.tokens.first(), Some(DateToken::Year4))
            && let Some(d) = iso(s)
        {
            return Ok(Some(d));
        }
        // Split the text into digit runs and the separators between them, and match them
        // against the format's tokens one by one.
        let mut rest = s;
        let (mut y, mut m, mut d) = (None, None, None);
        for t in &self.tokens {
            if let DateToken::Literal(c) = t {
                rest = rest.strip_prefix(*c).ok_or_else(wrong)?;
                continue;
            }
            let len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let ok = match t {
                DateToken::Year4 => len == 4,
                DateToken::Year2 => len == 2,
                _ => (1..=2).contains(&len),
            };
            if !ok {
                return Err(wrong());
            }
            let v: u32 = rest[..len].parse().map_err(|_| wrong())?;
            rest = &rest[len..];
            match t {
                DateToken::Year4 => y = Some(v as i32),
                DateToken::Year2 => {
                    let v = v as i32;
                    y = Some(if v < 69 { 2000 + v } else { 1900 + v })
                }
                DateToken::Month | DateToken::Month2 => m = Some(v),
                _ => d = Some(v),
            }
        }
        if !rest.is_empty() {
            return Err(wrong());
        }
        match (y, m, d) {
            (Some(y), Some(m), Some(d)) => {
                NaiveDate::from_ymd_opt(y, m, d).map(Some).ok_or_else(|| {
                    format!(
                        "'{s}' is not a real date in the profile's format {} (month 1-12, a \
                         day the month has; e.g. {})",
                        self.pattern,
                        self.example()
                    )
                })
            }
            _ => Err(wrong()),
        }
    }
}

/// An ISO `YYYY-MM-DD` date (exactly that shape).
fn iso(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Whether `read` is `exported` written with its month and day the other way round: the
/// same cell read under another date format (an export under `M/D/YYYY` ingested under
/// `D/M/YYYY`). Ingest takes such a value for the exported one, never for an edit.
pub fn same_date_swapped(read: NaiveDate, exported: NaiveDate) -> bool {
    read.year() == exported.year()
        && read.month() == exported.day()
        && read.day() == exported.month()
}

/// Decodes a text file: UTF-8 (with or without BOM), UTF-16 LE/BE with BOM, else
/// Windows-1252 (what Outlook 2000/2003 write). Returns the text and the encoding's name.
pub fn decode(bytes: &[u8]) -> (String, &'static str) {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom..]);
        return (text.into_owned(), enc.name());
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "UTF-8"),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            (text.into_owned(), "windows-1252")
        }
    }
}

/// The properties of the `n`th (from 1) `BEGIN:name` block, lines unfolded, parameters
/// dropped: what `inspect` shows of an item it cannot apply.
pub fn block_props(text: &str, name: &str, n: usize) -> Vec<(String, String)> {
    let mut lines: Vec<String> = Vec::new();
    for l in text.lines() {
        match (
            l.strip_prefix(' ').or_else(|| l.strip_prefix('\t')),
            lines.last_mut(),
        ) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(l.to_string()),
        }
    }
    let begin = format!("BEGIN:{name}");
    let end = format!("END:{name}");
    let mut seen = 0;
    let mut out = Vec::new();
    let mut inside = false;
    for l in &lines {
        let t = l.trim();
        if t.eq_ignore_ascii_case(&begin) {
            seen += 1;
            inside = seen == n;
            continue;
        }
        if t.eq_ignore_ascii_case(&end) {
            if inside {
                break;
            }
            continue;
        }
        if inside && let Some((prop, value)) = t.split_once(':') {
            let prop = prop.split(';').next().unwrap_or(prop).to_ascii_uppercase();
            if !value.trim().is_empty() && !matches!(prop.as_str(), "VERSION" | "BEGIN" | "END") {
                out.push((prop, value.trim().to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_values() {
        assert_eq!(escape("a,b;c\\d\r\ne\nf"), "a\\,b\\;c\\\\d\\ne\\nf");
    }

    #[test]
    fn folds_at_75_octets_without_splitting_characters() {
        let line = format!("NOTE:{}", "ü".repeat(100));
        let mut out = String::new();
        push_folded(&mut out, &line);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = out.replace("\r\n ", "").replace("\r\n", "");
        assert_eq!(unfolded, line);
    }

    #[test]
    fn quoted_printable_encodes_utf8_and_breaks_lines() {
        assert_eq!(quoted_printable("Müller", 0), "M=C3=BCller");
        assert_eq!(quoted_printable("a\nb=c", 0), "a=0D=0Ab=3Dc");
        let long = quoted_printable(&"é".repeat(40), 10);
        for l in long.split("\r\n") {
            assert!(l.len() <= 76, "{l}");
        }
        assert_eq!(long.replace("=\r\n", ""), "=C3=A9".repeat(40));
        assert_eq!(quoted_printable("x ", 0), "x=20");
    }

    #[test]
    fn decodes_boms_utf8_and_windows_1252() {
        assert_eq!(decode(b"\xEF\xBB\xBFcaf\xC3\xA9").0, "café");
        assert_eq!(decode(b"caf\xC3\xA9").0, "café");
        assert_eq!(decode(b"caf\xE9").0, "café");
        assert_eq!(decode(b"\xFF\xFEc\x00\xE9\x00").0, "cé");
        assert_eq!(decode(b"\xFE\xFF\x00c\x00\xE9").0, "cé");
    }

    #[test]
    fn date_formats() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        for (pat, want, empty) in [
            ("M/D/YYYY", "3/7/2026", "0/0/00"),
            ("MM/DD/YYYY", "03/07/2026", "00/00/00"),
            ("DD.MM.YYYY", "07.03.2026", "00.00.00"),
            ("YYYY-MM-DD", "2026-03-07", "00-00-00"),
            ("D/M/YY", "7/3/26", "0/0/00"),
        ] {
            let f = DateFormat::parse(pat).unwrap();
            assert_eq!(f.format(Some(d)), want, "{pat}");
            assert_eq!(f.format(None), empty, "{pat}");
        }
        assert!(DateFormat::parse("M/D").is_err());
        let us = DateFormat::default();
        assert_eq!(
            us.read("12/1/2026").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 1)
        );
        assert_eq!(us.read("0/0/00").unwrap(), None);
        assert_eq!(us.read("").unwrap(), None);
        assert_eq!(
            us.read("2026-12-01").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 1)
        );
        assert!(us.read("13/1/2026").is_err());
        // A format that starts with the year reads ISO-shaped text by its own order.
        let ydm = DateFormat::parse("YYYY-DD-MM").unwrap();
        assert_eq!(
            ydm.read("2026-07-03").unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 7)
        );
        assert!(us.read("soon").is_err());
        let de = DateFormat::parse("DD.MM.YYYY").unwrap();
        assert_eq!(
            de.read("01.12.2026").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 1)
        );
        assert_eq!(
            DateFormat::parse("M/D/YY").unwrap().read("3/7/26").unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 7)
        );
        assert!(DateFormat::parse("Q/M/D/YYYY").is_err());
    }
}
