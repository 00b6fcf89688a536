//! vCard writing: 3.0 and 4.0 for the vdir (RFC 2426, RFC 6350), and 2.1 for dragging into
//! Outlook (bare type parameters, QUOTED-PRINTABLE with CHARSET for non-ASCII text).

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
