//! Which status checks the repository's GitHub Actions workflows produce on
//! pull requests to a branch: protect-main refuses to require a check that
//! nothing produces, because GitHub would then hold every pull request
//! forever ("Expected — Waiting for status to be reported").
//!
//! There is no YAML crate (compile-time budget), so this is a small
//! line-based reader for exactly the block-style subset GitHub workflows are
//! written in: mappings and sequences by indentation (a sequence may sit at
//! its key's indentation), plain, single- and double-quoted scalars on one
//! line, one-line flow sequences of scalars (`[push, pull_request]`),
//! comments, one leading `---`. From it we read the top-level `on:` (string,
//! list or map form; `pull_request` / `pull_request_target` with their
//! `branches`, `branches-ignore`, `paths`, `paths-ignore`, `types`), and
//! `jobs:` keys with their `name:`, `strategy.matrix` and `uses:`.
//!
//! What it does NOT handle, and where it fails closed (the construct becomes
//! "unsupported", and a check that depends on it counts as not produced,
//! with the line and the reason in the message; it never guesses):
//! flow mappings (`{…}`), flow sequences spanning lines or nested, block
//! scalars (`|`, `>`) and multi-line scalars where a value is read, anchors,
//! aliases, tags and merge keys (`&`, `*`, `!`, `<<`), complex keys (`?`),
//! several documents or directives, duplicate keys, inconsistent
//! indentation; branch patterns with `?`, `+`, `[…]` or escapes; job
//! `if:` conditions (not evaluated: a job skipped by its condition reports
//! success); names containing `${{ }}` expressions; matrix jobs (their
//! checks are named `name (values…)`); reusable-workflow jobs (`uses:`,
//! named `caller / called`). Anything else under the parts we read (steps,
//! `run:` scripts, `env:`) is skipped by indentation, whatever it contains.

use std::fmt;

/// A parsed YAML value, as far as this reader understands it.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
    /// A construct this reader does not handle: why, and the 1-based line.
    Unsupported {
        why: String,
        line: usize,
    },
}

impl Node {
    fn unsupported(why: impl Into<String>, line: usize) -> Node {
        Node::Unsupported {
            why: why.into(),
            line,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct Line {
    no: usize,
    indent: usize,
    text: String,
}

/// Parses a whole workflow file; `Err` when the document itself is outside
/// the subset (directives, several documents, not a mapping at the top).
pub fn parse(text: &str) -> Result<Node, String> {
    let mut lines = Vec::new();
    let mut seen_content = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let no = i + 1;
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let body = strip_comment(&raw[indent..]).trim_end();
        if body.is_empty() {
            continue;
        }
        if indent == 0 {
            if body.starts_with('%') {
                return Err(format!("line {no}: YAML directives are not supported"));
            }
            if body == "---" && !seen_content {
                seen_content = true;
                continue;
            }
            if body.starts_with("---") || body == "..." {
                return Err(format!(
                    "line {no}: several YAML documents in one file are not supported"
                ));
            }
        }
        seen_content = true;
        lines.push(Line {
            no,
            indent,
            text: body.to_string(),
        });
    }
    if lines.is_empty() {
        return Err("the file is empty".to_string());
    }
    if lines[0].indent != 0 {
        return Err(format!(
            "line {}: the top level must start in column 1",
            lines[0].no
        ));
    }
    let mut pos = 0;
    let node = parse_block(&mut lines, &mut pos, 0);
    match node {
        Node::Map(_) => Ok(node),
        Node::Unsupported { why, line } => Err(format!("line {line}: {why}")),
        _ => Err("the top level is not a mapping".to_string()),
    }
}

/// Cuts a trailing comment: `#` at the start or after whitespace, outside
/// a quoted scalar. A quote opens a scalar only where a scalar can start
/// (so the apostrophe of `name: Bob's job` is not a quote).
fn strip_comment(s: &str) -> &str {
    let b = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut last_sig: Option<u8> = None; // last non-space byte before i
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(b'\'') => {
                if c == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        quote = None;
                    }
                }
            }
            Some(_) => {
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' {
                    quote = None;
                }
            }
            None => {
                let prev = if i == 0 { b' ' } else { b[i - 1] };
                if c == b'#' && (i == 0 || prev == b' ' || prev == b'\t') {
                    return &s[..i];
                }
                let at_start = matches!(prev, b' ' | b'\t' | b'[' | b',' | b'{') || i == 0;
                let after = matches!(
                    last_sig,
                    None | Some(b':' | b'-' | b'[' | b',' | b'{' | b'?')
                );
                if (c == b'\'' || c == b'"') && at_start && after {
                    quote = Some(c);
                }
            }
        }
        if c != b' ' && c != b'\t' {
            last_sig = Some(c);
        }
        i += 1;
    }
    s
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: value` (value possibly empty). `None` when the line is not
/// a mapping entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    if text.starts_with(['[', '{', '|', '>', '&', '*', '!', '%', '@', '`']) || is_seq_item(text) {
        return None;
    }
    let (key, rest) = if let Some(q) = text.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = closing_quote(text, q)?;
        let key = unquote(&text[..=end])?;
        let rest = text[end + 1..].trim_start();
        (key, rest.strip_prefix(':')?)
    } else {
        let at = text
            .find(": ")
            .or_else(|| text.ends_with(':').then(|| text.len() - 1))?;
        (text[..at].trim_end().to_string(), &text[at + 1..])
    };
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim()))
}

