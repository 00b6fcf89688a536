//! Localized Outlook CSV (issue 15): one real-shaped sheet per language, typed from the
//! cited sources (`tests/fixtures/outlook-csv/`), read in its code page; every language's
//! written sheets read back in several encodings; strict short dates (defect 5); Outlook's
//! own vCards named in the rejection reason.

mod common;

use std::fs;
use std::path::Path;

use chrono::NaiveDate;
use common::*;
use smsync::codec::item::{Field, Item};
use smsync::codec::outlook_csv::{self, Codec, Encoding, Language, Sheet, Sink};
use smsync::codec::text::DateFormat;
use smsync::export::{Layout, Options as ExportOptions, export_profile};
use smsync::ingest::{Options, ingest};
use smsync::model::{Key, Kind};
use smsync::store::Store;

const FIXTURES: &str = "tests/fixtures/outlook-csv";
const DANA: &str = "Dana Whitfield";

/// A fixture (typed in UTF-8) in the bytes `encoding` gives it, as Outlook writes it:
/// UTF-16 and UTF-8 with a BOM, a code page without one. Encoded here with encoding_rs,
/// not by the code under test.
fn fixture_in(name: &str, encoding: &str) -> Vec<u8> {
    let text = fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap();
    match encoding {
        "utf-8" => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        "utf-16" => {
            let mut out = b"\xFF\xFE".to_vec();
            out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            out
        }
        cp => {
            let enc = encoding_rs::Encoding::for_label(cp.as_bytes()).unwrap();
            let (bytes, _, bad) = enc.encode(&text);
            assert!(!bad, "{name} cannot be written in {cp}");
            bytes.into_owned()
        }
    }
}

fn text(item: &Item, name: &str) -> String {
    item.get(name).map(Field::to_text).unwrap_or_default()
}

#[test]
fn every_language_reads_its_real_shaped_contacts_sheet() {
    // (fixture language, the encoding Outlook writes it in, the language smsync detects)
    let cases = [
        ("en", "windows-1252", Language::En),
        ("de", "windows-1252", Language::De),
        ("fr", "windows-1252", Language::Fr),
        ("es", "windows-1252", Language::Es),
        ("it", "utf-16", Language::It),
        ("nl", "windows-1252", Language::Nl),
        ("pt-BR", "windows-1252", Language::PtBr),
        ("pl", "windows-1250", Language::Pl),
        // No source gives Swedish names: its sheet is written and read in English.
        ("sv", "utf-8", Language::En),
        ("ja", "shift_jis", Language::Ja),
    ];
    for (code, encoding, want) in cases {
        let bytes = fixture_in(&format!("{code}-contacts.csv"), encoding);
        let read = outlook_csv::read(&bytes, &DateFormat::default())
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(read.sheet, Sheet::Contacts, "{code}");
        assert_eq!(read.language, want, "{code}");
        assert_eq!(read.encoding, encoding, "{code}");
        assert_eq!(read.items.len(), 1, "{code}");
        let item = read.items[0]
            .item
            .as_ref()
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(item.key, Some(Key::new(Kind::User, 1)), "{code}");
        assert!(
            item.has_update(),
            "{code}: categories {:?}",
            item.categories()
        );
        assert_eq!(text(item, "email"), "dana@example.com", "{code}");
        let (first, last, job, notes) = match code {
            "pl" => ("Dana", "Łukasiewicz", "Kierownik", "Notatka żółta"),
            "ja" => ("花子", "山田", "部長", "メモです"),
            _ => ("Dana", "Weiß", "Café Manager", "Notes with ß"),
        };
        assert_eq!(text(item, "first_name"), first, "{code}");
        assert_eq!(text(item, "last_name"), last, "{code}");
        // French `Titre` is the title (first) and the job title (second).
        assert_eq!(text(item, "job_title"), job, "{code}");
        assert_eq!(text(item, "notes"), notes, "{code}");
        assert!(!text(item, "mobile").is_empty(), "{code}: mobile");
        assert!(!text(item, "phone").is_empty(), "{code}: business phone");
        assert!(
            read.unknown_columns.is_empty() || read.unknown_columns.iter().all(|c| c == "User 1"),
            "{code}: {:?}",
            read.unknown_columns
        );
    }
}

