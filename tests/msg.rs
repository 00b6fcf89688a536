//! Outlook .msg items (MS-OXMSG) as ingest inputs: the corpus files read without panic, and
//! .msg files built here with `cfb` (a task with `!Update` and a Billing Information key, a
//! contact edit) flow through the same rules as CSV.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::*;
use smsync::export::{Layout, Options as ExportOptions, export_profile};
use smsync::ingest::{Options, ingest};
use smsync::model::{Key, Kind};
use smsync::store::Store;

const DANA: &str = "Dana Whitfield";

/// A property set GUID in the byte order a .msg stores it (Data1..3 little-endian).
fn guid(s: &str) -> Vec<u8> {
    let h: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&s.replace('-', "")[i * 2..i * 2 + 2], 16).unwrap())
        .collect();
    let mut g = vec![h[3], h[2], h[1], h[0], h[5], h[4], h[7], h[6]];
    g.extend_from_slice(&h[8..]);
    g
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

enum Val {
    Text(&'static str),
    Texts(Vec<&'static str>),
    Int(i32),
    /// Microseconds since the Unix epoch.
    Time(i64),
}

/// Writes a .msg with the given class and properties; ids from 0x8000 are named properties
/// declared in `named` in order: (GUID, numeric id or string name).
fn build_msg(path: &Path, props: &[(u16, Val)], named: &[(&str, Result<u32, &str>)]) {
    let mut cf = cfb::create(path).unwrap();
    let mut table = vec![0u8; 32];
    let put = |cf: &mut cfb::CompoundFile<fs::File>, name: String, bytes: &[u8]| {
        cf.create_stream(&name).unwrap().write_all(bytes).unwrap();
    };
    for (id, v) in props {
        let (ty, inline): (u16, [u8; 8]) = match v {
            Val::Text(s) => {
                let b = utf16z(s);
                put(&mut cf, format!("/__substg1.0_{id:04X}001F"), &b);
                let mut inline = [0u8; 8];
                inline[..4].copy_from_slice(&(b.len() as u32).to_le_bytes());
                (0x001F, inline)
            }
            Val::Texts(list) => {
                let mut lengths = Vec::new();
                for (i, s) in list.iter().enumerate() {
                    let b = utf16z(s);
                    lengths.extend((b.len() as u32).to_le_bytes());
                    put(&mut cf, format!("/__substg1.0_{id:04X}101F-{i:08X}"), &b);
                }
                put(&mut cf, format!("/__substg1.0_{id:04X}101F"), &lengths);
                let mut inline = [0u8; 8];
                inline[..4].copy_from_slice(&(lengths.len() as u32).to_le_bytes());
                (0x101F, inline)
            }
            Val::Int(n) => {
                let mut inline = [0u8; 8];
                inline[..4].copy_from_slice(&n.to_le_bytes());
                (0x0003, inline)
            }
            Val::Time(us) => {
                let ft = ((us + 11_644_473_600_000_000) * 10) as u64;
                (0x0040, ft.to_le_bytes())
            }
        };
        table.extend(((*id as u32) << 16 | ty as u32).to_le_bytes());
        table.extend(6u32.to_le_bytes());
        table.extend(inline);
    }
    put(&mut cf, "/__properties_version1.0".into(), &table);
    cf.create_storage("/__nameid_version1.0").unwrap();
    let (mut guids, mut entries, mut strings) = (Vec::new(), Vec::new(), Vec::new());
    let ps_public_strings = guid("00020329-0000-0000-C000-000000000046");
    for (i, (g, name)) in named.iter().enumerate() {
        let g = guid(g);
        let index = if g == ps_public_strings {
            2
        } else {
            if !guids.chunks(16).any(|c: &[u8]| c == g.as_slice()) {
                guids.extend(&g);
            }
            3 + guids
                .chunks(16)
                .position(|c: &[u8]| c == g.as_slice())
                .unwrap() as u32
        };
        let (first, kind) = match name {
            Ok(lid) => (*lid, 0),
            Err(s) => {
                let off = strings.len() as u32;
                let b: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
                strings.extend((b.len() as u32).to_le_bytes());
                strings.extend(&b);
                while strings.len() % 4 != 0 {
                    strings.push(0);
                }
                (off, 1)
            }
        };
        entries.extend(first.to_le_bytes());
        entries.extend(((i as u32) << 16 | index << 1 | kind).to_le_bytes());
    }
    put(
        &mut cf,
        "/__nameid_version1.0/__substg1.0_00020102".into(),
        &guids,
    );
    put(
        &mut cf,
        "/__nameid_version1.0/__substg1.0_00030102".into(),
        &entries,
    );
    put(
        &mut cf,
        "/__nameid_version1.0/__substg1.0_00040102".into(),
        &strings,
    );
    cf.flush().unwrap();
}

const PUBLIC: &str = "00020329-0000-0000-C000-000000000046";
const COMMON: &str = "00062008-0000-0000-C000-000000000046";
const TASK: &str = "00062003-0000-0000-C000-000000000046";
const ADDRESS: &str = "00062004-0000-0000-C000-000000000046";

fn inbox(drop: &Path) -> std::path::PathBuf {
    let p = Layout::new(drop, DANA).inbox;
    fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn corpus_msg_files_are_read_without_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut n = 0;
    for e in fs::read_dir(&corpus).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "msg") {
            let items = smsync::codec::msg::read(&fs::read(&p).unwrap()).unwrap();
            assert_eq!(items.len(), 1, "{}", p.display());
            n += 1;
        }
    }
    assert_eq!(n, 5);
    // MapiTask.msg keeps its categories in the named property Keywords.
    let m = smsync::codec::msg::Message::parse(
        &fs::read(corpus.join("aspose-net__MapiTask.msg")).unwrap(),
    )
    .unwrap();
    assert_eq!(m.class(), "IPM.Task");
    let kw = m.get(smsync::mapi::MapiId::Name(
        smsync::mapi::PropSet::PublicStrings,
        "Keywords",
    ));
    assert_eq!(
        kw,
        Some(&smsync::mapi::PropValue::Texts(vec![
            "category1".into(),
            "category2".into(),
            "category3".into()
        ]))
    );
}

