//! vCard writing: 3.0 and 4.0 for the vdir (RFC 2426, RFC 6350), and 2.1 for dragging into
//! Outlook (bare type parameters, QUOTED-PRINTABLE with CHARSET for non-ASCII text).

/// Why a vCard saved by Outlook cannot bring edits back, and which formats do.
pub const OUTLOOK_VCARDS: &str = "Outlook's own vCards carry no UID and no categories, so \
     edits made in Outlook cannot come back as vCards (no key, no !Update); bring edits \
     back as an Outlook CSV export, a PST file or .msg items (drag the contacts out of \
     Outlook)";

use chrono::DateTime;

use super::item::{Field, Item};
use super::text::{escape, needs_qp, push_folded, quoted_printable};
use super::{PRODID, spec_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    V21,
    #[default]
    V30,
    V40,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        match s {
            "2.1" => Some(Version::V21),
            "3.0" | "3" => Some(Version::V30),
            "4.0" | "4" => Some(Version::V40),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V21 => "2.1",
            Version::V30 => "3.0",
            Version::V40 => "4.0",
        }
    }
}

/// A property to write: its name, parameters and value parts.
struct Prop {
    name: String,
    params: Vec<(String, String)>,
    occurrence: usize,
    /// One part for a plain value; the components of a structured one.
    parts: Vec<String>,
    structured: bool,
}

fn component_count(name: &str) -> usize {
    match name {
        "N" => 5,
        "ADR" => 7,
        _ => 0,
    }
}

/// Renders a contact item as one vCard.
pub fn write(item: &Item, version: Version) -> String {
    let mut props: Vec<Prop> = Vec::new();
    let mut n = vec![String::new(); 5];
    for (f, v) in &item.values {
        let Some(spec) = spec_of(f) else { continue };
        if matches!(spec.name.as_str(), "UID" | "CATEGORIES") {
            continue;
        }
        let text = match v {
            Field::Text(s) => s.clone(),
            other => other.to_text(),
        };
        if spec.name == "N" {
            n[spec.component.unwrap_or(0)] = text;
            continue;
        }
        let existing = props.iter_mut().find(|p| {
            p.name == spec.name && p.params == spec.params && p.occurrence == spec.occurrence
        });
        match (spec.component, existing) {
            (Some(c), Some(p)) => {
                if p.parts.len() <= c {
                    p.parts.resize(c + 1, String::new());
                }
                p.parts[c] = text;
            }
            (Some(c), None) => {
                let mut parts = vec![String::new(); component_count(&spec.name).max(c + 1)];
                parts[c] = text;
                props.push(Prop {
                    name: spec.name.clone(),
                    params: spec.params.clone(),
                    occurrence: spec.occurrence,
                    parts,
                    structured: true,
                });
            }
            (None, _) => props.push(Prop {
                name: spec.name.clone(),
                params: spec.params.clone(),
                occurrence: spec.occurrence,
                parts: vec![text],
                structured: false,
            }),
        }
    }
    // Occurrence 1 of a property before occurrence 2, whatever the table order.
    props.sort_by_key(|p| p.occurrence);

    let mut out = String::with_capacity(512);
    let mut line = |name: &str, params: &[(String, String)], parts: &[String], structured: bool| {
        push_prop(&mut out, version, name, params, parts, structured)
    };
    line("BEGIN", &[], &["VCARD".into()], false);
    line("VERSION", &[], &[version.as_str().into()], false);
    if version != Version::V21 {
        line("PRODID", &[], &[PRODID.into()], false);
    }
    if let Some(uid) = &item.uid {
        line("UID", &[], std::slice::from_ref(uid), false);
    }
    if version == Version::V40 {
        let kind = if item.is_person() {
            "individual"
        } else {
            "org"
        };
        line("KIND", &[], &[kind.into()], false);
    }
    line("FN", &[], &[item.display_name()], false);
    line("N", &[], &n, true);
    for p in &props {
        line(&p.name, &p.params, &p.parts, p.structured);
    }
    if !item.categories().is_empty() {
        line("CATEGORIES", &[], item.categories(), true);
    }
    if let Some(rev) = item.modified.and_then(DateTime::from_timestamp_micros) {
        let rev = match version {
            Version::V30 => rev.format("%Y-%m-%dT%H:%M:%SZ"),
            _ => rev.format("%Y%m%dT%H%M%SZ"),
        };
        line("REV", &[], &[rev.to_string()], false);
    }
    line("END", &[], &["VCARD".into()], false);
    out
}

