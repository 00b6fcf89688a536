//! The admin report as one self-contained HTML page (maud templates: every value is
//! escaped; no script, no external style, font or image). The activity chart is inline
//! SVG built by the same template, one stacked bar per day.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{Day, ProfileReport, SiteReport};
use crate::store::{RunOutcome, RunRecord};

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1em}\
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.bad{color:#a00}.warn{color:#a60}.ok{color:#060}\
pre{white-space:pre-wrap;margin:0;font-size:90%}\
section.profile{border-top:2px solid #888;margin-top:2em}";

/// The page.
pub fn render(r: &SiteReport) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "smsync report" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "smsync report" }
                p {
                    "Generated " (r.generated) " from " code { (r.database) }
                    ", drop folder " code { (r.drop) } "; the journal's last " (r.days) " day(s)."
                }
                p id="watcher" {
                    @match &r.watcher {
                        Some(pid) => { "A watcher holds the drop folder: pid " (pid) "." }
                        None => span.warn { "No watcher holds the drop folder." }
                    }
                }
                h2 { "Sync activity" }
                (chart(&r.activity))
                h2 { "Profiles" }
                table id="profiles" {
                    tr {
                        th { "profile" } th { "contacts" } th { "tasks" }
                        th { "inbox" } th { "rejected" } th { "last ingest" } th { "last export" }
                    }
                    @for p in &r.profiles {
                        tr.profile-row {
                            td.profile-name { (p.profile) }
                            td { (p.counts.contacts) " synced, " (p.counts.contacts_pending) " pending" }
                            td { (p.counts.tasks) " synced, " (p.counts.tasks_pending) " pending" }
                            td { (p.backlog.files) }
                            td { (p.rejected.len()) }
                            td { (run_cell(p.last_ingest.as_ref())) }
                            td { (run_cell(p.last_export.as_ref())) }
                        }
                    }
                }
                @for p in &r.profiles {
                    (profile(p))
                }
            }
        }
    };
    page.into_string()
}

fn outcome_class(o: RunOutcome) -> &'static str {
    match o {
        RunOutcome::Ok => "ok",
        RunOutcome::Attention => "warn",
        RunOutcome::Failed => "bad",
    }
}

fn run_cell(run: Option<&RunRecord>) -> Markup {
    html! {
        @match run {
            Some(r) => {
                span class=(outcome_class(r.outcome)) { (r.outcome.as_str()) }
                " " (crate::clock::format_micros(r.finished))
            }
            None => "none recorded"
        }
    }
}

fn profile(p: &ProfileReport) -> Markup {
    html! {
        section.profile {
            h2 { "Profile " span.name { (p.profile) } }
            p { (p.employee) ", folder " code { (p.folder) } }
            @let attention = p.attention();
            @if attention.is_empty() {
                p.ok { "Nothing needs attention." }
            } @else {
                ul.attention { @for a in &attention { li.warn { (a) } } }
            }
            table {
                tr { th { "" } th { "stamp" } th { "synced" } th { "pending" } }
                tr {
                    td { "contacts" }
                    td { (p.contacts_stamp.as_deref().unwrap_or("never (full export next)")) }
                    td { (p.counts.contacts) } td { (p.counts.contacts_pending) }
                }
                tr {
                    td { "tasks" }
                    td { (p.tasks_stamp.as_deref().unwrap_or("never (full export next)")) }
                    td { (p.counts.tasks) } td { (p.counts.tasks_pending) }
                }
            }
            h3 { "Inbox backlog: " (p.backlog.files) " file(s)" }
            @if !p.backlog.names.is_empty() {
                p { "Oldest " (p.backlog.oldest.as_deref().unwrap_or("?")) ": "
                    @for (i, n) in p.backlog.names.iter().enumerate() {
                        @if i > 0 { ", " } code { (n) }
                    }
                }
            }
            h3 { "Rejected files: " (p.rejected.len()) }
            @if !p.rejected.is_empty() {
                table.rejected {
                    tr { th { "file" } th { "rejected" } th { "reason" } }
                    @for f in &p.rejected {
                        tr { td { code { (f.file) } } td { (f.at) } td { pre { (f.reason) } } }
                    }
                }
            }
            h3 { "Refused edits and conflicts: " (p.refused.len()) }
            @if !p.refused.is_empty() {
                table.refused {
                    tr { th { "when" } th { "file" } th { "item" } th { "field" }
                         th { "outcome" } th { "Outlook / database" } th { "reason" } }
                    @for e in &p.refused {
                        tr.refused-edit {
                            td { (crate::clock::format_micros(e.at)) }
                            td { (e.file.as_deref().unwrap_or("")) }
                            td.item { (e.item.as_deref().unwrap_or("")) }
                            td { (e.field.as_deref().unwrap_or("")) }
                            td.outcome { (e.outcome) }
                            td { (e.new_value.as_deref().unwrap_or("")) " / "
                                 (e.old_value.as_deref().unwrap_or("")) }
                            td.reason { (e.reason.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            h3 { "Recent runs" }
            @if p.runs.is_empty() {
                p { "None recorded." }
            } @else {
                table.runs {
                    tr { th { "finished" } th { "run" } th { "outcome" } th { "summary" } }
                    @for r in &p.runs {
                        tr {
                            td { (crate::clock::format_micros(r.finished)) }
                            td { (r.kind.as_str()) }
                            td class=(outcome_class(r.outcome)) { (r.outcome.as_str()) }
                            td { (r.summary) }
                        }
                    }
                }
            }
        }
    }
}

/// A stacked bar per day: changes (green), refused (orange), conflicts (red).
fn chart(days: &[Day]) -> Markup {
    const W: u64 = 640;
    const H: u64 = 160;
    const TOP: u64 = 10;
    const BOTTOM: u64 = 20;
    let max = days
        .iter()
        .map(|d| d.changes + d.refused + d.conflicts)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = days.len().max(1) as u64;
    let slot = W / n;
    let bar = (slot * 3 / 4).max(1);
    let scale = |v: u64| v * (H - TOP - BOTTOM) / max;
    let total: u64 = days
        .iter()
        .map(|d| d.changes + d.refused + d.conflicts)
        .sum();
    html! {
        svg id="activity" xmlns="http://www.w3.org/2000/svg" width=(W) height=(H)
            viewBox={"0 0 " (W) " " (H)} role="img" {
            title { "Journal rows per day: " (total) " in all" }
            line x1="0" y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) stroke="#888" {}
            @for (i, d) in days.iter().enumerate() {
                @let x = i as u64 * slot;
                @let mut y = H - BOTTOM;
                @for (v, color, what) in [(d.changes, "#393", "changes"),
                                          (d.refused, "#d80", "refused"),
                                          (d.conflicts, "#c33", "conflicts")] {
                    @let h = scale(v);
                    @if h > 0 {
                        @let top = { y -= h; y };
                        rect x=(x) y=(top) width=(bar) height=(h) fill=(color) {
                            title { (d.day) ": " (v) " " (what) }
                        }
                    }
                }
                @if i == 0 || i + 1 == days.len() {
                    text x=(x) y=(H - 5) font-size="10" { (d.day) }
                }
            }
            text x=(W - 5) y="12" font-size="10" text-anchor="end" { "max " (max) " per day" }
        }
        p { span style="color:#393" { "■ changes " } span style="color:#d80" { "■ refused " }
            span style="color:#c33" { "■ conflicts" } }
    }
}