/// The byte index of the quote closing the scalar that opens at 0.
fn closing_quote(text: &str, q: char) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match (q, b[i]) {
            ('\'', b'\'') if b.get(i + 1) == Some(&b'\'') => i += 1,
            ('\'', b'\'') => return Some(i),
            ('"', b'\\') => i += 1,
            ('"', b'"') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of a complete quoted scalar; `None` for escapes we do not
/// decode (anything but `\\`, `\"`, `\/`).
fn unquote(text: &str) -> Option<String> {
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Some(inner.replace("''", "'"));
    }
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                c @ ('\\' | '"' | '/') => out.push(c),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// An inline value (after `key: ` or `- `).
fn inline_value(v: &str, line: usize) -> Node {
    let Some(first) = v.chars().next() else {
        return Node::Null;
    };
    match first {
        '|' | '>' => Node::unsupported("block scalars (`|`, `>`) are not supported here", line),
        '&' | '*' | '!' => Node::unsupported(
            "anchors, aliases and tags (`&`, `*`, `!`) are not supported",
            line,
        ),
        '{' if v == "{}" => Node::Map(Vec::new()),
        '{' => Node::unsupported("flow mappings (`{…}`) are not supported", line),
        '@' | '`' => Node::unsupported(format!("`{first}` cannot start a plain scalar"), line),
        '[' => flow_seq(v, line),
        '"' | '\'' => match closing_quote(v, first) {
            Some(end) if end == v.len() - 1 => match unquote(v) {
                Some(s) => Node::Scalar(s),
                None => Node::unsupported(
                    "escape sequences other than \\\\ and \\\" are not supported",
                    line,
                ),
            },
            Some(_) => Node::unsupported("text after a quoted scalar", line),
            None => Node::unsupported(
                "a quoted scalar continued on the next line is not supported",
                line,
            ),
        },
        _ if v == "~" || v == "null" || v == "Null" || v == "NULL" => Node::Null,
        _ => Node::Scalar(v.to_string()),
    }
}

/// A one-line flow sequence of scalars: `[a, "b", c]`.
fn flow_seq(v: &str, line: usize) -> Node {
    let Some(inner) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return Node::unsupported(
            "a flow sequence (`[…]`) spanning lines is not supported",
            line,
        );
    };
    let mut items = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let (item, tail) = if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'')
        {
            let Some(end) = closing_quote(rest, q) else {
                return Node::unsupported("unterminated quoted scalar in a flow sequence", line);
            };
            (&rest[..=end], rest[end + 1..].trim_start())
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            (rest[..end].trim_end(), &rest[end..])
        };
        if item.starts_with(['[', '{'])
            || item.contains([']', '{', '}'])
            || (!item.starts_with(['"', '\'']) && item.contains('['))
        {
            return Node::unsupported("nested flow collections are not supported", line);
        }
        match inline_value(item, line) {
            node @ (Node::Scalar(_) | Node::Null) => items.push(node),
            other => return other,
        }
        rest = match tail.strip_prefix(',') {
            Some(t) => t.trim_start(),
            None if tail.is_empty() => tail,
            None => {
                return Node::unsupported("text after a quoted scalar in a flow sequence", line)
            }
        };
    }
    Node::Seq(items)
}

/// Skips every line indented more than `indent`; true when any was skipped.
fn skip_deeper(lines: &[Line], pos: &mut usize, indent: usize) -> bool {
    let start = *pos;
    while *pos < lines.len() && lines[*pos].indent > indent {
        *pos += 1;
    }
    *pos > start
}

