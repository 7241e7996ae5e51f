//! Opening a key file safely: no symbolic link, a regular file, and on Unix owned by this
//! process's user and closed to group and others (the module `keys`'s "Protection"); its bytes
//! read into a buffer that is zeroised when dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use zeroize::Zeroizing;

use super::{KeyError, SecretBytes};

/// A key file larger than this is not a key file.
pub(super) const MAX_FILE_LEN: usize = 64 * 1024;

/// `FILE_FLAG_OPEN_REPARSE_POINT`: open a symbolic link or junction itself, not its target.
#[cfg(windows)]
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// `FILE_ATTRIBUTE_REPARSE_POINT`: the file is a symbolic link, junction or other reparse point.
#[cfg(windows)]
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x0400;

/// Opens the key file without following a symbolic link, then checks the open file.
pub(super) fn open_checked(path: &Path) -> Result<File, KeyError> {
    let unreadable = |source| KeyError::Unreadable { path: path.to_path_buf(), source };
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: a FIFO put there must not hang the daemon; it is refused below.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        options.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::NotFound { path: path.to_path_buf() });
        }
        // O_NOFOLLOW on a symbolic link: ELOOP (Linux, macOS), EMLINK (FreeBSD).
        #[cfg(unix)]
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EMLINK)) => {
            return Err(KeyError::Symlink { path: path.to_path_buf() });
        }
        Err(e) => return Err(unreadable(e)),
    };
    let meta = file.metadata().map_err(unreadable)?;
    #[cfg(windows)]
    {
        use std::os::windows::fs::MetadataExt;
        if meta.file_type().is_symlink()
            || meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0
        {
            return Err(KeyError::Symlink { path: path.to_path_buf() });
        }
    }
    if !meta.is_file() {
        return Err(unreadable(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The mode first: for a file others may read, `chmod 600` is the fix whoever checks.
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen { path: path.to_path_buf(), mode });
        }
        let expected = crate::os::sys::unix::effective_uid();
        if meta.uid() != expected {
            return Err(KeyError::WrongOwner {
                path: path.to_path_buf(),
                owner: meta.uid(),
                expected,
            });
        }
    }
    Ok(file)
}

/// The file's bytes, or `None` if it is longer than [`MAX_FILE_LEN`]. Read into a buffer of
/// the final size, never grown, so no copy of the key is left in a freed allocation.
pub(super) fn read_limited(file: &mut File) -> io::Result<Option<SecretBytes>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_FILE_LEN + 1]);
    let mut len = 0;
    while let Some(spare) = buf.get_mut(len..).filter(|s| !s.is_empty()) {
        match file.read(spare) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if len > MAX_FILE_LEN {
        return Ok(None);
    }
    buf.truncate(len);
    Ok(Some(buf))
}
