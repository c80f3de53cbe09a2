//! Finding the system's Postgres server binaries.

use std::path::{Path, PathBuf};

use super::LocalPostgresError;

/// A directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresBinaries {
    pub dir: PathBuf,
}

impl PostgresBinaries {
    /// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), else the directory of
    /// `pg_ctl` on PATH.
    pub fn find() -> Result<Self, LocalPostgresError> {
        Self::find_in(Path::new("/usr/lib/postgresql")).or_else(|_| Self::find_on_path())
    }

    /// The newest `<root>/<version>/bin` with all three binaries; versions compare numerically.
    pub fn find_in(root: &Path) -> Result<Self, LocalPostgresError> {
        let entries = std::fs::read_dir(root).map_err(|_| LocalPostgresError::NoBinaries)?;
        let mut candidates: Vec<(Vec<u32>, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry
                    .file_name()
                    .to_str()?
                    .split('.')
                    .map(|p| p.parse().ok())
                    .collect::<Option<Vec<u32>>>()?;
                let bin = entry.path().join("bin");
                complete(&bin).then_some((version, bin))
            })
            .collect();
        candidates.sort();
        candidates
            .pop()
            .map(|(_, dir)| PostgresBinaries { dir })
            .ok_or(LocalPostgresError::NoBinaries)
    }

    fn find_on_path() -> Result<Self, LocalPostgresError> {
        let path = std::env::var_os("PATH").ok_or(LocalPostgresError::NoBinaries)?;
        std::env::split_paths(&path)
            .find(|dir| complete(dir))
            .map(|dir| PostgresBinaries { dir })
            .ok_or(LocalPostgresError::NoBinaries)
    }

    pub fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    pub fn pg_ctl(&self) -> PathBuf {
        self.dir.join("pg_ctl")
    }
}

fn complete(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_complete_version_wins() {
        let root = tempfile::tempdir().unwrap();
        for (version, complete) in [
            ("9.6", true),
            ("15", true),
            ("16", false),
            ("notaversion", true),
        ] {
            let bin = root.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            let names: &[&str] = if complete {
                &["initdb", "pg_ctl", "postgres"]
            } else {
                &["initdb"]
            };
            for name in names {
                std::fs::write(bin.join(name), "").unwrap();
            }
        }
        assert_eq!(
            PostgresBinaries::find_in(root.path()).unwrap().dir,
            root.path().join("15/bin")
        );
        assert!(PostgresBinaries::find_in(&root.path().join("missing")).is_err());
    }
}
