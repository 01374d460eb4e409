//! The `${{ … }}` expressions a check name can hold, evaluated where their
//! value is known before anything runs: `matrix.*` (from the expanded
//! matrix), `inputs.*` (from a reusable workflow's caller), literals, `||`,
//! `&&`, parentheses and `format(…)`. A name that depends on a run-time
//! context (`github`, `needs`, `vars`, `env`, …) or on anything else is
//! refused with a message that says so: its check name is not known until
//! the job runs.

use super::yaml::Value;

/// What an expression may read: the job's matrix combination and the
/// inputs of a called workflow, as `(name, value)` lists, and the inputs
/// whose values are known only at run time, with why.
#[derive(Clone, Copy, Default)]
pub struct Context<'a> {
    pub matrix: &'a [(String, Value)],
    pub inputs: &'a [(String, Value)],
    pub run_time_inputs: &'a [(String, String)],
}

/// Contexts a check name may use but whose values exist only at run time.
const RUN_TIME: [&str; 10] = [
    "github", "needs", "vars", "env", "steps", "secrets", "runner", "job", "jobs", "strategy",
];

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Number(f64),
    Dot,
    Comma,
    Open,
    Close,
    Or,
    And,
    Eq,
    Ne,
    Not,
    Other(char),
}

fn tokens(body: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' => {}
            '\'' => {
                let mut s = String::new();
                loop {
                    i += 1;
                    match chars.get(i) {
                        None => return Err("a string literal is not closed".to_string()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 1;
                        }
                        Some('\'') => break,
                        Some(&c) => s.push(c),
                    }
                }
                out.push(Token::Str(s));
            }
            '.' => out.push(Token::Dot),
            ',' => out.push(Token::Comma),
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '|' | '&' | '=' if chars.get(i + 1) == Some(&c) => {
                out.push(match c {
                    '|' => Token::Or,
                    '&' => Token::And,
                    _ => Token::Eq,
                });
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::Ne);
                i += 1;
            }
            '!' => out.push(Token::Not),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..=i].iter().collect()));
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.')
                {
                    i += 1;
                }
                let text: String = chars[start..=i].iter().collect();
                let n = text
                    .parse()
                    .map_err(|_| format!("the number {text} is not one this reader reads"))?;
                out.push(Token::Number(n));
            }
            other => out.push(Token::Other(other)),
        }
        i += 1;
    }
    Ok(out)
}

struct Eval<'a> {
    tokens: Vec<Token>,
    pos: usize,
    cx: Context<'a>,
}

impl Eval<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Value, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            let right = self.and()?;
            if !truthy(&left) {
                left = right;
            }
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Value, String> {
        let mut left = self.equality()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            let right = self.equality()?;
            if truthy(&left) {
                left = right;
            }
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Value, String> {
        let mut left = self.unary()?;
        while let Some(op @ (Token::Eq | Token::Ne)) = self.peek().cloned() {
            self.pos += 1;
            let right = self.unary()?;
            left = Value::Bool(loose_eq(&left, &right) == (op == Token::Eq));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Value, String> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            return Ok(Value::Bool(!truthy(&self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Value::Str(s)),
            Some(Token::Number(n)) => Ok(Value::Number(n)),
            Some(Token::Open) => {
                let v = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(v),
                    _ => Err("a `(` is not closed".to_string()),
                }
            }
            Some(Token::Ident(word)) => match word.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                "format" if self.peek() == Some(&Token::Open) => self.format(),
                "matrix" => self.path(self.cx.matrix),
                "inputs" => {
                    if let (Some(Token::Dot), Some(Token::Ident(name))) =
                        (self.tokens.get(self.pos), self.tokens.get(self.pos + 1))
                    {
                        let unknown = self.cx.run_time_inputs.iter();
                        if let Some((_, why)) = unknown.clone().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                            return Err(format!("input `{name}` {why}"));
                        }
                    }
                    self.path(self.cx.inputs)
                }
                w if RUN_TIME.contains(&w) => Err(format!(
                    "it depends on the run-time context `{w}`, so the check name is known only when the job runs"
                )),
                w => Err(format!("`{w}` is not something this reader evaluates")),
            },
            Some(t) => Err(format!("{t:?} is not something this reader evaluates")),
            None => Err("the expression is incomplete".to_string()),
        }
    }

    /// `.name` steps after `matrix` or `inputs`; a missing property is null.
    fn path(&mut self, root: &[(String, Value)]) -> Result<Value, String> {
        let mut current = Value::Map(
            root.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        super::yaml::Node {
                            line: 0,
                            value: v.clone(),
                        },
                    )
                })
                .collect(),
        );
        while self.peek() == Some(&Token::Dot) {
            self.pos += 1;
            let Some(Token::Ident(name)) = self.next() else {
                return Err("expected a property name after `.`".to_string());
            };
            current = match &current {
                // GitHub's property names are case-insensitive.
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&name))
                    .map_or(Value::Null, |(_, v)| v.value.clone()),
                _ => Value::Null,
            };
        }
        if matches!(self.peek(), Some(Token::Other('['))) {
            return Err("index access (`[…]`) is not something this reader evaluates".to_string());
        }
        Ok(current)
    }

    /// `format('{0} and {1}', a, b)`.
    fn format(&mut self) -> Result<Value, String> {
        self.pos += 1; // (
        let mut args = Vec::new();
        loop {
            args.push(self.or()?);
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => break,
                _ => return Err("format(…) is not closed".to_string()),
            }
        }
        let Value::Str(pattern) = args.remove(0) else {
            return Err("format(…) needs a string first".to_string());
        };
        let mut out = String::new();
        let mut rest = pattern.as_str();
        while let Some(at) = rest.find(['{', '}']) {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(t) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                out.push_str(&tail[..1]);
                rest = t;
                continue;
            }
            let end = tail
                .find('}')
                .filter(|_| tail.starts_with('{'))
                .ok_or("format(…) has an unbalanced brace")?;
            let index: usize = tail[1..end]
                .parse()
                .map_err(|_| "format(…) has a placeholder that is not {N}".to_string())?;
            let arg = args
                .get(index)
                .ok_or("format(…) has a placeholder with no argument")?;
            out.push_str(&to_text(arg)?);
            rest = &tail[end + 1..];
        }
        out.push_str(rest);
        Ok(Value::Str(out))
    }
}

