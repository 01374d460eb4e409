//! Secrets never leak (issue 12): generated URL shapes and secret
//! placements, and a canary that must appear nowhere: stdout, stderr,
//! `--format json`, the gate record. A database URL that is not a URL is
//! refused before any step runs.

use crate::support::{Done, Repo};

/// A small deterministic generator (xorshift): no dependency, and a failing
/// case names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn coin(&mut self) -> bool {
        self.next().is_multiple_of(2)
    }
}

/// A database URL hiding `canary` in its password or a secret-named query
/// parameter, between the characters that cut naive parsers short.
fn database_url(rng: &mut Rng, canary: &str) -> String {
    let noise = [
        "", "/", "#", "?", "@", ":", "%40", "%2F", "&", "=", "zz/", "a@b", "x?y#", "\"", "'",
    ];
    let password = format!(
        "{}{}{canary}{}",
        rng.pick(&noise),
        rng.pick(&noise),
        rng.pick(&noise)
    );
    let scheme = rng.pick(&["postgresql", "postgresql+psycopg", "mysql", "sqlite"]);
    let host = rng.pick(&["db", "db.internal:5432", "10.0.0.7:6543"]);
    let param = rng.pick(&[
        "password",
        "PASSWORD",
        "sslpassword",
        "pass",
        "token",
        "Api_Key",
        "secret",
    ]);
    match rng.next() % 3 {
        0 => format!("{scheme}://app:{password}@{host}/app"),
        1 => format!("{scheme}://app:{password}@{host}/app?sslmode=require"),
        _ => format!("{scheme}://app@{host}/app?sslmode=require&{param}={canary}"),
    }
}

/// A gate step that prints every secret it can see, in several spellings,
/// including as a would-be workflow command, then fails: the gate record
/// of a failed gate is still written.
const ECHO_SECRETS: &str = r#"for v in RELEASE_GATE_DATABASE_URL GITHUB_TOKEN GH_TOKEN SENTRY_DSN; do eval "printf '%s=%s\n' $v \"\$$v\""; done; for f in "$RELEASE_GATE_DATABASE_URL_FILE" "$SENTRY_DSN_FILE" "$GH_TOKEN_FILE"; do [ -n "$f" ] && cat "$f"; done; printf '::error::%s\n' "$GITHUB_TOKEN"; exit 3"#;

