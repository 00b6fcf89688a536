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
}
