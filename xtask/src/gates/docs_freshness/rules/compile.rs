//! Compiling `[docs]` into [`Rules`]: every problem collected, each naming
//! its key, so a broken policy is fixed in one pass.

use std::collections::BTreeSet;

use regex_lite::Regex;

use super::literal::{fill_template, literal_starts_every_match, required_literal, Finder};
use super::*;
use crate::plumbing::policy::Docs;

fn reserved(id: &str) -> bool {
    id.starts_with("docs_freshness_") || id.starts_with("required_marker_")
}

/// Compiles and validates `[docs]`; every problem, each naming its key.
pub fn compile(docs: &Docs) -> Result<Rules, Vec<String>> {
    let mut c = Compiler {
        docs,
        problems: Vec::new(),
        scopes: Vec::new(),
        never: Regex::new("$^").expect("a valid regex"),
    };
    c.path_ok("docs.overrides-file", &docs.overrides_file);
    for (i, g) in docs.scope.iter().enumerate() {
        if let Err(e) = Glob::new(g) {
            c.problems.push(format!("docs.scope[{i}]: {e}"));
        }
    }
    let markers = c.markers();
    let forbidden = c.forbidden();
    let references = c.references();
    let required = c.required();
    let couplings = c.couplings();
    let ledgers = c.ledgers();
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(Rules {
        scopes: c.scopes.into_iter().map(|(_, g)| g).collect(),
        markers,
        forbidden,
        references,
        required,
        couplings,
        ledgers,
    })
}

/// The compilation in progress: the policy, the problems found so far, and
/// the distinct scopes text rules share.
struct Compiler<'d> {
    docs: &'d Docs,
    problems: Vec<String>,
    scopes: Vec<(Vec<String>, Vec<Glob>)>,
    /// Stands in for a regex that failed to compile (a problem is recorded).
    never: Regex,
}

