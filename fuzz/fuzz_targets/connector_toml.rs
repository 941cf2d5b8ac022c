//! The connector loader refuses any malformed file with an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = locksmith::connector::Connector::parse("fuzz.toml", text);
    }
});