/// The block starting at `lines[*pos]`, whose lines are at `indent`.
fn parse_block(lines: &mut [Line], pos: &mut usize, indent: usize) -> Node {
    let first = lines[*pos].clone();
    if is_seq_item(&first.text) {
        return parse_seq(lines, pos, indent);
    }
    if first.text.starts_with("? ") || first.text == "?" {
        *pos += 1;
        skip_deeper(lines, pos, indent);
        return Node::unsupported("complex keys (`?`) are not supported", first.no);
    }
    if split_key(&first.text).is_some() {
        return parse_map(lines, pos, indent);
    }
    *pos += 1;
    let node = inline_value(&first.text, first.no);
    if skip_deeper(lines, pos, indent) && !matches!(node, Node::Unsupported { .. }) {
        return Node::unsupported(
            "a value continued on the next line is not supported",
            first.no,
        );
    }
    node
}

fn parse_map(lines: &mut [Line], pos: &mut usize, indent: usize) -> Node {
    let mut entries: Vec<(String, Node)> = Vec::new();
    let mut broken: Option<Node> = None;
    while *pos < lines.len() && lines[*pos].indent == indent {
        let line = lines[*pos].clone();
        *pos += 1;
        let Some((key, rest)) = split_key(&line.text) else {
            skip_deeper(lines, pos, indent);
            broken.get_or_insert(Node::unsupported(
                format!("expected `key: value`, found {:?}", line.text),
                line.no,
            ));
            continue;
        };
        if key == "<<" || key.starts_with("? ") {
            skip_deeper(lines, pos, indent);
            broken.get_or_insert(Node::unsupported(
                "merge keys (`<<`) and complex keys are not supported",
                line.no,
            ));
            continue;
        }
        let mut value = if rest.is_empty() {
            match lines.get(*pos) {
                Some(next) if next.indent > indent => {
                    let child = next.indent;
                    parse_block(lines, pos, child)
                }
                Some(next) if next.indent == indent && is_seq_item(&next.text) => {
                    parse_seq(lines, pos, indent)
                }
                _ => Node::Null,
            }
        } else {
            let node = inline_value(rest, line.no);
            if skip_deeper(lines, pos, indent) && !matches!(node, Node::Unsupported { .. }) {
                Node::unsupported(
                    "a value continued on the next line is not supported",
                    line.no,
                )
            } else {
                node
            }
        };
        if skip_deeper(lines, pos, indent) {
            value = Node::unsupported(format!("inconsistent indentation under `{key}`"), line.no);
        }
        if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = Node::unsupported(format!("duplicate key `{key}`"), line.no);
            continue;
        }
        entries.push((key, value));
    }
    broken.unwrap_or(Node::Map(entries))
}

fn parse_seq(lines: &mut [Line], pos: &mut usize, indent: usize) -> Node {
    let mut items = Vec::new();
    while *pos < lines.len() && lines[*pos].indent == indent && is_seq_item(&lines[*pos].text) {
        let line = lines[*pos].clone();
        let rest = &line.text[1..];
        let content = rest.trim_start();
        let mut item = if content.is_empty() {
            *pos += 1;
            match lines.get(*pos) {
                Some(next) if next.indent > indent => {
                    let child = next.indent;
                    parse_block(lines, pos, child)
                }
                _ => Node::Null,
            }
        } else {
            let item_indent = indent + 1 + (rest.len() - content.len());
            lines[*pos] = Line {
                no: line.no,
                indent: item_indent,
                text: content.to_string(),
            };
            parse_block(lines, pos, item_indent)
        };
        if skip_deeper(lines, pos, indent) {
            item = Node::unsupported("inconsistent indentation in a sequence item", line.no);
        }
        items.push(item);
    }
    Node::Seq(items)
}

/// Whether a workflow runs on pull requests to a branch.
#[derive(Clone, Debug, PartialEq)]
pub enum Runs {
    /// Yes, through this event.
    Yes(String),
    /// No, and why.
    No(String),
    /// Cannot tell, and why (fails closed: counts as no).
    Unknown(String),
}

const PR_EVENTS: [&str; 2] = ["pull_request", "pull_request_target"];

