//! Any target URL an operator can type is parsed or refused without a panic,
//! and neither a refusal nor the parsed target's display echoes a password back.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// Where the password of `scheme://user:PASSWORD@host…` stands in the input, if it has one.
fn url_password(raw: &str) -> Option<std::ops::Range<usize>> {
    let start = raw.find("://")? + 3;
    let rest = &raw[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let colon = userinfo.find(':')?;
    let range = start + colon + 1..start + userinfo.len();
    (!range.is_empty()).then_some(range)
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
    let Some(at) = url_password(raw) else {
        return;
    };
    let password = &raw[at.clone()];
    // `***` is the mask itself: it shows because the password was masked. The
    // URL parser drops tabs and line breaks anywhere, so with one in the
    // password the text and the parser disagree on what the password is.
    if password.chars().all(|c| c == '*') || password.contains(['\t', '\n', '\r']) {
        return;
    }
    if !text.contains(password) {
        return;
    }
    // The same text stands elsewhere in the input (a host equal to the
    // password): what is shown cannot be told apart from the password.
    let outside = format!("{}{}", &raw[..at.start], &raw[at.end..]);
    if outside.contains(password) {
        return;
    }
    // The text may hold the same characters for another reason (a word of the
    // message, the host): it is an echo when another password of the same
    // length would not be there.
    let other: String = password
        .chars()
        .map(|c| if c == '\u{7}' { '\u{8}' } else { '\u{7}' })
        .collect();
    // Replace the password where it stands (the same text elsewhere, e.g. in
    // the user name, stays, so it still shows if that is where it came from).
    let masked = format!("{}{other}{}", &raw[..at.start], &raw[at.end..]);
    assert!(
        said(&masked).contains(password),
        "the URL's password came back in: {text}"
    );
});
