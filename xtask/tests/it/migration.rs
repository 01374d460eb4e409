//! db-migration-gate against real alembic, SQLAlchemy and psycopg (the
//! example service's locked environment), on SQLite files and on a throwaway
//! PostgreSQL cluster. Every scenario of the issue runs on both databases;
//! each test gets its own copy of examples/service in a temporary repository
//! and its own database (copied from a database migrated once per run).

mod pg;
mod release_gate;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::{require_tool, Done, Repo, Run};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The database a test starts with.
#[derive(Clone, Copy)]
enum State {
    /// Created but never migrated.
    Empty,
    /// Migrated up to this revision.
    At(&'static str),
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("examples/service")
}

/// The example's locked environment (alembic, SQLAlchemy, psycopg), made
/// with `uv sync --frozen` if it is not there yet.
fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        require_tool("uv", "python3 -m pip install uv");
        // Quick when in sync; also compiles the bytecode (pyproject.toml asks
        // for it), without which every alembic run recompiles SQLAlchemy.
        let out = Command::new("uv")
            .args(["sync", "--frozen", "--quiet"])
            .current_dir(example())
            .stdin(Stdio::null())
            .output()
            .expect("uv runs");
        assert!(
            out.status.success(),
            "uv sync --frozen failed in examples/service (scripts/setup.sh runs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        example().join(".venv")
    })
}

/// PATH with the uv binary itself first. A uv that pip installed under
/// pyenv is a shell shim that starts some forty processes to find the
/// binary, on each of a gate's three alembic runs; that was a twentieth of
/// the suite's CPU time (docs/BENCHMARKS.md, test suite). The gate under
/// test still runs `uv` from PATH, and uv is the same program.
fn path_with_uv_binary() -> &'static std::ffi::OsStr {
    static PATH: OnceLock<std::ffi::OsString> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let uv = require_tool("uv", "python3 -m pip install uv");
        let mut magic = [0u8; 2];
        let is_script = std::fs::File::open(&uv)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
            && &magic == b"#!";
        if !is_script {
            return path;
        }
        // `uv run` tells the commands it runs where its binary is, in UV.
        let out = Command::new(&uv)
            .args(["run", "--no-project", "--", "env"])
            .stdin(Stdio::null())
            .output()
            .expect("uv runs");
        let binary = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("UV=").map(PathBuf::from))
            .filter(|b| b.is_file());
        let Some(binary) = binary else {
            return path;
        };
        // One directory for every run: the link is made aside and renamed
        // over the old one, which a concurrent run may still be using.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("uv-binary");
        std::fs::create_dir_all(&dir).unwrap();
        let aside = dir.join(format!("uv.{}", std::process::id()));
        let _ = std::fs::remove_file(&aside);
        std::os::unix::fs::symlink(&binary, &aside).unwrap();
        std::fs::rename(&aside, dir.join("uv")).unwrap();
        std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path))).unwrap()
    })
}

