//! A small reader of a Makefile's rules and variables, for `init`'s guesses
//! (pure: text in, rules out). It reads what most project Makefiles are:
//! `NAME = / := / ?= / += value` assignments, `targets: prerequisites`
//! rules with tab-indented recipes, `\` continuations, comments. It does not
//! evaluate conditionals (`ifeq` … both branches are read), includes,
//! pattern rules or make functions; a recipe that needs any of those, or a
//! shell (pipes, `&&`, quotes, redirections, `$$`), is not "plain" and
//! `init` runs it as `make <target>` instead of copying it.

use std::collections::BTreeMap;

/// One rule: its target, prerequisites (order-only ones included) and
/// recipe lines (continuations joined), with the 1-based line of the rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub target: String,
    pub prereqs: Vec<String>,
    pub recipe: Vec<String>,
    pub line: usize,
}

/// The rules (in file order) and the variables of a Makefile.
#[derive(Clone, Debug, Default)]
pub struct Makefile {
    pub rules: Vec<Rule>,
    /// `None`: set in a way this reader does not evaluate (`!=`).
    vars: BTreeMap<String, Option<String>>,
    /// Variables exported to every recipe's environment (`export NAME`).
    pub exports: Vec<String>,
    /// Target name to its index in `rules`.
    index: BTreeMap<String, usize>,
    /// Bytes expanded so far, against [`MAX_TOTAL_EXPANSION`].
    expanded: std::cell::Cell<usize>,
}

/// What one recipe line is, for copying it into the policy.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// A plain command: one program and its arguments, no shell needed.
    Argv(Vec<String>),
    /// Only prints a message (`@echo …`): nothing to copy.
    Message,
    /// Needs a shell or make itself, and why.
    Opaque(String),
}

/// Variable names that may hold a secret: never copied into a policy,
/// which is committed.
const SECRET_WORDS: [&str; 8] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "KEY",
    "URL",
    "DSN",
    "CREDENTIAL",
];

/// The longest text a recipe line may expand to: a Makefile whose
/// variables each repeat the next one would otherwise grow exponentially.
const MAX_EXPANSION: usize = 64 * 1024;
/// The most all expansions together may produce: a Makefile of many
/// lines that each expand to the limit is refused, not read for minutes.
const MAX_TOTAL_EXPANSION: usize = 16 * 1024 * 1024;

/// Shell builtins and keywords: a line starting with one needs a shell.
const BUILTINS: [&str; 12] = [
    "cd", "export", "exit", "source", ".", "set", "if", "for", "while", "test", "[", "unset",
];

/// Joins `\`-continued lines: `(first line number, joined text)`.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (continued, body) = match raw.strip_suffix('\\') {
            Some(body) => (true, body),
            None => (false, raw),
        };
        let joined = match pending.take() {
            Some((no, mut acc)) => {
                acc.push(' ');
                acc.push_str(body.trim_start());
                (no, acc)
            }
            None => (i + 1, body.to_string()),
        };
        if continued {
            pending = Some(joined);
        } else {
            out.push(joined);
        }
    }
    out.extend(pending);
    out
}

/// The text before an unescaped `#`.
fn strip_comment(s: &str) -> &str {
    let b = s.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'#' && (i == 0 || b[i - 1] != b'\\') {
            return &s[..i];
        }
    }
    s
}

