//! Fuzz target: the Outlook CSV reader on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = smsync::codec::outlook_csv::read(data, &smsync::codec::text::DateFormat::default());
});
