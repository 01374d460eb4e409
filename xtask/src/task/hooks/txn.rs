//! The file operations of `hooks` install and uninstall, made safe to run
//! twice at once and all-or-nothing:
//! - one process at a time per hooks directory: an exclusive `flock` on the
//!   directory itself (no lock file is left behind; the kernel releases it
//!   when the process ends, however it ends);
//! - a step never overwrites a file it did not write: a hook is kept aside
//!   with a hard link (`link` fails when the target exists), and put back
//!   the same way;
//! - every step records how to undo it; on a failure [`Journal::rollback`]
//!   undoes them in reverse, so the user's hooks are back byte for byte.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::plumbing::exit;

/// How long `hooks` waits for another `hooks` run on the same directory.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The exclusive lock on a hooks directory, released on drop.
pub struct Lock(File);

impl Drop for Lock {
    /// Unlocks explicitly: closing the descriptor alone would keep the lock
    /// while a child forked meanwhile (before its exec) shares it.
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes the exclusive lock on `dir` (which must exist), waiting at most
/// [`LOCK_WAIT`] for another `hooks` run to finish.
pub fn lock(dir: &Path) -> anyhow::Result<Lock> {
    let file = File::open(dir)
        .map_err(|e| exit::usage(format!("cannot open {} to lock it: {e}", dir.display())))?;
    // The wait is on the lock itself (a blocking flock in a helper thread),
    // bounded by the channel's timeout: no polling.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = file.lock().map(|()| file);
        let _ = tx.send(result);
    });
    match rx.recv_timeout(LOCK_WAIT) {
        Ok(Ok(file)) => Ok(Lock(file)),
        Ok(Err(e)) => Err(exit::usage(format!("cannot lock {}: {e}", dir.display()))),
        Err(_) => Err(exit::usage(format!(
            "another `xtask hooks` has held the lock on {} for {} s: wait for it to finish, then run this again",
            dir.display(),
            LOCK_WAIT.as_secs()
        ))),
    }
}

/// What was at a path before a step.
#[derive(Debug)]
enum Before {
    Nothing,
    /// A regular file: its bytes and mode.
    File(Vec<u8>, u32),
    /// A symbolic link: where it pointed.
    Symlink(PathBuf),
}

/// How to undo one step.
#[derive(Debug)]
enum Undo {
    /// Put back what was at this path (removing what the step left there).
    Restore(PathBuf, Before),
    /// The step changed this file's mode.
    Chmod { path: PathBuf, mode: u32 },
}

/// The steps done so far, each with its undo.
#[derive(Debug, Default)]
pub struct Journal {
    undo: Vec<Undo>,
}