/// Runs the example's alembic directly (not through the gate) on `url`.
fn alembic(url: &str, args: &[&str]) {
    let out = Command::new(venv().join("bin/alembic"))
        .arg("-c")
        .arg(example().join("alembic.ini"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("DATABASE_URL_FILE")
        .stdin(Stdio::null())
        .output()
        .expect("alembic runs");
    assert!(
        out.status.success(),
        "alembic {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs SQL on `url` with the example's SQLAlchemy.
fn sql(url: &str, statement: &str) {
    let script = "import os, sqlalchemy as sa\nurl = os.environ['URL']\nif url.startswith('postgresql://'):\n    url = 'postgresql+psycopg://' + url[len('postgresql://'):]\nwith sa.create_engine(url).begin() as c:\n    c.execute(sa.text(os.environ['SQL']))\n";
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .env("URL", url)
        .env("SQL", statement)
        .stdin(Stdio::null())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{statement} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SQLite databases migrated once per run, copied by each test.
fn sqlite_template(rev: &'static str) -> PathBuf {
    static TEMPLATES: OnceLock<std::sync::Mutex<Vec<(&'static str, PathBuf)>>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(Default::default);
    let mut templates = templates.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = templates.iter().find(|(r, _)| *r == rev) {
        return path.clone();
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("migration-{}-{rev}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    alembic(&format!("sqlite:///{}", path.display()), &["upgrade", rev]);
    templates.push((rev, path.clone()));
    path
}

/// PostgreSQL template databases migrated once per run.
fn pg_template(rev: &'static str) -> String {
    static TEMPLATES: OnceLock<std::sync::Mutex<Vec<(&'static str, String)>>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(Default::default);
    let mut templates = templates.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, name)) = templates.iter().find(|(r, _)| *r == rev) {
        return name.clone();
    }
    let c = pg::cluster();
    let name = c.create_database(None);
    alembic(&c.url(&c.password, c.port, &name), &["upgrade", rev]);
    templates.push((rev, name.clone()));
    name
}

/// A temporary repository holding a copy of examples/service, a policy that
/// points the gate at it, and a database in `state`.
struct Fixture {
    repo: Repo,
    url: String,
    /// The real password, which must never be printed.
    secret: Option<String>,
}

impl Fixture {
    fn new(label: &str, backend: Backend, state: State) -> Fixture {
        venv();
        let repo = Repo::new(label);
        copy_service(&example(), &repo.path("service"));
        repo.write(
            "xtask.toml",
            "[migration]\ndirectory = \"service\"\ntimeout = \"2m\"\n",
        );
        let (url, secret) = match backend {
            Backend::Sqlite => {
                let db = repo.tmp.path().join("app.db");
                match state {
                    // An existing, empty SQLite file: alembic finds no version table.
                    State::Empty => std::fs::write(&db, "").unwrap(),
                    State::At(rev) => {
                        std::fs::copy(sqlite_template(rev), &db).unwrap();
                    }
                }
                (format!("sqlite:///{}", db.display()), None)
            }
            Backend::Postgres => {
                let c = pg::cluster();
                let name = match state {
                    State::Empty => c.create_database(None),
                    State::At(rev) => c.create_database(Some(&pg_template(rev))),
                };
                (c.url(&c.password, c.port, &name), Some(c.password.clone()))
            }
        };
        Fixture { repo, url, secret }
    }

    /// The gate in JSON mode with the fixture's URL, through the policy's
    /// default alembic command (`uv run --no-sync alembic`) and the example's
    /// environment.
    fn gate(&self) -> Run {
        self.gate_on(&self.url)
    }

    fn gate_on(&self, url: &str) -> Run {
        self.repo
            .xtask(&["db-migration-gate", "--format", "json"])
            .env("MIGRATION_GATE_DATABASE_URL", url)
            .env("PATH", path_with_uv_binary())
            // uv leaves a lock file per project in the temporary directory:
            // the test's own, removed with it.
            .env("TMPDIR", self.repo.tmp.path())
            .env("UV_PROJECT_ENVIRONMENT", venv())
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("NO_COLOR", "1")
    }

    /// Asserts the run never showed a password, and returns its report.
    #[track_caller]
    fn report(&self, done: &Done, secrets: &[&str]) -> Value {
        for s in self
            .secret
            .iter()
            .map(String::as_str)
            .chain(secrets.iter().copied())
        {
            done.nowhere(s);
        }
        done.json()
    }
}

/// Copies the service's sources (not its environment or caches).
fn copy_service(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if [".venv", "__pycache__"].contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_service(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

#[track_caller]
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("the report has no check {name}: {report:#}"))
}

#[track_caller]
fn statuses(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect()
}

#[track_caller]
fn failure_class(report: &Value) -> &str {
    report["failure"]["class"]
        .as_str()
        .unwrap_or_else(|| panic!("the report has no failure class: {report:#}"))
}

/// Each scenario as a function of the backend, and a test per backend:
/// `migration::<scenario>::sqlite` and `migration::<scenario>::postgres`.
macro_rules! on_both {
    ($($(#[$doc:meta])* fn $name:ident($b:ident: Backend) $body:block)*) => {$(
        $(#[$doc])*
        fn $name($b: Backend) $body
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(super::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name(super::Backend::Postgres)
            }
        }
    )*};
}

on_both! {
    /// At head and in parity: every check passes, one line each.
    fn passes_at_head_and_in_parity(b: Backend) {
        let fx = Fixture::new("mg-pass", b, State::At("0003"));
        let done = fx.gate().run();
        done.code(0)
            .stderr_has("passed   single head   0003")
            .stderr_has("passed   at head       current=0003 head=0003")
            .stderr_has("passed   model parity  no pending operations");
        let report = fx.report(&done, &[]);
        assert_eq!(report["status"], "passed", "{report:#}");
        assert_eq!(statuses(&report), ["passed", "passed", "passed"], "{report:#}");
        assert_eq!(check(&report, "at_head")["detail"], "current=0003 head=0003", "{report:#}");
        assert_eq!(check(&report, "model_parity")["command"], "uv run --no-sync alembic check", "{report:#}");
        assert_eq!(report["head"], "0003");
        assert_eq!(report["current"][0], "0003");
        assert!(report["failure"].is_null() && report["bypasses"].as_array().unwrap().is_empty(), "{report:#}");
        assert_eq!(report["database_source"], "MIGRATION_GATE_DATABASE_URL");
        if b == Backend::Postgres {
            assert!(report["database"].as_str().unwrap().contains("postgres:***@127.0.0.1"), "{report:#}");
        }
    }

    /// One migration behind: drift, with the exact (redacted) upgrade command.
    fn fails_one_migration_behind(b: Backend) {
        let fx = Fixture::new("mg-behind", b, State::At("0002"));
        let done = fx.gate().run();
        done.code(1).stderr_has("failed   at head").stderr_has("current=0002 head=0003").stderr_has("not run  model parity");
        let report = fx.report(&done, &[]);
        assert_eq!(failure_class(&report), "drift", "{report:#}");
        assert_eq!(statuses(&report), ["passed", "failed", "not_run"], "{report:#}");
        let fix = report["failure"]["fix"].as_str().unwrap();
        assert!(fix.contains("(cd service && DATABASE_URL='") && fix.contains("uv run --no-sync alembic upgrade head"), "{fix}");
        if b == Backend::Postgres {
            assert!(fix.contains("postgresql://postgres:***@127.0.0.1"), "{fix}");
        }
    }

    /// A database alembic never touched: not migrated.
    fn fails_when_never_migrated(b: Backend) {
        let fx = Fixture::new("mg-empty", b, State::Empty);
        let done = fx.gate().run();
        done.code(1).stderr_has("never migrated").stderr_has("current=none head=0003");
        let report = fx.report(&done, &[]);
        assert_eq!(failure_class(&report), "not_migrated", "{report:#}");
        assert!(report["failure"]["fix"].as_str().unwrap().contains("upgrade head"), "{report:#}");
    }

    /// A model column without a migration fails at `alembic check`, showing
    /// the pending operation; the runbook's bypass lets it pass, warned about
    /// and recorded.
    fn model_change_without_migration_fails_unless_bypassed(b: Backend) {
        let fx = Fixture::new("mg-model", b, State::At("0003"));
        let models = fx.repo.read("service/service/models.py");
        let changed = models.replace(
            "    done: Mapped[bool]",
            "    priority: Mapped[int | None] = mapped_column()\n    done: Mapped[bool]",
        );
        assert_ne!(models, changed, "the fixture edit must change the models");
        fx.repo.write("service/service/models.py", &changed);

        let done = fx.gate().run();
        done.code(1).stderr_has("failed   model parity").stderr_has("Detected added column 'tasks.priority'");
        let report = fx.report(&done, &[]);
        assert_eq!(failure_class(&report), "model_drift", "{report:#}");
        assert_eq!(statuses(&report), ["passed", "passed", "failed"], "{report:#}");
        let fix = report["failure"]["fix"].as_str().unwrap();
        assert!(fix.contains("revision --autogenerate") && fix.contains("MIGRATION_GATE_VALIDATE_AUTOGEN=false"), "{fix}");

        let done = fx.gate().env("MIGRATION_GATE_VALIDATE_AUTOGEN", "false").run();
        done.code(0)
            .stderr_has("warning: bypass MIGRATION_GATE_VALIDATE_AUTOGEN=false")
            .stderr_has("skipped  model parity");
        let report = fx.report(&done, &[]);
        assert_eq!(statuses(&report), ["passed", "passed", "skipped"], "{report:#}");
        assert_eq!(report["bypasses"][0]["variable"], "MIGRATION_GATE_VALIDATE_AUTOGEN", "{report:#}");
        assert_eq!(report["bypasses"][0]["value"], "false", "{report:#}");
    }

    /// Two heads: fail, listing both, with the merge command.
    fn fails_with_two_heads(b: Backend) {
        let fx = Fixture::new("mg-heads", b, State::At("0003"));
        fx.repo.write(
            "service/alembic/versions/0004_side_branch.py",
            "from alembic import op\nimport sqlalchemy as sa\n\nrevision = \"0004\"\ndown_revision = \"0002\"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
        );
        let done = fx.gate().run();
        done.code(1).stderr_has("failed   single head").stderr_has("0003, 0004").stderr_has("merge heads");
        let report = fx.report(&done, &[]);
        assert_eq!(failure_class(&report), "multiple_heads", "{report:#}");
        assert_eq!(statuses(&report), ["failed", "not_run", "not_run"], "{report:#}");
    }

    /// The database is at a revision this code does not know.
    fn fails_at_an_unknown_revision(b: Backend) {
        let fx = Fixture::new("mg-unknown", b, State::At("0003"));
        sql(&fx.url, "UPDATE alembic_version SET version_num = '0099'");
        let done = fx.gate().run();
        done.code(1).stderr_has("failed   at head").stderr_has("0099").stderr_has("does not know");
        let report = fx.report(&done, &[]);
        assert_eq!(failure_class(&report), "drift", "{report:#}");
        let failure = &report["failure"];
        assert!(failure["message"].as_str().unwrap().contains("current=0099 head=0003"), "{report:#}");
        assert!(failure["fix"].as_str().unwrap().contains("alembic upgrade head"), "{report:#}");
    }

    /// The database cannot be reached: a closed port, or an SQLite path
    /// that is a directory. The password is nowhere in the output.
    fn fails_when_unreachable(b: Backend) {
        let fx = Fixture::new("mg-unreach", b, State::Empty);
        let url = match b {
            Backend::Sqlite => format!("sqlite:///{}", fx.repo.tmp.path().display()),
            Backend::Postgres => {
                let c = pg::cluster();
                c.url(&c.password, pg::free_port(), "app")
            }
        };
        let done = fx.gate_on(&url).run();
        done.code(1).stderr_has("cannot be reached");
        let report = fx.report(&done, &[]);
        assert_eq!(failure_class(&report), "unreachable", "{report:#}");
        let reason = match b {
            Backend::Sqlite => "unable to open database file",
            Backend::Postgres => "Connection refused",
        };
        assert!(report["failure"]["message"].as_str().unwrap().contains(reason), "{report:#}");
    }

    /// alembic is not installed in the environment uv runs: exit 2, with
    /// the command that installs it.
    fn alembic_missing_exits_2(b: Backend) {
        let fx = Fixture::new("mg-noalembic", b, State::At("0003"));
        let empty_env = fx.repo.tmp.path().join("empty-venv");
        let done = fx.gate().env("UV_PROJECT_ENVIRONMENT", &empty_env).run();
        done.code(2).stderr_has("alembic cannot run").stderr_has("uv sync --frozen");
        let report = fx.report(&done, &[]);
        assert_eq!(report["status"], "error", "{report:#}");
        assert_eq!(failure_class(&report), "tool_missing", "{report:#}");
    }

    /// The bypass accepts only `true` and `false`: anything else is a usage
    /// error before alembic runs (the original skipped the check on a typo).
    fn bypass_values_other_than_true_or_false_exit_2(b: Backend) {
        let fx = Fixture::new("mg-badvalue", b, State::At("0003"));
        for bad in ["ture", "FALSE", "0", "no"] {
            let done = fx.gate().env("MIGRATION_GATE_VALIDATE_AUTOGEN", bad).run();
            done.code(2).stdout_has("MIGRATION_GATE_VALIDATE_AUTOGEN=false or MIGRATION_GATE_VALIDATE_AUTOGEN=true");
            assert_eq!(done.json()["exit_code"], 2, "{}", done.dump());
            fx.report(&done, &[]);
        }
    }
}

/// A wrong password: authentication failed, and neither the wrong nor the
/// real password appears in stdout, stderr or the report. (SQLite has no
/// authentication; its unreachable case is `fails_when_unreachable::sqlite`.)
#[test]
fn wrong_password_fails_redacted_postgres() {
    let fx = Fixture::new("mg-auth", Backend::Postgres, State::At("0003"));
    let c = pg::cluster();
    let wrong = format!("Wrong-Secret-{}", c.port);
    let url = fx
        .url
        .replace(&format!(":{}@", c.password), &format!(":{wrong}@"));
    assert_ne!(url, fx.url);
    let done = fx.gate_on(&url).run();
    done.code(1)
        .stderr_has("authentication")
        .stderr_has("postgres:***@127.0.0.1");
    let report = fx.report(&done, &[&wrong]);
    assert_eq!(failure_class(&report), "auth_failed", "{report:#}");
    assert!(
        report["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("password authentication failed"),
        "{report:#}"
    );
}

/// uv itself missing: exit 2 with the command that installs it.
#[test]
fn uv_missing_exits_2_with_the_install_command() {
    let fx = Fixture::new("mg-nouv", Backend::Sqlite, State::At("0003"));
    let empty = fx.repo.tmp.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let root = fx.repo.root.to_string_lossy().into_owned();
    let done = fx
        .repo
        .xtask(&["db-migration-gate", "--format", "json", "--root", &root])
        .env("MIGRATION_GATE_DATABASE_URL", &fx.url)
        .env("PATH", &empty)
        .run();
    done.code(2).stderr_has("python3 -m pip install uv");
    assert_eq!(
        failure_class(&done.json()),
        "tool_missing",
        "{}",
        done.dump()
    );
}

/// `_FILE` wins over the variable when both agree; two different URLs are
/// refused; release-gate's variable is the next fallback; no URL at all is a
/// usage error. (The database file does not exist, so each run stops after
/// `alembic heads` with "never migrated" and the source in the report.)
#[test]
fn url_sources_in_order() {
    let fx = Fixture::new("mg-sources", Backend::Sqlite, State::Empty);
    let url = format!(
        "sqlite:///{}",
        fx.repo.tmp.path().join("absent.db").display()
    );
    let file = fx.repo.tmp.path().join("url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let source = |done: &Done| {
        done.code(1);
        let report = done.json();
        assert_eq!(failure_class(&report), "not_migrated", "{report:#}");
        report["database_source"].as_str().unwrap().to_string()
    };

    let done = fx
        .gate_on(&url)
        .env("MIGRATION_GATE_DATABASE_URL_FILE", &file)
        .run();
    assert_eq!(source(&done), "MIGRATION_GATE_DATABASE_URL_FILE");
    let done = fx
        .gate()
        .env_remove("MIGRATION_GATE_DATABASE_URL")
        .env("MIGRATION_GATE_DATABASE_URL_FILE", &file)
        .run();
    assert_eq!(source(&done), "MIGRATION_GATE_DATABASE_URL_FILE");
    let done = fx
        .gate()
        .env("MIGRATION_GATE_DATABASE_URL_FILE", &file)
        .run();
    done.code(2).stdout_has("both set, to different URLs");
    let done = fx
        .gate()
        .env_remove("MIGRATION_GATE_DATABASE_URL")
        .env("RELEASE_GATE_DATABASE_URL", &url)
        .run();
    assert_eq!(source(&done), "RELEASE_GATE_DATABASE_URL");

    let done = fx.gate().env_remove("MIGRATION_GATE_DATABASE_URL").run();
    done.code(2)
        .stdout_has("MIGRATION_GATE_DATABASE_URL is required")
        .stdout_has("Usage: make db-migration-gate");
    let done = fx.gate_on("not a url").run();
    done.code(2).stdout_has("is not a URL");
}

/// The policy's default URL, a relative SQLite path, is relative to the
/// repository root; a file that is not there is "never migrated", and the
/// gate does not create it. Once migrated the way a deploy does, it passes.
#[test]
fn policy_default_sqlite_url_is_relative_to_the_root_and_never_created() {
    let fx = Fixture::new("mg-default", Backend::Sqlite, State::At("0003"));
    fx.repo.write(
        "xtask.toml",
        "[migration]\ndirectory = \"service\"\ndefault-database-url = \"sqlite:///target/gate.db\"\n",
    );
    std::fs::create_dir_all(fx.repo.path("target")).unwrap();
    let done = fx.gate().env_remove("MIGRATION_GATE_DATABASE_URL").run();
    done.code(1)
        .stderr_has("does not exist: it was never migrated");
    let report = done.json();
    assert_eq!(failure_class(&report), "not_migrated", "{report:#}");
    assert_eq!(
        report["database_source"],
        "[migration] default-database-url"
    );
    assert!(
        !fx.repo.path("target/gate.db").exists(),
        "the gate created the database file{}",
        done.dump()
    );
    assert!(
        !fx.repo.path("service/target").exists(),
        "the path was resolved in the service directory{}",
        done.dump()
    );

    std::fs::copy(sqlite_template("0003"), fx.repo.path("target/gate.db")).unwrap();
    let done = fx
        .repo
        .xtask(&["db-migration-gate"])
        .env("UV_PROJECT_ENVIRONMENT", venv())
        .env("NO_COLOR", "1")
        .run();
    done.code(0)
        .stderr_has(&format!(
            "database sqlite:///{} (from [migration] default-database-url)",
            fx.repo.path("target/gate.db").display()
        ))
        .stderr_has("db-migration-gate passed: the database is at head 0003 and the models match the migrations.");
    assert!(
        done.stdout.is_empty(),
        "human mode prints nothing on stdout{}",
        done.dump()
    );
}

/// A policy with an unknown or invalid [migration] key is a usage error.
#[test]
fn invalid_migration_policy_exits_2() {
    let repo = Repo::new("mg-policy");
    repo.write(
        "xtask.toml",
        "[migration]\nalembic = []\ntimeout = \"forever\"\ndirectory = \"/abs\"\n",
    );
    let done = repo
        .xtask(&["db-migration-gate"])
        .env("MIGRATION_GATE_DATABASE_URL", "sqlite:///x.db")
        .run();
    done.code(2)
        .stderr_has("migration.alembic must name a program")
        .stderr_has("migration.timeout")
        .stderr_has("migration.directory \"/abs\" must be a relative path inside the repository");
    repo.write("xtask.toml", "[migration]\ndirectroy = \"service\"\n");
    let done = repo
        .xtask(&["db-migration-gate"])
        .env("MIGRATION_GATE_DATABASE_URL", "sqlite:///x.db")
        .run();
    done.code(2)
        .stderr_has("xtask.toml:2:1")
        .stderr_has("directroy");
}

/// Every alembic command runs under the policy's timeout: one that hangs
/// is stopped and the gate fails with class `timeout`.
#[test]
fn a_hanging_alembic_is_stopped_at_the_timeout() {
    let repo = Repo::new("mg-timeout");
    repo.write(
        "xtask.toml",
        "[migration]\nalembic = [\"sh\", \"-c\", \"sleep 30\"]\ntimeout = \"1s\"\n",
    );
    let started = std::time::Instant::now();
    let done = repo
        .xtask(&["db-migration-gate", "--format", "json"])
        .env("MIGRATION_GATE_DATABASE_URL", "sqlite:///app.db")
        .run();
    done.code(1).stderr_has("timed out after 1.0s");
    assert_eq!(failure_class(&done.json()), "timeout", "{}", done.dump());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the gate waited for the hanging command{}",
        done.dump()
    );
}

/// The URL reaches alembic only as `DATABASE_URL` in its environment (a
/// `DATABASE_URL_FILE` of the caller's shell is emptied so it cannot win),
/// never in its argv; the policy's alembic argv gets `heads`, `current`,
/// `check` appended, in that order. A stand-in alembic records what it got.
#[test]
fn the_url_reaches_alembic_only_through_its_environment() {
    let repo = Repo::new("mg-argv");
    let script = "printf '%s|' \"$@\" >> argv.log; echo >> argv.log; \
                  printf '%s\\n' \"$DATABASE_URL\" \"[$DATABASE_URL_FILE]\" > env.log; echo '0003 (head)'";
    repo.write(
        "xtask.toml",
        &format!(
            "[migration]\nalembic = [\"sh\", \"-c\", {script:?}, \"alembic\"]\ntimeout = \"30s\"\n"
        ),
    );
    let url = "postgresql://app:S3cret-In-Env@127.0.0.1:1/app";
    let done = repo
        .xtask(&["db-migration-gate"])
        .env("MIGRATION_GATE_DATABASE_URL", url)
        .env("DATABASE_URL_FILE", repo.path("elsewhere"))
        .run();
    done.code(0)
        .nowhere("S3cret-In-Env")
        .stderr_has("app:***@127.0.0.1");
    // `heads` and `current` run side by side, in either order; `check`
    // only after both.
    let argv = repo.read("argv.log");
    let mut calls: Vec<&str> = argv.lines().collect();
    assert_eq!(calls.pop(), Some("check|"), "{argv}{}", done.dump());
    calls.sort_unstable();
    assert_eq!(calls, ["current|", "heads|"], "{argv}{}", done.dump());
    assert_eq!(
        repo.read("env.log"),
        format!("{url}\n[]\n"),
        "{}",
        done.dump()
    );
}

/// Ctrl-C stops the running alembic processes (`heads` and `current` run
/// side by side) with their process groups, and the gate ends with 130 and
/// an `interrupted` report.
#[test]
fn ctrl_c_stops_alembic_and_exits_130() {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let repo = Repo::new("mg-int");
    repo.write(
        "xtask.toml",
        "[migration]\nalembic = [\"sh\", \"-c\", \"echo $$ > alembic-$0.pid; sleep 30\"]\n",
    );
    // The database file exists, so `alembic current` runs too.
    repo.write("app.db", "");
    let mut run = repo
        .xtask(&["db-migration-gate", "--format", "json"])
        .env("MIGRATION_GATE_DATABASE_URL", "sqlite:///app.db");
    let child = run
        .cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both stand-ins started and wrote their pid (a whole line).
    let pid = |check: &str| {
        std::fs::read_to_string(repo.path(&format!("alembic-{check}.pid")))
            .ok()
            .filter(|pid| pid.ends_with('\n'))
            .map(|pid| pid.trim().to_string())
    };
    let started = std::time::Instant::now();
    let pids = loop {
        if let (Some(heads), Some(current)) = (pid("heads"), pid("current")) {
            break [heads, current];
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "alembic heads and current did not both start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: a plain syscall on the child we started.
    unsafe { kill(child.id() as i32, 2) };
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(130), "{report:#}");
    assert_eq!(failure_class(&report), "interrupted", "{report:#}");
    for alembic_pid in pids {
        assert!(
            !Path::new(&format!("/proc/{alembic_pid}")).exists(),
            "a stand-in alembic survived the gate"
        );
    }
}

/// `alembic heads` that shows no revision: fail (`no_head`), with its output
/// as evidence, before the database is looked at.
#[test]
fn no_head_fails() {
    let repo = Repo::new("mg-nohead");
    repo.write(
        "xtask.toml",
        "[migration]\nalembic = [\"sh\", \"-c\", \"echo 'INFO  [alembic] nothing here' >&2\"]\n",
    );
    let done = repo
        .xtask(&["db-migration-gate", "--format", "json"])
        .env("MIGRATION_GATE_DATABASE_URL", "sqlite:///app.db")
        .run();
    done.code(1)
        .stderr_has("failed   single head")
        .stderr_has("stderr: INFO  [alembic] nothing here");
    let report = done.json();
    assert_eq!(failure_class(&report), "no_head", "{report:#}");
    assert_eq!(
        statuses(&report),
        ["failed", "not_run", "not_run"],
        "{report:#}"
    );
}

/// A `_FILE` naming an empty file (a secret mount that failed) is a usage
/// error: the gate never falls back to the policy's default database, and
/// neither does release-gate.
#[test]
fn an_empty_url_file_is_refused_not_replaced_by_the_default() {
    let repo = Repo::new("mg-empty-file");
    repo.write(
        "xtask.toml",
        "[migration]\ndefault-database-url = \"sqlite:///target/scratch.db\"\nalembic = [\"false\"]\n",
    );
    let empty = repo.tmp.path().join("db_url");
    std::fs::write(&empty, "\n").unwrap();
    for var in [
        "MIGRATION_GATE_DATABASE_URL_FILE",
        "RELEASE_GATE_DATABASE_URL_FILE",
    ] {
        let done = repo
            .xtask(&["db-migration-gate", "--format", "json"])
            .env(var, &empty)
            .run();
        let doc = done.code(2).json();
        let error = doc["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("{var} names ")) && error.contains("which is empty"),
            "{}",
            done.dump()
        );
    }
}

/// The four ways a PostgreSQL connection fails are told apart (psycopg on
/// the throwaway cluster): refused is `unreachable`
/// (`fails_when_unreachable::postgres`), a wrong password `auth_failed`
/// (`wrong_password_fails_redacted_postgres`), and here a database that does
/// not exist and a host name that does not resolve.
#[test]
fn missing_database_and_unknown_host_are_their_own_classes_postgres() {
    let fx = Fixture::new("mg-classes", Backend::Postgres, State::At("0003"));
    let c = pg::cluster();
    let missing = c.url(&c.password, c.port, "no_such_db");
    let done = fx.gate_on(&missing).run();
    done.code(1).stderr_has("does not exist");
    let report = fx.report(&done, &[]);
    assert_eq!(failure_class(&report), "missing_database", "{report:#}");
    let unknown = format!(
        "postgresql://postgres:{}@no-such-host.invalid:5432/app",
        c.password
    );
    let done = fx.gate_on(&unknown).run();
    done.code(1).stderr_has("does not resolve");
    let report = fx.report(&done, &[]);
    assert_eq!(failure_class(&report), "unknown_host", "{report:#}");
}

/// `[migration] env` reaches alembic, and the URL still comes from the gate
/// (here alembic is a shell script that needs both).
#[test]
fn migration_env_reaches_alembic() {
    let repo = crate::support::Repo::new("mg-env");
    let script = r#"test "$MARK" = yes && test "$DATABASE_URL" = postgresql://u@h/db || exit 7; echo '0003 (head)'"#;
    let policy = |env: &str| {
        format!("[migration]\nalembic = [\"sh\", \"-c\", {script:?}, \"alembic\"]\n{env}")
    };
    repo.write("xtask.toml", &policy("env = { MARK = \"yes\" }\n"));
    let gate = || {
        repo.xtask(&["db-migration-gate"])
            .env("MIGRATION_GATE_DATABASE_URL", "postgresql://u@h/db")
    };
    gate().run().code(0);
    repo.write("xtask.toml", &policy(""));
    gate().run().code(1).stderr_has("exited with code 7");
    repo.write(
        "xtask.toml",
        &policy("env = { DATABASE_URL = \"sqlite://\" }\n"),
    );
    gate()
        .run()
        .code(2)
        .stderr_has("migration.env: \"DATABASE_URL\" is not allowed");
}

/// A Python with asyncpg, made once with uv in cargo's test scratch
/// directory and reused (the example service's environment has psycopg).
fn asyncpg_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let uv = require_tool("uv", "python3 -m pip install uv");
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("asyncpg-venv");
        let python = venv.join("bin/python");
        let ready = |p: &Path| {
            Command::new(p)
                .args(["-c", "import asyncpg"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ready(&python) {
            let ok = Command::new(&uv)
                .args(["venv", "--quiet"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success())
                && Command::new(&uv)
                    .args(["pip", "install", "--quiet", "--python"])
                    .arg(&python)
                    .arg("asyncpg==0.32.0")
                    .status()
                    .is_ok_and(|s| s.success());
            assert!(
                ok && ready(&python),
                "cannot make a Python with asyncpg in {}: `uv venv` and `uv pip install asyncpg` need PyPI (or uv's cache)",
                venv.display()
            );
        }
        python
    })
}

/// asyncpg's own failures, from a real asyncpg connecting to the throwaway
/// cluster (here it stands in for alembic: a script that connects to
/// DATABASE_URL the way an asyncpg service's env.py does): refused, unknown
/// host, missing database and a wrong password are told apart.
#[test]
fn asyncpg_connection_failures_are_told_apart_postgres() {
    let python = asyncpg_python();
    let c = pg::cluster();
    let repo = Repo::new("mg-asyncpg");
    repo.write(
        "connect.py",
        "import asyncio, os, asyncpg\n\nasync def main():\n    conn = await asyncpg.connect(os.environ[\"DATABASE_URL\"], timeout=20)\n    await conn.close()\n\nasyncio.run(main())\nprint(\"0003 (head)\")\n",
    );
    repo.write(
        "xtask.toml",
        &format!(
            "[migration]\nalembic = [{:?}, \"connect.py\"]\n",
            python.display().to_string()
        ),
    );
    let class = |url: &str| {
        let done = repo
            .xtask(&["db-migration-gate", "--format", "json"])
            .env("MIGRATION_GATE_DATABASE_URL", url)
            .run();
        done.code(1).nowhere(&c.password);
        failure_class(&done.json()).to_string()
    };
    assert_eq!(
        class(&c.url(&c.password, pg::free_port(), "postgres")),
        "unreachable"
    );
    assert_eq!(
        class(&format!(
            "postgresql://postgres:{}@no-such-host.invalid:5432/postgres",
            c.password
        )),
        "unknown_host"
    );
    assert_eq!(
        class(&c.url(&c.password, c.port, "no_such_db")),
        "missing_database"
    );
    assert_eq!(
        class(&c.url("Wrong-Secret-1", c.port, "postgres")),
        "auth_failed"
    );
    // The right URL connects: the script then answers like alembic, and the gate passes.
    repo.xtask(&["db-migration-gate"])
        .env(
            "MIGRATION_GATE_DATABASE_URL",
            c.url(&c.password, c.port, "postgres"),
        )
        .run()
        .code(0);
}
