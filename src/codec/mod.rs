//! Formats as pure codecs: bytes in, neutral [`item::Item`]s out, and back. Codecs know
//! nothing of storage; every one is driven by the field table's property specs.

pub mod ical;
pub mod item;
pub mod msg;
pub mod outlook_csv;
pub mod pst;
pub mod text;
pub mod vcard;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::fields::{self, FieldDef};
use crate::model::Kind;

/// FNV-1a, for maps with short, fixed keys looked up for every item (CSV column names,
/// MAPI property IDs), where the default SipHash cost an export about a tenth of its work.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap`'s hasher that is [`Fnv`].
pub(crate) type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// A parsed property spec of the field table: `NAME[;PARAM=V,...][[i]][#n]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropSpec {
    pub name: String,
    pub params: Vec<(String, String)>,
    /// The component of a structured value (N, ADR, ORG).
    pub component: Option<usize>,
    /// Which occurrence of the property, from 1.
    pub occurrence: usize,
}

impl PropSpec {
    pub fn parse(spec: &str) -> PropSpec {
        let (spec, occurrence) = match spec.rsplit_once('#') {
            Some((s, n)) => (s, n.parse().expect("occurrence in field table")),
            None => (spec, 1),
        };
        let (spec, component) = match spec.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
            Some((s, i)) => (s, Some(i.parse().expect("component in field table"))),
            None => (spec, None),
        };
        let mut parts = spec.split(';');
        let name = parts.next().expect("name").to_string();
        let params = parts
            .map(|p| {
                let (k, v) = p.split_once('=').expect("PARAM=VALUE in field table");
                (k.to_string(), v.to_string())
            })
            .collect();
        PropSpec {
            name,
            params,
            component,
            occurrence,
        }
    }

    /// The values of the TYPE parameter.
    pub fn types(&self) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == "TYPE")
            .flat_map(|(_, v)| v.split(','))
            .collect()
    }
}

/// The parsed property spec of a field, cached.
pub fn spec_of(f: &FieldDef) -> Option<&'static PropSpec> {
    static CACHE: OnceLock<HashMap<(Kind, &'static str), PropSpec>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            fields::all()
                .filter_map(|f| f.prop.map(|p| ((f.kind, f.name), PropSpec::parse(p))))
                .collect()
        })
        .get(&(f.kind, f.name))
}

/// The product id smsync writes into vCard 3.0/4.0 and iCalendar files.
pub const PRODID: &str = "-//smsync//NONSGML smsync//EN";

/// Runs a reader on untrusted input and turns a panic into an error, so that a bug in a
/// reader (ours or a parser crate's) rejects the one input instead of ending the batch.
/// The readers are pure functions of their input, so nothing is left half-changed.
pub fn guarded<T>(read: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        format!(
            "the reader failed on this input (internal error: {why}); this is a bug in \
             smsync: report it with the file; meanwhile export the items from Outlook again, \
             or as CSV"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_property_specs() {
        let s = PropSpec::parse("ADR;TYPE=WORK[2]");
        assert_eq!(s.name, "ADR");
        assert_eq!(s.params, vec![("TYPE".into(), "WORK".into())]);
        assert_eq!(s.component, Some(2));
        let s = PropSpec::parse("EMAIL;TYPE=INTERNET#2");
        assert_eq!((s.name.as_str(), s.occurrence), ("EMAIL", 2));
        assert_eq!(
            PropSpec::parse("TEL;TYPE=WORK,VOICE").types(),
            vec!["WORK", "VOICE"]
        );
    }

    #[test]
    fn every_spec_in_the_table_parses() {
        for f in fields::all().filter(|f| f.prop.is_some()) {
            assert!(spec_of(f).is_some(), "{}.{}", f.kind, f.name);
        }
    }

    #[test]
    fn a_reader_that_panics_gives_an_error_and_one_that_does_not_passes_through() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {})); // keep the test's output clean
        let by_str = guarded(|| -> u8 { panic!("boom") });
        let by_string = guarded(|| -> u8 { panic!("{} at {}", "index out of range", 7) });
        let by_value = guarded(|| -> u8 { std::panic::panic_any(42u32) });
        std::panic::set_hook(hook);
        assert!(by_str.unwrap_err().contains("internal error: boom"));
        assert!(
            by_string
                .unwrap_err()
                .contains("internal error: index out of range at 7")
        );
        assert!(by_value.unwrap_err().contains("internal error: no message"));
        assert_eq!(guarded(|| 5), Ok(5));
        let inner: std::result::Result<(), String> = Err("bad header".into());
        assert_eq!(guarded(|| inner.clone()), Ok(inner));
    }
}
