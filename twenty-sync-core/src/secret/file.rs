//! [`FileSecrets`]: secrets from files (Kubernetes / Docker mounted secrets, key files).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use secrecy::SecretString;

use super::{SecretProvider, trim_trailing_newlines};
use crate::error::{StoreError, StoreErrorKind, StoreResult};

/// Files larger than this are not secrets (a wrong path pointing at a log, a disk image...).
const MAX_SECRET_BYTES: u64 = 1024 * 1024;

/// Secrets from files: a directory of mounted secrets (one file per name, as Kubernetes and
/// Docker mount them) and/or explicit name → path entries.
///
/// The value is the file's content with trailing `\n` / `\r` removed (files written with
/// `echo` or `kubectl create secret --from-file` end with a newline); other whitespace is kept.
///
/// Lookup rules for a secret `name`:
///
/// - a name mapped with [`FileSecrets::file`] reads that file; a missing file is a
///   [`StoreErrorKind::Config`] error (the mapping says it should be there);
/// - otherwise, for each directory in order, the file `{dir}/{name}`; a missing file or a missing
///   directory is `Ok(None)` (so a chain falls through to the next provider on a machine without
///   the mount). Names that are not a plain file name (empty, `.`, `..`, containing `/` or `\`)
///   are never looked up in a directory.
///
/// ```
/// use secrecy::ExposeSecret;
/// use twenty_sync_core::secret::FileSecrets;
/// use twenty_sync_core::SecretProvider;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("twenty-api-key"), "k-123\n").unwrap();
///
/// let files = FileSecrets::dir(dir.path());
/// let key = files.resolve("twenty-api-key").await.unwrap().unwrap();
/// assert_eq!(key.expose_secret(), "k-123");
/// assert!(files.resolve("not-mounted").await.unwrap().is_none());
/// # });
/// ```
#[derive(Clone, Default)]
pub struct FileSecrets {
    dirs: Vec<PathBuf>,
    files: BTreeMap<String, PathBuf>,
}

impl FileSecrets {
    /// No directory and no files yet: add them with [`FileSecrets::with_dir`] and
    /// [`FileSecrets::file`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use twenty_sync_core::secret::FileSecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let files = FileSecrets::new();
    /// assert_eq!(files.describe(), "files (none configured)");
    /// assert!(files.resolve("twenty-api-key").await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Secrets mounted in `dir`, one file per name (e.g. `/run/secrets`, `/var/run/secrets/twenty`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::FileSecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let mount = tempfile::tempdir()?;
    /// std::fs::write(mount.path().join("webhook-secret"), "fake-whsec\n")?;
    /// let files = FileSecrets::dir(mount.path());
    /// assert_eq!(files.require("webhook-secret").await?.expose_secret(), "fake-whsec");
    /// // Names never escape the directory.
    /// assert!(files.resolve("../webhook-secret").await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        Self::new().with_dir(dir)
    }

    /// Also looks in `dir`, after the directories already added.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::FileSecrets;
    /// use twenty_sync_core::SecretProvider;
    ///
    /// let (first, second) = (tempfile::tempdir()?, tempfile::tempdir()?);
    /// std::fs::write(second.path().join("twenty-api-key"), "fake-from-second")?;
    /// let files = FileSecrets::dir(first.path()).with_dir(second.path());
    /// assert_eq!(files.require("twenty-api-key").await?.expose_secret(), "fake-from-second");
    /// std::fs::write(first.path().join("twenty-api-key"), "fake-from-first")?;
    /// assert_eq!(files.require("twenty-api-key").await?.expose_secret(), "fake-from-first");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push(dir.into());
        self
    }

    /// Reads secret `name` from `path` (takes precedence over the directories).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::ExposeSecret;
    /// use twenty_sync_core::secret::FileSecrets;
    /// use twenty_sync_core::{SecretProvider, StoreErrorKind};
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("key.txt"), "fake-key")?;
    /// let files = FileSecrets::new()
    ///     .file("twenty-api-key", dir.path().join("key.txt"))
    ///     .file("webhook-secret", dir.path().join("missing.txt"));
    /// assert_eq!(files.require("twenty-api-key").await?.expose_secret(), "fake-key");
    /// // A mapped file that is missing is a configuration error, not "not found".
    /// assert_eq!(files.resolve("webhook-secret").await.unwrap_err().kind(), StoreErrorKind::Config);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn file(mut self, name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.files.insert(name.into(), path.into());
        self
    }
}

