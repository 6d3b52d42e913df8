//! Corpus names (`bach/bwv66.6`) to score bytes.
//!
//! Names resolve first in the configured corpus directories, laid out like music21's corpus
//! (its own `music21/corpus` directory works as one), trying extensions in music21's order;
//! then in the built-in corpus compiled into the binary, so everything works offline.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use crate::error::{ToolError, ToolResult};
use crate::music::confined;
use crate::music::format::Format;

/// Extensions in the order music21's corpus tries them (abc, midi, musicxml, humdrum).
pub const EXTENSIONS: [&str; 7] = ["abc", "mid", "midi", "xml", "mxl", "musicxml", "krn"];

/// One piece of the built-in corpus.
pub struct BuiltinPiece {
    pub name: &'static str,
    pub format: Format,
    pub bytes: &'static [u8],
    pub description: &'static str,
}

macro_rules! builtin {
    ($name:literal, $file:literal, $format:expr, $description:literal) => {
        BuiltinPiece {
            name: $name,
            format: $format,
            bytes: include_bytes!(concat!("../../corpus/", $file)),
            description: $description,
        }
    };
}

/// Written for this project (AGPL-3.0-only, like the rest of it); traditional melodies are
/// in the public domain.
pub const BUILTIN: &[BuiltinPiece] = &[
    builtin!(
        "builtin/chorale-g-major",
        "builtin/chorale-g-major.xml",
        Format::Musicxml,
        "a four-part chorale in G major, 8 measures, with cadences (MusicXML)"
    ),
    builtin!(
        "builtin/chorale-a-minor",
        "builtin/chorale-a-minor.xml",
        Format::Musicxml,
        "a four-part chorale in A minor with a pickup, 5 measures (MusicXML)"
    ),
    builtin!(
        "builtin/twinkle",
        "builtin/twinkle.abc",
        Format::Abc,
        "Twinkle, Twinkle, Little Star, traditional melody in C (ABC)"
    ),
    builtin!(
        "builtin/folk-tunes",
        "builtin/folk-tunes.abc",
        Format::Abc,
        "two traditional tunes in one ABC file (pick one with tune = 1 or 2)"
    ),
    builtin!(
        "builtin/ode-to-joy",
        "builtin/ode-to-joy.tntxt",
        Format::Tinynotation,
        "Beethoven's Ode to Joy melody in D (tinyNotation)"
    ),
    builtin!(
        "builtin/minuet",
        "builtin/minuet.krn",
        Format::Humdrum,
        "a two-voice minuet in D minor, 3/4 (Humdrum **kern)"
    ),
    builtin!(
        "builtin/canon",
        "builtin/canon.krn",
        Format::Humdrum,
        "a two-voice canon at the octave in F major (Humdrum **kern)"
    ),
];

/// A resolved corpus piece.
#[derive(Debug)]
pub struct CorpusPiece {
    pub name: String,
    pub format: Format,
    pub bytes: Cow<'static, [u8]>,
    /// `corpus:<dir>/<file>` or `builtin:<name>`.
    pub origin: String,
}

/// Refuses names that could leave a corpus directory.
fn check_name(name: &str) -> ToolResult<()> {
    let path = Path::new(name);
    let clean = !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if clean {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "source: corpus name '{name}' must be a relative name like 'bach/bwv66.6', without '..' or a leading '/'"
        )))
    }
}

fn has_known_extension(name: &str) -> Option<Format> {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
}

