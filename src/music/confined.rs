//! Reading a file confined beneath a directory: opened once, relative to a descriptor of the
//! directory, with no symlink followed anywhere on the way and no `..`, then checked and read
//! through that same descriptor (never opened again by path, so nothing can be swapped in
//! between the check and the read).
//!
//! `openat2(2)` does the walk with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`; on a kernel without it (before Linux 5.6) each component is opened
//! in turn with `O_NOFOLLOW` from the one before. Only a regular file is read; a file with
//! more than one hard link is refused unless the caller allows hard links (a hard link inside
//! an allowed directory may be a name for a file anywhere on the same file system).
//!
//! Every refusal of a client-given path is the one message [`REFUSED`], whatever lies (or
//! does not lie) at the path, so an error never tells anything about what is outside.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::error::{ToolError, ToolResult};

/// The answer to every file import that is not allowed: outside the allowed directories, a
/// symlink anywhere on the way, `..`, not a regular file, hard-linked, or unreadable.
pub const REFUSED: &str =
    "source: not an allowed file (file imports read regular files under corpus.allowed_dirs)";

/// The answer when no directory is allowed at all.
pub const DISABLED: &str = "source: file imports are disabled: no directory is allowed (set corpus.allowed_dirs in the config)";

/// The answer for a path inside an allowed directory where nothing exists.
pub const MISSING: &str = "source: no such file in the allowed directories (corpus.allowed_dirs)";

/// What a read accepts.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Read files with more than one hard link.
    pub allow_hardlinks: bool,
    /// Larger files are refused (`limits.max_source_bytes`; the message names that key).
    pub max_bytes: u64,
}

/// Why nothing was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No directory is allowed.
    Disabled,
    /// Nothing by that name. Only ever said of a path inside an allowed directory: the walk
    /// never leaves the directory (no `..`, no symlink, no absolute path is looked up), so a
    /// missing component is one inside it.
    Missing,
    /// Anything else: [`REFUSED`].
    Refused,
    /// A regular file over `max_bytes`: its path as displayed and its size (or, when it grew
    /// while being read, what was read by then).
    TooBig {
        path: PathBuf,
        size: u64,
        grew: bool,
    },
}

impl Miss {
    pub fn into_error(self, max_bytes: u64) -> ToolError {
        match self {
            Miss::Disabled => ToolError::invalid(DISABLED),
            Miss::Missing => ToolError::not_found(MISSING),
            Miss::Refused => ToolError::invalid(REFUSED),
            Miss::TooBig {
                path,
                size,
                grew: false,
            } => ToolError::limit(format!(
                "refused before reading: {} is {size} bytes, over the limit limits.max_source_bytes = {max_bytes}",
                path.display()
            )),
            Miss::TooBig {
                path, grew: true, ..
            } => ToolError::limit(format!(
                "refused: {} grew past {max_bytes} bytes while it was read, over the limit limits.max_source_bytes = {max_bytes}",
                path.display()
            )),
        }
    }
}

/// Set once `openat2` is found missing (ENOSYS), so the walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// The flags the file itself is opened with: read-only, never following a final symlink,
/// and non-blocking so that opening a FIFO returns at once (it is refused after `fstat`).
fn file_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY
}

/// An open directory that reads are confined beneath.
pub struct Dir {
    fd: OwnedFd,
}

impl Dir {
    /// Opens a trusted directory (from the configuration), following symlinks in its own path
    /// as any open does. Search permission is enough (`O_PATH`).
    pub fn open(path: &Path) -> nix::Result<Dir> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd })
    }

    /// Reads the regular file `rel` beneath this directory. `rel` must be relative, of plain
    /// names (`.` is skipped); `..`, a symlink anywhere, anything but a regular file and, unless
    /// allowed, a file with several hard links are [`Miss::Refused`]. `display` names the file
    /// in a size refusal.
    pub fn read(&self, rel: &Path, rules: &Rules, display: &Path) -> Result<Vec<u8>, Miss> {
        let names = plain_names(rel).ok_or(Miss::Refused)?;
        let fd = match open_beneath(self.fd.as_fd(), &names) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Err(Miss::Missing),
            Err(_) => return Err(Miss::Refused),
        };
        read_open(fd, rules, display)
    }
}

/// The plain names of a relative path, `.` skipped; `None` for `..`, an absolute path or
/// nothing at all.
fn plain_names(rel: &Path) -> Option<Vec<&OsStr>> {
    let mut names = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!names.is_empty()).then_some(names)
}

