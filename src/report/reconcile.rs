//! The findings of `smsync reconcile` as one self-contained HTML page (maud: every value
//! escaped; no script, no external style, font or image): the files read, the four lists
//! with each item's key, name and reason (a mismatched item with both values of each
//! field), unreadable items with the reader's reason, and the cleanup package.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::reconcile::Report;
use crate::reconcile::plan::Finding;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1em}\
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.bad{color:#a00}.warn{color:#a60}.ok{color:#060}\
pre{white-space:pre-wrap;margin:0;font-size:90%}";

/// The page.
pub fn render(r: &Report) -> String {
    let f = &r.findings;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "smsync reconcile: " (r.profile) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "Reconcile of profile " span.profile { (r.profile) } }
                p { "Run " code { (r.run) } ", " (r.generated) "." }
                h2 { "Files compared" }
                table id="inputs" {
                    tr { th { "file" } th { "read as" } th { "items" } th { "notes" } }
                    @for i in &r.inputs {
                        tr {
                            td { code { (i.file) } } td { (i.format) } td { (i.items) }
                            td { @for n in &i.notes { (n) br; } }
                        }
                    }
                }
                p {
                    "Compared "
                    @if f.compared.contacts { "contacts " }
                    @if f.compared.tasks { "tasks " }
                    "against " (f.counts.expected) " synced item(s); "
                    (f.counts.personal) " keyless item(s) of the user's own left alone; "
                    (f.counts.updates) " item(s) with !Update left for ingest."
                }
                @if f.is_clean() {
                    p.ok { "Outlook holds exactly the synced set: nothing to clean up." }
                }
                (list("duplicates", "Duplicates", &f.duplicates))
                (list("stale", "Stale", &f.stale))
                (list("missing", "Missing", &f.missing))
                (list("mismatched", "Mismatched", &f.mismatched))
                h2 { "Unreadable: " (f.unreadable.len()) }
                @if !f.unreadable.is_empty() {
                    table id="unreadable" {
                        tr { th { "file" } th { "where" } th { "kind" } th { "fields" } th { "reason" } }
                        @for u in &f.unreadable {
                            tr {
                                td { code { (u.file) } } td { (u.source) } td { (u.kind) }
                                td { @for (k, v) in &u.fields {
                                    (k) ": " (v.as_str().unwrap_or_default()) br;
                                } }
                                td.reason { (u.error) }
                            }
                        }
                    }
                }
                h2 { "Cleanup package" }
                @match &r.package {
                    Some(p) => {
                        p { "Written to " code { (p.dir.display().to_string()) }
                            "; follow its README.txt, in order:" }
                        ul { @for file in &p.files { li { code { (file) } } } }
                        @if !p.left_out.is_empty() {
                            p.warn { "Left out of the import sheets:" }
                            ul { @for l in &p.left_out { li { (l) } } }
                        }
                    }
                    None => p { "None: nothing needs doing." }
                }
            }
        }
    };
    page.into_string()
}

fn list(id: &str, title: &str, items: &[Finding]) -> Markup {
    html! {
        h2 { (title) ": " (items.len()) }
        @if !items.is_empty() {
            table id=(id) {
                tr { th { "key" } th { "name" } th { "where" } th { "reason" } th { "fields (database / Outlook)" } }
                @for x in items {
                    tr.finding {
                        td.key { (x.key.as_deref().unwrap_or("(no key)")) }
                        td.name { (x.name) }
                        td { @if let (Some(file), Some(src)) = (&x.file, &x.source) {
                            code { (file) } " " (src)
                        } }
                        td.reason { (x.reason) }
                        td { @for d in &x.fields {
                            b { (d.field) } ": " (d.database) " / " (d.outlook) br;
                        } }
                    }
                }
            }
        }
    }
}