/// Whether the workflow's top-level `on:` runs it on pull requests whose
/// base is `branch`, unconditionally (no path filter).
pub fn runs_on_pull_requests(root: &Node, branch: &str) -> Runs {
    let Some(on) = root.get("on") else {
        return Runs::No("it has no top-level `on:`".to_string());
    };
    match on {
        Node::Scalar(event) => {
            if PR_EVENTS.contains(&event.as_str()) {
                Runs::Yes(event.clone())
            } else {
                Runs::No(format!("it runs on `{event}` only"))
            }
        }
        Node::Seq(items) => {
            let mut events = Vec::new();
            for item in items {
                match item {
                    Node::Scalar(e) => events.push(e.clone()),
                    _ => {
                        return Runs::Unknown(
                            "`on:` lists something other than event names".to_string(),
                        )
                    }
                }
            }
            match events.iter().find(|e| PR_EVENTS.contains(&e.as_str())) {
                Some(e) => Runs::Yes(e.clone()),
                None => Runs::No(format!("it runs on {} only", events.join(", "))),
            }
        }
        Node::Map(entries) => {
            let mut reasons = Vec::new();
            let mut unknown = Vec::new();
            for event in PR_EVENTS {
                let Some((_, filters)) = entries.iter().find(|(k, _)| k == event) else {
                    continue;
                };
                match event_filters(event, filters, branch) {
                    Runs::Yes(why) => return Runs::Yes(why),
                    Runs::No(why) => reasons.push(why),
                    Runs::Unknown(why) => unknown.push(why),
                }
            }
            if !unknown.is_empty() {
                return Runs::Unknown(unknown.join("; "));
            }
            if reasons.is_empty() {
                let events: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                return Runs::No(format!("it runs on {} only", events.join(", ")));
            }
            Runs::No(reasons.join("; "))
        }
        Node::Unsupported { why, line } => Runs::Unknown(format!("`on:` at line {line}: {why}")),
        Node::Null => Runs::Unknown("`on:` is empty".to_string()),
    }
}

/// The types of `pull_request` events that must all run the workflow, or a
/// pull request's check goes stale or never appears.
const NEEDED_TYPES: [&str; 3] = ["opened", "synchronize", "reopened"];

fn event_filters(event: &str, filters: &Node, branch: &str) -> Runs {
    let entries = match filters {
        Node::Null => return Runs::Yes(event.to_string()),
        Node::Map(entries) => entries,
        Node::Unsupported { why, line } => {
            return Runs::Unknown(format!("`{event}:` at line {line}: {why}"))
        }
        _ => {
            return Runs::Unknown(format!(
                "`{event}:` is neither empty nor a mapping of filters"
            ))
        }
    };
    for (key, _) in entries {
        if ![
            "branches",
            "branches-ignore",
            "paths",
            "paths-ignore",
            "types",
        ]
        .contains(&key.as_str())
        {
            return Runs::Unknown(format!("`{event}.{key}` is not a filter this reader knows"));
        }
    }
    for key in ["paths", "paths-ignore"] {
        if filters.get(key).is_some() {
            return Runs::No(format!(
                "`{event}` has a `{key}` filter, so it does not run on pull requests that change no matching file (and those would wait for the check forever)"
            ));
        }
    }
    if let Some(types) = filters.get("types") {
        let listed = match strings(types) {
            Ok(list) => list,
            Err(why) => return Runs::Unknown(format!("`{event}.types`: {why}")),
        };
        let missing: Vec<&str> = NEEDED_TYPES
            .iter()
            .copied()
            .filter(|t| !listed.iter().any(|l| l == t))
            .collect();
        if !missing.is_empty() {
            return Runs::No(format!(
                "`{event}.types` leaves out {}, so the check is missing or stale on some pull requests",
                missing.join(", ")
            ));
        }
    }
    match (filters.get("branches"), filters.get("branches-ignore")) {
        (Some(_), Some(_)) => Runs::Unknown(format!(
            "`{event}` has both `branches` and `branches-ignore`, which GitHub rejects"
        )),
        (Some(list), None) => match strings(list).and_then(|p| branch_included(&p, branch)) {
            Ok(true) => Runs::Yes(format!("{event} (branches include {branch})")),
            Ok(false) => Runs::No(format!("`{event}.branches` does not include `{branch}`")),
            Err(why) => Runs::Unknown(format!("`{event}.branches`: {why}")),
        },
        (None, Some(list)) => match strings(list).and_then(|p| branch_ignored(&p, branch)) {
            Ok(false) => Runs::Yes(format!("{event} (branches-ignore leaves {branch} in)")),
            Ok(true) => Runs::No(format!("`{event}.branches-ignore` excludes `{branch}`")),
            Err(why) => Runs::Unknown(format!("`{event}.branches-ignore`: {why}")),
        },
        (None, None) => Runs::Yes(event.to_string()),
    }
}