#[test]
fn localized_and_english_task_sheets_read() {
    let nl = fixture_in("nl-tasks.csv", "windows-1252");
    let read = outlook_csv::read(&nl, &DateFormat::parse("D-M-YYYY").unwrap()).unwrap();
    assert_eq!((read.sheet, read.language), (Sheet::Tasks, Language::Nl));
    let item = read.items[0].item.as_ref().unwrap();
    assert_eq!(item.key, Some(Key::new(Kind::Si, 1001)));
    assert_eq!(text(item, "description"), "Printer repareren");
    assert_eq!(item.date("start"), NaiveDate::from_ymd_opt(2026, 11, 2));
    assert!(item.has_update());
    // French tasks: no source names them, so the English names are read (and written).
    let fr = fixture_in("fr-tasks.csv", "windows-1252");
    let read = outlook_csv::read(&fr, &DateFormat::parse("DD/MM/YYYY").unwrap()).unwrap();
    assert_eq!(read.sheet, Sheet::Tasks);
    let item = read.items[0].item.as_ref().unwrap();
    assert_eq!(text(item, "description"), "Réparer l’imprimante");
    assert_eq!(item.date("start"), NaiveDate::from_ymd_opt(2026, 11, 2));
}

fn user_item(last: &str) -> Item {
    let f = |n| smsync::fields::get(Kind::User, n).unwrap();
    Item {
        kind: Kind::User,
        key: Some(Key::new(Kind::User, 7)),
        uid: None,
        values: vec![
            (f("key"), Field::Text("SM-U7".into())),
            (f("first_name"), Field::Text("Dana".into())),
            (f("last_name"), Field::Text(last.into())),
            (f("job_title"), Field::Text("Lead".into())),
            (f("mobile"), Field::Text("+1 555 0199".into())),
            (f("email"), Field::Text("dana@example.com".into())),
            (f("notes"), Field::Text("two\r\nlines, \"quoted\"".into())),
            (
                f("category"),
                Field::List(vec!["Acme".into(), "!Update".into()]),
            ),
        ],
        modified: None,
    }
}

fn task_item() -> Item {
    let f = |n| smsync::fields::get(Kind::Si, n).unwrap();
    Item {
        kind: Kind::Si,
        key: Some(Key::new(Kind::Si, 1001)),
        uid: None,
        values: vec![
            (f("key"), Field::Text("SI-1001".into())),
            (f("description"), Field::Text("Fix the printer".into())),
            (
                f("start"),
                Field::Date(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()),
            ),
            (f("status"), Field::Text("In Progress".into())),
            (f("category"), Field::List(vec!["!Update".into()])),
        ],
        modified: None,
    }
}

fn write(sheet: Sheet, lang: Language, encoding: Encoding, item: &Item) -> Vec<u8> {
    let codec = Codec::with_language(sheet, DateFormat::default(), lang);
    let row = codec.row(item);
    assert!(codec.check(&row, encoding).is_empty(), "{lang} {encoding}");
    let mut sink = Sink::with_header(Vec::new(), codec.header(), encoding).unwrap();
    sink.row(&row).unwrap();
    sink.finish().unwrap()
}

