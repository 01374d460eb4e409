//! GitHub's official API contract, for the fake server: the REST API's
//! OpenAPI description (npm `@octokit/openapi`) and the GraphQL schema
//! (npm `@octokit/graphql-schema`), both installed by `scripts/setup.sh`
//! into `scripts/github-api/node_modules`.
//!
//! Every request the tool sends is checked: the method and path template
//! exist, the query parameters are documented ones with valid values, the
//! JSON body validates against the request schema; a GraphQL request names
//! a root field that exists, with arguments and input fields that exist and
//! every required input field given. Every answer of the fake is completed
//! into GitHub's documented shape for its status (the test's values win,
//! the rest is filled from the schema) and then validated against it, so a
//! test cannot answer in a shape GitHub never would. A GraphQL answer is
//! checked against the schema and the query's selection set
//! (`graphql_answer.rs`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

mod graphql_answer;

/// The two descriptions, read once per test process.
pub struct Spec {
    rest: Value,
    graphql: Value,
}

/// Statuses any operation may answer although few operations document
/// them (authentication, rate limits, outages): their bodies are not
/// checked against an operation's schema.
const GENERIC_STATUSES: [u16; 5] = [401, 403, 500, 502, 503];

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/github-api/node_modules/@octokit")
}

fn read_json(rel: &str) -> Value {
    let path = package_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "GitHub's API description is missing ({}: {e}): install it with scripts/setup.sh (or: cd scripts/github-api && npm ci)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}): reinstall it with scripts/setup.sh",
            path.display()
        )
    })
}

/// The descriptions; a missing package fails the test, saying what to install.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec {
        rest: read_json("openapi/generated/api.github.com.json"),
        graphql: read_json("graphql-schema/schema.json"),
    })
}

/// The operation a request matched: its path template and description.
pub struct Operation<'a> {
    pub method: String,
    pub template: String,
    op: &'a Value,
}

