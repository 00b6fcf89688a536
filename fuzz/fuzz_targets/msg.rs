//! Fuzz target: the Outlook .msg reader on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = smsync::codec::msg::read(data);
});