/// GitHub's `==`: strings without regard to case, other kinds of value
/// compared as numbers (null 0, booleans 1 and 0, strings parsed, empty 0);
/// lists and mappings equal nothing.
fn loose_eq(a: &Value, b: &Value) -> bool {
    fn number(v: &Value) -> f64 {
        match v {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => *n,
            Value::Str(s) if s.trim().is_empty() => 0.0,
            Value::Str(s) => s.trim().parse().unwrap_or(f64::NAN),
            Value::Seq(_) | Value::Map(_) => f64::NAN,
        }
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.to_lowercase() == y.to_lowercase(),
        (Value::Seq(_) | Value::Map(_), _) | (_, Value::Seq(_) | Value::Map(_)) => false,
        _ => number(a) == number(b),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => *n != 0.0 && !n.is_nan(),
        Value::Str(s) => !s.is_empty(),
        Value::Seq(_) | Value::Map(_) => true,
    }
}

/// A value as GitHub writes it into a name. Numbers as the shortest decimal
/// (`3.10` is `3.1`); values whose rendering this reader is not sure of
/// (collections, very large or small numbers) are refused.
pub fn to_text(v: &Value) -> Result<String, String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Str(s) => Ok(s.clone()),
        Value::Number(n) if n.is_finite() && (*n == 0.0 || (1e-4..1e15).contains(&n.abs())) => {
            Ok(n.to_string())
        }
        Value::Number(n) => Err(format!(
            "the number {n} is written in a way this reader does not reproduce"
        )),
        Value::Seq(_) | Value::Map(_) => Err(
            "a list or mapping written into a name is shown in a way this reader does not reproduce"
                .to_string(),
        ),
    }
}

