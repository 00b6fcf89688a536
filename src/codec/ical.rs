//! iCalendar writing (RFC 5545): one VCALENDAR with one VTODO per SI, for the vdir.
//!
//! Completion Requested has no VTODO status of its own. It goes out as `STATUS:IN-PROCESS`
//! plus the category `Completion Requested` (which every client keeps) and the property
//! `X-SMSYNC-STATUS:Completion Requested` (kept by clients that keep unknown properties).
//! A closed SI goes out as `STATUS:COMPLETED` with `COMPLETED` (noon UTC of the closing
//! date, so it reads as that date in every time zone) and `PERCENT-COMPLETE:100`.

use chrono::DateTime;

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
    let status = item.si_status().unwrap_or("In Progress");
    let closed = status == "Closed";
    let due = item.date("due");
    for (f, v) in &item.values {
        let Some(spec) = spec_of(f) else { continue };
        match (spec.name.as_str(), v) {
            ("UID", _) => {}
            ("CATEGORIES", Field::List(cats)) => {
                let mut cats: Vec<String> = cats.iter().map(|c| escape(c)).collect();
                if status == COMPLETION_REQUESTED {
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
