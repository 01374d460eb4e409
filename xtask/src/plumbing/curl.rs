//! What curl prints for one request made with `--include` and
//! `--write-out "\n%{http_code}"`: the response head(s), the body, then the
//! status on a line of its own. The GitHub client and deploy's HTTP checks
//! both call curl this way; this is the one place that reads it.

/// The final response in curl's output (after any `1xx` interim ones).
#[derive(Debug)]
pub struct Answer<'a> {
    pub status: u16,
    /// The final response's head: its status line, then `Name: value` lines.
    head: &'a str,
    pub body: &'a str,
}

impl<'a> Answer<'a> {
    /// The headers in order: names lower-cased, names and values trimmed.
    pub fn headers(&self) -> impl Iterator<Item = (String, String)> + 'a {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
    }
}

/// Splits curl's stdout; the error says what is missing.
pub fn parse(raw: &str) -> Result<Answer<'_>, String> {
    let (rest, code) = raw.rsplit_once('\n').ok_or("no status from curl")?;
    let status: u16 = code
        .trim()
        .parse()
        .map_err(|_| format!("no HTTP status from curl ({:?})", code.trim()))?;
    // The last header block is the final response (after any 1xx).
    let mut head = "";
    let mut body = rest;
    while body.starts_with("HTTP/") {
        let split = body
            .find("\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| body.find("\n\n").map(|i| (i, 2)));
        let Some((i, n)) = split else {
            head = body;
            body = "";
            break;
        };
        head = &body[..i];
        body = &body[i + n..];
    }
    Ok(Answer { status, head, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_response_after_interim_ones_is_taken() {
        let a = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nX-A: 1\r\nLocation:  /x \r\n\r\nbody\n\n201").unwrap();
        assert_eq!((a.status, a.body), (201, "body\n"));
        let headers: Vec<(String, String)> = a.headers().collect();
        assert_eq!(
            headers,
            [("x-a", "1"), ("location", "/x")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let a = parse("HTTP/1.0 204 No Content\n\n\n204").unwrap();
        assert_eq!((a.status, a.body, a.headers().count()), (204, "", 0));
        let a = parse("HTTP/1.1 200 OK\r\nX-A: 1\n200").unwrap();
        assert_eq!((a.status, a.body, a.headers().count()), (200, "", 1));
    }

    #[test]
    fn output_without_a_status_line_is_refused() {
        assert_eq!(parse("garbage").unwrap_err(), "no status from curl");
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\n\r\n{}\n").unwrap_err(),
            "no HTTP status from curl (\"\")"
        );
        assert_eq!(
            parse("curl: (7) refused\nxyz").unwrap_err(),
            "no HTTP status from curl (\"xyz\")"
        );
    }
}
