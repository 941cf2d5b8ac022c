//! Any target URL an operator can type is parsed or refused without a panic,
//! and neither a refusal nor the parsed target's display echoes a password back.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The password in `scheme://user:PASSWORD@host…`, if the input has one.
fn url_password(raw: &str) -> Option<&str> {
    let rest = &raw[raw.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// What locksmith says about a URL: the refusal, or the target as displayed.
fn said(raw: &str) -> String {
    match locksmith::backend::Target::parse(raw) {
        Ok(t) => t.display(),
        Err(e) => e.to_string(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let text = said(raw);
    let Some(password) = url_password(raw) else {
        return;
    };
    if !text.contains(password) {
        return;
    }
    // The text may hold the same characters for another reason (a word of the
    // message, the host): it is an echo when another password of the same
    // length would not be there.
    let other: String = password
        .chars()
        .map(|c| if c == '\u{7}' { '\u{8}' } else { '\u{7}' })
        .collect();
    let masked = raw.replacen(password, &other, 1);
    assert!(
        said(&masked).contains(password),
        "the URL's password came back in: {text}"
    );
});
