//! One redaction function for everything the tool prints or writes.
//!
//! Secrets enter the process in one place ([`crate::plumbing::env::secret`]), which
//! registers them here; from then on every line of output, every report and
//! every git note goes through [`redact`]. URL passwords are masked even when
//! they were never registered (`postgresql://user:***@host/db`).

use std::sync::{Mutex, OnceLock};

const MASK: &str = "***";

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers a secret value so that it never appears in output. For a URL
/// that is its password, raw and percent-decoded (a URL without one holds
/// no secret: `sqlite:///target/gate.db`).
pub fn register(secret: &str) {
    // A URL's secret is its password: the rest (scheme, user, host, database)
    // is what people need to see to know which database failed.
    let values = match (secret.contains("://"), url_password(secret)) {
        (true, Some(password)) => vec![percent_decode(password), password.to_string()],
        (true, None) => Vec::new(),
        (false, _) => vec![secret.to_string()],
    };
    let mut secrets = registry().lock().unwrap_or_else(|e| e.into_inner());
    for value in values {
        // Very short values would mask ordinary words; URL masking still covers them.
        if value.len() >= 4 && !secrets.contains(&value) {
            secrets.push(value);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with URL passwords and every registered secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = mask_url_passwords(text);
    let secrets = registry().lock().unwrap_or_else(|e| e.into_inner());
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// The password part of `scheme://user:password@host…`, if any.
fn url_password(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let userinfo = &authority[..at];
    let colon = userinfo.find(':')?;
    Some(&userinfo[colon + 1..])
}

fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let start = pos + 3;
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        // The authority ends at the path, or at anything that cannot be in a URL.
        let end = rest
            .find(|c: char| {
                matches!(c, '/' | '?' | '#')
                    || c.is_whitespace()
                    || matches!(c, '"' | '\'' | '`' | '<' | '>')
            })
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) if colon + 1 < userinfo.len() => {
                        out.push_str(&userinfo[..colon + 1]);
                        out.push_str(MASK);
                        out.push_str(&authority[at..]);
                    }
                    _ => out.push_str(authority),
                }
            }
            None => out.push_str(authority),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let (hi, lo) = (bytes[i + 1], bytes[i + 2]);
            if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(hi) * 16 + hex(lo));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(mask_url_passwords(input), expected, "input: {input}");
    }

    #[test]
    fn url_passwords_are_masked() {
        check(
            "postgresql://user:s3cret@host:5432/db",
            "postgresql://user:***@host:5432/db",
        );
        check(
            "url=postgresql+psycopg://u:p%40ss@h/db?x=1 next",
            "url=postgresql+psycopg://u:***@h/db?x=1 next",
        );
        check(
            "'mysql://root:pw@localhost'",
            "'mysql://root:***@localhost'",
        );
        check("two a://x:1@h b://y:2@k", "two a://x:***@h b://y:***@k");
    }

    #[test]
    fn urls_without_password_are_unchanged() {
        check("sqlite:///tmp/x.db", "sqlite:///tmp/x.db");
        check("https://user@github.com/o/r", "https://user@github.com/o/r");
        check("https://example.com/a:b@c", "https://example.com/a:b@c");
        check("no url here: at all", "no url here: at all");
    }

    #[test]
    fn registered_secrets_are_masked_anywhere() {
        register("tok_ABCDEF123456");
        register("postgresql://app:p%40ssw0rd!@db/x");
        assert_eq!(
            redact("Authorization: tok_ABCDEF123456"),
            "Authorization: ***"
        );
        assert_eq!(
            redact("password authentication failed: p@ssw0rd!"),
            "password authentication failed: ***"
        );
        assert_eq!(redact("raw p%40ssw0rd! seen"), "raw *** seen");
    }

    #[test]
    fn a_url_without_a_password_stays_readable() {
        register("sqlite:///var/lib/app/gate.db");
        assert_eq!(
            redact("at sqlite:///var/lib/app/gate.db"),
            "at sqlite:///var/lib/app/gate.db"
        );
    }

    #[test]
    fn percent_decoding_handles_edges() {
        assert_eq!(percent_decode("a%40b"), "a@b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