impl Compiler<'_> {
    /// The index of the rule's scope (its own, else `docs.scope`) in the
    /// shared list, adding it when new.
    fn scope_index(&mut self, key: &str, own: &Option<Vec<String>>) -> usize {
        let list = own.clone().unwrap_or_else(|| self.docs.scope.clone());
        if list.is_empty() {
            self.problems
                .push(format!("{key}: no scope: set its `scope` or `docs.scope`"));
        }
        if let Some(i) = self.scopes.iter().position(|(l, _)| *l == list) {
            return i;
        }
        let mut globs = Vec::new();
        for g in &list {
            match Glob::new(g) {
                Ok(glob) => globs.push(glob),
                Err(e) => self.problems.push(format!("{key}.scope: {e}")),
            }
        }
        self.scopes.push((list, globs));
        self.scopes.len() - 1
    }

    fn meta(
        &mut self,
        key: &str,
        id: &str,
        message: &str,
        level: DocsLevel,
        overridable: bool,
    ) -> Meta {
        let id_ok = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !id_ok {
            self.problems.push(format!(
                "{key}.id {id:?}: use letters, digits, `_`, `-`, `.`"
            ));
        } else if reserved(id) {
            self.problems.push(format!("{key}.id {id:?}: ids starting with docs_freshness_ or required_marker_ are the engine's own"));
        }
        if message.trim().is_empty() {
            self.problems.push(format!("{key}.message is empty"));
        } else if message.trim().contains('\n') {
            self.problems.push(format!(
                "{key}.message must be one line (findings are one line each)"
            ));
        }
        Meta {
            id: id.to_string(),
            message: message.trim().to_string(),
            level,
            overridable,
        }
    }

    fn path_ok(&mut self, key: &str, p: &str) {
        if let Err(e) = safe_path(p) {
            self.problems.push(format!("{key}: {e}"));
        }
    }

    fn regex(&mut self, key: &str, pattern: &str) -> Option<Regex> {
        match Regex::new(pattern) {
            Ok(re) => Some(re),
            Err(e) => {
                self.problems.push(format!(
                    "{key} {pattern:?} is not a valid regex: {}",
                    e.to_string().replace('\n', " ")
                ));
                None
            }
        }
    }

    fn regex_or_never(&mut self, key: &str, pattern: &str) -> Regex {
        self.regex(key, pattern)
            .unwrap_or_else(|| self.never.clone())
    }

    fn markers(&mut self) -> Vec<Marker> {
        let mut markers = Vec::new();
        for (i, m) in self.docs.markers.iter().enumerate() {
            let key = format!("docs.markers[{i}]");
            self.path_ok(&format!("{key}.path"), &m.path);
            if m.label.trim().is_empty() || m.label.contains('\n') {
                self.problems.push(format!(
                    "{key}.label must be one line of text, like \"Last Verified\""
                ));
            }
            let pattern = format!(
                r"\*\*{}\*\*:\s*(\d{{4}}-\d{{2}}-\d{{2}})",
                regex_lite::escape(&m.label)
            );
            let re = self.regex_or_never(&format!("{key}.label"), &pattern);
            markers.push(Marker {
                path: m.path.clone(),
                label: m.label.clone(),
                re,
                level: m.level,
                overridable: m.overridable,
            });
        }
        markers
    }

    fn forbidden(&mut self) -> Vec<Forbidden> {
        let mut forbidden = Vec::new();
        for (i, f) in self.docs.forbidden.iter().enumerate() {
            let key = format!("docs.forbidden[{i}]");
            let meta = self.meta(&key, &f.id, &f.message, f.level, f.overridable);
            let matcher = match (&f.text, &f.regex) {
                (Some(t), None) if !t.is_empty() => Matcher::Text(Finder::new(t)),
                (None, Some(r)) => Matcher::Regex {
                    re: self.regex_or_never(&format!("{key}.regex"), r),
                    literal: required_literal(r).map(|l| Finder::new(&l)),
                },
                _ => {
                    self.problems.push(format!(
                        "{key} ({}): give exactly one of `text` (non-empty) or `regex`",
                        f.id
                    ));
                    Matcher::Text(Finder::new("-"))
                }
            };
            let scope = self.scope_index(&key, &f.scope);
            forbidden.push(Forbidden {
                meta,
                matcher,
                scope,
            });
        }
        forbidden
    }

    fn references(&mut self) -> Vec<Reference> {
        let mut references = Vec::new();
        for (i, r) in self.docs.references.iter().enumerate() {
            let key = format!("docs.references[{i}]");
            let meta = self.meta(&key, &r.id, &r.message, r.level, r.overridable);
            let re = self.regex(&format!("{key}.pattern"), &r.pattern);
            let groups = re.as_ref().map_or(0, |re| re.captures_len() - 1);
            if re.is_some() && groups == 0 {
                self.problems.push(format!(
                    "{key}.pattern {:?} needs a capture group: the part that must resolve",
                    r.pattern
                ));
            }
            if let Some(problem) = template_problem(&key, r.target, &r.template, groups) {
                self.problems.push(problem);
            }
            let scope = self.scope_index(&key, &r.scope);
            references.push(Reference {
                meta,
                literal: required_literal(&r.pattern).map(|l| Finder::new(&l)),
                literal_starts: required_literal(&r.pattern)
                    .is_some_and(|l| literal_starts_every_match(&r.pattern, &l)),
                re: re.unwrap_or_else(|| self.never.clone()),
                target: r.target,
                template: r.template.clone(),
                scope,
            });
        }
        references
    }

    fn required(&mut self) -> Vec<Required> {
        let docs = self.docs;
        let mut required = Vec::new();
        let existence: BTreeSet<&str> = docs
            .required
            .iter()
            .filter(|r| r.texts.is_empty() && r.lines.is_empty())
            .flat_map(|r| r.paths.iter().map(String::as_str))
            .collect();
        for (i, r) in docs.required.iter().enumerate() {
            let key = format!("docs.required[{i}]");
            let meta = self.meta(&key, &r.id, &r.message, r.level, r.overridable);
            if r.paths.is_empty() {
                self.problems.push(format!("{key}.paths is empty"));
            }
            for p in &r.paths {
                self.path_ok(&format!("{key}.paths"), p);
                let content_rule = !r.texts.is_empty() || !r.lines.is_empty();
                if content_rule && !existence.contains(p.as_str()) {
                    self.problems.push(format!(
                        "{key} ({}): {p:?} has content rules but no existence rule; add a [[docs.required]] with paths = [{p:?}] and no texts/lines, so a missing file is a finding",
                        r.id
                    ));
                }
            }
            if r.texts.iter().any(|t| t.is_empty()) {
                self.problems.push(format!("{key}.texts has an empty text"));
            }
            let lines = r
                .lines
                .iter()
                .filter_map(|l| self.regex(&format!("{key}.lines"), l))
                .collect();
            required.push(Required {
                meta,
                paths: r.paths.clone(),
                texts: r.texts.clone(),
                lines,
                report: r.report,
            });
        }
        required
    }

    fn couplings(&mut self) -> Vec<Coupling> {
        let mut couplings = Vec::new();
        for (i, c) in self.docs.couplings.iter().enumerate() {
            let key = format!("docs.couplings[{i}]");
            let meta = self.meta(&key, &c.id, &c.message, c.level, c.overridable);
            self.path_ok(&format!("{key}.if-file"), &c.if_file);
            self.path_ok(&format!("{key}.then-file"), &c.then_file);
            if c.if_contains.is_empty() || c.then_contains.is_empty() {
                self.problems.push(format!(
                    "{key}: if-contains and then-contains must not be empty"
                ));
            }
            couplings.push(Coupling {
                meta,
                if_file: c.if_file.clone(),
                if_contains: c.if_contains.clone(),
                then_file: c.then_file.clone(),
                then_contains: c.then_contains.clone(),
            });
        }
        couplings
    }

    fn ledgers(&mut self) -> Vec<Ledger> {
        let mut ledgers = Vec::new();
        for (i, l) in self.docs.ledgers.iter().enumerate() {
            let key = format!("docs.ledgers[{i}]");
            for p in &l.require_files {
                self.path_ok(&format!("{key}.require-files"), p);
            }
            let id_re = self.regex_or_never(&format!("{key}.id-pattern"), &l.id_pattern);
            for (name, sources) in &l.sets {
                if sources.is_empty() {
                    self.problems
                        .push(format!("{key}.sets.{name} has no sources"));
                }
                for s in sources {
                    self.path_ok(&format!("{key}.sets.{name}.file"), &s.file);
                }
            }
            if l.checks.is_empty() {
                self.problems.push(format!("{key}.checks is empty"));
            }
            let checks = l
                .checks
                .iter()
                .enumerate()
                .map(|(j, c)| self.ledger_check(&format!("{key}.checks[{j}]"), &key, l, c))
                .collect();
            ledgers.push(Ledger {
                require_files: l.require_files.clone(),
                id_re,
                sets: l.sets.clone(),
                checks,
            });
        }
        ledgers
    }

    fn ledger_check(
        &mut self,
        ckey: &str,
        key: &str,
        l: &crate::plumbing::policy::DocsLedger,
        c: &crate::plumbing::policy::DocsLedgerCheck,
    ) -> LedgerCheck {
        let meta = self.meta(ckey, &c.id, &c.message, c.level, c.overridable);
        self.path_ok(&format!("{ckey}.path"), &c.path);
        for side in [&c.left, &c.right] {
            if side.is_empty() {
                self.problems.push(format!(
                    "{ckey}: left and right must each name at least one set"
                ));
            }
            for name in side.iter().filter(|n| !l.sets.contains_key(*n)) {
                self.problems
                    .push(format!("{ckey}: no set named {name:?} in {key}.sets"));
            }
        }
        LedgerCheck {
            meta,
            path: c.path.clone(),
            kind: c.kind,
            left: c.left.clone(),
            right: c.right.clone(),
        }
    }
}

/// What is wrong with a reference's target and template, if anything.
fn template_problem(
    key: &str,
    target: DocsTarget,
    template: &Option<String>,
    groups: usize,
) -> Option<String> {
    match (target, template) {
        (DocsTarget::File, Some(t)) => {
            let (filled, used) = fill_template(t, &["x"; 10]);
            if let Some(n) = used.iter().find(|n| **n == 0 || **n > groups) {
                Some(format!("{key}.template {t:?} uses {{{n}}}, but the pattern has {groups} capture group(s)"))
            } else {
                Glob::new(&filled)
                    .err()
                    .map(|e| format!("{key}.template: {e}"))
            }
        }
        (DocsTarget::File, None) => Some(format!(
            "{key}: target \"file\" needs a `template`, like \"docs/adr/{{1}}-*.md\""
        )),
        (DocsTarget::XtaskCommand, Some(_)) => Some(format!(
            "{key}: target \"xtask-command\" takes no `template` (capture 1 is the command)"
        )),
        (DocsTarget::XtaskCommand, None) => None,
    }
}
