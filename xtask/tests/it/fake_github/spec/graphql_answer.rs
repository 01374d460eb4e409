//! The fake's GraphQL answers checked against GitHub's GraphQL schema (npm
//! `@octokit/graphql-schema`) and the query they answer: `data` holds every
//! field the query selects and nothing else, each value has its type's shape
//! (object, list, scalar, one of an enum's values, never null where the type
//! is non-null), and every entry of `errors` has a message. An answer GitHub
//! could not give is a violation, as a request GitHub would refuse is, so the
//! tool's reading of answers is tested against shapes GitHub really sends.

use serde_json::Value;

use super::{named_type, type_string, Spec};

/// One field of a selection set: the key it has in the answer (its alias, or
/// its name), the schema field it selects, and its own selection.
#[derive(Debug)]
struct Selected {
    key: String,
    field: String,
    selection: Vec<Selected>,
}

impl Spec {
    /// Checks a `200` answer `answer` to the GraphQL request `request`.
    pub fn check_graphql_answer(&self, request: &str, answer: &str) -> Result<(), String> {
        let request: Value = serde_json::from_str(request)
            .map_err(|e| format!("GraphQL: the request is not JSON ({e})"))?;
        let query = request["query"].as_str().ok_or("GraphQL: no query")?;
        let answer: Value =
            serde_json::from_str(answer).map_err(|e| format!("GraphQL answer: not JSON ({e})"))?;
        let top = answer
            .as_object()
            .ok_or("GraphQL answer: not a JSON object")?;
        if let Some(key) = top
            .keys()
            .find(|k| !["data", "errors", "extensions"].contains(&k.as_str()))
        {
            return Err(format!("GraphQL answer: unknown top-level key {key:?}"));
        }
        let errors = top.get("errors");
        if let Some(errors) = errors {
            let list = errors
                .as_array()
                .filter(|l| !l.is_empty())
                .ok_or("GraphQL answer: errors is not a non-empty list")?;
            if let Some(e) = list.iter().find(|e| !e["message"].is_string()) {
                return Err(format!("GraphQL answer: an error without a message: {e}"));
            }
        }
        let data = match top.get("data") {
            Some(Value::Null) | None if errors.is_some() => return Ok(()),
            None => return Err("GraphQL answer: neither data nor errors".into()),
            Some(data) => data,
        };
        let (kind, selection) = parse_query(query)?;
        let root = self.graphql_root(kind)?;
        // A field that failed is null; where its type is non-null, the null
        // moves up to the nearest nullable parent (GraphQL's rules), so a
        // null is never where the type says non-null, errors or not.
        self.check_object(root, &selection, data, "data")
    }

    fn check_object(
        &self,
        type_name: &str,
        selection: &[Selected],
        value: &Value,
        path: &str,
    ) -> Result<(), String> {
        let object = value.as_object().ok_or_else(|| {
            format!("GraphQL answer: {path} is {value}, not a {type_name} object")
        })?;
        if let Some(key) = object
            .keys()
            .find(|k| !selection.iter().any(|s| &s.key == *k))
        {
            return Err(format!(
                "GraphQL answer: {path}.{key} is not in the query's selection"
            ));
        }
        for s in selection {
            let at = format!("{path}.{}", s.key);
            let value = object.get(&s.key).ok_or_else(|| {
                format!("GraphQL answer: {at} is missing (GitHub answers every selected field)")
            })?;
            if s.field == "__typename" {
                if !value.is_string() {
                    return Err(format!("GraphQL answer: {at} is not a type name"));
                }
                continue;
            }
            let field = self.graphql_field(type_name, &s.field)?;
            self.check_value(&field["type"], s, value, &at)?;
        }
        Ok(())
    }

