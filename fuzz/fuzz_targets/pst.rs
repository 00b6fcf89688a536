//! Fuzz target: the PST reader (it reads from a path, so the bytes go to a temp file).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(data).expect("write");
    let _ = smsync::codec::pst::read(f.path());
});
