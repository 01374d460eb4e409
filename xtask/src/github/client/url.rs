//! URLs the client builds and follows: pagination's `per_page`, and the
//! origin (scheme, host, port) the token may go to.

use super::PER_PAGE;

/// `path` with `per_page=`[`PER_PAGE`] (added, or replacing another value).
pub fn with_per_page(path: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("per_page="))
        .collect();
    let per_page = format!("per_page={PER_PAGE}");
    params.push(&per_page);
    format!("{base}?{}", params.join("&"))
}

/// The origin of a URL: scheme, host and port (the scheme's default when
/// none is written), lower-cased. `None` for anything else, or a URL with
/// user information.
#[derive(Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

pub fn origin(url: &str) -> Option<Origin> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (format!("[{host}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => default,
        Some(p) => p.parse().ok()?,
    };
    Some(Origin {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ask_for_100_a_page() {
        assert_eq!(
            with_per_page("/repos/o/r/pulls"),
            "/repos/o/r/pulls?per_page=100"
        );
        assert_eq!(
            with_per_page("/repos/o/r/pulls?state=open&per_page=30&base=main"),
            "/repos/o/r/pulls?state=open&base=main&per_page=100"
        );
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        let o = |u: &str| origin(u).map(|o| o.to_string());
        assert_eq!(
            o("https://api.github.com").as_deref(),
            Some("https://api.github.com:443")
        );
        assert_eq!(
            o("HTTPS://API.GitHub.com:443/repos?page=2").as_deref(),
            Some("https://api.github.com:443")
        );
        assert_eq!(
            o("http://127.0.0.1:4567/x").as_deref(),
            Some("http://127.0.0.1:4567")
        );
        assert_eq!(o("http://[::1]:80/x").as_deref(), Some("http://[::1]:80"));
        assert_eq!(
            origin("https://api.github.com"),
            origin("https://api.github.com:443/a")
        );
        assert_ne!(
            origin("https://api.github.com"),
            origin("http://api.github.com")
        );
        assert_ne!(
            origin("https://api.github.com"),
            origin("https://api.github.com:8443")
        );
        assert_ne!(
            origin("https://api.github.com"),
            origin("https://api.github.com.evil.example")
        );
        assert_eq!(o("https://token@evil.example/"), None);
        assert_eq!(o("https://api.github.com@evil.example/"), None);
        assert_eq!(o("ftp://x/"), None);
        assert_eq!(o("https://h:99999/"), None);
    }
}
