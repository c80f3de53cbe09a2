//! The bearer token the agent presents to the server (`--token-file`).
//!
//! The file is read once at start-up, so that a missing or malformed file stops the agent before
//! it opens any socket, and again before every connection, so that a rotated token (a projected
//! ServiceAccount token, a re-mounted Secret) is used without a restart.

use std::fmt;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use tonic::metadata::AsciiMetadataValue;

/// A token file larger than this holds something other than a token.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// The `authorization: Bearer …` header value. Its `Debug` form never shows the token.
#[derive(Clone)]
pub struct BearerToken {
    header: AsciiMetadataValue,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(…)")
    }
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the token file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the token file {} is empty", .path.display())]
    Empty { path: PathBuf },
    #[error("the token file {} is larger than {MAX_TOKEN_BYTES} bytes", .path.display())]
    TooLarge { path: PathBuf },
    #[error(
        "the token in {} holds characters an HTTP header cannot carry (only visible ASCII is allowed)",
        .path.display()
    )]
    NotHeaderSafe { path: PathBuf },
}

impl BearerToken {
    /// Reads and checks the token file. Blocking: call it from a blocking thread once running.
    pub fn read(path: &Path) -> Result<Self, TokenError> {
        let read_error = |source| TokenError::Read {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut bytes = Vec::new();
        file.take(MAX_TOKEN_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge {
                path: path.to_owned(),
            });
        }
        Self::parse(&bytes, path)
    }

    /// The token is the file's content without surrounding whitespace (files usually end in a
    /// newline); inside, only visible ASCII is allowed, as in every bearer token format.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, TokenError> {
        let token = bytes.trim_ascii();
        if token.is_empty() {
            return Err(TokenError::Empty {
                path: path.to_owned(),
            });
        }
        if !token.iter().all(u8::is_ascii_graphic) {
            return Err(TokenError::NotHeaderSafe {
                path: path.to_owned(),
            });
        }
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(token);
        let header =
            AsciiMetadataValue::try_from(value).map_err(|_| TokenError::NotHeaderSafe {
                path: path.to_owned(),
            })?;
        Ok(BearerToken { header })
    }

    /// The value of the `authorization` request header.
    pub fn authorization(&self) -> &AsciiMetadataValue {
        &self.header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<BearerToken, TokenError> {
        BearerToken::parse(bytes, Path::new("/etc/podwire/token"))
    }

    #[test]
    fn the_token_is_the_trimmed_content() {
        let token = parse(b"  eyJhbGciOi.payload.sig\n").unwrap();
        assert_eq!(
            token.authorization().to_str().unwrap(),
            "Bearer eyJhbGciOi.payload.sig"
        );
        assert_eq!(format!("{token:?}"), "BearerToken(…)", "never logged");
    }

    #[test]
    fn unusable_tokens_are_named() {
        for (bytes, expected) in [
            (&b""[..], "the token file /etc/podwire/token is empty"),
            (b" \n\t", "the token file /etc/podwire/token is empty"),
            (
                b"two words",
                "the token in /etc/podwire/token holds characters an HTTP header cannot carry",
            ),
            (
                "t\u{f6}ken".as_bytes(),
                "the token in /etc/podwire/token holds characters an HTTP header cannot carry",
            ),
        ] {
            let err = parse(bytes).unwrap_err();
            assert!(err.to_string().starts_with(expected), "{bytes:?}: {err}");
        }
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = BearerToken::read(Path::new("/nonexistent/podwire-token")).unwrap_err();
        assert!(matches!(err, TokenError::Read { .. }));
        assert_eq!(
            err.to_string(),
            "cannot read the token file /nonexistent/podwire-token"
        );
    }

    #[test]
    fn an_oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, vec![b'a'; MAX_TOKEN_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            BearerToken::read(&path),
            Err(TokenError::TooLarge { .. })
        ));
    }
}
