//! `locksmith hash detect VALUE`: which formats could a stored value be?
//!
//! Purely structural: nothing is verified, so the candidates are ordered from
//! the most specific reading to the loosest.

use super::bcrypt::bcrypt_shape;
use super::crypt::{CryptKind, parse_crypt};
use super::kingdee::looks_like_fsid;
use super::pbkdf2::{parse_django, parse_passlib};
use super::{Level, is_crypt_char, is_hex_lower};
use argon2::PasswordHash;

/// One possible reading of a stored value.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Candidate {
    /// e.g. "bcrypt"
    pub format: String,
    /// e.g. "prefix $2y$, cost 10"
    pub detail: String,
    /// e.g. ["SuiteCRM","vtiger","CRMEB"]
    pub vendors: Vec<String>,
    /// How much is known about the format (vendor source, third-party, closed).
    pub level: Level,
}

fn cand(format: &str, detail: String, vendors: &[&str]) -> Candidate {
    Candidate {
        format: format.into(),
        detail,
        vendors: vendors.iter().map(|v| (*v).to_string()).collect(),
        level: match format {
            "kingdee-fsid" => Level::ThirdParty,
            "opaque" => Level::Closed,
            _ => Level::VendorSource,
        },
    }
}

/// One way to read a stored value: its candidates, none when the value does not fit.
type Reading = fn(&str) -> Vec<Candidate>;

/// The readings, most specific first; the first that yields a candidate wins.
const READINGS: &[Reading] = &[
    fsid_reading,
    bcrypt_reading,
    argon2_reading,
    crypt_reading,
    passlib_reading,
    django_reading,
    hex_readings,
    stripped_sha512_crypt_reading,
    base64_sha1_reading,
];

/// Who writes bcrypt, by prefix.
const BCRYPT_VENDORS: &[(&str, &[&str])] = &[
    (
        "2y",
        &[
            "SuiteCRM (input md5(password))",
            "vtiger (PHASH)",
            "EspoCRM ≥ 9",
            "Dolibarr",
            "CRMEB",
        ],
    ),
    ("2a", &["RuoYi-Vue (Spring BCryptPasswordEncoder)"]),
];

/// Which digest a hex value of this length is.
const HEX_DIGESTS: &[(usize, &str)] = &[(32, "md5"), (40, "sha1"), (64, "sha256"), (128, "sha512")];

/// Who stores a lowercase hex digest, by digest.
const LOWER_HEX_VENDORS: &[(&str, &[&str])] = &[
    (
        "md5",
        &[
            "WukongCRM Java (md5(login+password+'erp'+salt), 32-hex salt)",
            "WukongCRM PHP (md5(sha1(p)+md5(p+salt)), 4-hex salt)",
            "RuoYi (md5(login+password+salt), 6-hex salt)",
            "Dolibarr legacy (md5(SALT+p))",
            "SuiteCRM/SugarCRM legacy (md5(password))",
        ],
    ),
    ("sha1", &["Dolibarr legacy (sha1(md5(SALT+p)))"]),
];

fn vendors_of(table: &[(&str, &'static [&'static str])], key: &str) -> &'static [&'static str] {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(&[], |(_, vendors)| vendors)
}

/// Candidate formats for any stored value, most specific first.
pub fn detect(value: &str) -> Vec<Candidate> {
    let v = value.trim();
    if v.is_empty() {
        return Vec::new();
    }
    READINGS
        .iter()
        .map(|read| read(v))
        .find(|found| !found.is_empty())
        .unwrap_or_else(|| vec![unrecognised(v)])
}

fn fsid_reading(v: &str) -> Vec<Candidate> {
    if !looks_like_fsid(v) {
        return Vec::new();
    }
    vec![cand(
        "kingdee-fsid",
        "50-char head + 6-bit text of UTF-16LE".into(),
        &["Kingdee K/3 WISE t_User.FSID (third-party)"],
    )]
}

fn bcrypt_reading(v: &str) -> Vec<Candidate> {
    bcrypt_shape(v)
        .map(|(prefix, cost)| {
            cand(
                "bcrypt",
                format!("prefix ${prefix}$, cost {cost}"),
                vendors_of(BCRYPT_VENDORS, prefix),
            )
        })
        .into_iter()
        .collect()
}

