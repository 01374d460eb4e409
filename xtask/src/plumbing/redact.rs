//! One redaction model for everything the tool prints or writes: output,
//! reports, git notes (gate records, the deployment ledger), child output.
//!
//! [`redact`] masks, in this order:
//! 1. every registered secret (raw, percent-decoded and JSON-escaped):
//!    the documented secret variables, read at start-up ([`crate::plumbing::env`]),
//!    the names the policy declares in `secret-env`, tokens read from files;
//! 2. URL passwords, even unregistered ones: everything between the first
//!    `:` of the userinfo and the last `@` of the URL, so a password with an
//!    unencoded `/`, `#`, `?` or `@` is masked whole
//!    (`postgresql://u:***@h/db`);
//! 3. values of secret-named parameters, in a URL query or the DSN keyword
//!    form (`password=… host=…`): `password`, `pass`, `pwd`, `sslpassword`,
//!    `secret`, `token`, `api_key`, `apikey` and names ending in them, any case.
//!
//! Masking errs towards hiding: a URL with a port and an `@` later in its
//! path (`https://h:8080/u/@me`) loses the part between, never a password.

use std::sync::{Mutex, OnceLock};

const MASK: &str = "***";
/// Shorter registered values would mask ordinary words; the patterns still
/// cover them in URLs and `key=value` pairs.
const MIN_SECRET_LEN: usize = 4;

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers a secret value so that it never appears in output. For a URL
/// that is its password and its secret-named query values (the rest, the
/// scheme, user, host and database, is what people need to see to know
/// which database failed; `sqlite:///target/gate.db` holds no secret).
/// Anything else is secret whole.
pub fn register(secret: &str) {
    if secret.contains("://") {
        let mut values = Vec::new();
        if let Some(password) = url_password(secret) {
            values.push(password.to_string());
        }
        values.extend(secret_param_values(secret).into_iter().map(str::to_string));
        values.into_iter().for_each(|v| remember(&v));
    } else {
        remember(secret);
    }
}

/// Remembers `secret` whole, URL or not: a token, a value the policy
/// declares secret (`secret-env`), the content of a secret file.
pub fn register_whole(secret: &str) {
    remember(secret);
    let trimmed = secret.trim();
    if trimmed != secret {
        remember(trimmed);
    }
}

/// `value` in each spelling output may carry: raw, percent-decoded,
/// JSON-escaped.
fn remember(value: &str) {
    let decoded = percent_decode(value);
    let json = |v: &str| {
        let quoted = serde_json::to_string(v).unwrap_or_default();
        quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
    };
    let forms = [value.to_string(), json(value), json(&decoded), decoded];
    let mut secrets = registry().lock().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if form.len() >= MIN_SECRET_LEN && !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret, URL password and secret-named
/// parameter value replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    {
        let secrets = registry().lock().unwrap_or_else(|e| e.into_inner());
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
    }
    mask_secret_params(&mask_url_passwords(&out))
}

