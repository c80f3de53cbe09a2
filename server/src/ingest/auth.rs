//! Who may stream: every `Connect` carries `authorization: Bearer <token>` metadata, and an
//! [`AgentAuthenticator`] decides whether the token belongs to an agent before a single message is
//! read.
//!
//! [`StaticTokens`] (the `--agent-token-file`, plus the local agent's token), [`AnyAgent`]
//! (`--allow-unauthenticated-agents`), the Kubernetes authenticator (`token_review`: a TokenReview
//! of the agent's ServiceAccount token, `--agent-token-review`), which is asynchronous and can fail
//! for reasons that are nobody's fault ([`AuthError::Unavailable`]), and [`FirstOf`], which
//! accepts what any of several accepts (static tokens OR TokenReview).

use std::future::Future;
use std::pin::Pin;

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tonic::metadata::MetadataMap;

/// Who an accepted agent is, for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPrincipal {
    /// `static token #2`, `unauthenticated`, or (TokenReview) the ServiceAccount's user name.
    pub name: String,
}

/// Why an agent is not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    /// The agent gets the same answer for a missing and a wrong token; the log tells them apart.
    #[error("the bearer token is not accepted")]
    Rejected,
    #[error("the authorization metadata is not `Bearer <token>`")]
    NotBearer,
    /// The authenticator could not decide (its API is unreachable): the agent should retry.
    #[error("the credentials could not be checked")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What [`AgentAuthenticator::authenticate`] returns.
pub type AuthFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AgentPrincipal, AuthError>> + Send + 'a>>;

/// Decides whether a stream's bearer token (`None` when the stream has none) belongs to an agent.
pub trait AgentAuthenticator: Send + Sync + std::fmt::Debug {
    fn authenticate<'a>(&'a self, bearer: Option<&'a str>) -> AuthFuture<'a>;
}

/// The token of `authorization: Bearer <token>` (the scheme case-insensitive, as HTTP has it).
/// `Ok(None)` when there is no such metadata.
pub fn bearer_token(metadata: &MetadataMap) -> Result<Option<String>, AuthError> {
    let Some(value) = metadata.get("authorization") else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    Ok((!token.is_empty()).then(|| token.to_owned()))
}

/// A fixed set of accepted tokens. Tokens are kept as SHA-256 digests and a candidate is compared
/// with every one of them in constant time, so neither the time taken nor an early return tells
/// an attacker how much of a guess was right, or which token it came close to.
#[derive(Clone)]
pub struct StaticTokens {
    digests: Vec<[u8; 32]>,
}

impl StaticTokens {
    /// Accepts exactly these tokens; none at all refuses every agent.
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        StaticTokens {
            digests: tokens.into_iter().map(digest).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The position of the matching token.
    fn find(&self, token: &str) -> Option<usize> {
        let candidate = digest(token);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, accepted) in self.digests.iter().enumerate() {
            let equal = accepted.ct_eq(&candidate);
            index.conditional_assign(&(i as u64), equal);
            found |= equal;
        }
        bool::from(found).then(|| usize::try_from(index).unwrap_or(usize::MAX))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaticTokens({} tokens)", self.digests.len())
    }
}

impl AgentAuthenticator for StaticTokens {
    fn authenticate<'a>(&'a self, bearer: Option<&'a str>) -> AuthFuture<'a> {
        let decision = match bearer {
            None => Err(AuthError::Missing),
            Some(token) => self
                .find(token)
                .map(|i| AgentPrincipal {
                    name: format!("static token #{}", i + 1),
                })
                .ok_or(AuthError::Rejected),
        };
        Box::pin(std::future::ready(decision))
    }
}

/// Lets every agent in, token or not: `--allow-unauthenticated-agents`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyAgent;

impl AgentAuthenticator for AnyAgent {
    fn authenticate<'a>(&'a self, _bearer: Option<&'a str>) -> AuthFuture<'a> {
        Box::pin(std::future::ready(Ok(AgentPrincipal {
            name: "unauthenticated".into(),
        })))
    }
}

