//! A workflow file as a tree of values with their lines, read by a real YAML
//! 1.2 parser (saphyr-parser's event stream), so that a file GitHub rejects
//! is refused here too, with its line.
//!
//! Plain scalars are typed by the YAML 1.2 core schema, as GitHub types them
//! (`3.10` is the number 3.1, `true` a boolean, `on` a string). Anchors and
//! aliases are resolved. Refused, because GitHub refuses them or because
//! their meaning there is not certain: several documents, merge keys (`<<`),
//! duplicate keys, keys that are not scalars, tags.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

/// A value and the 1-based line where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }
}

/// Parses a whole workflow file into its top-level mapping. `Err` says why
/// and where: a YAML error, or a construct GitHub does not accept.
pub fn parse(text: &str) -> Result<Node, String> {
    let mut text = text.to_string();
    let mut reindented = 0;
    loop {
        match scan(&text) {
            Ok(events) => return build(events),
            Err(e) if lenient(e.info()) && reindented < MAX_REINDENT => {
                reindent(&mut text, e.marker().line());
                reindented += 1;
            }
            Err(e) => {
                return Err(format!(
                    "line {}: not valid YAML ({}), so GitHub rejects the whole file",
                    e.marker().line(),
                    e.info()
                ))
            }
        }
    }
}

/// How many lines of a flow collection `parse` indents before giving up.
const MAX_REINDENT: usize = 200;

/// A line inside a flow collection (`[`…`]`, `{`…`}`) indented less than
/// the block holding it: the YAML 1.2 spec refuses it and so does this
/// parser, but GitHub's reader (like libyaml) accepts it, and real
/// workflows rely on that (a multi-line list closed by `]` under its key).
/// Inside a flow collection, leading spaces carry no meaning, so such a
/// line is indented one more space and the file read again.
fn lenient(info: &str) -> bool {
    info == "invalid indentation" || info == "invalid indentation in flow construct"
}

fn reindent(text: &mut String, line: usize) {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    text.insert(start, ' ');
}

fn scan(text: &str) -> Result<Vec<(Event<'_>, Span)>, ScanError> {
    Parser::new_from_str(text).collect()
}

