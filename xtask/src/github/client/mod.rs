//! GitHub's REST API through `curl` (no TLS stack compiled in): the token
//! reaches curl through a config read from stdin, never argv. The API base
//! is `GITHUB_API_URL` (what GitHub Actions sets; tests point it at a local
//! server), default `https://api.github.com`. GraphQL (the only API for
//! some operations, e.g. enabling auto-merge) goes through the same client:
//! see [`graphql_url`] and [`Client::graphql`].

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use anyhow::Context;
use serde_json::Value;

use crate::plumbing::curl;

mod rules;
mod text;
mod url;

use crate::plumbing::{env, exit, git, redact};
pub use rules::{
    required_checks_of_protection, required_checks_of_rules, ruleset_name, RequiredCheck,
};
pub use text::sanitize;
pub use url::{origin, with_per_page};

/// The largest answer body read from GitHub (16 MiB): a larger one is
/// refused with an error, never cut short silently.
pub const MAX_BODY: usize = 16 << 20;

/// Items per page for every list (GitHub's largest; its default is 30).
pub const PER_PAGE: u32 = 100;

/// Pages read from one list at most, unless the caller says otherwise.
pub const MAX_PAGES: usize = 100;

/// Where the API is and who we are.
pub struct Client {
    pub api: String,
    pub repo: String,
    token: String,
}

/// One answer: status, headers (lower-cased names) and the parsed JSON body
/// (`Value::Null` when the body is empty or not JSON).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `rel="next"` URL of a paginated answer.
    pub fn next_page(&self) -> Option<String> {
        let link = self.header("link")?;
        link.split(',').find_map(|part| {
            let (url, rel) = part.split_once(';')?;
            rel.contains("rel=\"next\"").then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
        })
    }

    /// GitHub's own `message`, for errors, [`sanitize`]d.
    pub fn message(&self) -> String {
        sanitize(
            self.body
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or(self.text.trim()),
        )
    }
}

/// GitHub's answer to a GraphQL request that carried an `errors` array
/// (GraphQL reports failures with HTTP 200): GitHub's messages, in order.
#[derive(Debug)]
pub struct GraphqlErrors(pub Vec<String>);

impl std::fmt::Display for GraphqlErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}
impl std::error::Error for GraphqlErrors {}

/// The GraphQL endpoint that goes with a REST base: `https://api.github.com`
/// → `https://api.github.com/graphql`; GitHub Enterprise Server's
/// `https://HOST/api/v3` → `https://HOST/api/graphql`; any other base (a
/// local test server) → `BASE/graphql`.
pub fn graphql_url(api: &str) -> String {
    let api = api.trim_end_matches('/');
    match api.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{api}/graphql"),
    }
}

