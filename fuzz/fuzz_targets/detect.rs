//! Any stored value, however malformed, is classified without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = std::str::from_utf8(data) {
        let _ = locksmith::schemes::detect(value);
    }
});
