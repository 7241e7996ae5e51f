//! Crash-safe file replacement and the product's default directories.
//!
//! [`atomic_write`] writes a temporary file next to the target, flushes it to disk and renames
//! it over the target, then flushes the directory. A crash (kill -9, power loss) at any moment
//! leaves either the old file or the new one, never a torn mix. What a crash can leave behind
//! is a stray temporary file, which [`remove_stale_temps`] deletes.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary files are named `.<file name>.tmp-<pid>-<n>`: hidden, and recognisable as ours.
const TEMP_MARK: &str = ".tmp-";

/// Distinguishes temporary files of concurrent writers within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes` atomically, creating it with permission bits `mode` (Unix; on
/// Windows `mode` is ignored and the file inherits its directory's ACL).
///
/// Steps: create `.<name>.tmp-<pid>-<n>` in the same directory (so the rename never crosses
/// a file system) with `mode`, write, `fsync`, rename over `path`, `fsync` the directory so
/// the rename itself is durable. On failure the temporary file is removed and `path` is
/// untouched.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let (temp, mut file) = create_temp(&dir, &name, mode)?;
    let written = write_and_sync(&mut file, bytes, mode);
    drop(file);
    let renamed = written.and_then(|()| fs::rename(&temp, path));
    if let Err(e) = renamed {
        // Best effort: the temporary file is garbage now; a failure to remove it is less
        // interesting than the error that got us here.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(&dir)
}

/// Deletes temporary files [`atomic_write`] left in `dir` for the file `name` when a crash
/// interrupted it, and returns how many it removed. Call it only while no other writer of
/// `name` is active (at start-up).
pub fn remove_stale_temps(dir: &Path, name: &str) -> io::Result<usize> {
    let prefix = format!(".{name}{TEMP_MARK}");
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix));
        if is_ours && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The directory wakeproxy keeps its files in on Windows: `%ProgramData%\wakeproxy`, falling
/// back to `C:\ProgramData\wakeproxy` when the variable is unset.
pub fn windows_data_dir() -> PathBuf {
    windows_data_dir_from(std::env::var_os("ProgramData"))
}

fn windows_data_dir_from(program_data: Option<OsString>) -> PathBuf {
    let base = match program_data {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(r"C:\ProgramData"),
    };
    base.join("wakeproxy")
}

/// `path`'s directory (`.` for a bare file name) and file name.
fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not end in a file name wakeproxy can use", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}

fn create_temp(dir: &Path, name: &str, mode: u32) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last = None;
    // Bounded: a directory full of our names means something else is wrong.
    for _ in 0..1000 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}{TEMP_MARK}{pid}-{n}"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        match options.open(&temp) {
            Ok(file) => return Ok((temp, file)),
            // Left by a crashed process that had our pid: try the next number.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

fn write_and_sync(file: &mut File, bytes: &[u8], mode: u32) -> io::Result<()> {
    // The umask may have removed bits from `mode` at creation; set exactly what was asked.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a rename in `dir` durable. Windows cannot open a directory as a file without extra
/// flags, and NTFS journals renames, so there it is a no-op.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The names of the entries of `dir`, sorted (tests check that nothing is left behind).
#[cfg(test)]
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_leaving_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        atomic_write(&path, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        atomic_write(&path, b"two, longer", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two, longer");
        assert_eq!(names(dir.path()), ["data"]);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_gets_exactly_the_mode_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        atomic_write(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        atomic_write(&path, b"newer", 0o640).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: the rename must fail.
        let path = dir.path().join("target");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        assert!(atomic_write(&path, b"data", 0o600).is_err());
        assert_eq!(names(dir.path()), ["target"]);
        assert_eq!(fs::read(path.join("inside")).unwrap(), b"x");
    }

    #[test]
    fn stale_temporaries_of_that_file_only_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("state"), b"good").unwrap();
        fs::write(dir.path().join(".state.tmp-123-0"), b"to").unwrap();
        fs::write(dir.path().join(".state.tmp-99-7"), b"rn").unwrap();
        fs::write(dir.path().join(".other.tmp-1-0"), b"keep").unwrap();
        assert_eq!(remove_stale_temps(dir.path(), "state").unwrap(), 2);
        assert_eq!(names(dir.path()), [".other.tmp-1-0", "state"]);
    }

    #[test]
    fn split_handles_bare_names_and_rejects_roots() {
        let (dir, name) = split(Path::new("file")).unwrap();
        assert_eq!((dir, name.as_str()), (PathBuf::from("."), "file"));
        assert!(split(Path::new("/")).is_err());
    }

    #[test]
    fn windows_data_dir_falls_back_to_c_programdata() {
        let set = windows_data_dir_from(Some(OsString::from("D:\\Data")));
        assert!(set.starts_with("D:\\Data") && set.ends_with("wakeproxy"), "{set:?}");
        let unset = windows_data_dir_from(None);
        assert!(unset.starts_with(r"C:\ProgramData") && unset.ends_with("wakeproxy"));
        assert_eq!(windows_data_dir_from(Some(OsString::new())), unset);
    }
}