pub fn api_base() -> String {
    env::var("GITHUB_API_URL")
        .unwrap_or_else(|| "https://api.github.com".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// The token, from `GH_TOKEN_FILE`/`GITHUB_TOKEN_FILE`, `GH_TOKEN`,
/// `GITHUB_TOKEN`, or `gh auth token` when gh is installed. Registered for
/// redaction. `None` when there is none anywhere.
pub fn token() -> anyhow::Result<Option<String>> {
    for name in ["GH_TOKEN_FILE", "GITHUB_TOKEN_FILE"] {
        if let Some(path) = env::var(name) {
            let text =
                crate::plumbing::fs::read_bounded(std::path::Path::new(&path), 64 * 1024, name)?;
            let token = text.trim().to_string();
            if !token.is_empty() {
                redact::register(&token);
                return Ok(Some(token));
            }
        }
    }
    for name in ["GH_TOKEN", "GITHUB_TOKEN"] {
        if let Some(token) = env::secret(name)? {
            return Ok(Some(token.trim().to_string()));
        }
    }
    let gh = Command::new("gh")
        .args(["auth", "token"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = gh {
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !token.is_empty() {
            redact::register(&token);
            return Ok(Some(token));
        }
    }
    Ok(None)
}

/// `owner/name` from an origin URL on github.com (https or ssh form).
pub fn repo_from_url(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("http://github.com/"))
        .or_else(|| url.strip_prefix("git@github.com:"))
        .or_else(|| url.strip_prefix("ssh://git@github.com/"))?;
    let rest = rest.trim_end_matches('/').trim_end_matches(".git");
    valid_repo(rest).then(|| rest.to_string())
}

/// A GitHub login: letters, digits and inner hyphens, up to 39, or an
/// app's `name[bot]`.
pub fn valid_login(login: &str) -> bool {
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    !name.is_empty()
        && name.len() <= 39
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `owner/name` with GitHub's characters only: it becomes part of a URL.
pub fn valid_repo(repo: &str) -> bool {
    let mut parts = repo.split('/');
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    matches!((parts.next(), parts.next(), parts.next()), (Some(o), Some(n), None) if ok(o) && ok(n))
}

/// The repository: `GITHUB_REPOSITORY`, else the policy's, else a github.com
/// `origin` URL. `None` when there is no GitHub repository.
pub fn repository(
    sh: &xshell::Shell,
    from_policy: Option<&str>,
    remote: &str,
) -> anyhow::Result<Option<String>> {
    let named = env::var("GITHUB_REPOSITORY").or_else(|| from_policy.map(str::to_string));
    if let Some(repo) = named {
        if !valid_repo(&repo) {
            return Err(exit::usage(format!(
                "{repo:?} is not a GitHub repository name (owner/name)"
            )));
        }
        return Ok(Some(repo));
    }
    let url = git::read_if_ok(sh, &["remote", "get-url", remote])?.unwrap_or_default();
    Ok(repo_from_url(&url))
}

impl Client {
    pub fn new(repo: String, token: String) -> Client {
        Client {
            api: api_base(),
            repo,
            token,
        }
    }

    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE` of `path` (relative to the
    /// API base, or a full URL from a `Link` header), with an optional JSON body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Response> {
        // Only an http(s) API is GitHub's: curl would read `file://` and
        // friends just as willingly.
        if !(self.api.starts_with("https://") || self.api.starts_with("http://")) {
            return Err(exit::usage(format!(
                "GITHUB_API_URL {}: not an http(s) URL; unset it for https://api.github.com, or name your GitHub Enterprise API (https://HOST/api/v3)",
                redact::redact(&self.api)
            )));
        }
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            // A full URL (a `Link` header's): the token goes only to the
            // origin of GITHUB_API_URL.
            let same = matches!((origin(path), origin(&self.api)), (Some(a), Some(b)) if a == b);
            if !same {
                return Err(exit::failed(format!(
                    "{method} {}: GitHub's answer points to another host ({}); the token is sent only to {} (GITHUB_API_URL), so it was not followed",
                    sanitize(path),
                    sanitize(&origin(path).map(|o| o.host).unwrap_or_else(|| "an unreadable URL".into())),
                    origin(&self.api).map(|o| o.to_string()).unwrap_or_else(|| self.api.clone())
                )));
            }
            path.to_string()
        } else {
            format!("{}{}", self.api, path)
        };
        let mut config = String::new();
        let mut opt = |k: &str, v: &str| config.push_str(&format!("{k} = \"{}\"\n", curl_quote(v)));
        opt("url", &url);
        opt("request", method);
        opt("header", &format!("Authorization: Bearer {}", self.token));
        opt("header", "Accept: application/vnd.github+json");
        opt("header", "X-GitHub-Api-Version: 2022-11-28");
        opt("header", "User-Agent: xtask");
        opt("header", "Expect:");
        if let Some(body) = body {
            opt("header", "Content-Type: application/json");
            opt("data-binary", &body.to_string());
        }
        opt("write-out", "\n%{http_code}");
        opt("max-filesize", &MAX_BODY.to_string());
        // No redirects: a redirect elsewhere would carry the token there.
        config.push_str("silent\nshow-error\ninclude\nconnect-timeout = 10\nmax-time = 60\n");
        let (code, stdout, stderr) = run_curl(&config)?;
        let too_large = || {
            exit::failed(format!(
                "{method} {url}: GitHub's answer is larger than {} MiB, more than this tool reads; nothing past that was read. Narrow the request (fewer items per page), or check GITHUB_API_URL ({})",
                MAX_BODY >> 20,
                api_base()
            ))
        };
        // curl 63: over --max-filesize (when the size is announced).
        if code == Some(63) || stdout.len() > MAX_BODY + 64 * 1024 {
            return Err(too_large());
        }
        if code != Some(0) {
            let why = redact::redact(String::from_utf8_lossy(&stderr).trim());
            // A gate that cannot ask GitHub fails (exit 1), the same for
            // every command, and says what to check.
            return Err(exit::failed(format!(
                "{method} {url}: GitHub's API could not be reached ({why}): check the network, and GITHUB_API_URL if it is set ({})",
                api_base()
            )));
        }
        let resp = parse_response(&String::from_utf8_lossy(&stdout))
            .with_context(|| format!("{method} {url}: unreadable answer"))?;
        if resp.text.len() > MAX_BODY {
            return Err(too_large());
        }
        Ok(resp)
    }

    /// The login the token acts for. Under GitHub Actions
    /// (`GITHUB_ACTIONS=true`) it is `GITHUB_ACTOR`, the user who started
    /// the run: Actions' `GITHUB_TOKEN` and GitHub App tokens are
    /// installation tokens, to which `GET /user` answers 403. Elsewhere it
    /// is `GET /user`'s login; a 403 there says which token to use.
    pub fn login(&self) -> anyhow::Result<String> {
        if env::var("GITHUB_ACTIONS").as_deref() == Some("true") {
            if let Some(actor) = env::var("GITHUB_ACTOR") {
                if !valid_login(&actor) {
                    return Err(exit::usage(format!(
                        "GITHUB_ACTOR={:?} is not a GitHub login",
                        sanitize(&actor)
                    )));
                }
                return Ok(actor);
            }
        }
        let resp = self.request("GET", "/user", None)?;
        if resp.status == 403 {
            return Err(exit::failed(format!(
                "GET /user: HTTP 403 {}: the token is an installation token (a GitHub App's, or Actions' GITHUB_TOKEN), which acts for no user; under GitHub Actions, GITHUB_ACTOR names the user (GITHUB_ACTIONS=true and GITHUB_ACTOR are set by the runner); elsewhere use a personal token (GH_TOKEN, or gh auth login)",
                resp.message()
            )));
        }
        if resp.status != 200 {
            return Err(http_error(&resp, "GET", "/user"));
        }
        let login = resp.body["login"].as_str().unwrap_or_default();
        if !valid_login(login) {
            return Err(exit::failed(format!(
                "GET /user: the answer has no valid login ({:?})",
                sanitize(login)
            )));
        }
        Ok(login.to_string())
    }

    /// A GraphQL request (`POST` of `{query, variables}` to [`graphql_url`]),
    /// returning its `data`. An HTTP status other than 200 is an
    /// [`http_error`]; an answer with a non-empty `errors` array is a
    /// [`GraphqlErrors`] (callers may `downcast_ref` it to explain), even when
    /// it carries partial `data`.
    pub fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let url = graphql_url(&self.api);
        let body = serde_json::json!({ "query": query, "variables": variables });
        let resp = self.request("POST", &url, Some(&body))?;
        if resp.status != 200 {
            return Err(http_error(&resp, "POST", &url));
        }
        let errors = graphql_errors(&resp.body);
        if !errors.is_empty() {
            return Err(GraphqlErrors(errors).into());
        }
        match resp.body.get("data") {
            Some(data) if data.is_object() => Ok(data.clone()),
            _ => Err(exit::failed(format!(
                "POST {url}: GitHub's GraphQL answer has no data: {}",
                sanitize(&redact::redact(resp.text.trim()))
            ))),
        }
    }

    /// Every item of a paginated list (a JSON array), [`PER_PAGE`] a page,
    /// following `Link: rel="next"`, at most [`MAX_PAGES`] pages.
    pub fn get_all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        self.get_list(
            path,
            None,
            MAX_PAGES,
            "narrow the request, or ask for fewer items",
        )
    }

    /// Every item of a paginated list: the answer itself (`key` `None`), or
    /// the array under `key` of each page's object (`check_runs`,
    /// `statuses`). `per_page` is set to [`PER_PAGE`]; `Link: rel="next"`
    /// is followed on the API's own origin only. More than `max_pages`
    /// pages is a failure (exit 1) that says `narrow`: what to narrow.
    pub fn get_list(
        &self,
        path: &str,
        key: Option<&str>,
        max_pages: usize,
        narrow: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = Some(with_per_page(path));
        let mut pages = 0;
        while let Some(page) = next {
            pages += 1;
            if pages > max_pages {
                return Err(exit::failed(format!(
                    "GET {path}: more than {max_pages} pages of {PER_PAGE} ({} items read), more than this command reads: {narrow}",
                    items.len()
                )));
            }
            let resp = self.request("GET", &page, None)?;
            if resp.status != 200 {
                return Err(http_error(&resp, "GET", path));
            }
            let list = match key {
                None => resp.body.as_array(),
                Some(key) => resp.body.get(key).and_then(Value::as_array),
            };
            match list {
                Some(list) => items.extend(list.iter().cloned()),
                None => {
                    return Err(exit::failed(format!(
                        "GET {path}: expected a list{}, GitHub answered something else",
                        key.map(|k| format!(" under `{k}`")).unwrap_or_default()
                    )))
                }
            }
            next = resp.next_page();
        }
        Ok(items)
    }
}