/// Where a URL (or a `key=value` value) ends in running text.
fn ends_token(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

/// The byte range of the password in `token`, the text right after a
/// `://`: from after the first `:` of the userinfo (the user holds no
/// `/?#@`) to the last `@`.
fn password_range(token: &str) -> Option<(usize, usize)> {
    let colon = token.find(':')?;
    if token[..colon].contains(['/', '?', '#', '@']) {
        return None;
    }
    let at = token.rfind('@')?;
    (at > colon + 1).then_some((colon + 1, at))
}

/// The password part of the one URL `url` (`scheme://user:password@host…`),
/// if any. The whole value is the URL here, so a quote or a space in the
/// password belongs to it.
fn url_password(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let token = &url[start..];
    password_range(token).map(|(a, b)| &token[a..b])
}

fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let start = pos + 3;
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(ends_token).unwrap_or(rest.len());
        let token = &rest[..end];
        match password_range(token) {
            Some((a, b)) => {
                out.push_str(&token[..a]);
                out.push_str(MASK);
                out.push_str(&token[b..]);
            }
            None => out.push_str(token),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Whether a parameter or keyword named `key` holds a secret.
pub fn secret_name(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    const EXACT: [&str; 3] = ["pass", "pwd", "pw"];
    const ENDINGS: [&str; 6] = ["password", "passwd", "secret", "token", "api_key", "apikey"];
    EXACT.contains(&key.as_str())
        || ENDINGS.iter().any(|e| key.ends_with(e))
        || key.ends_with("_pass")
        || key.ends_with("_pwd")
}

fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Byte ranges of the values of secret-named `key=value` pairs in `text`
/// (URL queries, DSN keywords, env lines). A quoted value ends at its
/// closing quote; a bare one at whitespace, `&` or a quote.
fn secret_param_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(eq) = text[from..].find('=').map(|i| i + from) {
        from = eq + 1;
        let key_start = text[..eq]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| key_char(c))
            .last()
            .map_or(eq, |(i, _)| i);
        if key_start == eq || !secret_name(&text[key_start..eq]) {
            continue;
        }
        let value_start = eq + 1;
        let end = match bytes.get(value_start) {
            Some(&q @ (b'\'' | b'"')) => {
                let mut i = value_start + 1;
                while i < bytes.len() && bytes[i] != q {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                ranges.push((value_start + 1, i.min(bytes.len())));
                from = (i + 1).min(bytes.len());
                continue;
            }
            _ => text[value_start..]
                .find(|c: char| ends_token(c) || c == '&')
                .map_or(text.len(), |i| i + value_start),
        };
        if end > value_start {
            ranges.push((value_start, end));
            from = end;
        }
    }
    ranges
}

fn secret_param_values(text: &str) -> Vec<&str> {
    secret_param_ranges(text)
        .into_iter()
        .map(|(a, b)| &text[a..b])
        .collect()
}

fn mask_secret_params(text: &str) -> String {
    let ranges = secret_param_ranges(text);
    if ranges.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (a, b) in ranges {
        out.push_str(&text[last..a]);
        out.push_str(MASK);
        last = b;
    }
    out.push_str(&text[last..]);
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

    #[test]
    fn a_password_runs_from_the_userinfo_colon_to_the_last_at() {
        check("postgresql://u:zz/pw@h/db", "postgresql://u:***@h/db");
        check(
            "postgresql://u:a#b?c@h:5432/db?x=1",
            "postgresql://u:***@h:5432/db?x=1",
        );
        check("redis://:p@ss@cache:6379/0", "redis://:***@cache:6379/0");
        check(
            "see postgresql://u:pw@h/db, then",
            "see postgresql://u:***@h/db, then",
        );
        check("ssh://git@github.com:22/o/r", "ssh://git@github.com:22/o/r");
    }

    #[test]
    fn secret_named_parameters_are_masked_in_queries_and_dsns() {
        let m = |t: &str| redact(t);
        assert_eq!(
            m("postgresql+psycopg://app@db/prod?password=hunter2&sslmode=require"),
            "postgresql+psycopg://app@db/prod?password=***&sslmode=require"
        );
        assert_eq!(
            m("x://h/db?SSLPassword=a1&Token=b2&API_KEY=c3&apikey=d4&secret=e5&pass=f6&user=me"),
            "x://h/db?SSLPassword=***&Token=***&API_KEY=***&apikey=***&secret=***&pass=***&user=me"
        );
        assert_eq!(
            m("host=db port=5432 password=s3cr3t dbname=app"),
            "host=db port=5432 password=*** dbname=app"
        );
        assert_eq!(
            m("host=db password='a b\\' c' user=x"),
            "host=db password='***' user=x"
        );
        assert_eq!(
            m("GITHUB_TOKEN=ghp_x db_password=y"),
            "GITHUB_TOKEN=*** db_password=***"
        );
        // Words that only contain a secret word are not secret names.
        assert_eq!(
            m("bypass=1 passed=3 compass=n"),
            "bypass=1 passed=3 compass=n"
        );
    }

    #[test]
    fn a_registered_secret_is_masked_in_each_spelling() {
        register_whole("zq\"Tok/en:9");
        assert_eq!(redact("raw zq\"Tok/en:9."), "raw ***.");
        assert_eq!(redact("json \"zq\\\"Tok/en:9\""), "json \"***\"");
        register("postgresql://app@db/prod?password=Qu3ry%2Fpw");
        assert_eq!(redact("echo Qu3ry/pw"), "echo ***");
    }

    /// A small deterministic generator (xorshift), no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    /// A password holding `canary` between characters a URL parser would
    /// split on, placed in a URL shape, in a line of text.
    fn hostile_line(rng: &mut Rng, canary: &str) -> String {
        let noise = [
            "", "/", "#", "?", "@", ":", "%40", "&", "=", "!", "zz/", "a@b", "x?y#",
        ];
        let password = format!(
            "{}{}{}{canary}{}",
            rng.pick(&noise),
            rng.pick(&noise),
            rng.pick(&noise),
            rng.pick(&noise)
        );
        let scheme = rng.pick(&[
            "postgresql",
            "postgresql+psycopg",
            "mysql",
            "redis",
            "https",
        ]);
        let host = rng.pick(&["db", "db.internal:5432", "[::1]:5432", "10.0.0.7"]);
        let path = rng.pick(&["", "/app", "/app?sslmode=require", "/app#frag"]);
        let param = rng.pick(&[
            "password",
            "PASSWORD",
            "sslpassword",
            "pass",
            "token",
            "Api_Key",
            "secret",
            "client_secret",
        ]);
        let url = match rng.next() % 3 {
            0 => format!("{scheme}://user:{password}@{host}{path}"),
            1 => format!("{scheme}://:{password}@{host}{path}"),
            _ => format!(
                "{scheme}://user@{host}/app?x=1&{param}={canary}{}",
                rng.pick(&["", "&y=2", "#f"])
            ),
        };
        let wrap = rng.pick(&[
            "{}",
            "url={}",
            "'{}'",
            "\"{}\"",
            "error: cannot connect to {} (timeout)",
            "{}\n",
        ]);
        wrap.replace("{}", &url)
    }

    #[test]
    fn property_no_url_shape_leaks_the_canary() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..5000 {
            let canary = format!("Cn{case}ry");
            let line = hostile_line(&mut rng, &canary);
            let out = redact(&line);
            assert!(!out.contains(&canary), "case {case}: {line:?} -> {out:?}");
        }
    }
}