fn argon2_reading(v: &str) -> Vec<Candidate> {
    if !v.starts_with("$argon2") {
        return Vec::new();
    }
    let Ok(h) = PasswordHash::new(v) else {
        return Vec::new();
    };
    let params: Vec<String> = h
        .params
        .iter()
        .map(|(k, val)| format!("{k}={val}"))
        .collect();
    vec![cand(
        "argon2",
        format!(
            "{} v={} {}",
            h.algorithm,
            h.version.map_or_else(|| "?".into(), |x| x.to_string()),
            params.join(",")
        ),
        &["PHP password_hash(PASSWORD_ARGON2ID)"],
    )]
}

fn crypt_reading(v: &str) -> Vec<Candidate> {
    let Some(p) = parse_crypt(v) else {
        return Vec::new();
    };
    let rounds = p
        .rounds
        .map_or_else(String::new, |r| format!(", rounds {r}"));
    let detail = format!("salt {:?}{rounds}", p.salt);
    vec![match p.kind {
        CryptKind::Md5 => cand(
            "md5-crypt",
            detail,
            &[
                "SugarCRM CE 6.5 (input md5(password))",
                "vtiger (legacy PHP5.3MD5, salt = first 2 login chars + 000000)",
            ],
        ),
        CryptKind::Sha256 => cand("sha256-crypt", detail, &[]),
        CryptKind::Sha512 => cand("sha512-crypt", detail, &[]),
    }]
}

fn passlib_reading(v: &str) -> Vec<Candidate> {
    let Some((prf, rounds, salt, _)) = parse_passlib(v) else {
        return Vec::new();
    };
    let vendors: &[&str] = if v.starts_with("$pbkdf2-sha512$") {
        &["Odoo"]
    } else {
        &[]
    };
    vec![cand(
        "pbkdf2-passlib",
        format!(
            "pbkdf2-{prf:?} (passlib), {rounds} rounds, {}-byte salt",
            salt.len()
        )
        .to_lowercase(),
        vendors,
    )]
}

fn django_reading(v: &str) -> Vec<Candidate> {
    parse_django(v)
        .map(|(prf, rounds, salt, _)| {
            cand(
                "pbkdf2-django",
                format!(
                    "pbkdf2_{prf:?}, {rounds} iterations, {}-char salt",
                    salt.len()
                )
                .to_lowercase(),
                &["Django"],
            )
        })
        .into_iter()
        .collect()
}

/// A hex value: a digest of some recipe by its length, and (lowercase, whole
/// DES blocks) JeecgBoot's encrypted login.
fn hex_readings(v: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return out;
    }
    let hex_lower = is_hex_lower(v);
    if let Some(&(_, d)) = HEX_DIGESTS.iter().find(|(len, _)| *len == v.len()) {
        let case = if hex_lower {
            "lowercase"
        } else {
            "uppercase/mixed"
        };
        let vendors: &[&str] = if hex_lower {
            vendors_of(LOWER_HEX_VENDORS, d)
        } else if d == "sha1" {
            &["Kingdee K/3 Cloud FPASSWORD (closed; travels with FMEMO)"]
        } else {
            &[]
        };
        out.push(cand(
            "digest",
            format!("{} hex digits ({case}): {d} of some recipe", v.len()),
            vendors,
        ));
    }
    if hex_lower && v.len().is_multiple_of(16) {
        out.push(cand(
            "jeecg-pbe",
            format!(
                "{} hex digits = {} DES blocks: login of at most {} bytes encrypted with PBEWithMD5AndDES",
                v.len(),
                v.len() / 16,
                v.len() / 2 - 1
            ),
            &["JeecgBoot"],
        ));
    }
    out
}

fn stripped_sha512_crypt_reading(v: &str) -> Vec<Candidate> {
    if v.len() != 86 || !v.bytes().all(is_crypt_char) {
        return Vec::new();
    }
    vec![cand(
        "sha512-crypt-stripped",
        "86 characters of ./0-9A-Za-z: sha512-crypt checksum without its $6$salt$ prefix".into(),
        &["EspoCRM < 9 (input md5(password), salt = config passwordSalt)"],
    )]
}