/// Runs curl with `config` on its stdin; returns its exit code, at most
/// [`MAX_BODY`] + 64 KiB + 1 bytes of its stdout (curl is stopped beyond
/// that) and its stderr.
fn run_curl(config: &str) -> anyhow::Result<(Option<i32>, Vec<u8>, Vec<u8>)> {
    let mut child = Command::new("curl")
        .args(["--config", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            exit::usage(format!(
                "curl is required for GitHub's API but cannot be run: {e}"
            ))
        })?;
    child
        .stdin
        .take()
        .context("curl stdin")?
        .write_all(config.as_bytes())?;
    let limit = (MAX_BODY + 64 * 1024 + 1) as u64;
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .context("curl stdout")?
        .take(limit)
        .read_to_end(&mut stdout)?;
    if stdout.len() as u64 >= limit {
        let _ = child.kill();
    }
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .context("curl stderr")?
        .take(64 * 1024)
        .read_to_end(&mut stderr)?;
    let status = child.wait()?;
    Ok((status.code(), stdout, stderr))
}

/// An error for an unexpected status, saying what it means for the user.
pub fn http_error(resp: &Response, method: &str, path: &str) -> anyhow::Error {
    let hint = match resp.status {
        401 => "the token is missing, expired or invalid (GH_TOKEN / GITHUB_TOKEN / gh auth login)",
        403 => "the token lacks the permission for this (admin rights for settings and protection)",
        404 => "the repository or branch is unknown, or the token cannot see it",
        422 => "GitHub refused the request's content",
        s if s >= 500 => "GitHub's API failed; try again later",
        _ => "unexpected answer",
    };
    exit::failed(format!(
        "{method} {path}: HTTP {} {}: {hint}",
        resp.status,
        resp.message()
    ))
}