/// Finds a corpus piece by name.
pub fn resolve(name: &str, dirs: &[PathBuf]) -> ToolResult<CorpusPiece> {
    check_name(name)?;
    for dir in dirs {
        if let Some((path, bytes)) = find_in_dir(dir, name) {
            let format = path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(Format::from_extension)
                .ok_or_else(|| ToolError::internal("corpus file with unknown extension"))?;
            return Ok(CorpusPiece {
                name: name.to_string(),
                format,
                bytes: Cow::Owned(bytes),
                origin: format!("corpus:{}", path.display()),
            });
        }
    }
    let stem = name.strip_prefix("builtin/").unwrap_or(name);
    let wanted = format!("builtin/{stem}");
    if let Some(piece) = BUILTIN
        .iter()
        .find(|p| p.name == wanted || file_stem_matches(p, &wanted))
    {
        return Ok(CorpusPiece {
            name: piece.name.to_string(),
            format: piece.format,
            bytes: Cow::Borrowed(piece.bytes),
            origin: format!("builtin:{}", piece.name),
        });
    }
    let searched = if dirs.is_empty() {
        "no corpus directories are configured (corpus.dirs), and".to_string()
    } else {
        format!(
            "not in {} and",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(ToolError::not_found(format!(
        "corpus piece '{name}' not found: {searched} not in the built-in corpus ({}). `music21-prod setup --fetch-corpus` installs music21's corpus",
        BUILTIN.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
    )))
}

fn file_stem_matches(piece: &BuiltinPiece, wanted: &str) -> bool {
    // "builtin/twinkle.abc" names "builtin/twinkle".
    has_known_extension(wanted).is_some()
        && Path::new(wanted).with_extension("") == Path::new(piece.name)
}

/// The first file for `name` in `dir` (the name as given when it has a known extension, then
/// with each extension in turn), and its bytes. Read through the confined open: beneath the
/// directory, no symlink followed anywhere on the way, regular files only, read from the
/// descriptor that was checked; so a corpus name never leaves its directory. Hard links are
/// allowed here (unlike file imports): the directories are the operator's, and package
/// managers may hard-link the files they install. A candidate that is missing or refused is
/// passed over.
fn find_in_dir(dir: &Path, name: &str) -> Option<(PathBuf, Vec<u8>)> {
    let open = confined::Dir::open(dir).ok()?;
    let rules = confined::Rules {
        allow_hardlinks: true,
        max_bytes: u64::MAX,
    };
    let as_given = has_known_extension(name).map(|_| name.to_string());
    let with_extensions = EXTENSIONS.iter().map(|ext| format!("{name}.{ext}"));
    as_given.into_iter().chain(with_extensions).find_map(|rel| {
        let path = dir.join(&rel);
        let bytes = open.read(Path::new(&rel), &rules, &path).ok()?;
        Some((path, bytes))
    })
}

/// A corpus file or built-in piece found under a name prefix, read.
pub struct PrefixPiece {
    pub name: String,
    pub bytes: Vec<u8>,
    pub format: Format,
}

/// A file under a name prefix that was found but not read, and why.
pub struct Unread {
    pub name: String,
    pub reason: String,
}

/// What a name prefix gives: the pieces read, in order (corpus directories first, then the
/// built-in corpus), the files passed over, and whether `max_files` cut the list short.
pub struct PrefixRead {
    pub pieces: Vec<PrefixPiece>,
    pub unread: Vec<Unread>,
    pub capped: bool,
}

/// Refuses a prefix that is empty, too long, absolute or climbs out with `..`.
pub fn check_prefix(prefix: &str) -> ToolResult<()> {
    let path = Path::new(prefix);
    let clean = !prefix.trim().is_empty()
        && prefix.len() <= 200
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if clean {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "source '{}' must be a corpus name prefix like \"bach/\" or \"builtin/\" (relative, without '..'), or an array of score ids",
            crate::music::guard::truncate(prefix, 40)
        )))
    }
}

