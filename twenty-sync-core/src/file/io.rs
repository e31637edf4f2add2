//! Low-level file helpers: durable appends, atomic replacement, torn-tail tolerant line reading.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::error::{StoreError, StoreErrorKind, StoreResult};

/// Maps an I/O error on `path` during `operation` to a [`StoreError`] saying what to check.
///
/// A path that is not a usable directory (missing rights, a read-only file system, a file where a
/// directory should be) is a configuration error; an interrupted or timed-out call is temporary;
/// anything else (a full disk, a failing device) leaves the store unavailable.
pub(crate) fn io_error(operation: &str, path: &Path, err: std::io::Error) -> StoreError {
    use std::io::ErrorKind as Io;
    let (kind, hint) = match err.kind() {
        Io::NotFound => (
            StoreErrorKind::NotFound,
            "check that the store's directory exists",
        ),
        Io::PermissionDenied
        | Io::ReadOnlyFilesystem
        | Io::NotADirectory
        | Io::IsADirectory
        | Io::AlreadyExists => (
            StoreErrorKind::Config,
            "check that the path is a directory (not a file) this process may write",
        ),
        Io::Interrupted | Io::TimedOut | Io::WouldBlock => {
            (StoreErrorKind::Unavailable, "it may succeed if tried again")
        }
        _ => (
            StoreErrorKind::Unavailable,
            "check that the disk is not full and the file system is healthy",
        ),
    };
    let temporary = matches!(err.kind(), Io::Interrupted | Io::TimedOut | Io::WouldBlock);
    let error = StoreError::new(kind, format!("could not {operation}; {hint}"))
        .with_context("path", path.display().to_string())
        .with_source(err);
    if temporary { error.temporary() } else { error }
}

/// Flushes a directory entry change (create, rename) to disk. A no-op where directories cannot be
/// opened (Windows).
pub(crate) fn sync_dir(dir: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Replaces `path` atomically with `bytes`: write a temp file in the same directory, fsync it,
/// rename it over `path`, fsync the directory.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> StoreResult<()> {
    replace_atomically_with(path, |w| w.write_all(bytes).map_err(WriteError::Io))
}

/// Why writing the content of a replacement failed.
pub(crate) enum WriteError {
    /// The file system refused the write.
    Io(std::io::Error),
    /// The content could not be produced (an encoding error), already described.
    Content(StoreError),
}

/// Like [`replace_atomically`], with the content streamed by `write` into a buffered writer of
/// the temp file: nothing the size of the whole file is held in memory (the state snapshot of a
/// million records is hundreds of megabytes of JSON).
pub(crate) fn replace_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), WriteError>,
) -> StoreResult<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = tmp_path(path);
    let file = File::create(&tmp).map_err(|e| io_error("create temp file", &tmp, e))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    match write(&mut out) {
        Ok(()) => {}
        Err(WriteError::Io(e)) => return Err(io_error("write temp file", &tmp, e)),
        Err(WriteError::Content(e)) => return Err(e),
    }
    let file = out
        .into_inner()
        .map_err(|e| io_error("write temp file", &tmp, e.into_error()))?;
    file.sync_all()
        .map_err(|e| io_error("write temp file", &tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io_error("rename temp file into place", path, e))?;
    sync_dir(dir)
}

/// The temp file name used by [`replace_atomically`] for `path`.
pub(crate) fn tmp_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Opens (creating) an append-only file and returns it with its current length.
pub(crate) fn open_append(path: &Path) -> StoreResult<(File, u64)> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_error("open for appending", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| io_error("read metadata", path, e))?
        .len();
    Ok((file, len))
}

/// Appends `bytes` and fsyncs. On failure the file is cut back to `len` so that no partial line
/// stays behind (a later append would otherwise glue onto it).
pub(crate) fn append_durably(
    file: &mut File,
    len: u64,
    path: &Path,
    bytes: &[u8],
) -> StoreResult<u64> {
    let written = file.write_all(bytes).and_then(|()| file.sync_data());
    match written {
        Ok(()) => Ok(len + bytes.len() as u64),
        Err(e) => {
            if let Err(cut) = file.set_len(len) {
                tracing::error!(path = %path.display(), error = %cut, "could not cut back a failed append");
            }
            Err(io_error("append", path, e))
        }
    }
}