fn build(events: Vec<(Event<'_>, Span)>) -> Result<Node, String> {
    let mut builder = Builder {
        events: events.into_iter(),
        anchors: HashMap::new(),
        size: 0,
    };
    let mut documents = Vec::new();
    while let Some((event, span)) = builder.events.next() {
        match event {
            Event::DocumentStart(_) => documents.push(builder.node()?),
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            _ => return Err(format!("line {}: unexpected YAML event", line(&span))),
        }
        if documents.len() > 1 {
            return Err(format!(
                "line {}: several YAML documents in one file; GitHub reads one",
                documents[1].line
            ));
        }
    }
    match documents.pop() {
        None => Err("the file is empty".to_string()),
        Some(
            root @ Node {
                value: Value::Map(_),
                ..
            },
        ) => Ok(root),
        Some(_) => Err("the top level is not a mapping".to_string()),
    }
}

fn line(span: &Span) -> usize {
    span.start.line()
}

/// The most values a file may expand to through aliases: a few aliases of
/// aliases (a "billion laughs") would otherwise take all memory.
const MAX_VALUES: usize = 100_000;

struct Builder<'a> {
    events: std::vec::IntoIter<(Event<'a>, Span)>,
    /// Each anchor's value and how many values it holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// How many values the tree holds so far, aliases expanded.
    size: usize,
}

impl Builder<'_> {
    /// The node whose first event comes next.
    fn node(&mut self) -> Result<Node, String> {
        let Some((event, span)) = self.events.next() else {
            return Err("the file ends inside a value".to_string());
        };
        let line = line(&span);
        let start = self.size;
        self.size += 1;
        if self.size > MAX_VALUES {
            return Err(format!(
                "line {line}: the file expands to more than {MAX_VALUES} values through aliases"
            ));
        }
        let (anchor, node) = match event {
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id) else {
                    return Err(format!("line {line}: an alias to an unknown anchor"));
                };
                self.size += size - 1;
                if self.size > MAX_VALUES {
                    return Err(format!(
                        "line {line}: the file expands to more than {MAX_VALUES} values through aliases"
                    ));
                }
                return Ok(node.clone());
            }
            Event::Scalar(text, style, anchor, tag) => {
                if tag.is_some() {
                    return Err(format!("line {line}: tags (`!…`) are not supported"));
                }
                let value = scalar(&text, style);
                (anchor, Node { line, value })
            }
            Event::SequenceStart(anchor, tag) => {
                if tag.is_some() {
                    return Err(format!("line {line}: tags (`!…`) are not supported"));
                }
                let mut items = Vec::new();
                while !self.next_is(|e| matches!(e, Event::SequenceEnd)) {
                    items.push(self.node()?);
                }
                self.events.next();
                (
                    anchor,
                    Node {
                        line,
                        value: Value::Seq(items),
                    },
                )
            }
            Event::MappingStart(anchor, tag) => {
                if tag.is_some() {
                    return Err(format!("line {line}: tags (`!…`) are not supported"));
                }
                (anchor, self.mapping(line)?)
            }
            _ => return Err(format!("line {line}: unexpected YAML event")),
        };
        if anchor != 0 {
            self.anchors
                .insert(anchor, (node.clone(), self.size - start));
        }
        Ok(node)
    }

    fn mapping(&mut self, line: usize) -> Result<Node, String> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while !self.next_is(|e| matches!(e, Event::MappingEnd)) {
            let key = self.node()?;
            let Value::Str(name) = plain_key(&key) else {
                return Err(format!(
                    "line {}: a mapping key that is not a string",
                    key.line
                ));
            };
            if name == "<<" {
                return Err(format!(
                    "line {}: merge keys (`<<`) are not supported by GitHub",
                    key.line
                ));
            }
            if entries.iter().any(|(k, _)| *k == name) {
                return Err(format!(
                    "line {}: duplicate key `{name}`, which GitHub rejects",
                    key.line
                ));
            }
            let value = self.node()?;
            entries.push((name, value));
        }
        self.events.next();
        Ok(Node {
            line,
            value: Value::Map(entries),
        })
    }

    fn next_is(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.as_slice().first().is_some_and(|(e, _)| f(e))
    }
}

/// A key as text: GitHub's keys are strings, and a plain `3.10` key stays
/// `3.10`. Keys that are collections stay what they are (refused).
fn plain_key(key: &Node) -> Value {
    match &key.value {
        Value::Str(s) => Value::Str(s.clone()),
        Value::Null => Value::Str(String::new()),
        Value::Bool(b) => Value::Str(b.to_string()),
        Value::Number(n) => Value::Str(n.to_string()),
        other => other.clone(),
    }
}

/// A scalar typed by the YAML 1.2 core schema (quoted and block scalars are
/// strings).
fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    number(text).map_or_else(|| Value::Str(text.to_string()), Value::Number)
}