/// The corpus files and built-in pieces whose names start with `prefix`, read as corpus
/// names are (see [`find_in_dir`]): beneath the corpus directory, no symlink followed,
/// regular files only, checked and read through one descriptor; hard links allowed. A
/// prefix ending in `/` or naming a directory takes the files below it (three levels deep
/// at most); otherwise the files beside it whose names start with its last part.
pub fn read_prefix(dirs: &[PathBuf], prefix: &str, max_bytes: u64, max_files: usize) -> PrefixRead {
    let mut read = PrefixRead {
        pieces: Vec::new(),
        unread: Vec::new(),
        capped: false,
    };
    let rules = confined::Rules {
        allow_hardlinks: true,
        max_bytes,
    };
    for (dir, path, name) in prefix_files(dirs, prefix) {
        if read.pieces.len() >= max_files {
            read.capped = true;
            break;
        }
        let format = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension)
            .expect("filtered by extension");
        let bytes = match (confined::Dir::open(dir), path.strip_prefix(dir)) {
            (Ok(open), Ok(rel)) => open.read(rel, &rules, &path),
            _ => Err(confined::Miss::Missing),
        };
        match bytes {
            Ok(bytes) => read.pieces.push(PrefixPiece {
                name,
                bytes,
                format,
            }),
            Err(confined::Miss::TooBig { size, .. }) => read.unread.push(Unread {
                name,
                reason: format!("{size} bytes, over limits.max_source_bytes"),
            }),
            Err(_) => read.unread.push(Unread {
                name,
                reason:
                    "not a regular file beneath the corpus directory (symlinks are not followed)"
                        .into(),
            }),
        }
    }
    for piece in BUILTIN.iter().filter(|p| p.name.starts_with(prefix)) {
        if read.pieces.len() >= max_files {
            read.capped = true;
            break;
        }
        read.pieces.push(PrefixPiece {
            name: piece.name.to_string(),
            bytes: piece.bytes.to_vec(),
            format: piece.format,
        });
    }
    read
}

/// The files a prefix names in each corpus directory: (the directory, the file, the name
/// shown, relative to the directory).
fn prefix_files<'a>(dirs: &'a [PathBuf], prefix: &str) -> Vec<(&'a Path, PathBuf, String)> {
    let mut files = Vec::new();
    for dir in dirs {
        let base = dir.join(prefix);
        let mut here = Vec::new();
        if prefix.ends_with('/') || base.is_dir() {
            score_files(&base, 2, &mut here);
        } else {
            // A partial name: files in the parent directory whose names start with it.
            let parent = base
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.clone());
            let stem = base
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut all = Vec::new();
            score_files(&parent, 0, &mut all);
            here.extend(all.into_iter().filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&stem))
            }));
        }
        for path in here {
            let name = path
                .strip_prefix(dir)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| path.display().to_string());
            files.push((dir.as_path(), path, name));
        }
    }
    files
}

/// Regular files under `dir` (`depth` levels further down at most) with a known score
/// extension, sorted. Symlinks are passed over, to directories or files alike (the reads
/// refuse them too).
fn score_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<(PathBuf, std::fs::FileType)> = entries
        .filter_map(|e| e.ok().and_then(|e| Some((e.path(), e.file_type().ok()?))))
        .collect();
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in paths {
        if kind.is_dir() {
            if depth > 0 {
                score_files(&path, depth - 1, out);
            }
        } else if kind.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(Format::from_extension)
                .is_some()
        {
            out.push(path);
        }
    }
}