/// The messages of a GraphQL answer's `errors` (an entry without a message
/// still counts, as its JSON).
fn graphql_errors(body: &Value) -> Vec<String> {
    match body.get("errors") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|e| match e.get("message").and_then(Value::as_str) {
                Some(m) => sanitize(m),
                None => sanitize(&e.to_string()),
            })
            .collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![sanitize(&other.to_string())],
    }
}

/// Quotes a value for curl's config syntax ("…" with backslash escapes).
fn curl_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// Reads curl's answer; the body as JSON too (`Null` when it is not JSON),
/// every string in it [`sanitize`]d: whatever a command prints of GitHub's
/// data (a PR's title or URL, a message) is safe to print.
fn parse_response(raw: &str) -> anyhow::Result<Response> {
    let answer = curl::parse(raw).map_err(anyhow::Error::msg)?;
    let parsed = serde_json::from_str(answer.body);
    // A success that is not JSON is not GitHub's API (a proxy's or a
    // maintenance page): reading it as "no settings" would fail open.
    if (200..300).contains(&answer.status) && !answer.body.trim().is_empty() && parsed.is_err() {
        let start: String = answer.body.trim().chars().take(60).collect();
        return Err(exit::failed(format!(
            "GitHub answered {} with a body that is not JSON ({}…): check GITHUB_API_URL and any proxy; nothing was changed on GitHub by this answer",
            answer.status,
            sanitize(&start)
        )));
    }
    let mut body = parsed.unwrap_or(Value::Null);
    sanitize_strings(&mut body);
    Ok(Response {
        status: answer.status,
        headers: answer.headers().collect(),
        body,
        text: answer.body.to_string(),
    })
}

