//! Neutral domain types shared by storage, rules and codecs: record kinds, stable keys,
//! field values and generic records whose fields are described by [`crate::fields`].

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fields::{self, FieldDef};

pub use crate::kind::Kind;

/// A record's stable, readable key: `SM-C<id>`, `SM-L<id>`, `SM-U<id>`, `SM-T<id>`,
/// `SI-<number>`, `SM-E<id>`. For SIs the number is the SI number, for the others the row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub kind: Kind,
    pub id: i64,
}

/// Sets and maps of keys: an ingest asks one for every item of a file (hundreds of
/// thousands), where std's SipHash, made for keys an attacker chooses, cost more than the
/// look-up. A key's id goes through SplitMix64's finaliser, whose output bits each depend
/// on every input bit.
pub type KeySet = std::collections::HashSet<Key, KeyHasher>;
pub type KeyMap<V> = std::collections::HashMap<Key, V, KeyHasher>;

/// The hasher of [`KeySet`] and [`KeyMap`].
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyHasher(u64);

impl std::hash::BuildHasher for KeyHasher {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
}

impl Key {
    pub fn new(kind: Kind, id: i64) -> Self {
        Key { kind, id }
    }

    /// The key as text, as `to_string` gives it, in one allocation without the formatting
    /// machinery (an export makes it for every record it reads).
    pub fn text(&self) -> String {
        let prefix = self.kind.key_prefix();
        let mut s = String::with_capacity(prefix.len() + 20);
        s.push_str(prefix);
        if self.id < 0 {
            s.push('-');
        }
        let mut digits = [0u8; 20];
        let mut n = self.id.unsigned_abs();
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        s.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
        s
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.key_prefix(), self.id)
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Key {
    type Err = Error;
    /// Parses a key case-insensitively; surrounding white space is ignored.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_uppercase();
        // Longest prefixes first, so that "SM-" kinds are not mistaken for each other.
        for kind in Kind::ALL {
            if let Some(rest) = t.strip_prefix(kind.key_prefix())
                && !rest.is_empty()
                && rest.bytes().all(|b| b.is_ascii_digit())
                && let Ok(id) = rest.parse::<i64>()
                && id > 0
            {
                return Ok(Key { kind, id });
            }
        }
        Err(Error::invalid(format!(
            "'{s}' is not a key; keys look like SM-C12 (client), SM-L12 (location), \
             SM-U12 (user), SM-T12 (tech entry), SI-1234 (SI) or SM-E12 (employee)"
        )))
    }
}