/// The `${{ … }}` bodies of a template and the literal text between them.
fn pieces(template: &str) -> Result<Vec<(bool, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${{") {
        out.push((false, &rest[..start]));
        let body = &rest[start + 3..];
        let end = closing(body).ok_or_else(|| format!("{template:?}: a `${{{{` is not closed"))?;
        out.push((true, &body[..end]));
        rest = &body[end + 2..];
    }
    out.push((false, rest));
    Ok(out)
}

/// Where the `}}` that closes an expression is, outside string literals.
fn closing(body: &str) -> Option<usize> {
    let mut in_string = false;
    for (i, c) in body.char_indices() {
        match c {
            '\'' => in_string = !in_string,
            '}' if !in_string && body[i..].starts_with("}}") => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether a template reads the matrix (then GitHub adds no `(values)`).
pub fn mentions_matrix(template: &str) -> bool {
    pieces(template).is_ok_and(|ps| {
        ps.iter().any(|(is_expr, body)| {
            *is_expr
                && tokens(body).is_ok_and(|ts| {
                    ts.iter().enumerate().any(|(i, t)| {
                        *t == Token::Ident("matrix".into()) && (i == 0 || ts[i - 1] != Token::Dot)
                    })
                })
        })
    })
}

/// Evaluates a template (`Lint (${{ matrix.os }})`) to its text.
pub fn render(template: &str, cx: Context) -> Result<String, String> {
    let mut out = String::new();
    for (is_expr, text) in pieces(template)? {
        if !is_expr {
            out.push_str(text);
            continue;
        }
        let mut eval = Eval {
            tokens: tokens(text).map_err(|e| format!("`${{{{{text}}}}}`: {e}"))?,
            pos: 0,
            cx,
        };
        let value = eval.or().map_err(|e| format!("`${{{{{text}}}}}`: {e}"))?;
        if eval.pos != eval.tokens.len() {
            return Err(format!(
                "`${{{{{text}}}}}`: operators other than `||` and `&&` are not something this reader evaluates"
            ));
        }
        out.push_str(&to_text(&value).map_err(|e| format!("`${{{{{text}}}}}`: {e}"))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[(&str, Value)]) -> Vec<(String, Value)> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[track_caller]
    fn check(template: &str, expected: Result<&str, &str>) {
        let matrix = list(&[
            ("os", Value::Str("ubuntu-latest".into())),
            ("python-version", Value::Number(3.1)),
            ("empty", Value::Str(String::new())),
        ]);
        let inputs = list(&[("target", Value::Str("x86".into()))]);
        let run_time = [("sha".to_string(), "is `${{ github.sha }}`".to_string())];
        let cx = Context {
            matrix: &matrix,
            inputs: &inputs,
            run_time_inputs: &run_time,
        };
        match (render(template, cx), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{template}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{template}: {got}"),
            (got, want) => panic!("{template}: {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn names_evaluate_matrix_inputs_and_simple_operators() {
        check("Lint", Ok("Lint"));
        check("test (${{ matrix.os }})", Ok("test (ubuntu-latest)"));
        check("py ${{matrix.python-version}}", Ok("py 3.1"));
        check("${{ matrix.OS }}", Ok("ubuntu-latest"));
        check("${{ matrix.missing }}!", Ok("!"));
        check("${{ matrix.empty || 'default' }}", Ok("default"));
        check("${{ matrix.os && 'yes' }}", Ok("yes"));
        check("${{ inputs.target }}", Ok("x86"));
        check(
            "${{ format('{0}-{1} {{x}}', matrix.os, 3) }}",
            Ok("ubuntu-latest-3 {x}"),
        );
        check("${{ 'it''s' }}", Ok("it's"));
        check(
            "t${{ matrix.os == 'UBUNTU-latest' && ' (linux)' }}",
            Ok("t (linux)"),
        );
        check(
            "t${{ matrix.os != 'ubuntu-latest' && ' (other)' || '' }}",
            Ok("t"),
        );
        check("${{ matrix.python-version == '3.1' }}", Ok("true"));
        check("${{ !matrix.empty }}", Ok("true"));
    }

    #[test]
    fn run_time_and_unknown_expressions_are_refused() {
        check("${{ github.event_name }}", Err("run-time context `github`"));
        check(
            "${{ needs.setup.outputs.name }}",
            Err("run-time context `needs`"),
        );
        check("${{ vars.NAME }}", Err("run-time context `vars`"));
        check("${{ toJSON(matrix) }}", Err("`toJSON` is not something"));
        check("${{ matrix.os < 'x' }}", Err("operators other than"));
        check(
            "${{ inputs.sha }}",
            Err("input `sha` is `${{ github.sha }}`"),
        );
        check("${{ matrix['os'] }}", Err("index access"));
        check("${{ matrix.os", Err("not closed"));
    }

    #[test]
    fn matrix_mentions_are_found_in_expressions_only() {
        assert!(mentions_matrix("t (${{ matrix.os }})"));
        assert!(mentions_matrix("${{ format('{0}', matrix.os) }}"));
        assert!(!mentions_matrix("matrix"));
        assert!(!mentions_matrix("${{ inputs.matrix }}"));
        assert!(!mentions_matrix("${{ 'matrix' }}"));
    }
}
