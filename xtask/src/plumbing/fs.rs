//! Reading a file the user names (a `*_FILE` secret, the policy, an
//! overrides file, a PR body) without trusting what it is: only a regular
//! file, only up to a stated size, only UTF-8. A FIFO would block forever
//! and `/dev/zero` would fill memory; both are refused before a byte is read.

use std::io::Read;
use std::path::Path;

use crate::plumbing::exit;

/// What `path` is, in words, when it is not a regular file.
fn kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// The text of `path`, refused (exit 2, naming `what`) unless it is a
/// regular file of at most `max` bytes holding UTF-8. The file is opened
/// non-blocking and checked again through the open handle, so a file
/// swapped for a FIFO after the first check cannot hang the read.
pub fn read_bounded(path: &Path, max: u64, what: &str) -> anyhow::Result<String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => exit::usage(format!("{what}: {shown}: no such file")),
        _ => exit::usage(format!("{what}: {shown}: cannot be read: {e}")),
    })?;
    check(&meta, max, what, path)?;
    let file = open_nonblocking(path)
        .map_err(|e| exit::usage(format!("{what}: {shown}: cannot be read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| exit::usage(format!("{what}: {shown}: cannot be read: {e}")))?;
    check(&meta, max, what, path)?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| exit::usage(format!("{what}: {shown}: cannot be read: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(too_large(what, path, max));
    }
    String::from_utf8(bytes).map_err(|_| exit::usage(format!("{what}: {shown}: is not UTF-8 text")))
}

fn check(meta: &std::fs::Metadata, max: u64, what: &str, path: &Path) -> anyhow::Result<()> {
    if let Some(kind) = kind(meta) {
        return Err(exit::usage(format!(
            "{what}: {} is {kind}, not a regular file",
            path.display()
        )));
    }
    if meta.len() > max {
        return Err(too_large(what, path, max));
    }
    Ok(())
}

fn too_large(what: &str, path: &Path, max: u64) -> anyhow::Error {
    exit::usage(format!(
        "{what}: {} is too large (over the {} limit)",
        path.display(),
        size(max)
    ))
}

/// `max` in the unit people read: bytes, KiB or MiB.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
    #[cfg(target_os = "linux")]
    const O_NONBLOCK: i32 = 0o4000;
    #[cfg(not(target_os = "linux"))]
    const O_NONBLOCK: i32 = 0x0004;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "xtask-fs-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn refused(path: &Path, max: u64) -> String {
        let err = read_bounded(path, max, "SOME_FILE").unwrap_err();
        assert_eq!(exit::code_of(&err), exit::USAGE);
        format!("{err:#}")
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let d = dir();
        let ok = d.join("ok");
        std::fs::write(&ok, "secret\n").unwrap();
        assert_eq!(read_bounded(&ok, 7, "SOME_FILE").unwrap(), "secret\n");
        assert!(
            refused(&ok, 6).contains("SOME_FILE: ")
                && refused(&ok, 6).contains("too large (over the 6 bytes limit)")
        );
        assert!(refused(&d, 1024).contains("is a directory"));
        assert!(refused(&d.join("missing"), 1024).contains("no such file"));
        // /dev/zero would be read forever.
        assert!(refused(Path::new("/dev/zero"), 1024).contains("is a device"));
        let bin = d.join("bin");
        std::fs::write(&bin, [0xff, 0xfe]).unwrap();
        assert!(refused(&bin, 1024).contains("not UTF-8"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = dir();
        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo failed");
        // No writer ever opens it: a blocking read would hang this test.
        assert!(refused(&fifo, 1024).contains("is a FIFO (named pipe), not a regular file"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