#[test]
fn a_msg_task_with_update_applies_and_a_contact_edit_meets_the_conflict_rules() {
    let (d, mut s) = sample_store();
    let drop = d.path().join("drop");
    let p = s.profile(DANA).unwrap();
    export_profile(&mut s, &p, &drop, &ExportOptions::default(), &mut || {}).unwrap();
    let later = smsync::clock::now_micros() + 60_000_000;
    build_msg(
        &inbox(&drop).join("task.msg"),
        &[
            (0x001A, Val::Text("IPM.Task")),
            (
                0x0037,
                Val::Text("Replace the failing switch (from a .msg)"),
            ),
            (
                0x8000,
                Val::Texts(vec!["Acme Industrial Supply", "!Update"]),
            ),
            (0x8001, Val::Text("SI-1001")),
            (0x8002, Val::Int(1)),
            (0x3008, Val::Time(later)),
        ],
        &[
            (PUBLIC, Err("Keywords")),
            (COMMON, Ok(0x8535)),
            (TASK, Ok(0x8101)),
        ],
    );
    // A contact edit whose item is older than a database change of the same field.
    let k = Key::new(Kind::Tech, 1);
    set(&mut s, k, &[("phone", "+1 DB")]);
    let older = s.get(k).unwrap().updated_at - 60_000_000;
    build_msg(
        &inbox(&drop).join("contact.msg"),
        &[
            (0x001A, Val::Text("IPM.Contact")),
            (0x3A08, Val::Text("+1 MSG")),
            (0x3A16, Val::Text("Dell ProSupport")),
            (0x8000, Val::Texts(vec!["Tech Database;!Update"])),
            (0x8001, Val::Text("SM-T1")),
            (0x3008, Val::Time(older)),
        ],
        &[(PUBLIC, Err("Keywords")), (ADDRESS, Ok(0x804F))],
    );
    let p = s.profile(DANA).unwrap();
    let r = ingest(&mut s, &p, &drop, &[], &Options::default()).unwrap();
    // Everything applied, but an edit conflicted: "attention needed".
    assert_eq!(r.exit_code(), smsync::error::exit::ATTENTION, "{r:#?}");
    assert_eq!(
        s.get(Key::new(Kind::Si, 1001)).unwrap().text("description"),
        "Replace the failing switch (from a .msg)"
    );
    assert_eq!(
        s.get(k).unwrap().text("phone"),
        "+1 DB",
        "the database's newer change kept"
    );
    assert_eq!(r.tally.conflicts, 1);
    let formats: Vec<&str> = r.files.iter().map(|f| f.format.as_str()).collect();
    assert_eq!(formats, ["msg", "msg"]);
}

#[test]
fn every_corpus_pst_is_read_without_panic_with_its_contacts() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    // What shared/corpus/MANIFEST.md says each file holds (libpff agrees; see the interop
    // suite, which compares with it file by file).
    for (file, contacts) in [
        ("aspose-net__SampleContacts.pst", 6),
        ("java-libpst__dist-list.pst", 1),
        ("aspose-net__Outlook.pst", 1),
        ("pstsdk__test_ansi.pst", 0),
        ("pstsdk__test_unicode.pst", 0),
        ("go-pst__32-bit.pst", 0),
        ("outlook-pst-crate__Empty.pst", 0),
    ] {
        let items = smsync::codec::pst::read(&corpus.join(file)).unwrap();
        assert_eq!(items.len(), contacts, "{file}: {items:?}");
        for i in &items {
            // Third-party contacts carry no smsync key: refused with their name.
            let e = i.item.as_ref().unwrap_err();
            assert!(e.contains("no key in User 1"), "{file}: {e}");
        }
    }
    let items = smsync::codec::pst::read(&corpus.join("aspose-net__Outlook.pst")).unwrap();
    assert!(items[0].item.as_ref().unwrap_err().contains("Saqib Razzaq"));
}

#[test]
fn a_pst_in_the_inbox_is_filed_with_its_reasons() {
    let (d, mut s) = sample_store();
    let drop = d.path().join("drop");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    fs::copy(
        corpus.join("aspose-net__SampleContacts.pst"),
        inbox(&drop).join("contacts.pst"),
    )
    .unwrap();
    let p = s.profile(DANA).unwrap();
    let r = ingest(&mut s, &p, &drop, &[], &Options::default()).unwrap();
    assert_eq!(r.files[0].format.as_str(), "pst");
    assert_eq!(r.files[0].outcome.as_str(), "rejected");
    assert_eq!(r.tally.refused, 6);
}