/// `NAME op value` when the line is an assignment (the operator comes
/// before any rule colon).
fn assignment(line: &str) -> Option<(String, &'static str, String)> {
    let body = strip_comment(line).trim();
    let body = body
        .strip_prefix("export ")
        .or_else(|| body.strip_prefix("override "))
        .unwrap_or(body)
        .trim_start();
    let eq = body.find('=')?;
    let ops: [&'static str; 6] = ["::=", ":=", "?=", "+=", "!=", "="];
    let (op, start) = ops
        .iter()
        .find(|op| body[..eq + 1].ends_with(*op))
        .map(|op| (*op, eq + 1 - op.len()))?;
    if body[..start].contains(':') {
        return None;
    }
    let name = body[..start].trim();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    valid.then(|| (name.to_string(), op, body[eq + 1..].trim().to_string()))
}

/// Reads the rules and variables of a Makefile's text.
pub fn parse(text: &str) -> Makefile {
    let mut mk = Makefile::default();
    let mut current: Option<usize> = None;
    let mut in_define = false;
    for (no, line) in logical_lines(text) {
        if in_define {
            in_define = line.trim() != "endef";
            continue;
        }
        if let Some(recipe) = line.strip_prefix('\t') {
            if let Some(i) = current {
                let recipe = recipe.trim();
                if !recipe.is_empty() && !recipe.starts_with('#') {
                    mk.rules[i].recipe.push(recipe.to_string());
                }
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        current = None;
        let first = trimmed.split_whitespace().next().unwrap_or("");
        if first == "define" {
            in_define = true;
            continue;
        }
        if first == "export" {
            // `export NAME …` or `export NAME = value`: every recipe gets it.
            let names: Vec<String> = match assignment(trimmed) {
                Some((name, _, _)) => vec![name],
                None => trimmed
                    .split_whitespace()
                    .skip(1)
                    .map(str::to_string)
                    .collect(),
            };
            for n in names {
                if !mk.exports.contains(&n) {
                    mk.exports.push(n);
                }
            }
        }
        if let Some((name, op, value)) = assignment(trimmed) {
            let entry = mk.vars.entry(name).or_insert(Some(String::new()));
            match op {
                "!=" => *entry = None,
                "+=" => {
                    if let Some(v) = entry {
                        if !v.is_empty() {
                            v.push(' ');
                        }
                        v.push_str(&value);
                    }
                }
                "?=" if entry.as_ref().is_some_and(|v| !v.is_empty()) => {}
                _ => *entry = Some(value),
            }
            continue;
        }
        if let Some(i) = rule_line(&mut mk, no, trimmed) {
            current = Some(i);
        }
    }
    mk
}

/// Records a rule line; the index of the rule that takes the recipe lines.
fn rule_line(mk: &mut Makefile, no: usize, line: &str) -> Option<usize> {
    let body = strip_comment(line);
    let colon = body.find(':')?;
    let (targets, rest) = (&body[..colon], &body[colon + 1..]);
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let (prereqs, inline) = match rest.split_once(';') {
        Some((p, r)) => (p, Some(r.trim())),
        None => (rest, None),
    };
    if prereqs.contains('=') || targets.contains(['%', '$', '=']) {
        return None; // a target-specific variable or a pattern rule
    }
    let prereqs: Vec<String> = prereqs
        .split_whitespace()
        .filter(|p| *p != "|")
        .map(str::to_string)
        .collect();
    let mut last = None;
    for target in targets.split_whitespace().filter(|t| !t.starts_with('.')) {
        let i = match mk.index.get(target) {
            Some(i) => *i,
            None => {
                mk.index.insert(target.to_string(), mk.rules.len());
                mk.rules.push(Rule {
                    target: target.to_string(),
                    prereqs: Vec::new(),
                    recipe: Vec::new(),
                    line: no,
                });
                mk.rules.len() - 1
            }
        };
        mk.rules[i].prereqs.extend(prereqs.iter().cloned());
        if let Some(r) = inline.filter(|r| !r.is_empty()) {
            mk.rules[i].recipe.push(r.to_string());
        }
        last = Some(i);
    }
    last
}

impl Makefile {
    /// The rule for `target`.
    pub fn rule(&self, target: &str) -> Option<&Rule> {
        self.index.get(target).map(|i| &self.rules[*i])
    }

    /// `text` with make's `$(NAME)` / `${NAME}` expanded from the file's
    /// own variables; an error says what cannot be expanded (a function,
    /// an automatic or unknown variable, a possible secret).
    pub fn expand(&self, text: &str) -> Result<String, String> {
        if self.expanded.get() > MAX_TOTAL_EXPANSION {
            return Err(format!(
                "the Makefile's variables expand to more than {MAX_TOTAL_EXPANSION} bytes in all"
            ));
        }
        let out = self.expand_depth(text, 0)?;
        self.expanded.set(self.expanded.get() + out.len());
        Ok(out)
    }

    fn expand_depth(&self, text: &str, depth: usize) -> Result<String, String> {
        if depth > 10 {
            return Err("its variables refer to each other too deeply".to_string());
        }
        let too_long = || format!("it expands to more than {MAX_EXPANSION} bytes");
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let close = match after.chars().next() {
                Some('(') => ')',
                Some('{') => '}',
                Some('$') => return Err("it uses `$$` (a shell variable)".to_string()),
                Some(c) => return Err(format!("it uses the automatic variable `${c}`")),
                None => return Err("it ends with a lone `$`".to_string()),
            };
            let end = after
                .find(close)
                .ok_or_else(|| "it has an unclosed `$(`".to_string())?;
            let name = &after[1..end];
            if name.contains(char::is_whitespace) || name.contains(['$', ',']) {
                return Err(format!("it calls a make function (`$({name})`)"));
            }
            let upper = name.to_ascii_uppercase();
            if let Some(word) = SECRET_WORDS.iter().find(|w| upper.contains(*w)) {
                return Err(format!(
                    "it uses `$({name})`, which may hold a secret ({word}): never copied into the committed policy"
                ));
            }
            match self.vars.get(name) {
                Some(Some(value)) => {
                    if value.contains("://") && value.contains('@') {
                        return Err(format!("`$({name})` is a URL with credentials: never copied into the committed policy"));
                    }
                    out.push_str(&self.expand_depth(value, depth + 1)?);
                    if out.len() > MAX_EXPANSION {
                        return Err(too_long());
                    }
                }
                Some(None) => return Err(format!("`$({name})` is set by a shell command")),
                None => {
                    return Err(format!(
                        "it uses `$({name})`, which the Makefile does not set"
                    ))
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        if out.len() > MAX_EXPANSION {
            return Err(too_long());
        }
        Ok(out)
    }

    /// What a recipe line is.
    pub fn line(&self, raw: &str) -> Line {
        let mut body = raw.trim();
        let mut ignores_errors = false;
        while let Some(c) = body.chars().next().filter(|c| matches!(c, '@' | '-' | '+')) {
            ignores_errors |= c == '-';
            body = body[1..].trim_start();
        }
        if body.is_empty() {
            return Line::Message;
        }
        if ignores_errors {
            return Line::Opaque("its errors are ignored (`-`)".to_string());
        }
        let first = body.split_whitespace().next().unwrap_or("");
        if matches!(first, "echo" | "printf") && !body.contains(['>', '|', ';', '&', '`']) {
            return Line::Message;
        }
        let expanded = match self.expand(body) {
            Ok(e) => e,
            Err(why) => return Line::Opaque(why),
        };
        if let Some(c) = expanded
            .chars()
            .find(|c| "$`'\"|&;<>()*?[]{}~\\#!".contains(*c))
        {
            return Line::Opaque(format!("it needs a shell (it uses `{c}`)"));
        }
        let argv: Vec<String> = expanded.split_whitespace().map(str::to_string).collect();
        match argv.first() {
            None => Line::Message,
            Some(p) if p.contains('=') => {
                Line::Opaque("it sets an environment variable for the command".to_string())
            }
            Some(p) if BUILTINS.contains(&p.as_str()) => {
                Line::Opaque(format!("it runs the shell builtin `{p}`"))
            }
            Some(_) => Line::Argv(argv),
        }
    }

    /// The plain commands of `target`'s own recipe (messages dropped), or
    /// why it is not plain; `None` when there is no such rule.
    pub fn plain_steps(&self, target: &str) -> Option<Result<Vec<Vec<String>>, String>> {
        let rule = self.rule(target)?;
        let mut steps = Vec::new();
        for raw in &rule.recipe {
            match self.line(raw) {
                Line::Argv(argv) => steps.push(argv),
                Line::Message => {}
                Line::Opaque(why) => return Some(Err(why)),
            }
        }
        Some(Ok(steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# A project Makefile
.PHONY: help deps lint
UV ?= uv
UV_RUN := $(UV) run --no-sync
DB_URL ?= postgresql://app:hunter2@localhost/app  # pragma: allowlist secret
FLAGS = -v
FLAGS += --strict
PY := $(shell command -v python3)

help: ## Show help
\t@awk 'BEGIN {FS = \":.*##\"}' $(MAKEFILE_LIST)

deps: ## Install
\t$(UV) sync

lint: deps ## Lint
\t$(UV_RUN) ruff check src/ \\
\t  tests/
\t@echo \"$(GREEN)ok$(RESET)\"

test: deps ; $(UV_RUN) pytest $(FLAGS)

migrate: deps
\tDATABASE_URL=\"$(DB_URL)\" $(UV_RUN) alembic upgrade head
\t-rm -rf build
\t$(PY) x.py

%.o: %.c
\tcc -c $<
";

    #[test]
    fn rules_keep_their_prerequisites_and_recipes_in_order() {
        let mk = parse(SAMPLE);
        let names: Vec<_> = mk.rules.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(names, ["help", "deps", "lint", "test", "migrate"]);
        let lint = mk.rule("lint").unwrap();
        assert_eq!(lint.prereqs, ["deps"]);
        assert_eq!(lint.recipe.len(), 2, "{:?}", lint.recipe);
        assert_eq!(lint.line, 16);
        assert_eq!(
            mk.rule("test").unwrap().recipe,
            ["$(UV_RUN) pytest $(FLAGS)"]
        );
    }

    #[test]
    fn plain_recipes_become_argv_and_messages_are_dropped() {
        let mk = parse(SAMPLE);
        assert_eq!(
            mk.plain_steps("lint").unwrap().unwrap(),
            vec![vec![
                "uv",
                "run",
                "--no-sync",
                "ruff",
                "check",
                "src/",
                "tests/"
            ]]
        );
        assert_eq!(
            mk.plain_steps("test").unwrap().unwrap(),
            vec![vec!["uv", "run", "--no-sync", "pytest", "-v", "--strict"]]
        );
        assert!(mk.plain_steps("nothing").is_none());
    }

    #[test]
    fn what_needs_a_shell_or_make_is_opaque_with_a_reason() {
        let mk = parse(SAMPLE);
        let check = |line: &str, why: &str| match mk.line(line) {
            Line::Opaque(got) => assert!(got.contains(why), "{line}: {got}"),
            other => panic!("{line}: expected opaque, got {other:?}"),
        };
        check("DATABASE_URL=\"$(DB_URL)\" alembic upgrade head", "secret");
        check(
            "DATABASE_URL=x alembic upgrade head",
            "environment variable",
        );
        check("-rm -rf build", "ignored");
        check("$(PY) x.py", "function");
        check("$(MAKE) db-migration-gate", "does not set");
        check("ruff check | tee out", "`|`");
        check("cd src && pytest", "`&`");
        check("cd src", "builtin");
        check("pytest $$HOME", "$$");
        check("cc -c $<", "automatic");
        check("$(wildcard *.py)", "function");
        assert!(mk.exports.is_empty());
        let exported = parse("CACHE ?= .cache\nexport CACHE\nexport TZ = UTC\n");
        assert_eq!(exported.exports, ["CACHE", "TZ"]);
        check("echo hi > out", "`>`");
        assert_eq!(mk.line("@echo \"done\""), Line::Message);
    }

    #[test]
    fn a_url_with_credentials_is_never_expanded() {
        let mk = parse("CONN ?= postgresql://u:p@h/db\nt:\n\tpsql $(CONN)\n");
        let got = mk.plain_steps("t").unwrap().unwrap_err();
        assert!(got.contains("credentials"), "{got}");
        assert!(!got.contains("u:p"), "{got}");
    }

    #[test]
    fn an_exponential_expansion_is_refused_not_computed() {
        let mut text = String::from("V0 = xxxxxxxxxxxxxxxx\n");
        for i in 1..=6 {
            let prev = format!("$(V{})", i - 1);
            text.push_str(&format!("V{i} = {}\n", prev.repeat(8)));
        }
        text.push_str("t:\n\tprog $(V6)\n");
        let mk = parse(&text);
        let got = mk.plain_steps("t").unwrap().unwrap_err();
        assert!(got.contains("more than 65536 bytes"), "{got}");
    }

    #[test]
    fn conditional_assignment_keeps_the_first_value_and_define_blocks_are_skipped() {
        let mk = parse("A = one\nA ?= two\ndefine X\nfoo: bar\nendef\nt:\n\tprog $(A)\n");
        assert!(mk.rule("foo").is_none());
        assert_eq!(
            mk.plain_steps("t").unwrap().unwrap(),
            vec![vec!["prog", "one"]]
        );
    }
}