/// Opens `names` (plain names) beneath `dir`, refusing symlinks anywhere on the way.
fn open_beneath(dir: BorrowedFd<'_>, names: &[&OsStr]) -> nix::Result<OwnedFd> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let rel: PathBuf = names.iter().collect();
        let how = OpenHow::new().flags(file_flags()).resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
        let mut tries = 0;
        loop {
            match nix::fcntl::openat2(dir, &rel, how) {
                // A rename elsewhere on the file system raced the walk; the kernel asks to
                // try again (it only does with `..`, which never gets here, but be safe).
                Err(Errno::EAGAIN) if tries < 3 => tries += 1,
                Err(Errno::ENOSYS) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                    break;
                }
                other => return other,
            }
        }
    }
    open_by_walking(dir, names)
}

/// The walk without `openat2`: each directory on the way opened with `O_NOFOLLOW` relative to
/// the one before (a symlink fails with ELOOP or ENOTDIR), then the file itself.
fn open_by_walking(dir: BorrowedFd<'_>, names: &[&OsStr]) -> nix::Result<OwnedFd> {
    let (last, parents) = names.split_last().ok_or(Errno::EINVAL)?;
    let mut current: Option<OwnedFd> = None;
    for name in parents {
        if name.as_encoded_bytes().contains(&b'/') || *name == ".." {
            return Err(Errno::EXDEV);
        }
        let at = current.as_ref().map_or(dir, |fd| fd.as_fd());
        let next = nix::fcntl::openat(
            at,
            *name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        current = Some(next);
    }
    if last.as_encoded_bytes().contains(&b'/') || *last == ".." {
        return Err(Errno::EXDEV);
    }
    let at = current.as_ref().map_or(dir, |fd| fd.as_fd());
    nix::fcntl::openat(at, *last, file_flags(), Mode::empty())
}

/// Checks the open file (`fstat` of that descriptor) and reads it through the descriptor.
fn read_open(fd: OwnedFd, rules: &Rules, display: &Path) -> Result<Vec<u8>, Miss> {
    let file = File::from(fd);
    let meta = file.metadata().map_err(|_| Miss::Refused)?;
    if !meta.file_type().is_file() {
        return Err(Miss::Refused);
    }
    if meta.nlink() > 1 && !rules.allow_hardlinks {
        return Err(Miss::Refused);
    }
    if meta.len() > rules.max_bytes {
        return Err(Miss::TooBig {
            path: display.to_path_buf(),
            size: meta.len(),
            grew: false,
        });
    }
    // The size is at most max_bytes here; read one byte more to notice a file still growing.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(rules.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|_| Miss::Refused)?;
    if bytes.len() as u64 > rules.max_bytes {
        return Err(Miss::TooBig {
            path: display.to_path_buf(),
            size: bytes.len() as u64,
            grew: true,
        });
    }
    Ok(bytes)
}

/// Whether the components of `path` begin with those of `dir`; the rest if so.
fn strip_dir<'a>(path: &'a Path, dir: &Path) -> Option<&'a Path> {
    let mut rest = path.components();
    for want in dir.components() {
        if rest.next() != Some(want) {
            return None;
        }
    }
    Some(rest.as_path())
}

/// Finds and reads a client-named file beneath one of the allowed directories `dirs`.
///
/// An absolute `requested` must lie lexically inside one of them (as configured or as
/// canonical; nothing outside is ever looked at); a relative one is looked for in each in
/// turn, and the first directory where something exists by that name decides. Returns the
/// bytes and the path as displayed (the allowed directory joined with the rest).
pub fn find_beneath(
    dirs: &[PathBuf],
    requested: &str,
    rules: &Rules,
) -> Result<(Vec<u8>, PathBuf), Miss> {
    if dirs.is_empty() {
        return Err(Miss::Disabled);
    }
    let path = Path::new(requested);
    if path.is_absolute() {
        for dir in dirs {
            // The allowed directories come from the configuration and may themselves contain
            // symlinks (/tmp on some systems): a path may name one either way.
            let canonical = dir.canonicalize().ok();
            let forms = std::iter::once(dir.as_path()).chain(canonical.as_deref());
            for form in forms.filter(|f| f.is_absolute()) {
                if let Some(rest) = strip_dir(path, form) {
                    let display = form.join(rest);
                    let open = Dir::open(dir).map_err(|_| Miss::Missing)?;
                    return open
                        .read(rest, rules, &display)
                        .map(|bytes| (bytes, display));
                }
            }
        }
        return Err(Miss::Refused);
    }
    plain_names(path).ok_or(Miss::Refused)?;
    for dir in dirs {
        let Ok(open) = Dir::open(dir) else {
            continue;
        };
        let display = dir.join(path);
        match open.read(path, rules, &display) {
            Err(Miss::Missing) => continue,
            found => return found.map(|bytes| (bytes, display)),
        }
    }
    Err(Miss::Missing)
}