/// Writes one property. `structured` joins parts with `;` (or `,` for CATEGORIES).
fn push_prop(
    out: &mut String,
    version: Version,
    name: &str,
    params: &[(String, String)],
    parts: &[String],
    structured: bool,
) {
    let sep = if name == "CATEGORIES" { "," } else { ";" };
    let mut head = name.to_string();
    match version {
        Version::V21 => {
            // 2.1 writes bare types: TEL;WORK;VOICE, EMAIL;PREF;INTERNET.
            for (k, v) in params {
                if k == "TYPE" {
                    for t in v.split(',') {
                        head.push(';');
                        head.push_str(t);
                    }
                } else {
                    head.push_str(&format!(";{k}={v}"));
                }
            }
            let value = if structured {
                parts
                    .iter()
                    .map(|p| p.replace(';', "\\;"))
                    .collect::<Vec<_>>()
                    .join(sep)
            } else {
                parts.concat()
            };
            if needs_qp(&value) {
                head.push_str(";CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE");
                let qp = quoted_printable(&value, head.len() + 1);
                out.push_str(&head);
                out.push(':');
                out.push_str(&qp);
                out.push_str("\r\n");
            } else {
                out.push_str(&head);
                out.push(':');
                out.push_str(&value);
                out.push_str("\r\n");
            }
        }
        Version::V30 | Version::V40 => {
            for (k, v) in params {
                let v = if version == Version::V40 && k == "TYPE" {
                    let types: Vec<String> = v
                        .split(',')
                        .filter(|t| *t != "INTERNET")
                        .map(str::to_ascii_lowercase)
                        .collect();
                    if types.is_empty() {
                        continue;
                    }
                    types.join(",")
                } else {
                    v.clone()
                };
                head.push_str(&format!(";{k}={v}"));
            }
            let value = if structured {
                parts
                    .iter()
                    .map(|p| escape(p))
                    .collect::<Vec<_>>()
                    .join(sep)
            } else if matches!(
                name,
                "BEGIN" | "END" | "VERSION" | "PRODID" | "REV" | "KIND"
            ) {
                parts.concat()
            } else {
                escape(&parts.concat())
            };
            push_folded(out, &format!("{head}:{value}"));
        }
    }
}

/// Reading vCard 2.1, 3.0 and 4.0 (quoted-printable, CHARSET, folded lines, several cards
/// in one file) with calcard, mapped to fields by the property specs of the field table.
pub mod read {
    use std::collections::HashMap;

    use calcard::common::{IanaString, PartialDateTime};
    use calcard::vcard::{VCard, VCardEntry, VCardParameterName, VCardParameterValue, VCardValue};
    use calcard::{Entry, Parser};

    use crate::codec::item::{Field, Incoming, Item, split_categories};
    use crate::codec::{PropSpec, spec_of};
    use crate::fields::{self, FieldDef};
    use crate::model::Key;

    /// How many lines of `text` are exactly `line` (ignoring case and surrounding space).
    pub fn count_lines(text: &str, line: &str) -> usize {
        text.lines()
            .filter(|l| l.trim().eq_ignore_ascii_case(line))
            .count()
    }

    /// Every card of a vCard file. A file cut off inside its last card has that card
    /// refused, however much of it a lenient parser could read.
    pub fn read(text: &str) -> Vec<Incoming> {
        let mut out = read_cards(text);
        let open = count_lines(text, "BEGIN:VCARD");
        let closed = count_lines(text, "END:VCARD");
        if open > closed
            && let Some(last) = out.last_mut()
        {
            last.item = Err("the card is cut off (no END:VCARD): the file is truncated".into());
        }
        out
    }