/// What is at `path`: a regular file or a symlink (a directory or other
/// non-file is refused: nothing here replaces one).
fn saved(path: &Path) -> anyhow::Result<Before> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Before::Nothing),
        Err(e) => return Err(exit::usage(format!("cannot read {}: {e}", path.display()))),
        Ok(meta) => meta,
    };
    let read_err = |e: std::io::Error| exit::usage(format!("cannot read {}: {e}", path.display()));
    if meta.file_type().is_symlink() {
        return Ok(Before::Symlink(std::fs::read_link(path).map_err(read_err)?));
    }
    if !meta.is_file() {
        return Err(exit::usage(format!(
            "{} is not a regular file: move it away, then run cargo xtask hooks again",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    Ok(Before::File(bytes, meta.permissions().mode() & 0o7777))
}

/// Puts `before` back at `path`.
fn restore(path: &Path, before: &Before) -> std::io::Result<()> {
    let clear = |p: &Path| match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    match before {
        Before::Nothing => clear(path),
        Before::File(bytes, mode) => write_atomically(path, "xtask-undo", bytes, *mode),
        Before::Symlink(target) => {
            clear(path)?;
            std::os::unix::fs::symlink(target, path)
        }
    }
}

/// Writes `bytes` with `mode` to `path` through `<path>.<suffix>` and a
/// rename, so that git never runs half a hook. A stale temporary file is
/// replaced; anything else in its place (a directory) is an error.
fn write_atomically(path: &Path, suffix: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!("{name}.{suffix}"));
    match std::fs::symlink_metadata(&tmp) {
        Ok(meta) if meta.is_dir() => {
            return Err(std::io::Error::other(format!(
                "{} is in the way (a directory)",
                tmp.display()
            )))
        }
        Ok(_) => std::fs::remove_file(&tmp)?,
        Err(_) => {}
    }
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Journal {
    /// Keeps the file at `path` as `kept` too (a hard link: same bytes, same
    /// mode); fails, changing nothing, when `kept` exists.
    pub fn keep(&mut self, path: &Path, kept: &Path) -> anyhow::Result<()> {
        std::fs::hard_link(path, kept).map_err(|e| {
            exit::usage(format!(
                "cannot keep {} as {}: {e}",
                path.display(),
                kept.display()
            ))
        })?;
        self.undo
            .push(Undo::Restore(kept.to_path_buf(), Before::Nothing));
        Ok(())
    }

    /// Writes `text` (mode 0755) to `path`, replacing what is there.
    pub fn write(&mut self, path: &Path, text: &str) -> anyhow::Result<()> {
        let before = saved(path)?;
        write_atomically(path, "xtask-tmp", text.as_bytes(), 0o755)
            .map_err(|e| exit::usage(format!("cannot write {}: {e}", path.display())))?;
        self.undo.push(Undo::Restore(path.to_path_buf(), before));
        Ok(())
    }

    /// Makes `path` executable (0755).
    pub fn make_executable(&mut self, path: &Path) -> anyhow::Result<()> {
        let mode = std::fs::metadata(path)
            .map_err(|e| exit::usage(format!("cannot read {}: {e}", path.display())))?
            .permissions()
            .mode()
            & 0o7777;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| exit::usage(format!("cannot make {} executable: {e}", path.display())))?;
        self.undo.push(Undo::Chmod {
            path: path.to_path_buf(),
            mode,
        });
        Ok(())
    }

    /// Removes the file (or symlink) at `path`.
    pub fn remove(&mut self, path: &Path) -> anyhow::Result<()> {
        let before = saved(path)?;
        if matches!(before, Before::Nothing) {
            return Ok(());
        }
        std::fs::remove_file(path)
            .map_err(|e| exit::usage(format!("cannot remove {}: {e}", path.display())))?;
        self.undo.push(Undo::Restore(path.to_path_buf(), before));
        Ok(())
    }

    /// Puts the file kept as `kept` back at `path`: a hard link (fails,
    /// changing nothing, when `path` exists), then `kept` goes.
    pub fn put_back(&mut self, kept: &Path, path: &Path) -> anyhow::Result<()> {
        std::fs::hard_link(kept, path).map_err(|e| {
            exit::usage(format!(
                "cannot move {} back to {}: {e}",
                kept.display(),
                path.display()
            ))
        })?;
        self.undo
            .push(Undo::Restore(path.to_path_buf(), Before::Nothing));
        self.remove(kept)
    }

    /// Undoes every step, last first; what could not be undone, one line each.
    pub fn rollback(self) -> Vec<String> {
        let mut left = Vec::new();
        for undo in self.undo.into_iter().rev() {
            let (path, result) = match &undo {
                Undo::Restore(path, before) => (path, restore(path, before)),
                Undo::Chmod { path, mode } => (
                    path,
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode)),
                ),
            };
            if let Err(e) = result {
                left.push(format!(
                    "could not undo a change to {}: {e}",
                    path.display()
                ));
            }
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(label: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("xtask-hooks-txn-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn keeping_and_putting_back_never_overwrite_and_rollback_restores_everything() {
        let d = dir("keep");
        let (hook, kept) = (d.join("pre-commit"), d.join("pre-commit.local"));
        std::fs::write(&hook, "user\n").unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::fs::write(&kept, "other\n").unwrap();
        let mut j = Journal::default();
        assert!(j.keep(&hook, &kept).is_err(), "keep overwrote a file");
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "other\n");
        std::fs::remove_file(&kept).unwrap();
        j.keep(&hook, &kept).unwrap();
        j.write(&hook, "ours\n").unwrap();
        j.make_executable(&hook).unwrap();
        assert!(
            j.put_back(&kept, &hook).is_err(),
            "put_back overwrote a file"
        );
        assert!(j.rollback().is_empty());
        assert_eq!(std::fs::read_to_string(&hook).unwrap(), "user\n");
        let mode = std::fs::metadata(&hook).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o750);
        assert!(!kept.exists());
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary files were left: {names:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlinked_hook_is_kept_as_a_symlink_and_restored() {
        let d = dir("symlink");
        let hook = d.join("pre-commit");
        std::os::unix::fs::symlink("../../scripts/hook.sh", &hook).unwrap();
        let mut j = Journal::default();
        j.keep(&hook, &d.join("pre-commit.local")).unwrap();
        j.write(&hook, "ours\n").unwrap();
        assert_eq!(std::fs::read_to_string(&hook).unwrap(), "ours\n");
        assert!(j.rollback().is_empty());
        assert_eq!(
            std::fs::read_link(&hook).unwrap(),
            PathBuf::from("../../scripts/hook.sh")
        );
        assert!(std::fs::symlink_metadata(d.join("pre-commit.local")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_directory_in_the_way_of_the_temporary_file_fails_the_write() {
        let d = dir("inway");
        std::fs::create_dir_all(d.join("pre-push.xtask-tmp/x")).unwrap();
        let mut j = Journal::default();
        let err = j.write(&d.join("pre-push"), "ours\n").unwrap_err();
        assert!(format!("{err:#}").contains("is in the way"), "{err:#}");
        assert!(!d.join("pre-push").exists());
        assert!(j.rollback().is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let d = dir("lock");
        let held = lock(&d).unwrap();
        let other = File::open(&d).unwrap();
        assert!(other.try_lock().is_err(), "a second lock was granted");
        drop(held);
        assert!(other.try_lock().is_ok(), "the lock was not released");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
