//! Reading TOML configuration files, for the node's and the worker's configs alike.
//!
//! [`load_toml`] reads and parses a file, and says which file and which line when it cannot;
//! [`resolve_relative`] makes the paths a config names relative to the config file's folder
//! rather than to wherever the program was started, so a config and the files next to it can
//! move together.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Why a configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// There is no file at the path.
    #[error("config file {} does not exist; check the path (or create it)", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or not the settings this config takes.
    #[error("config file {}{}: {message}", path.display(), at.map(|(line, column)| format!(", line {line}, column {column}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where the problem is, as 1-based line and column, when the parser knows.
        at: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
}

/// Reads the TOML file at `path` as a `T`.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigFileError::Missing { path: path.into() },
        _ => ConfigFileError::Io {
            path: path.into(),
            source,
        },
    })?;
    toml::from_str(&text).map_err(|e| ConfigFileError::Parse {
        path: path.into(),
        at: e.span().map(|span| line_and_column(&text, span.start)),
        // The error's own text repeats the position and quotes the line; the message alone
        // reads better after the file name and position.
        message: e.message().trim_end().to_string(),
    })
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |start| start.chars().count())
        + 1;
    (line, column)
}

/// Makes each relative path in `paths` relative to the folder of the config file `config`
/// (absolute paths stay as they are).
pub fn resolve_relative<'a>(config: &Path, paths: impl IntoIterator<Item = &'a mut PathBuf>) {
    let base = config.parent().unwrap_or(Path::new("."));
    for path in paths {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        data_dir: PathBuf,
        port: u16,
    }

    #[test]
    fn loads_a_file_and_resolves_its_relative_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sample.toml");
        std::fs::write(&path, "data_dir = \"data\"\nport = 9\n").expect("write");
        let mut sample: Sample = load_toml(&path).expect("loads");
        assert_eq!(sample.port, 9);
        let mut absolute = PathBuf::from("/var/lib/phalanx");
        resolve_relative(&path, [&mut sample.data_dir, &mut absolute]);
        assert_eq!(sample.data_dir, dir.path().join("data"));
        assert_eq!(absolute, PathBuf::from("/var/lib/phalanx"));
    }

    #[test]
    fn a_missing_file_and_a_bad_line_say_where() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("absent.toml");
        let err = load_toml::<Sample>(&missing).expect_err("missing");
        assert!(matches!(&err, ConfigFileError::Missing { path } if *path == missing));
        assert!(err.to_string().contains("does not exist"), "{err}");

        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "data_dir = \"d\"\nport = \"nine\"\n").expect("write");
        let err = load_toml::<Sample>(&path).expect_err("wrong type");
        let ConfigFileError::Parse { at, message, .. } = &err else {
            panic!("a parse error, got {err:?}");
        };
        assert_eq!(*at, Some((2, 8)), "{err}");
        assert!(message.contains("invalid type"), "{message}");
        assert_eq!(
            err.to_string(),
            format!(
                "config file {}, line 2, column 8: {message}",
                path.display()
            )
        );

        std::fs::write(&path, "data_dir = \"d\"\nport = 9\nbogus = 1\n").expect("write");
        let err = load_toml::<Sample>(&path).expect_err("unknown key");
        assert!(
            matches!(&err, ConfigFileError::Parse { at: Some((3, 1)), message, .. } if message.contains("bogus")),
            "{err}"
        );
    }

    #[test]
    fn positions_count_characters_from_one() {
        assert_eq!(line_and_column("ab\ncdé\nf", 0), (1, 1));
        assert_eq!(line_and_column("ab\ncdé\nf", 3), (2, 1));
        assert_eq!(line_and_column("ab\ncdé\nf", 8), (3, 1));
        assert_eq!(line_and_column("ab\ncdé\nf", 5), (2, 3));
    }
}