impl Spec {
    /// `#/components/...` → the value; anything else as it is.
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        let mut v = v;
        for _ in 0..16 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let pointer = r.trim_start_matches('#');
                    v = self
                        .rest
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("unresolvable $ref {r}"));
                }
                None => return v,
            }
        }
        v
    }

    /// Checks a REST request (`path` with its query); the matched
    /// operation, or what GitHub would refuse.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Result<Operation<'_>, String> {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let (template, item, params) = self
            .find_path(route)
            .ok_or_else(|| format!("{method} {route}: no such path in GitHub's REST API"))?;
        let lower = method.to_ascii_lowercase();
        let op = item.get(&lower).ok_or_else(|| {
            format!(
                "{method} {route}: GitHub's {template} has no {method} (it has {})",
                {
                    let m: Vec<&str> = item
                        .as_object()
                        .unwrap()
                        .keys()
                        .filter(|k| ["get", "put", "post", "patch", "delete"].contains(&k.as_str()))
                        .map(String::as_str)
                        .collect();
                    m.join(", ")
                }
            )
        })?;
        let where_ = format!("{method} {template}");
        if let Some(version) = headers.iter().find(|(k, _)| k == "x-github-api-version") {
            if version.1 != "2022-11-28" && version.1 != "2026-03-10" {
                return Err(format!(
                    "{where_}: unknown X-GitHub-Api-Version {}",
                    version.1
                ));
            }
        }
        let documented: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            )
            .map(|p| self.resolve(p))
            .collect();
        for (name, value) in &params {
            let p = documented
                .iter()
                .find(|p| p["in"] == "path" && p["name"] == name.as_str())
                .ok_or_else(|| format!("{where_}: path parameter {name} is not documented"))?;
            self.check_parameter(&where_, name, value, p)?;
        }
        let mut seen = BTreeSet::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !seen.insert(name.to_string()) {
                return Err(format!("{where_}: query parameter {name} given twice"));
            }
            let p = documented
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == name)
                .ok_or_else(|| format!("{where_}: query parameter {name:?} is not documented"))?;
            self.check_parameter(&where_, name, &decode(value), p)?;
        }
        for p in documented
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] == true)
        {
            let name = p["name"].as_str().unwrap_or_default();
            if !seen.contains(name) {
                return Err(format!(
                    "{where_}: required query parameter {name} is missing"
                ));
            }
        }
        match (op.get("requestBody").map(|b| self.resolve(b)), body.trim()) {
            (None, "") => {}
            (None, _) => return Err(format!("{where_}: takes no request body, got {body}")),
            (Some(rb), "") if rb["required"] == true => {
                return Err(format!("{where_}: the request body is required"))
            }
            (Some(_), "") => {}
            (Some(rb), text) => {
                let schema = rb
                    .pointer("/content/application~1json/schema")
                    .ok_or_else(|| {
                        format!("{where_}: the body is not JSON in GitHub's description")
                    })?;
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| format!("{where_}: the request body is not JSON ({e})"))?;
                self.validate(schema, &value, "body")
                    .map_err(|e| format!("{where_}: {e}"))?;
            }
        }
        Ok(Operation {
            method: method.to_string(),
            template: template.to_string(),
            op,
        })
    }

    fn check_parameter(
        &self,
        where_: &str,
        name: &str,
        value: &str,
        p: &Value,
    ) -> Result<(), String> {
        let schema = self.resolve(&p["schema"]);
        let typed = match schema["type"].as_str() {
            Some("integer") => value
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("{where_}: parameter {name}={value:?} is not an integer"))?,
            Some("boolean") => match value {
                "true" => json!(true),
                "false" => json!(false),
                _ => {
                    return Err(format!(
                        "{where_}: parameter {name}={value:?} is not a boolean"
                    ))
                }
            },
            _ => json!(value),
        };
        if name == "per_page" && typed.as_i64().is_some_and(|n| !(1..=100).contains(&n)) {
            return Err(format!(
                "{where_}: per_page={value} (GitHub accepts at most 100)"
            ));
        }
        if value.is_empty() && p["in"] == "path" {
            return Err(format!("{where_}: path parameter {name} is empty"));
        }
        self.validate(schema, &typed, name)
            .map_err(|e| format!("{where_}: {e}"))
    }

    /// The path template matching `route`: the one with the most literal
    /// segments; a last parameter (a git ref such as `heads/a/b`) may span
    /// several segments.
    fn find_path(&self, route: &str) -> Option<(&str, &Value, Params)> {
        let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
        let mut best: Option<(usize, &str, &Value, Params)> = None;
        for (template, item) in self.rest["paths"].as_object()? {
            let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            let Some(params) = match_template(&parts, &segments) else {
                continue;
            };
            let literal = parts.iter().filter(|p| !p.starts_with('{')).count();
            let better = match &best {
                None => true,
                Some((l, t, ..)) => {
                    literal > *l || (literal == *l && parts.len() > t.split('/').count() - 1)
                }
            };
            if better {
                best = Some((literal, template, item, params));
            }
        }
        best.map(|(_, t, i, p)| (t, i, p))
    }

    /// Completes and validates the fake's answer to `op`: the test's values
    /// win, everything else GitHub documents as required is filled in.
    pub fn shape_response(
        &self,
        op: &Operation,
        status: u16,
        body: &str,
    ) -> Result<String, String> {
        let where_ = format!("{} {} answering {status}", op.method, op.template);
        let responses = &op.op["responses"];
        let Some(response) = responses.get(status.to_string()).map(|r| self.resolve(r)) else {
            if GENERIC_STATUSES.contains(&status) {
                return Ok(body.to_string());
            }
            let documented: Vec<&String> = responses
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            return Err(format!(
                "{where_}: GitHub does not document {status} here (it documents {documented:?})"
            ));
        };
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            return Ok(body.to_string());
        };
        let value: Value = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body)
                .map_err(|e| format!("{where_}: the fake's body is not JSON ({e})"))?
        };
        let full = self.complete(schema, Some(&value), 0);
        self.validate(schema, &full, "response")
            .map_err(|e| format!("{where_}: {e}"))?;
        Ok(full.to_string())
    }

    /// `partial` completed into `schema`'s shape.
    fn complete(&self, schema: &Value, partial: Option<&Value>, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if depth > 24 {
            return partial.cloned().unwrap_or(Value::Null);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            let merged = self.merge_all_of(all);
            return self.complete(&merged, partial, depth + 1);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = schema.get(key).and_then(Value::as_array) {
                for alt in alts {
                    let c = self.complete(alt, partial, depth + 1);
                    if self.validate(alt, &c, "").is_ok() {
                        return c;
                    }
                }
                return self.complete(&alts[0], partial, depth + 1);
            }
        }
        match partial {
            Some(Value::Null) => return Value::Null,
            Some(Value::Array(items)) => {
                let item_schema = schema.get("items").cloned().unwrap_or(json!({}));
                return Value::Array(
                    items
                        .iter()
                        .map(|i| self.complete(&item_schema, Some(i), depth + 1))
                        .collect(),
                );
            }
            Some(Value::Object(given)) => {
                let mut out: Map<String, Value> = Map::new();
                let props = schema.get("properties").and_then(Value::as_object);
                for (k, v) in given {
                    let value = match props.and_then(|p| p.get(k)) {
                        Some(s) => self.complete(s, Some(v), depth + 1),
                        None => v.clone(),
                    };
                    out.insert(k.clone(), value);
                }
                for name in schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = name.as_str().unwrap_or_default();
                    if !out.contains_key(name) {
                        let s = props
                            .and_then(|p| p.get(name))
                            .cloned()
                            .unwrap_or(json!({}));
                        out.insert(name.to_string(), self.complete(&s, None, depth + 1));
                    }
                }
                return Value::Object(out);
            }
            Some(v) => return v.clone(),
            None => {}
        }
        if schema["nullable"] == true {
            return Value::Null;
        }
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        match schema["type"].as_str() {
            Some("object") => self.complete(schema, Some(&json!({})), depth + 1),
            Some("array") => json!([]),
            Some("integer") | Some("number") => json!(1),
            Some("boolean") => json!(false),
            Some("string") => match schema["format"].as_str() {
                Some("date-time") => json!("2026-01-01T00:00:00Z"),
                Some("uri") => json!("https://api.github.com/x"),
                Some("email") => json!("octo@example.com"),
                _ => json!("x"),
            },
            _ => Value::Null,
        }
    }

    fn merge_all_of(&self, all: &[Value]) -> Value {
        let mut props = Map::new();
        let mut required: Vec<Value> = Vec::new();
        for s in all {
            let s = self.resolve(s);
            let s = match s.get("allOf").and_then(Value::as_array) {
                Some(inner) => self.merge_all_of(inner),
                None => s.clone(),
            };
            if let Some(p) = s.get("properties").and_then(Value::as_object) {
                props.extend(p.clone());
            }
            required.extend(
                s.get("required")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        json!({ "type": "object", "properties": props, "required": required })
    }

    /// JSON Schema (OpenAPI 3.0's subset) validation: type, nullable,
    /// enum, required, properties, additionalProperties, items, oneOf,
    /// anyOf, allOf, minimum/maximum, minItems/maxItems. `at` names the place.
    pub fn validate(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if v.is_null() && (schema["nullable"] == true || schema["type"] == "null") {
            return Ok(());
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.validate(s, v, at)?;
            }
        }
        if let Some(alts) = schema.get("anyOf").and_then(Value::as_array) {
            let errors: Vec<String> = alts
                .iter()
                .filter_map(|s| self.validate(s, v, at).err())
                .collect();
            if errors.len() == alts.len() {
                return Err(format!(
                    "{at}: matches none of anyOf ({})",
                    errors.join(" | ")
                ));
            }
        }
        if let Some(alts) = schema.get("oneOf").and_then(Value::as_array) {
            let errors: Vec<String> = alts
                .iter()
                .filter_map(|s| self.validate(s, v, at).err())
                .collect();
            let matched = alts.len() - errors.len();
            if matched != 1 {
                return Err(format!(
                    "{at}: matches {matched} of oneOf, exactly one required ({})",
                    errors.join(" | ")
                ));
            }
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            if !values.contains(v) {
                return Err(format!(
                    "{at}: {v} is not one of {}",
                    Value::Array(values.clone())
                ));
            }
        }
        let ty = schema["type"].as_str();
        let ok = match (ty, v) {
            (None, _) => true,
            (Some("object"), Value::Object(_)) => true,
            (Some("array"), Value::Array(_)) => true,
            (Some("string"), Value::String(_)) => true,
            (Some("boolean"), Value::Bool(_)) => true,
            (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Some("number"), Value::Number(_)) => true,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{at}: expected {}{}, found {v}",
                ty.unwrap_or("?"),
                if schema["nullable"] == true {
                    " or null"
                } else {
                    ""
                }
            ));
        }
        if let Some(n) = v.as_f64() {
            if schema["minimum"].as_f64().is_some_and(|m| n < m)
                || schema["maximum"].as_f64().is_some_and(|m| n > m)
            {
                return Err(format!(
                    "{at}: {v} is out of range ({schema_range})",
                    schema_range =
                        json!({ "minimum": schema["minimum"], "maximum": schema["maximum"] })
                ));
            }
        }
        if let Value::Array(items) = v {
            if schema["maxItems"]
                .as_u64()
                .is_some_and(|m| items.len() as u64 > m)
                || schema["minItems"]
                    .as_u64()
                    .is_some_and(|m| (items.len() as u64) < m)
            {
                return Err(format!(
                    "{at}: {} items, outside minItems/maxItems",
                    items.len()
                ));
            }
            if let Some(item) = schema.get("items") {
                for (i, x) in items.iter().enumerate() {
                    self.validate(item, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        if let Value::Object(fields) = v {
            let props = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = name.as_str().unwrap_or_default();
                if !fields.contains_key(name) {
                    return Err(format!("{at}: required property {name} is missing"));
                }
            }
            for (k, x) in fields {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => self.validate(s, x, &format!("{at}.{k}"))?,
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            return Err(format!("{at}: property {k} is not allowed here"))
                        }
                        Some(s @ Value::Object(_)) => self.validate(s, x, &format!("{at}.{k}"))?,
                        _ => {}
                    },
                }
            }
        }
        Ok(())
    }

    /// Checks a GraphQL request body (`{query, variables}`): the operation's
    /// root field exists on Query or Mutation, its arguments exist, an
    /// input object's fields exist, every required one is given, and enum
    /// variables carry one of the enum's values.
    pub fn check_graphql(&self, body: &str) -> Result<(), String> {
        let request: Value = serde_json::from_str(body)
            .map_err(|e| format!("GraphQL: the body is not JSON ({e})"))?;
        let query = request["query"].as_str().ok_or("GraphQL: no query")?;
        let variables = request.get("variables").cloned().unwrap_or(json!({}));
        let doc = parse_operation(query)?;
        let root_name = self.graphql_root(&doc.kind)?;
        let field = self.graphql_field(root_name, &doc.field)?;
        for (declared, ty) in &doc.variables {
            if variables.get(declared).is_none_or(Value::is_null) && ty.ends_with('!') {
                return Err(format!("GraphQL: variable ${declared} ({ty}) is not given"));
            }
        }
        for (arg, value) in &doc.arguments {
            let a = field["args"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["name"] == arg.as_str())
                .ok_or_else(|| {
                    format!("GraphQL: {}.{} has no argument {arg}", root_name, doc.field)
                })?;
            let input = named_type(&a["type"]);
            if let ArgValue::Object(fields) = value {
                let t = self.graphql_type(input)?;
                let input_fields = t["inputFields"]
                    .as_array()
                    .ok_or_else(|| format!("GraphQL: {input} is not an input object"))?;
                for (name, var) in fields {
                    let f = input_fields
                        .iter()
                        .find(|f| f["name"] == name.as_str())
                        .ok_or_else(|| format!("GraphQL: {input} has no field {name}"))?;
                    let want = type_string(&f["type"]);
                    if let Some(var) = var {
                        let declared = doc
                            .variables
                            .iter()
                            .find(|(n, _)| n == var)
                            .map(|(_, t)| t.as_str());
                        let declared =
                            declared.ok_or_else(|| format!("GraphQL: ${var} is not declared"))?;
                        if declared.trim_end_matches('!') != want.trim_end_matches('!')
                            || (want.ends_with('!') && !declared.ends_with('!'))
                        {
                            return Err(format!("GraphQL: {input}.{name} is {want}, but ${var} is declared {declared}"));
                        }
                        let named = named_type(&f["type"]);
                        let t = self.graphql_type(named)?;
                        if t["kind"] == "ENUM" {
                            let given = variables
                                .get(var)
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            let ok = t["enumValues"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|e| e["name"] == given);
                            if !ok {
                                return Err(format!(
                                    "GraphQL: ${var} = {given:?} is not a value of {named}"
                                ));
                            }
                        }
                    }
                }
                for f in input_fields {
                    let required = f["type"]["kind"] == "NON_NULL" && f["defaultValue"].is_null();
                    let name = f["name"].as_str().unwrap_or_default();
                    if required && !fields.iter().any(|(n, _)| n == name) {
                        return Err(format!("GraphQL: {input}.{name} is required"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The root type of a `query` or `mutation`.
    fn graphql_root(&self, kind: &str) -> Result<&str, String> {
        let schema = &self.graphql["__schema"];
        match kind {
            "mutation" => schema["mutationType"]["name"].as_str(),
            _ => schema["queryType"]["name"].as_str(),
        }
        .ok_or_else(|| "GraphQL: no root type".to_string())
    }

    /// The field `name` of the object or interface type `type_name`.
    fn graphql_field(&self, type_name: &str, name: &str) -> Result<&Value, String> {
        self.graphql_type(type_name)?["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["name"] == name)
            .ok_or_else(|| format!("GraphQL: {type_name} has no field {name}"))
    }

    fn graphql_type(&self, name: &str) -> Result<&Value, String> {
        self.graphql["__schema"]["types"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name)
            .ok_or_else(|| format!("GraphQL: no type {name}"))
    }
}

/// Path parameters: (name, value).
type Params = Vec<(String, String)>;

/// A path template's parameters when it matches the route's segments.
fn match_template(parts: &[&str], segments: &[&str]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let seg = *segments.get(i)?;
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            // The last parameter may be a ref with slashes (`heads/a/b`).
            Some(name) if i == parts.len() - 1 && name == "ref" => {
                params.push((name.to_string(), segments[i..].join("/")));
                return Some(params);
            }
            Some(name) => params.push((name.to_string(), decode(seg))),
            None if *part == seg => {}
            None => return None,
        }
    }
    (parts.len() == segments.len()).then_some(params)
}

/// `%XX` decoded (what the server sees).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn named_type(t: &Value) -> &str {
    match t["name"].as_str() {
        Some(n) => n,
        None => named_type(&t["ofType"]),
    }
}

fn type_string(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_string(&t["ofType"])),
        Some("LIST") => format!("[{}]", type_string(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or_default().to_string(),
    }
}

/// An argument's value: an input object of `name: $variable` fields (a
/// literal value is `None`), or anything else.
enum ArgValue {
    Object(Vec<(String, Option<String>)>),
    Other,
}

/// The parts of one GraphQL operation this checks.
struct OperationDoc {
    kind: String,
    variables: Vec<(String, String)>,
    field: String,
    arguments: Vec<(String, ArgValue)>,
}

/// Reads `mutation($a: T!, …) { field(arg: {x: $a, …}, …) { … } }`.
fn parse_operation(query: &str) -> Result<OperationDoc, String> {
    let q = query.trim();
    let (kind, rest) = match q.split_once(|c: char| c == '(' || c == '{' || c.is_whitespace()) {
        Some((k, _)) if k == "mutation" || k == "query" => (k.to_string(), &q[k.len()..]),
        _ if q.starts_with('{') => ("query".to_string(), q),
        _ => return Err(format!("GraphQL: cannot read the operation {q:?}")),
    };
    let rest = rest.trim_start();
    // An optional operation name.
    let rest = rest
        .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_')
        .trim_start();
    let mut variables = Vec::new();
    let rest = if let Some(r) = rest.strip_prefix('(') {
        let (defs, after) = r
            .split_once(')')
            .ok_or("GraphQL: unclosed variable definitions")?;
        for d in defs.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let (name, ty) = d
                .split_once(':')
                .ok_or_else(|| format!("GraphQL: cannot read {d:?}"))?;
            let ty = ty.split('=').next().unwrap_or_default().trim().to_string();
            variables.push((name.trim().trim_start_matches('$').to_string(), ty));
        }
        after
    } else {
        rest
    };
    let rest = rest
        .trim_start()
        .strip_prefix('{')
        .ok_or("GraphQL: no selection set")?
        .trim_start();
    let field: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if field.is_empty() {
        return Err("GraphQL: no root field".into());
    }
    let after = rest[field.len()..].trim_start();
    let mut arguments = Vec::new();
    if let Some(args) = after.strip_prefix('(') {
        let mut depth = 0;
        let end = args
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '{' | '(' | '[' => depth += 1,
                    '}' | ']' => depth -= 1,
                    ')' if depth == 0 => return true,
                    ')' => depth -= 1,
                    _ => {}
                }
                false
            })
            .map(|(i, _)| i)
            .ok_or("GraphQL: unclosed arguments")?;
        for (name, value) in split_top(&args[..end]) {
            let value = value.trim();
            let parsed = match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Some(inner) => ArgValue::Object(
                    split_top(inner)
                        .into_iter()
                        .map(|(k, v)| (k, v.trim().strip_prefix('$').map(str::to_string)))
                        .collect(),
                ),
                None => ArgValue::Other,
            };
            arguments.push((name, parsed));
        }
    }
    Ok(OperationDoc {
        kind,
        variables,
        field,
        arguments,
    })
}

