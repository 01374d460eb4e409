//! A throwaway PostgreSQL cluster for the migration tests: `initdb` and
//! `pg_ctl` (found with `pg_config --bindir`) on a free port of 127.0.0.1,
//! password authentication (scram-sha-256), one cluster per test binary and
//! a database per test. It is stopped when the test binary exits, also when
//! tests failed (`atexit`: a static is never dropped), and a cluster left
//! behind by a killed run is stopped by the next run. initdb refuses to run as
//! root, so as root the cluster runs as the `postgres` system user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

const INSTALL: &str =
    "install PostgreSQL 15's server binaries: apt-get install -y postgresql-15 (scripts/setup.sh does it)";
const PREFIX: &str = "xtask-it-pg-";

extern "C" {
    fn geteuid() -> u32;
    fn atexit(callback: extern "C" fn()) -> i32;
}

pub struct Cluster {
    base: PathBuf,
    data: PathBuf,
    bindir: PathBuf,
    /// `Some((uid, gid))` of `postgres` when we are root and run the server as it.
    owner: Option<(u32, u32)>,
    pub port: u16,
    pub password: String,
    stopped: AtomicBool,
    /// createdb calls, one at a time (copying a template allows no concurrency).
    createdb: Mutex<()>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The cluster of this test binary, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        reap_stale();
        let cluster = Cluster::start();
        // SAFETY: registering a plain `extern "C" fn()`; it only runs pg_ctl.
        unsafe { atexit(stop_at_exit) };
        cluster
    })
}

extern "C" fn stop_at_exit() {
    if let Some(cluster) = CLUSTER.get() {
        cluster.stop();
    }
}

impl Cluster {
    /// A plain `postgresql://` URL (the service's env.py makes it psycopg's),
    /// with any password and port, for the right and the wrong ones.
    pub fn url(&self, password: &str, port: u16, database: &str) -> String {
        format!("postgresql://postgres:{password}@127.0.0.1:{port}/{database}")
    }

    /// A new, empty database; or a copy of `template`.
    pub fn create_database(&self, template: Option<&str>) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut args = vec![
            "-h".to_string(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
            "-U".into(),
            "postgres".into(),
        ];
        if let Some(t) = template {
            args.extend(["-T".to_string(), t.to_string()]);
        }
        args.push(name.clone());
        let _one = self.createdb.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new(self.bindir.join("createdb"))
            .args(&args)
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .expect("createdb runs");
        assert!(
            out.status.success(),
            "createdb {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        name
    }

    fn start() -> Cluster {
        let bindir = bindir();
        for tool in ["initdb", "pg_ctl", "createdb"] {
            assert!(
                bindir.join(tool).is_file(),
                "{} has no {tool}: {INSTALL}",
                bindir.display()
            );
        }
        // SAFETY: a plain syscall.
        let owner = if unsafe { geteuid() } == 0 {
            Some(postgres_user())
        } else {
            None
        };
        let tmp = if owner.is_some() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let base = tmp.join(format!("{PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let password = format!("gate-pw-{:08x}{:x}", nanos, std::process::id());
        let cluster = Cluster {
            data: base.join("data"),
            base,
            bindir,
            owner,
            port: 0,
            password,
            stopped: AtomicBool::new(false),
            createdb: Mutex::new(()),
        };
        // From here on, a panic drops `cluster`, which stops and removes it.
        let pwfile = cluster.base.join("pwfile");
        std::fs::write(&pwfile, format!("{}\n", cluster.password)).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&cluster.base, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        let out = cluster.as_server(
            &cluster.bindir.join("initdb"),
            &[
                "-D".as_ref(),
                cluster.data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=scram-sha-256".as_ref(),
                format!("--pwfile={}", pwfile.display()).as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cluster = cluster;
        let conf = cluster.data.join("postgresql.conf");
        let original = std::fs::read_to_string(&conf).unwrap();
        for attempt in 0..3 {
            cluster.port = free_port();
            let settings = format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 40\nshared_buffers = 32MB\n",
                cluster.port
            );
            std::fs::write(&conf, format!("{original}{settings}")).unwrap();
            let log = cluster.base.join("server.log");
            let out = cluster.as_server(
                &cluster.bindir.join("pg_ctl"),
                &[
                    "-D".as_ref(),
                    cluster.data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "start".as_ref(),
                ],
            );
            if out.status.success() {
                return cluster;
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                attempt < 2 && log_text.contains("could not bind"),
                "pg_ctl start failed:\n{}{}\n--- server log:\n{log_text}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        unreachable!("the loop returns or panics")
    }

    /// Runs a server binary, as `postgres` when we are root.
    fn as_server(&self, program: &Path, args: &[&std::ffi::OsStr]) -> Output {
        let mut cmd = match self.owner {
            Some(_) => {
                let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
                    .into_iter()
                    .find(|p| Path::new(p).is_file())
                    .unwrap_or_else(|| panic!("running the tests as root needs runuser (util-linux) to start PostgreSQL as the postgres user"));
                let mut cmd = Command::new(runuser);
                cmd.args(["-u", "postgres", "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(args).current_dir(&self.base).stdin(Stdio::null());
        cmd.output()
            .unwrap_or_else(|e| panic!("{} cannot run: {e}; {INSTALL}", program.display()))
    }

    /// Stops the server and removes its directory; idempotent.
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if self.data.join("postmaster.pid").exists() {
            let _ = self.as_server(
                &self.bindir.join("pg_ctl"),
                &[
                    "-D".as_ref(),
                    self.data.as_os_str(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ],
            );
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The directory of initdb and pg_ctl: `pg_config --bindir`, else Debian's
/// `/usr/lib/postgresql/<version>/bin`.
fn bindir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").is_file() {
            return dir;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "these tests need PostgreSQL's initdb and pg_ctl, which are not installed: {INSTALL}"
        )
    })
}

/// uid and gid of the `postgres` system user (made by Debian's packages).
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == "postgres").then(|| (f[2].parse().ok(), f[3].parse().ok()))
        })
        .and_then(|(u, g)| Some((u?, g?)))
        .unwrap_or_else(|| {
            panic!("running the tests as root needs the postgres system user: {INSTALL}")
        })
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops and removes clusters of earlier test runs that were killed.
fn reap_stale() {
    let tmp = if unsafe { geteuid() } == 0 {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let stale = Cluster {
            base: entry.path(),
            data: entry.path().join("data"),
            bindir: bindir(),
            owner: if unsafe { geteuid() } == 0 {
                Some(postgres_user())
            } else {
                None
            },
            port: 0,
            password: String::new(),
            stopped: AtomicBool::new(false),
            createdb: Mutex::new(()),
        };
        drop(stale);
    }
}