fn policy() -> String {
    format!(
        "secret-env = [\"SENTRY_DSN\"]\n\n[gates.check]\nsteps = [{{ name = \"echo-secrets\", argv = [\"sh\", \"-c\", {script}] }}]\n\n[gates.test]\nsteps = [{{ name = \"unit\", argv = [\"true\"] }}]\n",
        script = toml_string(ECHO_SECRETS)
    )
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn note(repo: &Repo) -> Option<String> {
    let out = repo.git_output(&["notes", "--ref=release-gate", "show", "HEAD"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[track_caller]
fn nowhere(done: &Done, canary: &str, case: &str) {
    assert!(
        !done.stdout.contains(canary) && !done.stderr.contains(canary),
        "{case}: the canary {canary:?} leaked{}",
        done.dump()
    );
}

#[test]
fn property_no_url_shape_or_secret_placement_leaks_the_canary() {
    let repo = Repo::new("secrets-property");
    repo.write("xtask.toml", &policy());
    repo.commit_all("a gate that echoes its secrets");
    let files = repo.tmp.path().join("secret-files");
    std::fs::create_dir_all(&files).unwrap();
    let seed = 0x5EC2_E75A_11CE_u64;
    let mut rng = Rng(seed);
    for case in 0..12 {
        let canary = format!("Kq{case}CaNaRy7");
        let url = database_url(&mut rng, &canary);
        let what = format!("seed {seed:#x} case {case}: {url:?}");
        let mut run = repo.xtask(&["release-gate", "--format", "json"]);
        if rng.coin() {
            let file = files.join(format!("db-{case}"));
            std::fs::write(&file, format!("{url}\n")).unwrap();
            run = run.env("RELEASE_GATE_DATABASE_URL_FILE", &file);
        } else {
            run = run.env("RELEASE_GATE_DATABASE_URL", &url);
        }
        let token = format!("ghp_{canary}{}", rng.pick(&["", "x", "/=+"]));
        run = run.env(rng.pick(&["GITHUB_TOKEN", "GH_TOKEN"]), &token);
        let dsn = format!("https://{canary}@o1.ingest.sentry.io/42");
        if rng.coin() {
            let file = files.join(format!("dsn-{case}"));
            std::fs::write(&file, &dsn).unwrap();
            run = run.env("SENTRY_DSN_FILE", &file);
        } else {
            run = run.env("SENTRY_DSN", &dsn);
        }
        let done = run.run();
        done.code(1);
        // The step did run and print: the test sees its masked lines.
        assert!(
            done.stderr.contains("RELEASE_GATE_DATABASE_URL="),
            "{what}{}",
            done.dump()
        );
        nowhere(&done, &canary, &what);
        let report = done.json();
        assert_eq!(report["record"]["written"], true, "{what}: {report}");
        let record = note(&repo).expect("a gate record");
        assert!(
            !record.contains(&canary),
            "{what}: the gate record leaked: {record}"
        );
        assert!(
            !done
                .stderr
                .lines()
                .any(|l| l.trim_start().starts_with("::error::ghp")),
            "{what}: a step's line became a workflow command{}",
            done.dump()
        );

        // The same step run by `check`, streamed to stderr in human mode.
        let mut check = repo
            .xtask(&["check"])
            .env("RELEASE_GATE_DATABASE_URL", &url);
        check = check.env("GH_TOKEN", &token).env("SENTRY_DSN", &dsn);
        let done = check.run();
        done.code(1);
        nowhere(&done, &canary, &format!("check, {what}"));
    }
}

#[test]
fn a_database_url_in_keyword_form_is_refused_before_any_step_runs() {
    let repo = Repo::new("secrets-dsn");
    repo.write(
        "xtask.toml",
        "[gates.check]\nsteps = [{ name = \"mark\", argv = [\"sh\", \"-c\", \"echo ran > check-ran\"] }]\n\n[gates.test]\nsteps = [{ name = \"mark\", argv = [\"sh\", \"-c\", \"echo ran > test-ran\"] }]\n",
    );
    repo.write(".gitignore", "check-ran\ntest-ran\n");
    repo.commit_all("gates that leave a mark");
    let dsn = "host=db port=5432 dbname=app user=app password=Dsn-CaNaRy-1";
    for format in ["human", "json"] {
        let done = repo
            .xtask(&["release-gate", "--format", format])
            .env("RELEASE_GATE_DATABASE_URL", dsn)
            .run();
        done.code(2);
        let said = if format == "json" {
            done.json()["error"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            done.stderr.clone()
        };
        for text in [
            "RELEASE_GATE_DATABASE_URL is not a URL",
            "keyword form `host=… dbname=…`",
        ] {
            assert!(
                said.contains(text),
                "{format}: lacks {text:?}{}",
                done.dump()
            );
        }
        nowhere(&done, "Dsn-CaNaRy-1", format);
        assert!(!repo.path("check-ran").exists(), "check ran{}", done.dump());
        assert!(!repo.path("test-ran").exists(), "test ran{}", done.dump());
        assert_eq!(note(&repo), None);
    }
    let file = repo.tmp.path().join("dsn");
    std::fs::write(&file, dsn).unwrap();
    let done = repo
        .xtask(&["release-gate"])
        .env("RELEASE_GATE_DATABASE_URL_FILE", &file)
        .run();
    done.code(2)
        .stderr_has("RELEASE_GATE_DATABASE_URL_FILE is not a URL");
    nowhere(&done, "Dsn-CaNaRy-1", "from a file");
    assert!(!repo.path("check-ran").exists());

    let done = repo
        .xtask(&["db-migration-gate"])
        .env("MIGRATION_GATE_DATABASE_URL", dsn)
        .run();
    done.code(2)
        .stderr_has("MIGRATION_GATE_DATABASE_URL is not a URL");
    nowhere(&done, "Dsn-CaNaRy-1", "db-migration-gate");

    repo.write(
        "xtask.toml",
        "[migration]\ndefault-database-url = \"host=db password=Dsn-CaNaRy-1\"\n",
    );
    let done = repo.xtask(&["check", "--dry-run"]).run();
    done.code(2)
        .stderr_has("migration.default-database-url is not a URL");
    nowhere(&done, "Dsn-CaNaRy-1", "policy default");
}

#[test]
fn secret_env_names_must_be_variable_names() {
    let repo = Repo::new("secrets-policy");
    repo.write(
        "xtask.toml",
        "secret-env = [\"SENTRY_DSN\", \"not a name\"]\n",
    );
    repo.xtask(&["check", "--dry-run"])
        .run()
        .code(2)
        .stderr_has("secret-env: \"not a name\" is not an environment variable name");
}

#[test]
fn a_steps_escape_sequences_and_workflow_commands_are_neutralized() {
    let repo = Repo::new("secrets-sanitize");
    repo.write(
        "xtask.toml",
        "[gates.check]\nsteps = [{ name = \"hostile\", argv = [\"sh\", \"-c\", \"printf 'title \\\\033]0;pwned\\\\007 set\\\\n::warning::forged\\\\n  ::add-mask::x\\\\nplain line\\\\n'\"] }]\n",
    );
    let done = repo.xtask(&["check"]).env("GITHUB_ACTIONS", "true").run();
    done.code(0)
        .stderr_has("title \\x1b]0;pwned\\x07 set")
        .stderr_has("plain line");
    assert!(!done.stderr.contains('\x1b'), "a raw escape{}", done.dump());
    assert!(!done.stderr.contains('\x07'), "a raw bell{}", done.dump());
    for line in done.stderr.lines() {
        let line = line.trim_start();
        assert!(
            !line.starts_with("::warning::forged") && !line.starts_with("::add-mask::"),
            "a step's line became a workflow command: {line:?}{}",
            done.dump()
        );
    }
    done.stderr_has("\\::warning::forged");
}