    fn check_value(&self, ty: &Value, s: &Selected, value: &Value, at: &str) -> Result<(), String> {
        let wrong = |what: &str| {
            Err(format!(
                "GraphQL answer: {at} is {value}, but {} is {what}",
                type_string(ty)
            ))
        };
        match ty["kind"].as_str() {
            Some("NON_NULL") if value.is_null() => wrong("never null"),
            Some("NON_NULL") => self.check_value(&ty["ofType"], s, value, at),
            _ if value.is_null() => Ok(()),
            Some("LIST") => match value.as_array() {
                Some(items) => items.iter().enumerate().try_for_each(|(i, item)| {
                    self.check_value(&ty["ofType"], s, item, &format!("{at}[{i}]"))
                }),
                None => wrong("a list"),
            },
            Some("OBJECT" | "INTERFACE") if s.selection.is_empty() => Err(format!(
                "GraphQL: {at} selects no fields of {}",
                named_type(ty)
            )),
            Some("OBJECT" | "INTERFACE") => {
                self.check_object(named_type(ty), &s.selection, value, at)
            }
            Some("ENUM") => {
                let t = self.graphql_type(named_type(ty))?;
                let known = value.is_string()
                    && t["enumValues"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| &e["name"] == value);
                if known {
                    Ok(())
                } else {
                    wrong("an enum, and that is none of its values")
                }
            }
            Some("SCALAR") => {
                let ok = match named_type(ty) {
                    "Int" => value.is_i64(),
                    "Float" => value.is_number(),
                    "Boolean" => value.is_boolean(),
                    // String, ID and GitHub's own scalars (DateTime, URI,
                    // GitObjectID, HTML, ...) are strings in JSON.
                    _ => value.is_string(),
                };
                if ok {
                    Ok(())
                } else {
                    wrong("a scalar of another JSON type")
                }
            }
            other => Err(format!(
                "GraphQL: {at} has a type this check does not read ({other:?}: a union needs fragments)"
            )),
        }
    }
}

