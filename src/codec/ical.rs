//! iCalendar writing (RFC 5545): one VCALENDAR with one VTODO per SI, for the vdir.
//!
//! Completion Requested has no VTODO status of its own. It goes out as `STATUS:IN-PROCESS`
//! plus the category `Completion Requested` (which every client keeps) and the property
//! `X-SMSYNC-STATUS:Completion Requested` (kept by clients that keep unknown properties).
//! A closed SI goes out as `STATUS:COMPLETED` with `COMPLETED` (noon UTC of the closing
//! date, so it reads as that date in every time zone) and `PERCENT-COMPLETE:100`.

use chrono::DateTime;

use crate::model::SiStatus;

use super::item::{COMPLETION_REQUESTED, Field, Item, ical_priority, ical_status};
use super::text::{escape, push_folded};
use super::{PRODID, spec_of};

fn stamp(us: i64) -> Option<String> {
    DateTime::from_timestamp_micros(us).map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
}

/// Renders a task item as a VCALENDAR holding one VTODO.
pub fn write(item: &Item) -> String {
    let mut out = String::with_capacity(768);
    let mut line = |l: String| push_folded(&mut out, &l);
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line(format!("PRODID:{PRODID}"));
    line("BEGIN:VTODO".into());
    if let Some(uid) = &item.uid {
        line(format!("UID:{}", escape(uid)));
    }
    if let Some(t) = item.modified.and_then(stamp) {
        line(format!("DTSTAMP:{t}"));
        line(format!("LAST-MODIFIED:{t}"));
    }
    let status = item.si_status().unwrap_or(SiStatus::InProgress);
    let closed = status == SiStatus::Closed;
    let due = item.date("due");
    for (f, v) in &item.values {
        let Some(spec) = spec_of(f) else { continue };
        match (spec.name.as_str(), v) {
            ("UID", _) => {}
            ("CATEGORIES", Field::List(cats)) => {
                let mut cats: Vec<String> = cats.iter().map(|c| escape(c)).collect();
                if status == SiStatus::CompletionRequested {
                    cats.push(COMPLETION_REQUESTED.into());
                }
                line(format!("CATEGORIES:{}", cats.join(",")));
            }
            ("CONTACT", Field::Names(names)) => {
                for n in names {
                    let key = n
                        .key
                        .map(|k| format!(";X-SMSYNC-KEY={k}"))
                        .unwrap_or_default();
                    line(format!("CONTACT{key}:{}", escape(&n.name)));
                }
            }
            ("STATUS", _) => {
                line(format!("STATUS:{}", ical_status(status)));
                line(format!("X-SMSYNC-STATUS:{status}"));
            }
            ("PRIORITY", Field::Text(p)) => line(format!("PRIORITY:{}", ical_priority(p))),
            ("DTSTART", Field::Date(d)) => {
                // RFC 5545 wants DUE after DTSTART; a start after the due date is left out.
                if due.is_none_or(|due| *d <= due) {
                    line(format!("DTSTART;VALUE=DATE:{}", d.format("%Y%m%d")));
                }
            }
            ("DUE", Field::Date(d)) => line(format!("DUE;VALUE=DATE:{}", d.format("%Y%m%d"))),
            ("COMPLETED", Field::Date(d)) if closed => {
                line(format!("COMPLETED:{}T120000Z", d.format("%Y%m%d")));
            }
            ("COMPLETED", _) => {}
            (name, v) => line(format!("{name}:{}", escape(&v.to_text()))),
        }
    }
    if closed {
        line("PERCENT-COMPLETE:100".into());
    }
    line("END:VTODO".into());
    line("END:VCALENDAR".into());
    out
}

/// Reading VCALENDAR files with one or more VTODOs (calcard), as task items.
///
/// A VTODO's status: `COMPLETED` is Closed, `CANCELLED` Cancelled; otherwise the category
/// `Completion Requested` makes it Completion Requested, else In Progress. Dates that are
/// absent are not carried (a client that drops DTSTART does not clear the SI's start).
pub mod read {
    use calcard::common::IanaString;
    use calcard::icalendar::{
        ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarValue,
    };
    use calcard::{Entry, Parser};

    use crate::codec::item::{
        COMPLETION_REQUESTED, Field, Incoming, Item, Named, priority_from_ical, split_categories,
    };
    use crate::fields;
    use crate::model::{Key, Kind, SiStatus};

    /// Every VTODO of an iCalendar file; a file cut off inside a calendar has its last
    /// item refused.
    pub fn read(text: &str) -> Vec<Incoming> {
        use crate::codec::vcard::read::count_lines;
        let mut out = read_todos(text);
        let cut = count_lines(text, "BEGIN:VCALENDAR") > count_lines(text, "END:VCALENDAR")
            || count_lines(text, "BEGIN:VTODO") > count_lines(text, "END:VTODO");
        if cut {
            match out.last_mut() {
                Some(last) => {
                    last.item = Err("the calendar is cut off (no END:VCALENDAR): the file is \
                                     truncated"
                        .into())
                }
                None => out.push(Incoming {
                    seen: None,
                    source: "component 1".into(),
                    item: Err("the calendar is cut off: the file is truncated".into()),
                }),
            }
        }
        out
    }