/// Accepts an agent that any of its authenticators accepts, asked in order. When none does, the
/// answer is `Unavailable` if one of them could not decide (the agent should retry), else the
/// last refusal.
#[derive(Debug)]
pub struct FirstOf(Vec<std::sync::Arc<dyn AgentAuthenticator>>);

impl FirstOf {
    pub fn new(authenticators: Vec<std::sync::Arc<dyn AgentAuthenticator>>) -> Self {
        FirstOf(authenticators)
    }
}

impl AgentAuthenticator for FirstOf {
    fn authenticate<'a>(&'a self, bearer: Option<&'a str>) -> AuthFuture<'a> {
        Box::pin(async move {
            let mut refusal = AuthError::Missing;
            let mut unavailable = None;
            for authenticator in &self.0 {
                match authenticator.authenticate(bearer).await {
                    Ok(principal) => return Ok(principal),
                    Err(AuthError::Unavailable(cause)) => unavailable = Some(cause),
                    Err(err) => refusal = err,
                }
            }
            Err(unavailable.map_or(refusal, AuthError::Unavailable))
        })
    }
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    fn metadata(value: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", MetadataValue::try_from(value).unwrap());
        map
    }

    #[test]
    fn bearer_tokens_are_read_from_the_metadata() {
        assert_eq!(bearer_token(&MetadataMap::new()).unwrap(), None);
        assert_eq!(
            bearer_token(&metadata("Bearer s3cret")).unwrap().as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            bearer_token(&metadata("bearer  s3cret "))
                .unwrap()
                .as_deref(),
            Some("s3cret")
        );
        assert_eq!(bearer_token(&metadata("Bearer ")).unwrap(), None);
        assert!(matches!(
            bearer_token(&metadata("Basic dXNlcjpwYXNz")),
            Err(AuthError::NotBearer)
        ));
        assert!(matches!(
            bearer_token(&metadata("s3cret")),
            Err(AuthError::NotBearer)
        ));
    }

    #[tokio::test]
    async fn static_tokens_accept_exactly_their_tokens() {
        let tokens = StaticTokens::new(["first-token", "second-token"]);
        let principal = tokens.authenticate(Some("second-token")).await.unwrap();
        assert_eq!(principal.name, "static token #2");
        assert!(matches!(
            tokens.authenticate(Some("second-toke")).await,
            Err(AuthError::Rejected)
        ));
        assert!(matches!(
            tokens.authenticate(Some("second-token2")).await,
            Err(AuthError::Rejected)
        ));
        assert!(matches!(
            tokens.authenticate(None).await,
            Err(AuthError::Missing)
        ));
        let none = StaticTokens::new([]);
        assert!(matches!(
            none.authenticate(Some("anything")).await,
            Err(AuthError::Rejected)
        ));
        assert_eq!(format!("{tokens:?}"), "StaticTokens(2 tokens)");
        assert!(AnyAgent.authenticate(None).await.is_ok());
    }

    /// Refuses everything as unreachable, like a TokenReview whose API server is down.
    #[derive(Debug)]
    struct Unreachable;

    impl AgentAuthenticator for Unreachable {
        fn authenticate<'a>(&'a self, _bearer: Option<&'a str>) -> AuthFuture<'a> {
            Box::pin(std::future::ready(Err(AuthError::Unavailable(
                "API server down".into(),
            ))))
        }
    }

    #[tokio::test]
    async fn first_of_accepts_what_any_accepts() {
        use std::sync::Arc;
        let either = FirstOf::new(vec![
            Arc::new(StaticTokens::new(["static-token"])),
            Arc::new(StaticTokens::new(["other-token"])),
        ]);
        assert_eq!(
            either.authenticate(Some("other-token")).await.unwrap().name,
            "static token #1"
        );
        assert!(matches!(
            either.authenticate(Some("nobody")).await,
            Err(AuthError::Rejected)
        ));
        let down = FirstOf::new(vec![
            Arc::new(StaticTokens::new(["static-token"])),
            Arc::new(Unreachable),
        ]);
        assert!(down.authenticate(Some("static-token")).await.is_ok());
        assert!(matches!(
            down.authenticate(Some("nobody")).await,
            Err(AuthError::Unavailable(_))
        ));
    }
}
