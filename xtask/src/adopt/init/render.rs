//! The draft policy as `xtask.toml` text: every guessed value under a
//! `# guessed from …` comment, what was not guessed as notes at the top.
//! Strings are written as TOML basic strings with every control character
//! escaped, and comments never carry a line break, so a hostile file name
//! cannot add a key.

use crate::adopt::init::decide::{Docs, Draft, Step, Task};

/// `s` as a TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn array(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", inner.join(", "))
}

/// A comment line (control characters shown as `?`).
fn comment(out: &mut String, indent: &str, text: &str) {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    out.push_str(&format!("{indent}# {clean}\n"));
}

fn guessed(out: &mut String, indent: &str, why: &str) {
    comment(out, indent, &format!("guessed from {why}"));
}

fn steps(out: &mut String, key: &str, steps: &[Step]) {
    out.push_str(&format!("{key} = [\n"));
    for s in steps {
        guessed(out, "  ", &s.why);
        if let Some(warn) = &s.warn {
            comment(out, "  ", &format!("EDIT: {warn}"));
        }
        out.push_str(&format!(
            "  {{ name = {}, argv = {} }},\n",
            quote(&s.name),
            array(&s.argv)
        ));
    }
    out.push_str("]\n");
}

/// `key = value` under its `# guessed from` line.
fn value(out: &mut String, why: &str, key: &str, rendered: &str) {
    guessed(out, "", why);
    out.push_str(&format!("{key} = {rendered}\n"));
}

/// The whole file.
pub fn policy(draft: &Draft) -> String {
    let mut out = String::new();
    out.push_str(
        "# xtask.toml: this repository's release policy, drafted by `cargo xtask init`.\n\
         # Every value below a `# guessed from …` line is a guess: check each one,\n\
         # then run `cargo xtask check --dry-run` and `cargo xtask test --dry-run`.\n\
         # Every key is documented in docs/POLICY.md.\n",
    );
    if !draft.notes.is_empty() {
        out.push_str("#\n# What init did not guess, and what to look at:\n");
        for n in &draft.notes {
            comment(&mut out, "", &format!("- {n}"));
        }
    }
    out.push_str("\n[git]\n");
    let (main, remote) = (&draft.main_branch, &draft.remote);
    value(&mut out, &main.why, "main-branch", &quote(&main.value));
    value(&mut out, &remote.why, "remote", &quote(&remote.value));
    if let Some(task) = &draft.task {
        task_section(&mut out, task);
    }
    if !draft.prepare.is_empty() {
        out.push_str("\n# What the gates' Makefile prerequisites installed.\n[prepare]\n");
        for p in &draft.prepare {
            guessed(&mut out, "", &p.why);
            steps(&mut out, &toml_key(&p.name), &p.steps);
        }
    }
    for g in &draft.gates {
        out.push_str(&format!("\n[gates.{}]\n", toml_key(&g.name)));
        guessed(&mut out, "", &g.why);
        if !g.prepare.is_empty() {
            out.push_str(&format!("prepare = {}\n", array(&g.prepare)));
        }
        steps(&mut out, "steps", &g.steps);
    }
    if let Some(m) = &draft.migration {
        out.push_str("\n# The database URL never goes here: MIGRATION_GATE_DATABASE_URL_FILE or\n# RELEASE_GATE_DATABASE_URL_FILE when the gate runs.\n[migration]\n");
        value(
            &mut out,
            &m.directory.why,
            "directory",
            &quote(&m.directory.value),
        );
        value(
            &mut out,
            &m.alembic.why,
            "alembic",
            &array(&m.alembic.value),
        );
        if let Some(p) = &m.prepare {
            value(&mut out, &p.why, "prepare", &array(&p.value));
        }
    }
    if let Some(checks) = &draft.required_checks {
        out.push_str("\n[github]\n");
        value(
            &mut out,
            &checks.why,
            "required-checks",
            &array(&checks.value),
        );
    }
    if let Some(d) = &draft.docs {
        docs_section(&mut out, d);
    }
    out
}

fn task_section(out: &mut String, task: &Task) {
    out.push_str("\n[task]\n");
    value(
        out,
        &task.id_prefix.why,
        "id-prefix",
        &quote(&task.id_prefix.value),
    );
    let digits = &task.id_digits;
    value(out, &digits.why, "id-digits", &digits.value.to_string());
    if let Some(t) = &task.branch_template {
        value(out, &t.why, "branch-template", &quote(&t.value));
    }
    if let Some(l) = &task.ledger {
        let files = match l.value.as_slice() {
            [one] => quote(one),
            many => array(many),
        };
        value(out, &l.why, "ledger", &files);
    }
}

fn docs_section(out: &mut String, d: &Docs) {
    out.push_str("\n[docs]\n");
    let why = "the directories of the files with markers";
    value(out, why, "scope", &array(&d.scope));
    if let Some(o) = &d.overrides_file {
        value(
            out,
            &format!("{o}, which exists"),
            "overrides-file",
            &quote(o),
        );
    }
    guessed(out, "", "the markdown files that carry a dated marker");
    out.push_str("markers = [\n");
    for (path, label) in &d.markers {
        out.push_str(&format!(
            "  {{ path = {}, label = {} }},\n",
            quote(path),
            quote(label)
        ));
    }
    out.push_str("]\n");
}

/// A table key: bare when TOML allows it, else quoted.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        name.to_string()
    } else {
        quote(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("x\ny\u{7f}"), "\"x\\ny\\u007F\"");
        let v: toml::Value =
            toml::from_str(&format!("k = {}", quote("x\ny\u{7f}\u{1}\""))).unwrap();
        assert_eq!(v["k"].as_str(), Some("x\ny\u{7f}\u{1}\""));
    }

    #[test]
    fn a_comment_never_breaks_its_line() {
        let mut out = String::new();
        comment(&mut out, "", "evil\n[git]\nremote = \"x\"");
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.starts_with("# evil?[git]?remote"), "{out}");
    }

    #[test]
    fn keys_are_bare_only_when_toml_allows() {
        assert_eq!(toml_key("deps-dev"), "deps-dev");
        assert_eq!(toml_key("a.b"), "\"a.b\"");
    }
}