/// Every string value in `v`, [`sanitize`]d in place.
fn sanitize_strings(v: &mut Value) {
    match v {
        Value::String(s) if s.chars().any(char::is_control) || s.contains("::") => {
            *s = sanitize(s);
        }
        Value::Array(items) => items.iter_mut().for_each(sanitize_strings),
        Value::Object(fields) => fields.values_mut().for_each(sanitize_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_urls_name_the_repository() {
        assert_eq!(
            repo_from_url("https://github.com/acme/app.git").as_deref(),
            Some("acme/app")
        );
        assert_eq!(
            repo_from_url("git@github.com:acme/app.git").as_deref(),
            Some("acme/app")
        );
        assert_eq!(
            repo_from_url("ssh://git@github.com/acme/app").as_deref(),
            Some("acme/app")
        );
        assert_eq!(repo_from_url("https://gitlab.com/acme/app.git"), None);
        assert_eq!(repo_from_url("/tmp/origin.git"), None);
        assert_eq!(repo_from_url("https://github.com/acme/../x"), None);
    }

    #[test]
    fn responses_are_split_into_status_headers_and_body() {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nLink: <http://x/a?page=2>; rel=\"next\", <http://x/a?page=5>; rel=\"last\"\r\n\r\n[1,2]\n200";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, serde_json::json!([1, 2]));
        assert_eq!(r.next_page().as_deref(), Some("http://x/a?page=2"));
        let r = parse_response("HTTP/1.1 404 Not Found\r\n\r\n{\"message\":\"Not Found\"}\n404")
            .unwrap();
        assert_eq!((r.status, r.message().as_str()), (404, "Not Found"));
    }

    #[test]
    fn strings_in_answers_are_sanitized_at_the_boundary() {
        let raw = "HTTP/1.1 200 OK\r\n\r\n[{\"title\":\"::error::x\",\"html_url\":\"u\\u001b[31m\",\"n\":1,\"body\":\"a\\nb\"}]\n200";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.body[0]["title"], "\\x3a:error::x");
        assert_eq!(r.body[0]["html_url"], "u\\x1b[31m");
        assert_eq!(r.body[0]["body"], "a\nb");
        assert_eq!(r.body[0]["n"], 1);
    }

    #[test]
    fn a_full_url_off_the_api_origin_is_refused_before_curl_runs() {
        let client = |api: &str| Client {
            api: api.to_string(),
            repo: "o/r".to_string(),
            token: "t0ken".to_string(),
        };
        for (api, url) in [
            ("http://127.0.0.1:1", "http://127.0.0.1:2/repos?page=2"),
            (
                "https://api.github.com",
                "https://evil.example/repos?page=2",
            ),
            (
                "https://api.github.com",
                "http://api.github.com/repos?page=2",
            ),
            // Unreadable origins are never "the same".
            ("https://u@api.github.com", "https://u@api.github.com/x"),
        ] {
            let err = client(api).request("GET", url, None).unwrap_err();
            let text = format!("{err:#}");
            assert!(
                text.contains("points to another host"),
                "{api} {url}: {text}"
            );
            assert!(!text.contains("t0ken"));
            assert_eq!(exit::code_of(&err), exit::FAILED);
        }
    }

    #[test]
    fn the_graphql_endpoint_follows_the_rest_base() {
        let check = |api: &str, expected: &str| assert_eq!(graphql_url(api), expected, "{api}");
        check("https://api.github.com", "https://api.github.com/graphql");
        check("https://api.github.com/", "https://api.github.com/graphql");
        check(
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com/api/graphql",
        );
        check(
            "https://ghe.example.com/api/v3/",
            "https://ghe.example.com/api/graphql",
        );
        check("http://127.0.0.1:4567", "http://127.0.0.1:4567/graphql");
    }

    #[test]
    fn graphql_errors_are_failures_whatever_the_status() {
        use serde_json::json;
        assert!(graphql_errors(&json!({ "data": { "x": 1 } })).is_empty());
        assert!(graphql_errors(&json!({ "data": {}, "errors": null })).is_empty());
        assert_eq!(
            graphql_errors(&json!({ "data": null, "errors": [
                { "type": "UNPROCESSABLE", "message": "Auto-merge is not allowed for this repository" },
                { "type": "X" }
            ] })),
            [
                "Auto-merge is not allowed for this repository".to_string(),
                r#"{"type":"X"}"#.to_string()
            ]
        );
        assert_eq!(graphql_errors(&json!({ "errors": "boom" })), ["\"boom\""]);
    }

    #[test]
    fn logins_are_githubs_characters_only() {
        for ok in ["octo", "octo-cat", "github-actions[bot]", "a1"] {
            assert!(valid_login(ok), "{ok}");
        }
        for bad in [
            "",
            "-octo",
            "octo-",
            "oc to",
            "octo\n::error::x",
            "[bot]",
            &"a".repeat(40),
        ] {
            assert!(!valid_login(bad), "{bad:?}");
        }
    }

    #[test]
    fn curl_config_values_cannot_break_out() {
        assert_eq!(
            curl_quote("a\"b\\c\nurl = \"evil\""),
            "a\\\"b\\\\c\\nurl = \\\"evil\\\""
        );
    }
}
