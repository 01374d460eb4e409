//! Files and functions stay small enough to read: no source file over
//! [`MAX_FILE`] lines, no function over [`MAX_FN`] lines, unless the code
//! says why in one line: `// tidy: long-file: <reason>` anywhere in the
//! file, `// tidy: long-fn: <reason>` on a line of the function or just
//! above it. Split by responsibility (gather / decide / render), not by
//! line count.

pub const MAX_FILE: usize = 800;
pub const MAX_FN: usize = 80;

/// `(name, first line (1-based), length in lines)` of every `fn` with a
/// body, found by rustfmt's layout: a body ends at the first line that is
/// the signature's indentation followed by `}`.
pub fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let sig = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "async fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p));
        let Some(sig) = sig else { continue };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{}}}", " ".repeat(indent));
        // A declaration without a body (trait method) ends in `;` before any `{`.
        let mut j = i;
        while j < lines.len() && !lines[j].contains('{') && !lines[j].trim_end().ends_with(';') {
            j += 1;
        }
        if j >= lines.len() || lines[j].trim_end().ends_with(';') && !lines[j].contains('{') {
            continue;
        }
        if lines[j].trim_end().ends_with('}')
            && lines[j].matches('{').count() == lines[j].matches('}').count()
        {
            out.push((name, i + 1, j - i + 1));
            continue;
        }
        let end = (j + 1..lines.len()).find(|&k| lines[k] == close);
        if let Some(end) = end {
            out.push((name, i + 1, end - i + 1));
        }
    }
    out
}

/// The size findings of one file, pure.
pub fn findings(path: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > MAX_FILE && !text.contains("// tidy: long-file: ") {
        out.push(format!(
            "{path}: {} lines (over {MAX_FILE}): split it by responsibility, or say why in a `// tidy: long-file: <reason>` line",
            lines.len()
        ));
    }
    for (name, start, len) in functions(text) {
        if len <= MAX_FN {
            continue;
        }
        let from = start.saturating_sub(4);
        let excused = lines[from..(start - 1 + len).min(lines.len())]
            .iter()
            .any(|l| l.contains("// tidy: long-fn: "));
        if !excused {
            out.push(format!(
                "{path}:{start}: fn {name} is {len} lines (over {MAX_FN}): split gathering, deciding and rendering, or say why in a `// tidy: long-fn: <reason>` line"
            ));
        }
    }
    out
}

#[test]
fn files_and_functions_stay_small() {
    let mut found = Vec::new();
    for (rel, text) in super::sources() {
        found.extend(findings(&rel, &text));
    }
    assert!(
        found.is_empty(),
        "too long to read:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn long_files_and_functions_are_found_unless_excused() {
    let body = |n: usize| "    let x = 1;\n".repeat(n);
    let long_fn = format!("fn big() {{\n{}}}\n", body(MAX_FN));
    let got = findings("a.rs", &long_fn);
    assert!(
        got.len() == 1 && got[0].contains("fn big is 82 lines"),
        "{got:?}"
    );
    let excused = format!("// tidy: long-fn: one table\n{long_fn}");
    assert!(findings("a.rs", &excused).is_empty());
    let short = format!("fn small() {{\n{}}}\n", body(MAX_FN - 2));
    assert!(findings("a.rs", &short).is_empty());
    let nested = format!(
        "impl X {{\n    pub fn m(&self) {{\n{}    }}\n}}\n",
        "        let x = 1;\n".repeat(MAX_FN)
    );
    assert!(
        findings("a.rs", &nested)[0].contains("fn m is"),
        "{:?}",
        findings("a.rs", &nested)
    );
    let long_file = "// x\n".repeat(MAX_FILE + 1);
    assert!(findings("a.rs", &long_file)[0].contains("801 lines"));
    assert!(findings(
        "a.rs",
        &format!("// tidy: long-file: generated table\n{long_file}")
    )
    .is_empty());
    assert_eq!(
        functions("trait T {\n    fn f(&self);\n}\nfn g() {}\n"),
        vec![("g".to_string(), 4, 1)]
    );
}
