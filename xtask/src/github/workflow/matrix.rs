//! A job's `strategy.matrix` expanded by GitHub's rules: the product of the
//! static lists in the order written, `exclude` removing every combination
//! that matches an entry (a partial match is enough), then each `include`
//! entry added to every original combination whose original values it does
//! not overwrite (added values may be overwritten), or, when it fits none,
//! made a combination of its own. A matrix that comes from an expression is
//! known only at run time and is refused.

use super::yaml::{Node, Value};

/// One combination: the matrix keys and their values, in display order.
pub type Combination = Vec<(String, Value)>;

/// GitHub's limit on the jobs one matrix may generate.
const MAX_JOBS: usize = 256;

fn run_time(what: &str, node: &Node) -> Option<String> {
    node.as_str().filter(|s| s.contains("${{")).map(|s| {
        format!(
            "{what} at line {} is the expression {s:?}, known only when the workflow runs",
            node.line
        )
    })
}

/// The job's combinations; `Ok(None)` when it has no matrix.
pub fn expand(job: &Node) -> Result<Option<Vec<Combination>>, String> {
    let Some(strategy) = job.get("strategy") else {
        return Ok(None);
    };
    if let Some(why) = run_time("`strategy:`", strategy) {
        return Err(why);
    }
    if strategy.entries().is_none() {
        return Err(format!(
            "`strategy:` at line {} is not a mapping",
            strategy.line
        ));
    }
    let Some(matrix) = strategy.get("matrix") else {
        return Ok(None);
    };
    if let Some(why) = run_time("its matrix", matrix) {
        return Err(why);
    }
    let Some(entries) = matrix.entries() else {
        return Err(format!(
            "`matrix:` at line {} is not a mapping",
            matrix.line
        ));
    };
    let (mut combos, original_keys) = product(entries)?;
    for entry in list_of_maps(matrix, "exclude")? {
        combos.retain(|c| !entry.iter().all(|(k, v)| lookup(c, k) == Some(v)));
    }
    include(
        &mut combos,
        &original_keys,
        list_of_maps(matrix, "include")?,
    );
    if combos.is_empty() {
        return Err(format!(
            "its matrix at line {} generates no job, which GitHub rejects",
            matrix.line
        ));
    }
    if combos.len() > MAX_JOBS {
        return Err(format!(
            "its matrix at line {} generates {} jobs, over GitHub's limit of {MAX_JOBS}",
            matrix.line,
            combos.len()
        ));
    }
    Ok(Some(combos))
}

/// The product of the static lists, in the order written, and their keys.
fn product(entries: &[(String, Node)]) -> Result<(Vec<Combination>, Vec<String>), String> {
    let mut combos: Vec<Combination> = vec![Vec::new()];
    let mut keys = Vec::new();
    for (key, values) in entries {
        if key == "include" || key == "exclude" {
            continue;
        }
        if let Some(why) = run_time(&format!("matrix `{key}`"), values) {
            return Err(why);
        }
        let Value::Seq(items) = &values.value else {
            return Err(format!(
                "matrix `{key}` at line {} is not a list",
                values.line
            ));
        };
        for item in items {
            if let Some(why) = run_time(&format!("a value of matrix `{key}`"), item) {
                return Err(why);
            }
        }
        keys.push(key.clone());
        combos = combos
            .iter()
            .flat_map(|c| {
                items.iter().map(move |item| {
                    let mut c = c.clone();
                    c.push((key.clone(), without_lines(&item.value)));
                    c
                })
            })
            .collect();
    }
    if keys.is_empty() {
        combos.clear();
    }
    Ok((combos, keys))
}

/// Each `include` entry added to every original combination whose original
/// values it keeps, or appended as a combination of its own.
fn include(combos: &mut Vec<Combination>, original_keys: &[String], entries: Vec<Combination>) {
    let originals = combos.len();
    for entry in entries {
        let mut fitted = false;
        for combo in combos.iter_mut().take(originals) {
            let fits = entry
                .iter()
                .filter(|(k, _)| original_keys.contains(k))
                .all(|(k, v)| lookup(combo, k) == Some(v));
            if fits {
                fitted = true;
                for (k, v) in &entry {
                    match combo.iter_mut().find(|(ck, _)| ck == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => combo.push((k.clone(), v.clone())),
                    }
                }
            }
        }
        if !fitted {
            combos.push(entry);
        }
    }
}

fn lookup<'a>(combo: &'a Combination, key: &str) -> Option<&'a Value> {
    combo.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// `include:` or `exclude:`: a list of mappings, values without lines.
fn list_of_maps(matrix: &Node, key: &str) -> Result<Vec<Combination>, String> {
    let Some(list) = matrix.get(key) else {
        return Ok(Vec::new());
    };
    if let Some(why) = run_time(&format!("matrix `{key}`"), list) {
        return Err(why);
    }
    let Value::Seq(items) = &list.value else {
        return Err(format!(
            "matrix `{key}` at line {} is not a list",
            list.line
        ));
    };
    items
        .iter()
        .map(|item| {
            let Some(entries) = item.entries() else {
                return Err(format!(
                    "an entry of matrix `{key}` at line {} is not a mapping",
                    item.line
                ));
            };
            entries
                .iter()
                .map(
                    |(k, v)| match run_time(&format!("matrix `{key}` value `{k}`"), v) {
                        Some(why) => Err(why),
                        None => Ok((k.clone(), without_lines(&v.value))),
                    },
                )
                .collect()
        })
        .collect()
}