/// A scalar or a sequence of scalars, as strings.
fn strings(node: &Node) -> Result<Vec<String>, String> {
    match node {
        Node::Scalar(s) => Ok(vec![s.clone()]),
        Node::Seq(items) => items
            .iter()
            .map(|i| match i {
                Node::Scalar(s) => Ok(s.clone()),
                _ => Err("expected a list of strings".to_string()),
            })
            .collect(),
        Node::Unsupported { why, line } => Err(format!("line {line}: {why}")),
        _ => Err("expected a string or a list of strings".to_string()),
    }
}

/// GitHub's `branches` semantics: patterns in order, a later match wins, a
/// `!pattern` excludes.
fn branch_included(patterns: &[String], branch: &str) -> Result<bool, String> {
    let mut included = false;
    for p in patterns {
        let (negated, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        if glob(p, branch)? {
            included = !negated;
        }
    }
    Ok(included)
}

fn branch_ignored(patterns: &[String], branch: &str) -> Result<bool, String> {
    for p in patterns {
        if p.starts_with('!') {
            return Err("`!` patterns are not allowed in branches-ignore".to_string());
        }
        if glob(p, branch)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// GitHub's filter glob, restricted to `*` (no `/`) and `**` (anything).
fn glob(pattern: &str, text: &str) -> Result<bool, String> {
    if pattern.contains(['?', '+', '[', ']', '\\']) {
        return Err(format!("pattern {pattern:?} uses `?`, `+`, `[…]` or escapes, which this reader does not evaluate"));
    }
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p {
            [] => t.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=t.len()).any(|i| go(rest, &t[i..])),
            [b'*', rest @ ..] => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            [c, rest @ ..] => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    Ok(go(pattern.as_bytes(), text.as_bytes()))
}

/// One job of a workflow and the check name it reports, or why its check
/// name cannot be known.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub key: String,
    pub check: Result<String, String>,
    /// The job has an `if:` (not evaluated here): when it skips, GitHub
    /// counts a required check as passed.
    pub conditional: bool,
}

/// The jobs of a workflow.
pub fn jobs(root: &Node) -> Result<Vec<Job>, String> {
    let entries = match root.get("jobs") {
        None => return Err("it has no top-level `jobs:`".to_string()),
        Some(Node::Map(entries)) => entries,
        Some(Node::Unsupported { why, line }) => {
            return Err(format!("`jobs:` at line {line}: {why}"))
        }
        Some(_) => return Err("`jobs:` is not a mapping".to_string()),
    };
    Ok(entries
        .iter()
        .map(|(key, job)| Job {
            key: key.clone(),
            check: check_name(key, job),
            conditional: job.get("if").is_some(),
        })
        .collect())
}

fn check_name(key: &str, job: &Node) -> Result<String, String> {
    let valid_key = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_key {
        return Err(format!("job key {key:?} is not a valid job id"));
    }
    if let Node::Unsupported { why, line } = job {
        return Err(format!("line {line}: {why}"));
    }
    if !matches!(job, Node::Map(_)) {
        return Err("the job is not a mapping".to_string());
    }
    if job.get("uses").is_some() {
        return Err(
            "it calls a reusable workflow, whose checks are named `<caller> / <called job>`"
                .to_string(),
        );
    }
    match job.get("strategy") {
        None | Some(Node::Null) => {}
        Some(strategy @ Node::Map(_)) => {
            if strategy.get("matrix").is_some() {
                return Err(
                    "it has a matrix, so its checks are named `<name> (<matrix values>)`"
                        .to_string(),
                );
            }
        }
        Some(Node::Unsupported { why, line }) => {
            return Err(format!("`strategy:` at line {line}: {why}"))
        }
        Some(_) => return Err("`strategy:` is not a mapping".to_string()),
    }
    match job.get("name") {
        None => Ok(key.to_string()),
        Some(Node::Scalar(name)) if name.contains("${{") => Err(format!(
            "its name {name:?} is an expression, evaluated only when it runs"
        )),
        Some(Node::Scalar(name)) => Ok(name.clone()),
        Some(Node::Unsupported { why, line }) => Err(format!("`name:` at line {line}: {why}")),
        Some(_) => Err("`name:` is not a string".to_string()),
    }
}

/// Where a check is produced.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Produced {
    pub check: String,
    pub workflow: String,
    pub job: String,
    /// The job has an `if:`; a skipped job satisfies the check.
    pub conditional: bool,
}

/// A required check that no workflow produces, with the near misses.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Missing {
    pub check: String,
    pub evidence: Vec<String>,
}