/// One field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Text(String),
    Bool(bool),
    Int(i64),
    Date(NaiveDate),
    /// A reference to another record.
    Ref(Key),
    /// References to several records (an SI's people).
    Refs(Vec<Key>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_date(&self) -> Option<NaiveDate> {
        match self {
            Value::Date(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_ref_key(&self) -> Option<Key> {
        match self {
            Value::Ref(k) => Some(*k),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Text(s) => J::String(s.clone()),
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Date(d) => J::String(d.format("%Y-%m-%d").to_string()),
            Value::Ref(k) => J::String(k.to_string()),
            Value::Refs(ks) => J::Array(ks.iter().map(|k| J::String(k.to_string())).collect()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Text(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Ref(k) => write!(f, "{k}"),
            Value::Refs(ks) => {
                let v: Vec<String> = ks.iter().map(Key::to_string).collect();
                f.write_str(&v.join(","))
            }
        }
    }
}

/// A record as the storage layer hands it out: its key, its change time and one value per
/// field of its kind, in the order of [`fields::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Key,
    /// Microseconds since the Unix epoch (UTC) of the last change.
    pub updated_at: i64,
    pub values: Vec<Value>,
    /// The display names of referenced records, by field index: a client's name, a
    /// location's name, a person's first and last name (several for an SI's people).
    pub labels: Vec<(usize, Vec<String>)>,
}

impl Record {
    pub fn fields(&self) -> impl Iterator<Item = (&'static FieldDef, &Value)> {
        fields::of(self.key.kind).iter().zip(self.values.iter())
    }

    /// The value of the named field. Panics only on a field name that the kind does not
    /// have, which is a programming error caught by the tests.
    pub fn get(&self, name: &str) -> &Value {
        let i = fields::index(self.key.kind, name)
            .unwrap_or_else(|| panic!("{} has no field {name}", self.key.kind));
        &self.values[i]
    }

    /// The display names of the records that a reference field points to.
    pub fn labels(&self, name: &str) -> &[String] {
        let i = fields::index(self.key.kind, name);
        self.labels
            .iter()
            .find(|(j, _)| Some(*j) == i)
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[])
    }

    pub fn text(&self, name: &str) -> &str {
        self.get(name).as_text().unwrap_or("")
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("key".into(), self.key.to_string().into());
        m.insert("kind".into(), self.key.kind.name().into());
        for (f, v) in self.fields() {
            let j = match (f.ty, v) {
                (fields::Ty::Stamp, Value::Int(us)) => crate::clock::format_micros(*us).into(),
                _ => v.to_json(),
            };
            m.insert(f.name.into(), j);
        }
        serde_json::Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_is_its_display() {
        for kind in Kind::ALL {
            for id in [0, 1, 9, 10, 42, 1001, 999_999, i64::MAX, -1, -70, i64::MIN] {
                let k = Key::new(kind, id);
                assert_eq!(k.text(), k.to_string());
            }
        }
    }

    #[test]
    fn keys_round_trip_for_every_kind() {
        for kind in Kind::ALL {
            let k = Key::new(kind, 42);
            let s = k.to_string();
            assert!(s.starts_with(kind.key_prefix()));
            assert_eq!(s.parse::<Key>().unwrap(), k);
            assert_eq!(s.to_lowercase().parse::<Key>().unwrap(), k);
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in [
            "", "SM-", "SM-X1", "SM-L", "SM-L-1", "SM-L0", "SI-12a", "L42", "SM-L 4",
        ] {
            assert!(bad.parse::<Key>().is_err(), "{bad} parsed");
        }
    }
}

/// The status of an SI, exactly as the database stores it (the schema's CHECK list and
/// [`crate::fields::SI_STATUSES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum SiStatus {
    #[serde(rename = "New")]
    New,
    #[serde(rename = "In Progress")]
    InProgress,
    #[serde(rename = "Completion Requested")]
    CompletionRequested,
    #[serde(rename = "On Hold")]
    OnHold,
    #[serde(rename = "Closed")]
    Closed,
    #[serde(rename = "Cancelled")]
    Cancelled,
}

impl SiStatus {
    pub const ALL: [SiStatus; 6] = [
        SiStatus::New,
        SiStatus::InProgress,
        SiStatus::CompletionRequested,
        SiStatus::OnHold,
        SiStatus::Closed,
        SiStatus::Cancelled,
    ];

    /// The text the database stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            SiStatus::New => "New",
            SiStatus::InProgress => "In Progress",
            SiStatus::CompletionRequested => "Completion Requested",
            SiStatus::OnHold => "On Hold",
            SiStatus::Closed => "Closed",
            SiStatus::Cancelled => "Cancelled",
        }
    }

    /// In Progress or Completion Requested: the statuses that sync to Outlook.
    pub fn is_open(self) -> bool {
        matches!(self, SiStatus::InProgress | SiStatus::CompletionRequested)
    }
}

impl fmt::Display for SiStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the exact database text (case and spaces as stored).
impl FromStr for SiStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<SiStatus> {
        SiStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "'{s}' is not an SI status; one of: {}",
                    fields::SI_STATUSES.join(", ")
                ))
            })
    }
}

impl Record {
    /// The status of an SI record (`None` for other kinds).
    pub fn si_status(&self) -> Option<SiStatus> {
        if self.key.kind != Kind::Si {
            return None;
        }
        self.text("status").parse().ok()
    }
}

#[cfg(test)]
mod si_status_tests {
    use super::*;

    #[test]
    fn si_statuses_are_the_field_table_choices_in_order() {
        let names: Vec<&str> = SiStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, fields::SI_STATUSES);
    }

    #[test]
    fn si_status_text_round_trips_and_is_exact() {
        for s in SiStatus::ALL {
            assert_eq!(s.as_str().parse::<SiStatus>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for bad in [
            "",
            "closed",
            "In progress",
            " Closed",
            "Completed",
            "Waiting",
        ] {
            assert!(bad.parse::<SiStatus>().is_err(), "{bad} parsed");
        }
    }
}