#[test]
fn written_sheets_read_back_in_every_language_and_encoding() {
    for lang in Language::ALL {
        let (code_page, last) = match lang {
            Language::Pl => (Encoding::Windows1250, "Łukasiewicz"),
            Language::Ja => (Encoding::ShiftJis, "山田"),
            _ => (Encoding::Windows1252, "Müller"),
        };
        // Swedish has no table: it is written, and so read, in English.
        let detected = if lang == Language::Sv {
            Language::En
        } else {
            lang
        };
        for encoding in [Encoding::Utf8Bom, code_page, Encoding::Utf16] {
            let want = user_item(last);
            let bytes = write(Sheet::Contacts, lang, encoding, &want);
            let read = outlook_csv::read(&bytes, &DateFormat::default()).unwrap();
            assert_eq!(
                (read.sheet, read.language),
                (Sheet::Contacts, detected),
                "{lang} {encoding}"
            );
            let got = read.items[0]
                .item
                .as_ref()
                .unwrap_or_else(|e| panic!("{lang} {encoding}: {e}"));
            assert_eq!(got.key, want.key, "{lang} {encoding}");
            for (f, v) in want.values.iter().filter(|(f, _)| f.name != "key") {
                let got_v = got.get(f.name).map(Field::to_text);
                let want_v = match v {
                    Field::List(l) => l.join(","),
                    v => v.to_text(),
                };
                assert_eq!(
                    got_v.as_deref(),
                    Some(want_v.as_str()),
                    "{lang} {encoding} {}",
                    f.name
                );
            }
            let bytes = write(Sheet::Tasks, lang, encoding, &task_item());
            let read = outlook_csv::read(&bytes, &DateFormat::default()).unwrap();
            assert_eq!(read.sheet, Sheet::Tasks, "{lang} {encoding}");
            let got = read.items[0].item.as_ref().unwrap();
            assert_eq!(got.key, Some(Key::new(Kind::Si, 1001)), "{lang} {encoding}");
            assert_eq!(text(got, "description"), "Fix the printer");
            assert_eq!(got.date("start"), NaiveDate::from_ymd_opt(2026, 11, 2));
            assert_eq!(text(got, "status"), "In Progress");
        }
    }
}

#[test]
fn written_headers_are_localized_where_a_source_names_the_column() {
    let fr = Codec::with_language(Sheet::Contacts, DateFormat::default(), Language::Fr);
    let h = fr.header();
    assert_eq!(h.len(), 92);
    assert_eq!((h[0], h[7]), ("Titre", "Titre"));
    assert!(h.contains(&"Utilisateur 1") && h.contains(&"Tél. mobile"));
    let es = Codec::with_language(Sheet::Contacts, DateFormat::default(), Language::Es);
    for kept in ["Mobile Phone", "E-mail Address", "Notes"] {
        assert!(es.header().contains(&kept), "{kept}");
    }
    assert!(es.header().contains(&"Apellidos"));
    // English stays byte for byte what it was.
    let en = Codec::new(Sheet::Contacts, DateFormat::default());
    assert_eq!(en.header(), outlook_csv::CONTACTS_HEADER);
    // Tasks without a source: English.
    let fr_tasks = Codec::with_language(Sheet::Tasks, DateFormat::default(), Language::Fr);
    assert_eq!(fr_tasks.header(), outlook_csv::TASKS_HEADER);
}

#[test]
fn every_localized_header_fits_its_languages_code_page() {
    for lang in Language::ALL {
        let cp = match lang {
            Language::Pl => Encoding::Windows1250,
            Language::Ja => Encoding::ShiftJis,
            _ => Encoding::Windows1252,
        };
        for sheet in [Sheet::Contacts, Sheet::Tasks] {
            for h in sheet.header_in(lang) {
                assert!(h.chars().all(|c| cp.holds(c)), "{lang}: '{h}' in {cp}");
            }
        }
    }
}