/// What step 1 found: every required check either produced or missing.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Findings {
    pub produced: Vec<Produced>,
    pub missing: Vec<Missing>,
    /// Workflows this reader could not read (shown as warnings).
    pub unreadable: Vec<String>,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "required check `{}` is produced by no workflow job that runs on pull requests",
            self.check
        )?;
        for e in &self.evidence {
            write!(f, "\n    {e}")?;
        }
        Ok(())
    }
}

/// Checks every required check against the workflows (`(path, text)`), for
/// pull requests whose base is `branch`.
pub fn check_required(files: &[(String, String)], branch: &str, required: &[String]) -> Findings {
    struct Read {
        path: String,
        runs: Runs,
        jobs: Result<Vec<Job>, String>,
    }
    let mut read = Vec::new();
    let mut findings = Findings::default();
    for (path, text) in files {
        match parse(text) {
            Ok(root) => read.push(Read {
                path: path.clone(),
                runs: runs_on_pull_requests(&root, branch),
                jobs: jobs(&root),
            }),
            Err(why) => findings.unreadable.push(format!("{path}: {why}")),
        }
    }
    for check in required {
        let mut found = None;
        let mut evidence = Vec::new();
        for wf in &read {
            let jobs = match &wf.jobs {
                Ok(jobs) => jobs,
                Err(why) => {
                    evidence.push(format!("{}: its jobs cannot be read: {why}", wf.path));
                    continue;
                }
            };
            for job in jobs {
                match (&job.check, &wf.runs) {
                    (Ok(name), Runs::Yes(_)) if name == check => {
                        found.get_or_insert(Produced {
                            check: check.clone(),
                            workflow: wf.path.clone(),
                            job: job.key.clone(),
                            conditional: job.conditional,
                        });
                    }
                    (Ok(name), Runs::No(why)) if name == check => {
                        evidence.push(format!("{}: job `{}` reports `{check}`, but the workflow does not run on pull requests to `{branch}`: {why}", wf.path, job.key));
                    }
                    (Ok(name), Runs::Unknown(why)) if name == check => {
                        evidence.push(format!("{}: job `{}` reports `{check}`, but whether the workflow runs on pull requests to `{branch}` cannot be read: {why}", wf.path, job.key));
                    }
                    (Ok(name), _) if job.key == *check => {
                        evidence.push(format!("{}: job `{}` has `name: {name}`, so its check is `{name}`, not `{check}`", wf.path, job.key));
                    }
                    (Err(why), _) if job.key == *check || why.contains(&format!("\"{check}\"")) => {
                        evidence.push(format!(
                            "{}: job `{}` does not report a check named `{check}`: {why}",
                            wf.path, job.key
                        ));
                    }
                    _ => {}
                }
            }
        }
        match found {
            Some(p) => findings.produced.push(p),
            None => {
                if evidence.is_empty() {
                    evidence.push(format!("no job in .github/workflows/ has that id or `name:` ({} workflow file(s) read)", read.len()));
                }
                evidence.extend(
                    findings
                        .unreadable
                        .iter()
                        .map(|u| format!("{u} (this reader cannot tell what it produces)")),
                );
                findings.missing.push(Missing {
                    check: check.clone(),
                    evidence,
                });
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Node)]) -> Node {
        Node::Map(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }
    fn s(v: &str) -> Node {
        Node::Scalar(v.to_string())
    }

    #[track_caller]
    fn check_parse(text: &str, expected: Node) {
        assert_eq!(parse(text).unwrap(), expected, "{text}");
    }

    #[track_caller]
    fn check_runs(text: &str, expected: Runs) {
        let root = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(runs_on_pull_requests(&root, "main"), expected, "{text}");
    }

    fn yes(why: &str) -> Runs {
        Runs::Yes(why.to_string())
    }

    #[test]
    fn block_mappings_sequences_and_scalars() {
        check_parse(
            "---\n# top\nname: CI  # trailing\non:\n  push:\n    branches:\n    - main\n    - 'rel/*'\n  pull_request:\nx: \"a # b\"\ny: Bob's job # c\nz: [a, 'b, c', \"d\"]\n",
            map(&[
                ("name", s("CI")),
                ("on", map(&[("push", map(&[("branches", Node::Seq(vec![s("main"), s("rel/*")]))])), ("pull_request", Node::Null)])),
                ("x", s("a # b")),
                ("y", s("Bob's job")),
                ("z", Node::Seq(vec![s("a"), s("b, c"), s("d")])),
            ]),
        );
    }

    #[test]
    fn sequences_of_mappings_and_skipped_scripts() {
        let text = "jobs:\n  a:\n    steps:\n      - uses: x\n        with:\n          k: v\n      - run: |\n          echo 'unbalanced\n          key: value\n          - item\n    name: A\n";
        let root = parse(text).unwrap();
        let a = root.get("jobs").unwrap().get("a").unwrap();
        assert_eq!(a.get("name"), Some(&s("A")));
        match a.get("steps").unwrap() {
            Node::Seq(items) => {
                assert_eq!(items.len(), 2);
                assert_eq!(items[0].get("with"), Some(&map(&[("k", s("v"))])));
                assert!(matches!(
                    items[1].get("run"),
                    Some(Node::Unsupported { .. })
                ));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsupported_constructs_are_marked_not_guessed() {
        for (text, why) in [
            ("on: {pull_request: null}\n", "flow mappings"),
            ("on: &x pull_request\n", "anchors"),
            ("on: [push,\n  pull_request]\n", "spanning lines"),
            ("on: pull_request\non: push\n", "duplicate key"),
            ("on:\n  <<: *base\n", "merge keys"),
            ("on: \"pull_\n  request\"\n", "quoted scalar continued"),
            (
                "on:\n    pull_request:\n  push:\n",
                "inconsistent indentation",
            ),
        ] {
            let root = parse(text).unwrap();
            match runs_on_pull_requests(&root, "main") {
                Runs::Unknown(msg) => assert!(msg.contains(why), "{text}: {msg}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        for (text, why) in [
            ("a: 1\n---\nb: 2\n", "several YAML documents"),
            ("%YAML 1.2\na: 1\n", "directives"),
            ("- a\n", "not a mapping"),
            ("", "empty"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn on_in_string_list_and_map_forms() {
        check_runs("on: pull_request\n", yes("pull_request"));
        check_runs("'on': pull_request_target\n", yes("pull_request_target"));
        check_runs("on: push\n", Runs::No("it runs on `push` only".into()));
        check_runs("on: [push, pull_request]\n", yes("pull_request"));
        check_runs("on:\n  - push\n  - pull_request\n", yes("pull_request"));
        check_runs(
            "on:\n- schedule\n",
            Runs::No("it runs on schedule only".into()),
        );
        check_runs("on:\n  push:\n  pull_request:\n", yes("pull_request"));
        check_runs("\u{feff}on:\n  pull_request: {}\n", yes("pull_request"));
        check_runs(
            "on:\n  push:\n    branches: [main]\n",
            Runs::No("it runs on push only".into()),
        );
        check_runs("name: x\n", Runs::No("it has no top-level `on:`".into()));
    }

    #[test]
    fn branch_filters_decide_for_the_protected_branch() {
        check_runs(
            "on:\n  pull_request:\n    branches: [main]\n",
            yes("pull_request (branches include main)"),
        );
        check_runs(
            "on:\n  pull_request:\n    branches:\n      - 'release/**'\n      - main\n",
            yes("pull_request (branches include main)"),
        );
        check_runs(
            "on:\n  pull_request:\n    branches: '*'\n",
            yes("pull_request (branches include main)"),
        );
        check_runs(
            "on:\n  pull_request:\n    branches: [develop]\n",
            Runs::No("`pull_request.branches` does not include `main`".into()),
        );
        check_runs(
            "on:\n  pull_request:\n    branches: ['**', '!main']\n",
            Runs::No("`pull_request.branches` does not include `main`".into()),
        );
        check_runs(
            "on:\n  pull_request:\n    branches: ['!main', 'ma*']\n",
            yes("pull_request (branches include main)"),
        );
        check_runs(
            "on:\n  pull_request:\n    branches-ignore: [main]\n",
            Runs::No("`pull_request.branches-ignore` excludes `main`".into()),
        );
        check_runs(
            "on:\n  pull_request:\n    branches-ignore: [dev]\n",
            yes("pull_request (branches-ignore leaves main in)"),
        );
        check_runs(
            "on:\n  pull_request:\n    branches: [develop]\n  pull_request_target:\n    branches: [main]\n",
            yes("pull_request_target (branches include main)"),
        );
        match runs_on_pull_requests(
            &parse("on:\n  pull_request:\n    branches: ['ma?n']\n").unwrap(),
            "main",
        ) {
            Runs::Unknown(why) => assert!(why.contains("does not evaluate"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_filters_and_partial_types_do_not_count() {
        for text in [
            "on:\n  pull_request:\n    paths: ['src/**']\n",
            "on:\n  pull_request:\n    branches: [main]\n    paths-ignore: ['docs/**']\n",
            "on:\n  pull_request:\n    types: [opened]\n",
        ] {
            assert!(
                matches!(
                    runs_on_pull_requests(&parse(text).unwrap(), "main"),
                    Runs::No(_)
                ),
                "{text}"
            );
        }
        check_runs(
            "on:\n  pull_request:\n    types: [opened, synchronize, reopened, labeled]\n",
            yes("pull_request"),
        );
        assert!(matches!(
            runs_on_pull_requests(
                &parse("on:\n  pull_request:\n    tags: [v1]\n").unwrap(),
                "main"
            ),
            Runs::Unknown(_)
        ));
    }

    #[test]
    fn job_check_names() {
        let text = "jobs:\n  check:\n    runs-on: x\n  test:\n    if: github.event_name == 'pull_request' # only PRs\n    name: \"Unit tests\"\n  matrix:\n    strategy:\n      matrix:\n        os: [a, b]\n  call:\n    uses: ./.github/workflows/x.yml\n  expr:\n    name: ${{ matrix.os }}\n";
        let jobs = jobs(&parse(text).unwrap()).unwrap();
        let names: Vec<_> = jobs
            .iter()
            .map(|j| {
                (
                    j.key.as_str(),
                    j.check
                        .as_ref()
                        .map(String::as_str)
                        .map_err(|e| e.split(',').next().unwrap()),
                )
            })
            .collect();
        assert_eq!(names[0], ("check", Ok("check")));
        assert_eq!(names[1], ("test", Ok("Unit tests")));
        assert_eq!((jobs[0].conditional, jobs[1].conditional), (false, true));
        assert!(names[2].1.unwrap_err().contains("matrix"));
        assert!(names[3].1.unwrap_err().contains("reusable workflow"));
        assert!(names[4].1.unwrap_err().contains("expression"));
    }

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("main", "main", true),
            ("*", "main", true),
            ("*", "a/b", false),
            ("**", "a/b", true),
            ("rel/*", "rel/1", true),
            ("m*n", "main", true),
            ("mai", "main", false),
        ] {
            assert_eq!(glob(p, t).unwrap(), want, "{p} {t}");
        }
    }

    #[test]
    fn required_checks_are_matched_against_pull_request_jobs() {
        let files = vec![
            (".github/workflows/ci.yml".to_string(), "on:\n  pull_request:\n    branches: [main]\njobs:\n  check:\n    name: Lint\n  test:\n    runs-on: x\n".to_string()),
            (".github/workflows/release.yml".to_string(), "on: push\njobs:\n  deploy:\n    runs-on: x\n".to_string()),
            (".github/workflows/odd.yml".to_string(), "on: {pull_request: null}\njobs:\n  odd:\n    runs-on: x\n".to_string()),
            (".github/workflows/broken.yml".to_string(), "a: 1\n---\nb: 2\n".to_string()),
        ];
        let required = ["Lint", "test", "deploy", "odd", "check"].map(String::from);
        let f = check_required(&files, "main", &required);
        let produced: Vec<_> = f
            .produced
            .iter()
            .map(|p| (p.check.as_str(), p.job.as_str()))
            .collect();
        assert_eq!(produced, [("Lint", "check"), ("test", "test")]);
        let missing: Vec<_> = f.missing.iter().map(|m| m.check.as_str()).collect();
        assert_eq!(missing, ["deploy", "odd", "check"]);
        let deploy = f.missing[0].to_string();
        assert!(deploy.contains("release.yml: job `deploy` reports `deploy`, but the workflow does not run on pull requests to `main`: it runs on `push` only"), "{deploy}");
        assert!(
            deploy.contains("broken.yml: line 2: several YAML documents"),
            "{deploy}"
        );
        let odd = f.missing[1].to_string();
        assert!(
            odd.contains("odd.yml: job `odd` reports `odd`, but whether the workflow runs"),
            "{odd}"
        );
        assert!(f.missing[2]
            .to_string()
            .contains("ci.yml: job `check` has `name: Lint`, so its check is `Lint`, not `check`"));
        assert_eq!(f.unreadable.len(), 1);
    }
}