fn base64_sha1_reading(v: &str) -> Vec<Candidate> {
    let is_base64_of_20_bytes = v.len() == 28
        && v.ends_with('=')
        && v[..27]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !is_base64_of_20_bytes {
        return Vec::new();
    }
    vec![cand(
        "opaque",
        "28 characters of base64: 20 bytes, possibly base64(sha1) (unverified)".into(),
        &["Yonyou U8 (unverified)"],
    )]
}

/// What is left: a closed format or a plaintext.
fn unrecognised(v: &str) -> Candidate {
    cand(
        "opaque",
        if v.contains(' ') {
            "unrecognised printable value with spaces".into()
        } else {
            "unrecognised value (closed format or plaintext)".into()
        },
        &[
            "Kingdee K/3 / KIS FSID (unverified)",
            "Yonyou U8 (unverified)",
            "Odoo / Dolibarr plaintext",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::detect;

    fn first(v: &str) -> String {
        detect(v)
            .first()
            .map(|c| c.format.clone())
            .unwrap_or_default()
    }

    fn formats(v: &str) -> Vec<String> {
        detect(v).into_iter().map(|c| c.format).collect()
    }

    #[test]
    fn every_reference_vector_is_recognised() {
        for v in [
            "532854df7f01f5118396fb02977bc903",
            "51a10f3b4724642d6987d90510e6edf5",
            "7c01ba69881691a6ffbec2498a857a05",
            "9d0f7e061cab1e554d9be9cf66125e43",
            "29c67a30398638269fe600f73a054934",
            "d8c1da3b9a0ea24407660d461bccf877",
            "02871555aba5d93b17d59dbd625519b7",
            "0182b57e430540dbf1084a834c0a4f7b",
        ] {
            assert_eq!(first(v), "digest", "{v}");
        }
        assert_eq!(first("41d765606b2f6300c603bbc6e4a2a50f4b696a09"), "digest");
        assert!(
            detect("41d765606b2f6300c603bbc6e4a2a50f4b696a09")[0]
                .detail
                .contains("sha1")
        );
        for v in [
            "$2a$10$7JB720yubVSZvUI0rEqK/.VqGOZTH.ulu33dHOiBE8ByOhJIrdAu2",
            "$2a$10$abcdefghijklmnopqrstuu2..lW9nm5vT.2Xok8nqW7mBGbhCyQhS",
            "$2y$10$abcdefghijklmnopqrstuufeNirAsI4pxYNCTxCK02evLR6L0s5ye",
        ] {
            assert_eq!(first(v), "bcrypt", "{v}");
        }
        let c = &detect("$2y$10$abcdefghijklmnopqrstuufeNirAsI4pxYNCTxCK02evLR6L0s5ye")[0];
        assert_eq!(c.detail, "prefix $2y$, cost 10");
        assert!(c.vendors.iter().any(|v| v.starts_with("SuiteCRM")));
        assert!(
            detect("$2a$10$7JB720yubVSZvUI0rEqK/.VqGOZTH.ulu33dHOiBE8ByOhJIrdAu2")[0].vendors[0]
                .starts_with("RuoYi-Vue")
        );
        // JeecgBoot: 16 hex can only be jeecg; 32 hex is md5 first, jeecg second.
        for v in ["cb362cfeefbf3d8d", "eee378a1258530cb", "b42ae6fe794da642"] {
            assert_eq!(formats(v), ["jeecg-pbe"], "{v}");
        }
        assert_eq!(
            formats("1dee37b5341e53228176a7d6721c2f69"),
            ["digest", "jeecg-pbe"]
        );
        for v in [
            "$1$ad000000$hzXFXvL3XVlnUE/X.1n9t/",
            "$1$ad000000$9D0fEnLfZQhBGI83FDY811",
            "$1$Sugar123$vhJAlMoSa8mKwau2B6TVx.",
        ] {
            assert_eq!(first(v), "md5-crypt", "{v}");
        }
        assert_eq!(
            detect("$1$Sugar123$vhJAlMoSa8mKwau2B6TVx.")[0].detail,
            "salt \"Sugar123\""
        );
        for v in [
            "4gDlJKdkj/MMo2axSwvvWUv0ktSUeGpis/wLcpL8aEBUxXTVa.rxFb1cfKzTiSE4ookBdNpLMheJmtZqzDSRA0",
            "T/pckOsRrNkaU6pu7ojdaI.nX/NPKW2g1svks2XeRuzAahRAHN9kail843DaWo1ORKsaFZYrupxAeeQ4WoN0u0",
        ] {
            assert_eq!(first(v), "sha512-crypt-stripped", "{v}");
        }
        assert_eq!(
            first(
                "$6$bdaff81c7b8db54d$T/pckOsRrNkaU6pu7ojdaI.nX/NPKW2g1svks2XeRuzAahRAHN9kail843DaWo1ORKsaFZYrupxAeeQ4WoN0u0"
            ),
            "sha512-crypt"
        );
        for v in [
            "$pbkdf2-sha512$600000$AAECAwQFBgcICQoLDA0ODw$1TcRz.JOhtcoU6lEDozCdEAEznaS1zS7S9JwW7K65dbb.JHnW/yiYxrsQLaF24sXmeRbSlcWjfcUsN1BQeqVBQ",
            "$pbkdf2-sha512$25000$AAECAwQFBgcICQoLDA0ODw$hzjCVDG9FELw2b5EEyih3Omxf8FRIQmndWjgpGGArUfNcobEKrNA0TCDqviQOUQRez/u2tkBEug55SdLU1CGvQ",
        ] {
            let c = &detect(v)[0];
            assert_eq!(c.format, "pbkdf2-passlib");
            assert_eq!(c.vendors, ["Odoo"]);
        }
        assert_eq!(
            detect("$pbkdf2-sha512$25000$AAECAwQFBgcICQoLDA0ODw$hzjCVDG9FELw2b5EEyih3Omxf8FRIQmndWjgpGGArUfNcobEKrNA0TCDqviQOUQRez/u2tkBEug55SdLU1CGvQ")[0].detail,
            "pbkdf2-sha512 (passlib), 25000 rounds, 16-byte salt"
        );
        assert_eq!(
            first("pbkdf2_sha256$100$seasalt$YIOeIESlan/xfRGpqiCRdjjBEbxPJtEDn6VoZCfhLrA="),
            "pbkdf2-django"
        );
        assert_eq!(
            first(
                "$argon2id$v=19$m=256,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$iGsJ1/2suhpEOAhsQjMGA7ZbQyDaEqBj/b84a7Vz8VE"
            ),
            "argon2"
        );
    }

    #[test]
    fn closed_and_unknown_values() {
        assert!(detect("").is_empty());
        assert_eq!(first("2jmj7l5rSw0yVb/vlWAYkK/YBwk="), "opaque");
        assert!(detect("2jmj7l5rSw0yVb/vlWAYkK/YBwk=")[0].vendors[0].contains("U8"));
        assert_eq!(first(")  F \", ,P T #8 *P!D &D 80!N"), "opaque");
        assert_eq!(first("admin"), "opaque");
        assert_eq!(first("0182B57E430540DBF1084A834C0A4F7B"), "digest");
        assert_eq!(formats("0182B57E430540DBF1084A834C0A4F7B"), ["digest"]);
    }

    #[test]
    fn kingdee_values_carry_their_level() {
        use crate::schemes::Level;
        let vector = ")  F \", ,P T #8 *P!D &D 80!N &@ <0 C '< : !M &4 )0 Q #( ,P ";
        let c = &detect(vector)[0];
        assert_eq!(
            (c.format.as_str(), c.level),
            ("kingdee-fsid", Level::ThirdParty)
        );
        assert_eq!(detect("admin")[0].level, Level::Closed);
        let cloud = &detect("9EF0664B011C3DC6305C8B213378BACC2451FAEA")[0];
        assert!(cloud.vendors[0].contains("K/3 Cloud"), "{cloud:?}");
    }
}