#[test]
fn unencodable_characters_are_named_by_item_column_and_character() {
    let mut item = user_item("Müller");
    let notes = smsync::fields::get(Kind::User, "notes").unwrap();
    item.values.push((notes, Field::Text("Łódź 東京".into())));
    item.values
        .retain(|(f, v)| f.name != "notes" || v.to_text().contains('Ł'));
    let cases = [
        (
            Language::Fr,
            Encoding::Windows1252,
            "Notes",
            vec!['Ł', 'ź', '東', '京'],
        ),
        (
            Language::Pl,
            Encoding::Windows1250,
            "Notatki",
            vec!['東', '京'],
        ),
        (
            Language::Ja,
            Encoding::ShiftJis,
            "メモ",
            vec!['Ł', 'ó', 'ź'],
        ),
    ];
    for (lang, enc, column, chars) in cases {
        let codec = Codec::with_language(Sheet::Contacts, DateFormat::default(), lang);
        let row = codec.row(&item);
        let bad = codec.check(&row, enc);
        // The last name Müller: Shift_JIS has no ü.
        let notes_bad: Vec<char> = bad
            .iter()
            .filter(|b| b.column == column)
            .map(|b| b.ch)
            .collect();
        assert_eq!(notes_bad, chars, "{lang} {enc}: {bad:?}");
        assert!(codec.check(&row, Encoding::Utf16).is_empty());
        assert!(codec.check(&row, Encoding::Utf8Bom).is_empty());
    }
}

#[test]
fn language_and_encoding_names_parse() {
    for l in Language::ALL {
        assert_eq!(l.code().parse::<Language>(), Ok(l));
    }
    assert_eq!(
        [
            "en", "de", "fr", "es", "it", "nl", "pt-BR", "pl", "sv", "ja"
        ],
        Language::ALL.map(Language::code)
    );
    assert_eq!("PT_br".parse::<Language>(), Ok(Language::PtBr));
    let err = "klingon".parse::<Language>().unwrap_err();
    assert!(
        err.contains("klingon") && err.contains("en, de, fr, es, it, nl, pt-BR, pl, sv, ja"),
        "{err}"
    );
    for (name, enc) in [
        ("utf-8", Encoding::Utf8Bom),
        ("windows-1252", Encoding::Windows1252),
        ("cp1252", Encoding::Windows1252),
        ("windows-1250", Encoding::Windows1250),
        ("shift_jis", Encoding::ShiftJis),
        ("utf-16", Encoding::Utf16),
    ] {
        assert_eq!(Encoding::parse(name), Some(enc), "{name}");
    }
    assert_eq!(Encoding::parse("koi8-r"), None);
    assert_eq!(ExportOptions::default().csv_language, Language::En);
}

// Defect 5: dates are misread.

#[test]
fn a_date_in_another_format_is_refused_naming_row_column_value_and_format() {
    let sheet = "\"Subject\",\"Start Date\",\"Billing Information\"\r\n\
                 \"ok\",\"07.03.2026\",\"SI-1001\"\r\n\
                 \"us\",\"12/1/2027\",\"SI-1002\"\r\n\
                 \"range\",\"31.02.2027\",\"SI-1003\"\r\n\
                 \"order\",\"2027.12.01\",\"SI-1004\"\r\n";
    let de = DateFormat::parse("DD.MM.YYYY").unwrap();
    let read = outlook_csv::read(sheet.as_bytes(), &de).unwrap();
    let ok = read.items[0].item.as_ref().unwrap();
    assert_eq!(ok.date("start"), NaiveDate::from_ymd_opt(2026, 3, 7));
    for (i, value) in [(1, "12/1/2027"), (2, "31.02.2027"), (3, "2027.12.01")] {
        let inc = &read.items[i];
        assert_eq!(inc.source, format!("row {}", i + 2));
        let err = inc.item.as_ref().unwrap_err();
        for part in ["Start Date", value, "DD.MM.YYYY"] {
            assert!(err.contains(part), "{part} in {err}");
        }
    }
    // Under the US format the same text is a date, and ISO is read under any format.
    let us = DateFormat::default();
    assert_eq!(
        us.read("12/1/2027").unwrap(),
        NaiveDate::from_ymd_opt(2027, 12, 1)
    );
    assert_eq!(
        de.read("2027-12-01").unwrap(),
        NaiveDate::from_ymd_opt(2027, 12, 1)
    );
    assert!(us.read("12.1.2027").is_err(), "separators must match");
    assert!(us.read("12/1/27").is_err(), "YYYY needs four digits");
    assert!(us.read("12/1/2027 x").is_err());
}