/// One complete line of a JSON Lines file, with its byte offset.
pub(crate) struct RawLine<'a> {
    pub(crate) offset: u64,
    pub(crate) bytes: &'a [u8],
}

/// Reads every newline-terminated line of `path` (a missing file has none). An unterminated last
/// line (a write torn by a crash) is not returned; the length of the intact prefix is.
pub(crate) fn read_lines(
    path: &Path,
    mut each: impl FnMut(RawLine<'_>) -> StoreResult<()>,
) -> StoreResult<u64> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_error("open", path, e)),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut offset = 0u64;
    // One buffer for every line: a journal line can be megabytes.
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        let n = reader
            .read_until(b'\n', &mut bytes)
            .map_err(|e| io_error("read", path, e))?;
        if n == 0 {
            return Ok(offset);
        }
        if bytes.last() != Some(&b'\n') {
            tracing::warn!(
                path = %path.display(),
                offset,
                bytes = n,
                "ignoring a torn last line (an interrupted write); it was never committed"
            );
            return Ok(offset);
        }
        each(RawLine {
            offset,
            bytes: &bytes[..n - 1],
        })?;
        offset += n as u64;
    }
}

/// Cuts `path` to `len` bytes if it is longer (drops a torn tail before appending again).
pub(crate) fn truncate_to(path: &Path, len: u64) -> StoreResult<()> {
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("open", path, e)),
    };
    let current = file
        .metadata()
        .map_err(|e| io_error("read metadata", path, e))?
        .len();
    if current > len {
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("truncate a torn tail", path, e))?;
    }
    Ok(())
}

/// A decode error for line `offset` of `path`.
pub(crate) fn corrupt(path: &Path, offset: u64, err: serde_json::Error) -> StoreError {
    StoreError::new(
        StoreErrorKind::Corrupt,
        "a complete line could not be decoded; the file was edited or damaged — restore it from a backup or remove the line",
    )
    .with_context("path", path.display().to_string())
    .with_context("offset", offset.to_string())
    .with_source(err)
}

#[cfg(test)]
mod io_error_tests {
    use std::io::{Error, ErrorKind};
    use std::path::Path;

    use super::io_error;
    use crate::error::StoreErrorKind;

    #[test]
    fn a_path_that_is_not_a_usable_directory_is_a_config_error_that_names_it() {
        for kind in [
            ErrorKind::PermissionDenied,
            ErrorKind::ReadOnlyFilesystem,
            ErrorKind::NotADirectory,
            ErrorKind::IsADirectory,
            ErrorKind::AlreadyExists,
        ] {
            let e = io_error(
                "open the journal",
                Path::new("/data/store"),
                Error::from(kind),
            );
            assert_eq!(e.kind(), StoreErrorKind::Config, "{kind:?}");
            assert!(!e.is_temporary(), "{kind:?}");
            assert!(e.to_string().contains("could not open the journal"), "{e}");
            assert!(e.to_string().contains("/data/store"), "{e}");
        }
    }

    #[test]
    fn interrupted_calls_are_temporary_and_a_full_disk_is_not() {
        let e = io_error(
            "append",
            Path::new("j"),
            Error::from(ErrorKind::Interrupted),
        );
        assert_eq!(
            (e.kind(), e.is_temporary()),
            (StoreErrorKind::Unavailable, true)
        );
        let e = io_error(
            "append",
            Path::new("j"),
            Error::from(ErrorKind::StorageFull),
        );
        assert_eq!(
            (e.kind(), e.is_temporary()),
            (StoreErrorKind::Unavailable, false)
        );
        assert!(e.to_string().contains("disk is not full"), "{e}");
        let e = io_error("read", Path::new("j"), Error::from(ErrorKind::NotFound));
        assert_eq!(e.kind(), StoreErrorKind::NotFound);
    }

    #[test]
    fn opening_a_store_where_a_file_stands_is_a_config_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        let e = crate::file::FileStore::open(&file).expect_err("a file is not a store directory");
        assert_eq!(e.kind(), StoreErrorKind::Config, "{e}");
        assert!(e.to_string().contains("not-a-dir"), "{e}");
    }
}