    fn read_cards(text: &str) -> Vec<Incoming> {
        let mut parser = Parser::new(text);
        let mut out = Vec::new();
        let mut n = 0;
        loop {
            let source = |n: usize| format!("card {n}");
            match parser.entry() {
                Entry::VCard(card) => {
                    n += 1;
                    if n > crate::codec::item::MAX_ITEMS {
                        return crate::codec::item::too_many_items();
                    }
                    out.push(Incoming {
                        seen: None,
                        source: source(n),
                        item: card_item(&card),
                    });
                }
                Entry::ICalendar(_) => {
                    n += 1;
                    out.push(Incoming {
                        seen: None,
                        source: source(n),
                        item: Err("an iCalendar object in a vCard file".into()),
                    });
                }
                Entry::UnexpectedComponentEnd { .. } | Entry::UnterminatedComponent(_) => {
                    n += 1;
                    out.push(Incoming {
                        seen: None,
                        source: source(n),
                        item: Err("the card is cut off (no END:VCARD)".into()),
                    });
                }
                Entry::InvalidLine(_) => {}
                Entry::Eof => break,
                _ => {
                    out.push(Incoming {
                        seen: None,
                        source: source(n + 1),
                        item: Err("the file holds more components than can be read".into()),
                    });
                    break;
                }
            }
        }
        out
    }

    /// A vCard time (REV) as microseconds since the epoch.
    pub fn micros(p: &PartialDateTime) -> Option<i64> {
        let date = chrono::NaiveDate::from_ymd_opt(
            p.year? as i32,
            p.month.unwrap_or(1) as u32,
            p.day.unwrap_or(1) as u32,
        )?;
        let t = date.and_hms_opt(
            p.hour.unwrap_or(0) as u32,
            p.minute.unwrap_or(0) as u32,
            p.second.unwrap_or(0) as u32,
        )?;
        let offset = (p.tz_hour.unwrap_or(0) as i64 * 3600 + p.tz_minute.unwrap_or(0) as i64 * 60)
            * if p.tz_minus { -1 } else { 1 };
        Some((t.and_utc().timestamp() - offset) * 1_000_000)
    }

    fn text(v: &VCardValue) -> String {
        match v {
            VCardValue::Text(s) => s.clone(),
            other => other.as_text().map(str::to_string).unwrap_or_default(),
        }
    }

    /// The entry's types, upper-case: `TYPE=` values and 2.1's bare parameters.
    fn types(e: &VCardEntry) -> Vec<String> {
        let mut out = Vec::new();
        for p in &e.params {
            match (&p.name, &p.value) {
                (VCardParameterName::Type, VCardParameterValue::Type(t)) => {
                    out.push(t.as_str().to_ascii_uppercase())
                }
                (VCardParameterName::Type, VCardParameterValue::Text(t)) => {
                    out.extend(t.split(',').map(|t| t.trim().to_ascii_uppercase()))
                }
                (VCardParameterName::Pref, _) => out.push("PREF".into()),
                (VCardParameterName::Other(name), VCardParameterValue::Null) => {
                    out.push(name.to_ascii_uppercase())
                }
                _ => {}
            }
        }
        // RFC defaults: a TEL is a voice number (a cell phone too) unless it is a fax,
        // pager or modem.
        let name = e.name.as_str().to_ascii_uppercase();
        let special = ["FAX", "PAGER", "MODEM", "BBS"];
        if name == "TEL" && !out.iter().any(|t| special.contains(&t.as_str())) {
            out.push("VOICE".into());
        }
        if name == "EMAIL" {
            out.push("INTERNET".into());
        }
        out
    }