/// Every corpus name (`bach/bwv66.6`, `builtin/twinkle`) that starts with `prefix`, sorted,
/// each once (a piece in two formats is one name, as `resolve` picks one): the configured
/// directories' pieces (three levels deep, as music21's corpus is laid out) and the built-in
/// ones. For listings and completions; nothing is read but directory entries.
pub fn names(dirs: &[PathBuf], prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for dir in dirs {
        let mut files = Vec::new();
        score_files(dir, 3, &mut files);
        for path in files {
            let Ok(relative) = path.strip_prefix(dir) else {
                continue;
            };
            let name = relative.with_extension("").to_string_lossy().into_owned();
            if name.starts_with(prefix) {
                out.push(name);
            }
        }
    }
    out.extend(
        BUILTIN
            .iter()
            .map(|p| p.name.to_string())
            .filter(|n| n.starts_with(prefix)),
    );
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_list_directories_and_builtins_once_each() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bach")).unwrap();
        for file in [
            "bach/bwv1.mxl",
            "bach/bwv1.krn",
            "bach/bwv2.xml",
            "bach/notes.txt",
        ] {
            std::fs::write(dir.path().join(file), b"x").unwrap();
        }
        let dirs = [dir.path().to_path_buf()];
        assert_eq!(names(&dirs, "bach/"), ["bach/bwv1", "bach/bwv2"]);
        let all = names(&dirs, "");
        assert!(all.contains(&"builtin/twinkle".to_string()), "{all:?}");
        assert_eq!(all.len(), 2 + BUILTIN.len());
        assert_eq!(names(&dirs, "builtin/tw"), ["builtin/twinkle"]);
    }

    #[test]
    fn builtin_pieces_resolve_by_name_with_or_without_prefix() {
        for piece in BUILTIN {
            let found = resolve(piece.name, &[]).unwrap();
            assert_eq!(found.format, piece.format);
            let short = piece.name.trim_start_matches("builtin/");
            assert_eq!(resolve(short, &[]).unwrap().name, piece.name);
        }
    }

    #[test]
    fn builtin_corpus_has_six_pieces_in_three_formats() {
        assert!(BUILTIN.len() >= 6);
        let formats: std::collections::HashSet<_> = BUILTIN.iter().map(|p| p.format).collect();
        assert!(formats.len() >= 3);
    }

    #[test]
    fn directory_corpus_comes_first_in_music21_extension_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bach")).unwrap();
        std::fs::write(dir.path().join("bach/x.mxl"), b"PK").unwrap();
        std::fs::write(dir.path().join("bach/x.xml"), b"<score-partwise/>").unwrap();
        std::fs::write(dir.path().join("twinkle.krn"), b"**kern").unwrap();
        let found = resolve("bach/x", &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(found.format, Format::Musicxml, "xml comes before mxl");
        let found = resolve("bach/x.mxl", &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(found.format, Format::Mxl);
        let found = resolve("twinkle", &[dir.path().to_path_buf()]).unwrap();
        assert!(found.origin.starts_with("corpus:"));
    }

    #[test]
    fn corpus_names_never_follow_a_symlink_out_of_their_directory() {
        let root = tempfile::tempdir().unwrap();
        let corpus = root.path().join("corpus");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(corpus.join("real")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.abc"), b"X:1\nK:C\nC|]\n").unwrap();
        std::fs::write(corpus.join("real/inside.abc"), b"X:1\nK:C\nD|]\n").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.abc"), corpus.join("leak.abc")).unwrap();
        std::os::unix::fs::symlink(&outside, corpus.join("linked")).unwrap();
        std::os::unix::fs::symlink(corpus.join("real"), corpus.join("alias")).unwrap();
        let dirs = [corpus.clone()];
        for name in ["leak", "leak.abc", "linked/secret", "alias/inside"] {
            let err = resolve(name, &dirs).unwrap_err();
            assert_eq!(err.kind, crate::error::ErrorKind::NotFound, "{name}");
        }
        let found = resolve("real/inside", &dirs).unwrap();
        assert_eq!(&*found.bytes, b"X:1\nK:C\nD|]\n");
        assert_eq!(
            found.origin,
            format!("corpus:{}", corpus.join("real/inside.abc").display())
        );
        // Hard links are allowed in corpus directories.
        std::fs::hard_link(corpus.join("real/inside.abc"), corpus.join("hard.abc")).unwrap();
        assert!(resolve("hard", &dirs).is_ok());
    }

    #[test]
    fn escaping_names_refused() {
        for bad in ["../etc/passwd", "/etc/passwd", "bach/../../x", ""] {
            let err = resolve(bad, &[]).unwrap_err();
            assert!(err.message.contains("source"), "{bad}: {}", err.message);
        }
        let err = resolve("nope/none", &[]).unwrap_err();
        assert!(err.message.contains("not found"));
    }
}
