//! `smsync fields`: the field mapping table ([`crate::fields`]) as an aligned text table
//! or JSON.

use super::print::print_json;
use crate::error::Result;
use crate::fields::{self, FieldRow};
use crate::model::Kind;

/// `smsync fields [--kind KIND]`
pub(super) fn fields(kind: Option<&str>, json: bool) -> Result<()> {
    let kinds: Vec<Kind> = match kind {
        Some(k) => vec![k.parse()?],
        None => Kind::ALL.to_vec(),
    };
    let rows: Vec<FieldRow> = kinds
        .iter()
        .flat_map(|&k| fields::of(k).iter().map(FieldRow::from))
        .collect();
    if json {
        return print_json(&rows);
    }
    print_fields(&rows);
    Ok(())
}

fn print_fields(rows: &[FieldRow]) {
    let dash = |o: Option<&str>| o.unwrap_or("-").to_string();
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                format!("{}.{}", r.kind, r.field),
                r.ty.clone(),
                r.admin.to_string(),
                dash(r.csv),
                dash(r.property),
                r.mapi.clone().unwrap_or_else(|| "-".into()),
                if r.updatable { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    let head = [
        "field",
        "type",
        "admin",
        "Outlook CSV",
        "vCard/iCalendar",
        "MAPI",
        "updatable",
    ];
    let mut widths = head.map(str::len);
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(&head.map(String::from));
    for row in &table {
        line(row);
    }
}
