//! Fuzz target: the iCalendar VTODO reader (after the same decoding ingest does).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, _) = smsync::codec::text::decode(data);
    let _ = smsync::codec::ical::read::read(&text);
});