/// A value with every line set to 0, so that equal values compare equal
/// wherever they were written.
fn without_lines(v: &Value) -> Value {
    let strip = |n: &Node| Node {
        line: 0,
        value: without_lines(&n.value),
    };
    match v {
        Value::Seq(items) => Value::Seq(items.iter().map(strip).collect()),
        Value::Map(entries) => {
            Value::Map(entries.iter().map(|(k, n)| (k.clone(), strip(n))).collect())
        }
        other => other.clone(),
    }
}

/// GitHub's default check-name suffix for a combination: ` (v1, v2, …)`,
/// every value of the combination in order, a mapping's own values in its
/// place (`{name: core, os: x}` shows as `core, x`).
pub fn suffix(combo: &Combination) -> Result<String, String> {
    fn flatten(key: &str, v: &Value, out: &mut Vec<String>) -> Result<(), String> {
        match v {
            Value::Map(entries) => {
                for (_, field) in entries {
                    flatten(key, &field.value, out)?;
                }
                Ok(())
            }
            other => {
                out.push(super::expr::to_text(other).map_err(|e| {
                    format!(
                        "matrix `{key}`: {e}; give the job a `name:` that picks the fields to show"
                    )
                })?);
                Ok(())
            }
        }
    }
    let mut values = Vec::new();
    for (k, v) in combo {
        flatten(k, v, &mut values)?;
    }
    Ok(format!(" ({})", values.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    /// The expanded combinations written as `k=v` lists.
    #[track_caller]
    fn check(matrix: &str, expected: Result<&[&str], &str>) {
        let text = format!("job:\n  strategy:\n    matrix:\n{matrix}");
        let root = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let got = expand(root.get("job").unwrap()).map(|combos| {
            combos
                .unwrap()
                .iter()
                .map(|c| {
                    c.iter()
                        .map(|(k, v)| format!("{k}={}", super::super::expr::to_text(v).unwrap()))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
        });
        match (got, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
            (got, want) => panic!("{text}: {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn static_values_make_the_product_in_order() {
        check(
            "      os: [ubuntu, windows]\n      python: [3.9, '3.10']\n",
            Ok(&[
                "os=ubuntu python=3.9",
                "os=ubuntu python=3.10",
                "os=windows python=3.9",
                "os=windows python=3.10",
            ]),
        );
        check("      v: [3.10, 12]\n", Ok(&["v=3.1", "v=12"]));
    }

    #[test]
    fn exclude_and_include_follow_githubs_documented_example() {
        check(
            "      fruit: [apple, pear]\n      animal: [cat, dog]\n      include:\n        - color: green\n        - color: pink\n          animal: cat\n        - fruit: apple\n          shape: circle\n        - fruit: banana\n        - fruit: banana\n          animal: cat\n",
            Ok(&[
                "fruit=apple animal=cat color=pink shape=circle",
                "fruit=apple animal=dog color=green shape=circle",
                "fruit=pear animal=cat color=pink",
                "fruit=pear animal=dog color=green",
                "fruit=banana",
                "fruit=banana animal=cat",
            ]),
        );
        check(
            "      os: [a, b]\n      v: [1, 2]\n      exclude:\n        - os: a\n          v: 2\n        - os: b\n",
            Ok(&["os=a v=1"]),
        );
        check(
            "      include:\n        - os: a\n          v: 1\n        - os: b\n",
            Ok(&["os=a v=1", "os=b"]),
        );
    }

    #[test]
    fn run_time_and_impossible_matrices_are_refused() {
        check(
            "      ${{ fromJSON(needs.a.outputs.m) }}\n",
            Err("known only when the workflow runs"),
        );
        check(
            "      os: ${{ fromJSON(needs.a.outputs.os) }}\n",
            Err("matrix `os` at line 4 is the expression"),
        );
        check("      os: ['${{ vars.OS }}']\n", Err("known only when"));
        check(
            "      include: ${{ fromJSON(x) }}\n",
            Err("matrix `include`"),
        );
        check("      os: ubuntu\n", Err("is not a list"));
        check(
            "      os: [a]\n      exclude:\n        - os: a\n",
            Err("generates no job"),
        );
        check("      include: [a]\n", Err("not a mapping"));
    }

    #[test]
    fn the_default_suffix_lists_every_value() {
        let combo = vec![
            ("os".to_string(), Value::Str("ubuntu".into())),
            ("py".to_string(), Value::Number(3.1)),
            ("x".to_string(), Value::Bool(true)),
        ];
        assert_eq!(suffix(&combo).unwrap(), " (ubuntu, 3.1, true)");
        let object = parse("cfg: {name: core, paths: a b}\n").unwrap();
        let object = vec![("cfg".to_string(), object.get("cfg").unwrap().value.clone())];
        assert_eq!(suffix(&object).unwrap(), " (core, a b)");
        let list = vec![("cfg".to_string(), Value::Seq(Vec::new()))];
        assert!(suffix(&list)
            .unwrap_err()
            .contains("give the job a `name:`"));
    }
}