/// `a: x, b: {c: y}` → [(a, "x"), (b, "{c: y}")], split at top-level commas.
fn split_top(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    let bytes: Vec<char> = s.chars().collect();
    let mut push = |piece: String| {
        if let Some((k, v)) = piece.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    };
    for (i, c) in bytes.iter().enumerate() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                push(bytes[start..i].iter().collect());
                start = i + 1;
            }
            _ => {}
        }
    }
    push(bytes[start..].iter().collect());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, body: &str) -> Result<String, String> {
        let headers = [("x-github-api-version".to_string(), "2022-11-28".to_string())];
        spec()
            .check_request(method, path, &headers, body)
            .map(|op| op.template)
    }

    #[test]
    fn the_requests_the_tool_sends_are_valid() {
        let ok = |m: &str, p: &str, b: &str| {
            if let Err(e) = request(m, p, b) {
                panic!("{m} {p}: {e}");
            }
        };
        ok(
            "GET",
            "/repos/acme/app/pulls?state=all&head=acme:task-1-x&per_page=100",
            "",
        );
        ok("GET", "/repos/acme/app/pulls?state=closed&base=main&sort=updated&direction=desc&per_page=100&page=2", "");
        ok("GET", "/repos/acme/app/commits/abc/status?per_page=100", "");
        ok(
            "PUT",
            "/repos/acme/app/pulls/5/merge",
            r#"{"merge_method":"squash","sha":"abc"}"#,
        );
        ok(
            "DELETE",
            "/repos/acme/app/git/refs/heads/task-117-add-x",
            "",
        );
        ok("DELETE", "/repos/acme/app/git/refs/heads/feature/a/b", "");
        ok(
            "PATCH",
            "/repos/acme/app",
            r#"{"allow_merge_commit":false,"allow_squash_merge":true}"#,
        );
        ok("GET", "/user", "");
        assert_eq!(
            request("GET", "/repos/acme/app/pulls/5", "").unwrap(),
            "/repos/{owner}/{repo}/pulls/{pull_number}"
        );
    }

    #[test]
    fn requests_github_would_refuse_fail() {
        let bad = |m: &str, p: &str, b: &str, why: &str| {
            let err = request(m, p, b).expect_err(&format!("{m} {p} {b} must fail"));
            assert!(err.contains(why), "{m} {p}: {err}");
        };
        bad("GET", "/repos/acme/app/pullz", "", "no such path");
        bad("POST", "/repos/acme/app/pulls/5", "", "has no POST");
        bad(
            "GET",
            "/repos/acme/app/pulls?state=merged",
            "",
            "\"merged\" is not one of",
        );
        bad(
            "GET",
            "/repos/acme/app/pulls?colour=red",
            "",
            "\"colour\" is not documented",
        );
        bad(
            "GET",
            "/repos/acme/app/pulls?per_page=500",
            "",
            "at most 100",
        );
        bad(
            "GET",
            "/repos/acme/app/pulls?per_page=ten",
            "",
            "not an integer",
        );
        bad("GET", "/repos/acme/app/pulls/five", "", "pull_number");
        bad(
            "PUT",
            "/repos/acme/app/pulls/5/merge",
            r#"{"merge_method":"fast-forward"}"#,
            "is not one of",
        );
        bad(
            "PUT",
            "/repos/acme/app/pulls/5/merge",
            r#"{"sha":5}"#,
            "expected string",
        );
        bad(
            "GET",
            "/repos/acme/app/pulls/5",
            r#"{"x":1}"#,
            "takes no request body",
        );
        bad(
            "PUT",
            "/repos/acme/app/branches/main/protection",
            r#"{"required_status_checks":null,"enforce_admins":true,"restrictions":null}"#,
            "required property required_pull_request_reviews is missing",
        );
        bad(
            "PUT",
            "/repos/acme/app/branches/main/protection",
            r#"{"required_status_checks":{"strict":"yes","contexts":[]},"enforce_admins":true,"required_pull_request_reviews":null,"restrictions":null}"#,
            "strict: expected boolean",
        );
    }

    #[test]
    fn answers_are_completed_into_the_documented_shape_or_refused() {
        let s = spec();
        let headers = [];
        let op = s
            .check_request("GET", "/repos/acme/app/pulls/5", &headers, "")
            .unwrap();
        let full: Value = serde_json::from_str(
            &s.shape_response(&op, 200, r#"{"number":5,"merged":true}"#)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (full["number"].clone(), full["merged"].clone()),
            (json!(5), json!(true))
        );
        assert!(
            full["head"]["sha"].is_string() && full["user"]["login"].is_string(),
            "{full}"
        );
        // A value of the wrong type, an undocumented status: refused.
        let err = s
            .shape_response(&op, 200, r#"{"merged":"yes"}"#)
            .unwrap_err();
        assert!(err.contains("merged: expected boolean"), "{err}");
        let err = s.shape_response(&op, 418, "{}").unwrap_err();
        assert!(err.contains("does not document 418"), "{err}");
    }

    #[test]
    fn graphql_requests_are_checked_against_the_schema() {
        let s = spec();
        let mutation = "mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID!) { enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid}) { pullRequest { number } } }";
        let vars =
            json!({ "pullRequestId": "PR_1", "mergeMethod": "SQUASH", "expectedHeadOid": "abc" });
        let body = |q: &str, v: &Value| json!({ "query": q, "variables": v }).to_string();
        s.check_graphql(&body(mutation, &vars)).unwrap();
        let bad = |q: String, v: &Value, why: &str| {
            let err = s.check_graphql(&body(&q, v)).expect_err(&q);
            assert!(err.contains(why), "{err}");
        };
        bad(
            mutation.replace("enablePullRequestAutoMerge", "enableAutoMerge"),
            &vars,
            "Mutation has no field enableAutoMerge",
        );
        bad(
            mutation.replace(
                "expectedHeadOid: $expectedHeadOid",
                "headOid: $expectedHeadOid",
            ),
            &vars,
            "has no field headOid",
        );
        bad(
            mutation.replace("(input:", "(data:"),
            &vars,
            "has no argument data",
        );
        bad(
            mutation
                .replace(", pullRequestId: $pullRequestId", "")
                .replace("pullRequestId: $pullRequestId, ", ""),
            &vars,
            "pullRequestId is required",
        );
        let mut wrong = vars.clone();
        wrong["mergeMethod"] = json!("FAST_FORWARD");
        bad(
            mutation.to_string(),
            &wrong,
            "is not a value of PullRequestMergeMethod",
        );
        bad(
            mutation.replace(
                "$mergeMethod: PullRequestMergeMethod!",
                "$mergeMethod: String!",
            ),
            &vars,
            "is declared String!",
        );
    }
}