#[test]
fn an_exported_date_read_under_another_format_is_not_an_edit() {
    let (d, mut s) = sample_store();
    let drop = d.path().join("drop");
    let si = Key::new(Kind::Si, 1001);
    set(&mut s, si, &[("start", "2026-11-02")]);
    let p = s.profile(DANA).unwrap();
    export_profile(&mut s, &p, &drop, &ExportOptions::default(), &mut || {}).unwrap();
    let l = Layout::new(&drop, DANA);
    // The user only tags every task !Update; the dates are as exported (M/D/YYYY).
    let mut rd = csv::Reader::from_path(l.outlook.join("tasks.csv")).unwrap();
    let header = rd.headers().unwrap().clone();
    let cat = header.iter().position(|c| c == "Categories").unwrap();
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    out.write_record(&header).unwrap();
    for r in rd.records() {
        let mut row: Vec<String> = r.unwrap().iter().map(str::to_string).collect();
        row[cat] = format!("{};!Update", row[cat]);
        out.write_record(&row).unwrap();
    }
    fs::create_dir_all(&l.inbox).unwrap();
    fs::write(l.inbox.join("tasks.csv"), out.into_inner().unwrap()).unwrap();
    let opts = Options {
        dates: DateFormat::parse("D/M/YYYY").unwrap(),
        ..Default::default()
    };
    let p = s.profile(DANA).unwrap();
    let r = ingest(&mut s, &p, &drop, &[], &opts).unwrap();
    assert_eq!(
        s.get(si).unwrap().get("start").as_date(),
        NaiveDate::from_ymd_opt(2026, 11, 2),
        "{r:?}"
    );
    for i in &r.files[0].items {
        assert!(
            i.fields
                .iter()
                .all(|f| f.field != "start" || f.decision != smsync::rules::Decision::Applied),
            "{i:?}"
        );
    }
    // Not in silence: the item reports the date it took for the exported one.
    let item = r.files[0]
        .items
        .iter()
        .find(|i| i.key.as_deref() == Some("SI-1001"))
        .expect("SI-1001 in the report");
    let note = item
        .fields
        .iter()
        .find(|f| f.field == "start")
        .expect("a note on start");
    assert_eq!(note.decision, smsync::rules::Decision::Ignored);
    assert!(note.reason.contains("day and month"), "{note:?}");
}

// Outlook's own vCards.

#[test]
fn outlook_vcards_are_refused_saying_which_formats_bring_edits_back() {
    let (d, mut s) = sample_store();
    let drop = d.path().join("drop");
    let l = Layout::new(&drop, DANA);
    fs::create_dir_all(&l.inbox).unwrap();
    // What Outlook writes when a contact is saved as a vCard: no UID, no CATEGORIES.
    let card = "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Whitfield;Dana\r\nFN:Dana Whitfield\r\n\
                TEL;WORK;VOICE:+1 555 0100\r\nREV:20260101T000000Z\r\nEND:VCARD\r\n";
    fs::write(l.inbox.join("Dana Whitfield.vcf"), card).unwrap();
    let p = s.profile(DANA).unwrap();
    let r = ingest(&mut s, &p, &drop, &[], &Options::default()).unwrap();
    let f = &r.files[0];
    let reason = f.items[0].reason.clone().unwrap_or_default();
    for part in ["no UID", "Outlook's own vCards", "CSV", "PST", ".msg"] {
        assert!(reason.contains(part), "{part} in {reason}");
    }
    assert!(
        f.notes.iter().any(|n| n.contains("Outlook's own vCards")),
        "{:?}",
        f.notes
    );
    assert_eq!(f.outcome, smsync::ingest::FileOutcome::Rejected, "{f:?}");
    // rejected/<date>/<name>.error.txt
    let err = fs::read_dir(&l.rejected)
        .unwrap()
        .flat_map(|day| fs::read_dir(day.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".error.txt"))
        .expect("an error file");
    let text = fs::read_to_string(err).unwrap();
    assert!(
        text.contains("CSV export, a PST file or .msg items"),
        "{text}"
    );
}