/// The operation's kind and its selection set, from `mutation($a: T!) {
/// field(arg: …) { sub { … } } }`. Fragments and directives are refused: the
/// fake checks only what it can read completely.
fn parse_query(query: &str) -> Result<(&'static str, Vec<Selected>), String> {
    let q = query.trim_start();
    let kind = if q.starts_with("mutation") {
        "mutation"
    } else if q.starts_with("query") || q.starts_with('{') {
        "query"
    } else {
        return Err(format!("GraphQL: cannot read the operation {q:?}"));
    };
    let mut p = Parser {
        s: q.as_bytes(),
        i: 0,
    };
    // The operation's header: its name and variable definitions.
    while p.i < p.s.len() && p.s[p.i] != b'{' {
        if p.s[p.i] == b'(' {
            p.skip_balanced()?;
        } else {
            p.i += 1;
        }
    }
    if p.i == p.s.len() {
        return Err("GraphQL: no selection set".into());
    }
    p.i += 1;
    let selection = p.selection()?;
    p.blank();
    if p.i != p.s.len() {
        return Err("GraphQL: text after the operation (one operation per request)".into());
    }
    Ok((kind, selection))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    /// Skips white space, commas and `#` comments.
    fn blank(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'#' => {
                    while self.s.get(self.i).is_some_and(|&c| c != b'\n') {
                        self.i += 1;
                    }
                }
                c if c.is_ascii_whitespace() || c == b',' => self.i += 1,
                _ => break,
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.i += 1;
        }
        if start == self.i {
            return Err(format!("GraphQL: a field name expected at byte {start}"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// The fields up to the `}` that closes a selection set whose `{` was read.
    fn selection(&mut self) -> Result<Vec<Selected>, String> {
        let mut fields = Vec::new();
        loop {
            self.blank();
            match self.s.get(self.i) {
                None => return Err("GraphQL: unclosed selection set".into()),
                Some(b'}') => {
                    self.i += 1;
                    return Ok(fields);
                }
                Some(b'.') => return Err("GraphQL: fragments are not checked".into()),
                Some(_) => {}
            }
            let first = self.name()?;
            self.blank();
            let (key, field) = if self.s.get(self.i) == Some(&b':') {
                self.i += 1;
                self.blank();
                (first, self.name()?)
            } else {
                (first.clone(), first)
            };
            self.blank();
            if self.s.get(self.i) == Some(&b'(') {
                self.skip_balanced()?;
                self.blank();
            }
            if self.s.get(self.i) == Some(&b'@') {
                return Err("GraphQL: directives are not checked".into());
            }
            let selection = if self.s.get(self.i) == Some(&b'{') {
                self.i += 1;
                self.selection()?
            } else {
                Vec::new()
            };
            fields.push(Selected {
                key,
                field,
                selection,
            });
        }
    }

    /// Skips from an opening bracket to the one that closes it, over strings.
    fn skip_balanced(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            match c {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                b'"' => {
                    while let Some(&c) = self.s.get(self.i) {
                        self.i += 1;
                        match c {
                            b'\\' => self.i += 1,
                            b'"' => break,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Err("GraphQL: unclosed arguments".into())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::spec;

    /// The tool's one GraphQL request (task-finish's auto-merge).
    const MUTATION: &str = "mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID!) { enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid}) { pullRequest { number autoMergeRequest { enabledAt mergeMethod } } } }";

    fn check(answer: serde_json::Value) -> Result<(), String> {
        let request = json!({ "query": MUTATION, "variables": {} }).to_string();
        spec().check_graphql_answer(&request, &answer.to_string())
    }

    fn enabled(auto_merge: serde_json::Value) -> serde_json::Value {
        json!({ "data": { "enablePullRequestAutoMerge": { "pullRequest": {
            "number": 5, "autoMergeRequest": auto_merge } } } })
    }

    #[test]
    fn answers_github_gives_pass() {
        check(enabled(
            json!({ "enabledAt": "2026-01-01T00:00:00Z", "mergeMethod": "SQUASH" }),
        ))
        .unwrap();
        // A nullable object may be null.
        check(enabled(json!(null))).unwrap();
        // A refusal: HTTP 200, `errors`, and the failed field null.
        check(json!({
            "data": { "enablePullRequestAutoMerge": null },
            "errors": [{ "type": "UNPROCESSABLE", "path": ["enablePullRequestAutoMerge"],
                         "message": "Auto-merge is not allowed for this repository" }]
        }))
        .unwrap();
        check(json!({ "errors": [{ "message": "Bad credentials" }] })).unwrap();
    }

    #[test]
    fn answers_github_cannot_give_are_violations() {
        let bad = |answer: serde_json::Value, why: &str| {
            let err = check(answer.clone()).expect_err(&format!("{answer} must fail"));
            assert!(err.contains(why), "{answer}: {err} (wanted {why:?})");
        };
        bad(
            enabled(json!({ "enabledAt": "2026-01-01T00:00:00Z", "mergeMethod": "squash" })),
            "none of its values",
        );
        bad(
            enabled(json!({ "enabledAt": "2026-01-01T00:00:00Z" })),
            "autoMergeRequest.mergeMethod is missing",
        );
        bad(
            enabled(json!({ "enabledAt": 1, "mergeMethod": "SQUASH" })),
            "another JSON type",
        );
        bad(
            json!({ "data": { "enablePullRequestAutoMerge": { "pullRequest": {
                "number": "5", "autoMergeRequest": null } } } }),
            "pullRequest.number is \"5\"",
        );
        bad(
            json!({ "data": { "enablePullRequestAutoMerge": { "pullRequest": {
                "number": 5, "autoMergeRequest": null, "state": "OPEN" } } } }),
            "pullRequest.state is not in the query's selection",
        );
        bad(json!({ "data": null }), "not a Mutation object");
        bad(
            json!({ "data": { "enablePullRequestAutoMerge": { "pullRequest": {
                        "number": null, "autoMergeRequest": null } } },
                    "errors": [{ "message": "Something went wrong" }] }),
            "but Int! is never null",
        );
        bad(json!({}), "neither data nor errors");
        bad(json!({ "errors": [] }), "non-empty list");
        bad(
            json!({ "errors": [{ "type": "FORBIDDEN" }] }),
            "without a message",
        );
        bad(
            json!({ "data": {}, "status": "ok" }),
            "unknown top-level key",
        );
    }
}
