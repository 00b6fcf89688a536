//! Every reader on every fixture, fuzz seed and fuzz regression file, whatever its format:
//! a reader may refuse input, never panic. Inputs that once crashed a reader under the
//! fuzzer go to fuzz/regressions/<target>/ and are run here by CI.

use std::fs;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            out.push(p);
        }
    }
}

#[test]
fn no_reader_panics_on_any_known_input() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = Vec::new();
    for dir in ["tests/fixtures/corpus", "fuzz/seeds", "fuzz/regressions"] {
        files(&root.join(dir), &mut inputs);
    }
    inputs.retain(|p| p.extension().is_none_or(|e| e != "md"));
    assert!(inputs.len() >= 20, "{}", inputs.len());
    let dates = smsync::codec::text::DateFormat::default();
    for p in &inputs {
        let bytes = fs::read(p).unwrap();
        let (text, _) = smsync::codec::text::decode(&bytes);
        let _ = smsync::codec::outlook_csv::read(&bytes, &dates);
        let _ = smsync::codec::vcard::read::read(&text);
        let _ = smsync::codec::ical::read::read(&text);
        let _ = smsync::codec::msg::read(&bytes);
        // A PST is read the way ingest reads it: in a child process first, because a
        // damaged one can overflow outlook-pst's stack, which no test could survive.
        let _ = smsync::codec::pst::read_isolated(
            p,
            Path::new(env!("CARGO_BIN_EXE_smsync")),
            smsync::codec::pst::CHECK_TIMEOUT,
        );
        // Truncations are the commonest damage: every reader on the first half too.
        let half = &bytes[..bytes.len() / 2];
        let _ = smsync::codec::outlook_csv::read(half, &dates);
        let _ = smsync::codec::msg::read(half);
        let (text, _) = smsync::codec::text::decode(half);
        let _ = smsync::codec::vcard::read::read(&text);
        let _ = smsync::codec::ical::read::read(&text);
    }
}

/// The fuzzer's inputs stay under a few kilobytes, so it cannot build deep nesting; an
/// inbox file may hold 100 MB of it. Each reader runs on a thread with a small stack: one
/// that recursed per nesting level would overflow it (and abort the test run).
#[test]
fn deeply_nested_input_does_not_exhaust_the_stack() {
    const LEVELS: usize = 50_000;
    let mut ics = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:SI-1\r\n");
    ics.push_str(&"BEGIN:VALARM\r\n".repeat(LEVELS));
    ics.push_str(&"END:VALARM\r\n".repeat(LEVELS));
    ics.push_str("SUMMARY:deep\r\nEND:VTODO\r\nEND:VCALENDAR\r\n");
    let mut vcf = "BEGIN:VCARD\r\nVERSION:2.1\r\n".repeat(LEVELS);
    vcf.push_str("FN:deep\r\nUID:SM-U1\r\n");
    vcf.push_str(&"END:VCARD\r\n".repeat(LEVELS));
    let csv = format!(
        "Subject,Categories\r\n\"{}\",!Update\r\n",
        "\"\"".repeat(LEVELS)
    );
    let small_stack = |f: Box<dyn FnOnce() -> usize + Send>| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .expect("the reader panicked")
    };
    let tasks = small_stack(Box::new(move || {
        smsync::codec::ical::read::read(&ics).len()
    }));
    assert!(tasks >= 1, "the VTODO around the alarms is read");
    let cards = small_stack(Box::new(move || {
        smsync::codec::vcard::read::read(&vcf).len()
    }));
    assert!(cards >= 1);
    let rows = small_stack(Box::new(move || {
        let dates = smsync::codec::text::DateFormat::default();
        smsync::codec::outlook_csv::read(csv.as_bytes(), &dates)
            .map(|read| read.items.len())
            .unwrap_or(0)
    }));
    assert_eq!(rows, 1);
}