impl fmt::Debug for FileSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSecrets")
            .field("dirs", &self.dirs)
            .field("files", &self.files)
            .finish()
    }
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Reads a secret file; `Ok(None)` when it does not exist.
fn read_secret_file(name: &str, path: &Path) -> StoreResult<Option<SecretString>> {
    let fail = |kind: StoreErrorKind, what: String| {
        StoreError::new(kind, what)
            .with_context("secret", name)
            .with_context("path", path.display().to_string())
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // A directory component that is a file, e.g. `{dir}` itself is a file.
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
        Err(e) => {
            return Err(fail(
                StoreErrorKind::Config,
                format!(
                    "cannot open the file of secret {name:?}: {e}; check its permissions for the \
                     user running the sync"
                ),
            ));
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            fail(
                StoreErrorKind::Config,
                format!("cannot read the file of secret {name:?}: {e}"),
            )
        })?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(fail(
            StoreErrorKind::Invalid,
            format!(
                "the file of secret {name:?} is larger than {MAX_SECRET_BYTES} bytes; \
                 point the secret at the file holding only the secret"
            ),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        fail(
            StoreErrorKind::Invalid,
            format!("the file of secret {name:?} is not valid UTF-8; store the secret as text"),
        )
    })?;
    Ok(Some(SecretString::from(trim_trailing_newlines(text))))
}

#[async_trait]
impl SecretProvider for FileSecrets {
    fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .dirs
            .iter()
            .map(|d| format!("files in {}", d.display()))
            .collect();
        if !self.files.is_empty() {
            parts.push(format!("{} mapped secret file(s)", self.files.len()));
        }
        if parts.is_empty() {
            "files (none configured)".to_owned()
        } else {
            parts.join(" + ")
        }
    }

    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        if let Some(path) = self.files.get(name) {
            let (name, path) = (name.to_owned(), path.clone());
            let found = tokio::task::spawn_blocking({
                let path = path.clone();
                let name = name.clone();
                move || read_secret_file(&name, &path)
            })
            .await
            .map_err(|e| {
                StoreError::new(StoreErrorKind::Other, format!("secret file read: {e}"))
            })??;
            return match found {
                Some(secret) => Ok(Some(secret)),
                None => Err(StoreError::new(
                    StoreErrorKind::Config,
                    format!(
                        "the file configured for secret {name:?} does not exist; create it or \
                         fix the configured path"
                    ),
                )
                .with_context("secret", name)
                .with_context("path", path.display().to_string())),
            };
        }
        if !is_plain_file_name(name) {
            return Ok(None);
        }
        let candidates: Vec<PathBuf> = self.dirs.iter().map(|d| d.join(name)).collect();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            for path in candidates {
                if let Some(secret) = read_secret_file(&name, &path)? {
                    return Ok(Some(secret));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|e| StoreError::new(StoreErrorKind::Other, format!("secret file read: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn directories_in_order_trailing_newline_trimmed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("key"), "from-b\r\n").unwrap();
        std::fs::write(b.path().join("multi"), "line1\nline2 \n\n").unwrap();
        let files = FileSecrets::dir(a.path()).with_dir(b.path());
        assert_eq!(
            files.resolve("key").await.unwrap().unwrap().expose_secret(),
            "from-b"
        );
        assert_eq!(
            files
                .resolve("multi")
                .await
                .unwrap()
                .unwrap()
                .expose_secret(),
            "line1\nline2 "
        );
        std::fs::write(a.path().join("key"), "from-a").unwrap();
        assert_eq!(
            files.resolve("key").await.unwrap().unwrap().expose_secret(),
            "from-a"
        );
    }

    #[tokio::test]
    async fn missing_directory_is_none_but_missing_mapped_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let files =
            FileSecrets::dir(dir.path().join("nope")).file("mapped", dir.path().join("gone"));
        assert!(files.resolve("anything").await.unwrap().is_none());
        let err = files.resolve("mapped").await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Config);
        assert!(err.to_string().contains("gone"), "{err}");
        assert!(err.to_string().contains("\"mapped\""), "{err}");
    }

    #[tokio::test]
    async fn names_cannot_escape_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let inner = root.path().join("secrets");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(root.path().join("outside"), "must-not-read").unwrap();
        let files = FileSecrets::dir(&inner);
        for name in ["../outside", "..", ".", "", "a/b", "..\\outside"] {
            assert!(files.resolve(name).await.unwrap().is_none(), "{name}");
        }
    }

    #[tokio::test]
    async fn bad_content_errors_name_the_file_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bin"), b"leak-me-\xff").unwrap();
        let big = vec![b'x'; (MAX_SECRET_BYTES + 1) as usize];
        std::fs::write(dir.path().join("big"), big).unwrap();
        let files = FileSecrets::dir(dir.path());
        let err = files.resolve("bin").await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Invalid);
        assert!(!format!("{err} {err:?}").contains("leak-me"));
        assert!(err.to_string().contains("bin"));
        let err = files.resolve("big").await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Invalid);
    }

    #[test]
    fn describe_and_debug_show_paths_only() {
        let files = FileSecrets::dir("/run/secrets").file("k", "/etc/k");
        assert_eq!(
            files.describe(),
            "files in /run/secrets + 1 mapped secret file(s)"
        );
        assert!(format!("{files:?}").contains("/etc/k"));
    }
}