/// [`find_beneath`] with its refusals as tool errors: the bytes of the file and its path as
/// displayed (for the recorded origin and the format's extension).
pub fn read_beneath(
    dirs: &[PathBuf],
    requested: &str,
    allow_hardlinks: bool,
    max_bytes: u64,
) -> ToolResult<(Vec<u8>, PathBuf)> {
    let rules = Rules {
        allow_hardlinks,
        max_bytes,
    };
    find_beneath(dirs, requested, &rules).map_err(|miss| miss.into_error(max_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::time::{Duration, Instant};

    const MAX: u64 = 1 << 20;

    /// `allowed/` with `in.txt`, and `outside/` with `secret.txt`, side by side.
    struct Tree {
        _root: tempfile::TempDir,
        allowed: PathBuf,
        outside: PathBuf,
    }

    fn tree() -> Tree {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(allowed.join("in.txt"), b"inside").unwrap();
        std::fs::write(allowed.join("sub/deep.txt"), b"deeper").unwrap();
        std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
        Tree {
            _root: root,
            allowed,
            outside,
        }
    }

    impl Tree {
        fn read(&self, requested: &str, allow_hardlinks: bool) -> ToolResult<(Vec<u8>, PathBuf)> {
            read_beneath(
                std::slice::from_ref(&self.allowed),
                requested,
                allow_hardlinks,
                MAX,
            )
        }

        fn refused(&self, requested: &str) {
            let err = self.read(requested, false).unwrap_err();
            assert_eq!(err.message, REFUSED, "{requested}");
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{requested}");
        }
    }

    #[test]
    fn a_regular_file_reads_by_relative_and_absolute_path() {
        let t = tree();
        let (bytes, shown) = t.read("in.txt", false).unwrap();
        assert_eq!(bytes, b"inside");
        assert_eq!(shown, t.allowed.join("in.txt"));
        let (bytes, shown) = t.read("./sub/deep.txt", false).unwrap();
        assert_eq!(bytes, b"deeper");
        assert_eq!(shown, t.allowed.join("sub/deep.txt"));
        let absolute = t.allowed.join("sub/deep.txt");
        let (bytes, shown) = t.read(absolute.to_str().unwrap(), false).unwrap();
        assert_eq!(bytes, b"deeper");
        assert_eq!(shown, absolute);
    }

    #[test]
    fn a_symlink_to_a_file_outside_is_refused() {
        let t = tree();
        std::os::unix::fs::symlink(t.outside.join("secret.txt"), t.allowed.join("link.txt"))
            .unwrap();
        t.refused("link.txt");
        t.refused(t.allowed.join("link.txt").to_str().unwrap());
    }

    #[test]
    fn a_symlink_to_a_file_inside_is_refused_too() {
        let t = tree();
        std::os::unix::fs::symlink(t.allowed.join("in.txt"), t.allowed.join("alias.txt")).unwrap();
        std::os::unix::fs::symlink("in.txt", t.allowed.join("relative-alias.txt")).unwrap();
        t.refused("alias.txt");
        t.refused("relative-alias.txt");
    }

    #[test]
    fn a_symlinked_directory_on_the_way_is_refused() {
        let t = tree();
        std::os::unix::fs::symlink(&t.outside, t.allowed.join("out")).unwrap();
        std::os::unix::fs::symlink(t.allowed.join("sub"), t.allowed.join("sub2")).unwrap();
        t.refused("out/secret.txt");
        t.refused("sub2/deep.txt");
    }

    #[test]
    fn dot_dot_escapes_are_refused() {
        let t = tree();
        t.refused("../outside/secret.txt");
        t.refused("sub/../../outside/secret.txt");
        t.refused("sub/../in.txt");
        t.refused(&format!("{}/../outside/secret.txt", t.allowed.display()));
    }

    #[test]
    fn absolute_paths_outside_are_refused() {
        let t = tree();
        t.refused(t.outside.join("secret.txt").to_str().unwrap());
        t.refused("/etc/passwd");
        // A sibling whose name begins with the allowed directory's is not inside it.
        let sibling = format!("{}-not/secret.txt", t.allowed.display());
        t.refused(&sibling);
    }

    #[test]
    fn a_hard_link_is_refused_unless_allowed() {
        let t = tree();
        std::fs::hard_link(t.outside.join("secret.txt"), t.allowed.join("hard.txt")).unwrap();
        t.refused("hard.txt");
        let (bytes, _) = t.read("hard.txt", true).unwrap();
        assert_eq!(bytes, b"secret");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let t = tree();
        let fifo = t.allowed.join("pipe.txt");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).unwrap();
        // No writer ever opens it: a blocking open would hang here.
        let started = Instant::now();
        t.refused("pipe.txt");
        t.refused(fifo.to_str().unwrap());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_directory_is_refused() {
        let t = tree();
        t.refused("sub");
        t.refused(".");
        t.refused(t.allowed.to_str().unwrap());
    }

    #[test]
    fn outside_paths_existing_or_not_get_byte_identical_messages() {
        let t = tree();
        std::os::unix::fs::symlink(t.outside.join("secret.txt"), t.allowed.join("link.txt"))
            .unwrap();
        std::os::unix::fs::symlink(t.outside.join("nothing.txt"), t.allowed.join("dangling"))
            .unwrap();
        let sources = [
            t.outside.join("secret.txt").display().to_string(),
            t.outside.join("nothing.txt").display().to_string(),
            "/etc/passwd".into(),
            "/proc/self/environ".into(),
            "/no/such/place".into(),
            "../outside/secret.txt".into(),
            "../outside/nothing.txt".into(),
            "link.txt".into(),
            "dangling".into(),
        ];
        let errors: Vec<ToolError> = sources
            .iter()
            .map(|s| t.read(s, false).unwrap_err())
            .collect();
        for (source, err) in sources.iter().zip(&errors) {
            assert_eq!(err, &errors[0], "{source}");
        }
        assert_eq!(errors[0].message, REFUSED);
    }

    #[test]
    fn a_missing_file_inside_is_not_found_and_names_nothing() {
        let t = tree();
        let err = t.read("nothing.txt", false).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert_eq!(err.message, MISSING);
        let err = t.read("sub/nothing/deeper.txt", false).unwrap_err();
        assert_eq!(err.message, MISSING);
    }

    #[test]
    fn oversized_files_are_refused_before_reading_naming_the_key() {
        let t = tree();
        std::fs::write(t.allowed.join("big.txt"), vec![b'x'; 100]).unwrap();
        let err = read_beneath(std::slice::from_ref(&t.allowed), "big.txt", false, 10).unwrap_err();
        assert_eq!(err.kind, ErrorKind::LimitExceeded);
        assert!(
            err.message.contains("limits.max_source_bytes = 10"),
            "{}",
            err.message
        );
        assert!(err.message.contains("100 bytes"), "{}", err.message);
    }

    #[test]
    fn no_allowed_directory_disables_file_reads() {
        let err = read_beneath(&[], "/etc/passwd", false, MAX).unwrap_err();
        assert_eq!(err.message, DISABLED);
    }

    #[test]
    fn relative_names_are_looked_for_in_each_directory_in_turn() {
        let t = tree();
        let second = t.outside.clone();
        let dirs = [t.allowed.clone(), second];
        let rules = Rules {
            allow_hardlinks: false,
            max_bytes: MAX,
        };
        let (bytes, shown) = find_beneath(&dirs, "secret.txt", &rules).unwrap();
        assert_eq!(bytes, b"secret");
        assert_eq!(shown, t.outside.join("secret.txt"));
    }

    #[test]
    fn the_walk_without_openat2_refuses_the_same_things() {
        let t = tree();
        std::os::unix::fs::symlink(t.outside.join("secret.txt"), t.allowed.join("link.txt"))
            .unwrap();
        std::os::unix::fs::symlink(&t.outside, t.allowed.join("out")).unwrap();
        nix::unistd::mkfifo(&t.allowed.join("pipe"), Mode::from_bits_truncate(0o644)).unwrap();
        let dir = Dir::open(&t.allowed).unwrap();
        let walk =
            |rel: &str| open_by_walking(dir.fd.as_fd(), &plain_names(Path::new(rel)).unwrap());
        let rules = Rules {
            allow_hardlinks: false,
            max_bytes: MAX,
        };
        let fd = walk("sub/deep.txt").unwrap();
        assert_eq!(read_open(fd, &rules, Path::new("x")).unwrap(), b"deeper");
        assert!(walk("link.txt").is_err(), "a final symlink");
        assert!(walk("out/secret.txt").is_err(), "a symlinked directory");
        assert_eq!(walk("nothing").unwrap_err(), Errno::ENOENT);
        // The FIFO opens at once (O_NONBLOCK) and the fstat refuses it.
        let fd = walk("pipe").unwrap();
        assert_eq!(read_open(fd, &rules, Path::new("x")), Err(Miss::Refused));
    }
}