    fn card_item(card: &VCard) -> std::result::Result<Item, String> {
        let name_of = |e: &VCardEntry| e.name.as_str().to_ascii_uppercase();
        let uid = card
            .entries
            .iter()
            .find(|e| name_of(e) == "UID")
            .and_then(|e| e.values.first())
            .map(text)
            .unwrap_or_default();
        let uid = uid.trim().trim_start_matches("urn:uuid:").to_string();
        if uid.is_empty() {
            return Err(format!(
                "no UID: new contacts cannot be created outside Service Master; edit a \
                 contact that smsync exported (its UID is its key, e.g. SM-U12). {}",
                super::OUTLOOK_VCARDS
            ));
        }
        let key: Key = uid
            .parse()
            .map_err(|_| format!("UID '{uid}' is not a Service Master contact key"))?;
        if !key.kind.is_contact() {
            return Err(format!("UID {key} is not a contact's key"));
        }
        let defs: Vec<(&'static FieldDef, &'static PropSpec)> = fields::of(key.kind)
            .iter()
            .filter(|f| f.name != "key")
            .filter_map(|f| spec_of(f).map(|s| (f, s)))
            .collect();
        // Every field the format carries starts empty: a missing property is an empty value.
        let mut values: Vec<(&'static FieldDef, Field)> = defs
            .iter()
            .map(|(f, _)| {
                let empty = if f.name == "category" {
                    Field::List(Vec::new())
                } else {
                    Field::Text(String::new())
                };
                (*f, empty)
            })
            .collect();
        let mut set = |f: &FieldDef, v: Field| {
            if let Some(slot) = values.iter_mut().find(|(g, _)| g.name == f.name) {
                slot.1 = v;
            }
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut modified = None;
        let mut categories = Vec::new();
        for e in &card.entries {
            let name = name_of(e);
            match name.as_str() {
                "CATEGORIES" => {
                    for v in &e.values {
                        categories.extend(split_categories(&text(v)));
                    }
                    continue;
                }
                "REV" => {
                    if let Some(VCardValue::PartialDateTime(p)) = e.values.first() {
                        modified = micros(p);
                    }
                    continue;
                }
                _ => {}
            }
            let types = types(e);
            let candidates: Vec<&(&FieldDef, &PropSpec)> = defs
                .iter()
                .filter(|(_, s)| s.name == name)
                .filter(|(_, s)| s.types().iter().all(|t| types.iter().any(|u| u == t)))
                .collect();
            if candidates.is_empty() {
                continue;
            }
            if candidates.iter().any(|(_, s)| s.component.is_some()) {
                for (f, s) in candidates.iter().filter(|(_, s)| s.component.is_some()) {
                    let v = e
                        .values
                        .get(s.component.unwrap_or(0))
                        .map(text)
                        .unwrap_or_default();
                    set(f, Field::Text(v));
                }
                continue;
            }
            // The most specific spec wins (TEL;WORK;VOICE is a business phone, not "other");
            // repeated properties fill occurrences #1, #2, … in order.
            let best = candidates
                .iter()
                .map(|(_, s)| s.types().len())
                .max()
                .unwrap_or(0);
            let group: Vec<&&(&FieldDef, &PropSpec)> = candidates
                .iter()
                .filter(|(_, s)| s.types().len() == best)
                .collect();
            let counter = seen
                .entry(format!("{name};{:?}", group[0].1.params))
                .or_insert(0);
            *counter += 1;
            if let Some((f, _)) = group.iter().find(|(_, s)| s.occurrence == *counter) {
                let v = e.values.iter().map(text).collect::<Vec<_>>().join(";");
                let v = v.strip_prefix("tel:").map(str::to_string).unwrap_or(v);
                set(f, Field::Text(v));
            }
        }
        if let Some(slot) = values.iter_mut().find(|(f, _)| f.name == "category") {
            slot.1 = Field::List(categories);
        }
        Ok(Item {
            kind: key.kind,
            key: Some(key),
            uid: Some(uid),
            values,
            modified,
        })
    }
}