    fn read_todos(text: &str) -> Vec<Incoming> {
        let mut parser = Parser::new(text);
        let mut out = Vec::new();
        let mut n = 0;
        loop {
            match parser.entry() {
                Entry::ICalendar(cal) => {
                    todos(&cal, &mut n, &mut out);
                    if n > crate::codec::item::MAX_ITEMS {
                        return crate::codec::item::too_many_items();
                    }
                }
                Entry::VCard(_) => {
                    n += 1;
                    out.push(Incoming {
                        seen: None,
                        source: format!("component {n}"),
                        item: Err("a vCard in an iCalendar file".into()),
                    });
                }
                Entry::UnexpectedComponentEnd { .. } | Entry::UnterminatedComponent(_) => {
                    n += 1;
                    out.push(Incoming {
                        seen: None,
                        source: format!("component {n}"),
                        item: Err("the calendar is cut off (no END:VCALENDAR)".into()),
                    });
                }
                Entry::InvalidLine(_) => {}
                Entry::Eof => break,
                _ => {
                    out.push(Incoming {
                        seen: None,
                        source: format!("component {}", n + 1),
                        item: Err("the file holds more components than can be read".into()),
                    });
                    break;
                }
            }
        }
        out
    }

    fn todos(cal: &ICalendar, n: &mut usize, out: &mut Vec<Incoming>) {
        for c in &cal.components {
            match &c.component_type {
                ICalendarComponentType::VTodo => {
                    *n += 1;
                    out.push(Incoming {
                        seen: None,
                        source: format!("VTODO {n}"),
                        item: todo_item(c),
                    });
                }
                ICalendarComponentType::VEvent | ICalendarComponentType::VJournal => {
                    *n += 1;
                    out.push(Incoming {
                        seen: None,
                        source: format!("component {n}"),
                        item: Err(format!(
                            "{} is not a task; smsync reads VTODO",
                            c.component_type.as_str()
                        )),
                    });
                }
                _ => {}
            }
        }
    }

    fn text(v: &ICalendarValue) -> String {
        v.as_text().map(str::to_string).unwrap_or_default()
    }

    fn date(e: &ICalendarEntry) -> Option<chrono::NaiveDate> {
        let p = e.values.first()?.as_partial_date_time()?;
        chrono::NaiveDate::from_ymd_opt(p.year? as i32, p.month? as u32, p.day? as u32)
    }

    fn param(e: &ICalendarEntry, name: &str) -> Option<String> {
        e.params
            .iter()
            .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
            .and_then(|p| p.value.as_text().map(str::to_string))
    }

    fn todo_item(c: &ICalendarComponent) -> std::result::Result<Item, String> {
        let get = |n: &str| {
            c.entries
                .iter()
                .find(|e| e.name.as_str().eq_ignore_ascii_case(n))
        };
        let uid = get("UID")
            .and_then(|e| e.values.first())
            .map(text)
            .unwrap_or_default();
        let key = uid.parse::<Key>().ok().filter(|k| k.kind == Kind::Si);
        let mut categories = Vec::new();
        let mut contacts: Vec<Named> = Vec::new();
        for e in &c.entries {
            match e.name.as_str().to_ascii_uppercase().as_str() {
                "CATEGORIES" => {
                    for v in &e.values {
                        categories.extend(split_categories(&text(v)));
                    }
                }
                "CONTACT" => {
                    let name = e.values.iter().map(text).collect::<Vec<_>>().join(",");
                    let key = param(e, "X-SMSYNC-KEY").and_then(|k| k.parse().ok());
                    contacts.push(Named { key, name });
                }
                _ => {}
            }
        }
        let status = match get("STATUS")
            .and_then(|e| e.values.first())
            .map(|v| match v {
                ICalendarValue::Status(s) => s.as_str().to_string(),
                other => text(other).to_ascii_uppercase(),
            })
            .as_deref()
        {
            Some("COMPLETED") => SiStatus::Closed,
            Some("CANCELLED") => SiStatus::Cancelled,
            _ if categories
                .iter()
                .any(|c| c.eq_ignore_ascii_case(COMPLETION_REQUESTED)) =>
            {
                SiStatus::CompletionRequested
            }
            _ => SiStatus::InProgress,
        };
        let modified = get("LAST-MODIFIED")
            .or_else(|| get("DTSTAMP"))
            .and_then(|e| e.values.first())
            .and_then(|v| v.as_partial_date_time())
            .and_then(crate::codec::vcard::read::micros);
        let mut values = Vec::new();
        for f in fields::of(Kind::Si) {
            let field = match f.name {
                "category" => Some(Field::List(categories.clone())),
                "description" => Some(Field::Text(
                    get("SUMMARY")
                        .and_then(|e| e.values.first())
                        .map(text)
                        .unwrap_or_default(),
                )),
                "notes" => Some(Field::Text(
                    get("DESCRIPTION")
                        .and_then(|e| e.values.first())
                        .map(text)
                        .unwrap_or_default(),
                )),
                "status" => Some(Field::Text(status.to_string())),
                "priority" => get("PRIORITY")
                    .and_then(|e| e.values.first())
                    .and_then(|v| v.as_integer())
                    .map(|p| Field::Text(priority_from_ical(p).to_string())),
                "start" => get("DTSTART").and_then(date).map(Field::Date),
                "due" => get("DUE").and_then(date).map(Field::Date),
                "completed" => get("COMPLETED").and_then(date).map(Field::Date),
                "location" => Some(Field::Names(
                    contacts
                        .iter()
                        .filter(|n| n.key.is_none_or(|k| k.kind == Kind::Location))
                        .cloned()
                        .collect(),
                )),
                "people" => Some(Field::Names(
                    contacts
                        .iter()
                        .filter(|n| n.key.is_none_or(|k| k.kind == Kind::User))
                        .cloned()
                        .collect(),
                )),
                _ => None,
            };
            if let Some(field) = field {
                values.push((f, field));
            }
        }
        Ok(Item {
            kind: Kind::Si,
            key,
            uid: (!uid.is_empty()).then_some(uid),
            values,
            modified,
        })
    }
}