/// The core schema's numbers: decimal integers and floats, `0o` octal,
/// `0x` hexadecimal, `.inf`, `.nan`.
fn number(text: &str) -> Option<f64> {
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(oct) = text.strip_prefix("0o").filter(|s| digits(s, 8)) {
        return u64::from_str_radix(oct, 8).ok().map(|n| n as f64);
    }
    if let Some(hex) = text.strip_prefix("0x").filter(|s| digits(s, 16)) {
        return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let ok_mantissa = match frac {
        None => digits(int, 10),
        Some(f) => {
            (int.is_empty() || digits(int, 10))
                && (f.is_empty() || digits(f, 10))
                && !(int.is_empty() && f.is_empty())
        }
    };
    let ok_exponent = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    (ok_mantissa && ok_exponent)
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_string())
    }

    fn values(node: &Node) -> Vec<(String, Value)> {
        node.entries()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    }

    #[track_caller]
    fn check(text: &str, expected: &[(&str, Value)]) {
        let root = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let expected: Vec<(String, Value)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(values(&root), expected, "{text}");
    }

    #[track_caller]
    fn refused(text: &str, why: &str) {
        let err = parse(text).unwrap_err();
        assert!(err.contains(why), "{text}: {err}");
    }

    #[test]
    fn scalars_are_typed_like_github_types_them() {
        check(
            "on: push\na: 3.10\nb: '3.10'\nc: 18\nd: true\ne: ~\nf: 0x1F\ng: 1e3\nh: 1.2.3\ni: -.5\nj: 2_17\nk: yes\nl: 010\n",
            &[
                ("on", s("push")),
                ("a", Value::Number(3.1)),
                ("b", s("3.10")),
                ("c", Value::Number(18.0)),
                ("d", Value::Bool(true)),
                ("e", Value::Null),
                ("f", Value::Number(31.0)),
                ("g", Value::Number(1000.0)),
                ("h", s("1.2.3")),
                ("i", Value::Number(-0.5)),
                ("j", s("2_17")),
                ("k", s("yes")),
                ("l", Value::Number(10.0)),
            ],
        );
    }

    #[test]
    fn folded_escaped_and_block_values_read_right() {
        check(
            "a: >-\n  Unit\n  tests\nb: \"Lint \\u00e9 \\\"x\\\"\"\nc: 'it''s'\nd: |\n  echo 'unbalanced\n  key: value\ne: Bob's job # comment\n...\n",
            &[
                ("a", s("Unit tests")),
                ("b", s("Lint é \"x\"")),
                ("c", s("it's")),
                ("d", s("echo 'unbalanced\nkey: value\n")),
                ("e", s("Bob's job")),
            ],
        );
    }

    #[test]
    fn anchors_and_aliases_are_resolved() {
        let root = parse("x: &prs\n  branches: [main]\non:\n  push: *prs\n  pull_request: *prs\n")
            .unwrap();
        let on = root.get("on").unwrap();
        assert_eq!(on.get("pull_request"), root.get("x"));
        assert_eq!(
            on.get("push").unwrap().get("branches").unwrap().value,
            Value::Seq(vec![Node {
                line: 2,
                value: s("main")
            }])
        );
    }

    #[test]
    fn flow_lists_closed_under_their_key_are_read_as_github_reads_them() {
        let text = "jobs:\n  a:\n    strategy:\n      matrix:\n        env: [\n          \"py312\",\n\n          \"docs\",\n        ]\n        os:\n          - [\n            a,\n            b\n          ]\n    name: A\n";
        let root = parse(text).unwrap_or_else(|e| panic!("{e}"));
        let a = root.get("jobs").unwrap().get("a").unwrap();
        let matrix = a.get("strategy").unwrap().get("matrix").unwrap();
        let env: Vec<_> = match &matrix.get("env").unwrap().value {
            Value::Seq(items) => items.iter().map(|i| i.value.clone()).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(env, [s("py312"), s("docs")]);
        assert_eq!(a.get("name").unwrap().line, 15);
        // Indentation still matters outside flow collections.
        refused("a:\n    b: 1\n  c: 2\n", "line 3: not valid YAML");
    }

    #[test]
    fn aliases_that_expand_without_bound_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        refused(&text, "more than 100000 values through aliases");
        // A few aliases of modest size are fine.
        assert!(parse("a: &a [x, y]\nb: [*a, *a]\nc: *a\n").is_ok());
    }

    #[test]
    fn lines_are_one_based() {
        let root = parse("# c\non: push\njobs:\n  a:\n    name: A\n").unwrap();
        assert_eq!(root.get("on").unwrap().line, 2);
        assert_eq!(
            root.get("jobs")
                .unwrap()
                .get("a")
                .unwrap()
                .get("name")
                .unwrap()
                .line,
            5
        );
    }

    #[test]
    fn files_github_rejects_are_refused_with_their_line() {
        refused(
            "on: push\njobs:\n  a:\n    name: Test: unit\n",
            "line 4: not valid YAML",
        );
        refused(
            "on: push\njobs:\n  a:\n    steps:\n      - run: echo one\n    two: \"x\n",
            "not valid YAML",
        );
        refused("on: push\non: pull_request\n", "line 2: duplicate key `on`");
        refused("b: &b {x: 1}\nc:\n  <<: *b\n", "line 3: merge keys");
        refused("a: 1\n---\nb: 2\n", "line 3: several YAML documents");
        refused("a: !!str 1\n", "tags");
        refused("- a\n", "not a mapping");
        refused("", "empty");
        refused("? [a]\n: b\n", "not a string");
    }
}
