//! Agents in a cluster prove who they are with their projected ServiceAccount token, bound to
//! the audience `--agent-token-audience` (`podwire`); the server asks the API server about it with
//! a TokenReview (`authentication.k8s.io/v1`, `spec.audiences` set to that audience) and accepts
//! only `--agent-service-account`. Positive answers are cached for `--token-review-cache`
//! (kubelet rotates the token well before it expires; a rotated token is simply reviewed anew).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};

use super::auth::{AgentAuthenticator, AgentPrincipal, AuthError, AuthFuture};
use crate::cluster::TokenReviewSettings;

/// At most this many accepted tokens are remembered (one per agent, plus rotations).
const CACHE_LIMIT: usize = 16 * 1024;

/// Checks agents' ServiceAccount tokens with TokenReview.
pub struct TokenReviewer {
    api: Api<TokenReview>,
    settings: TokenReviewSettings,
    username: String,
    /// SHA-256 of the token → until when, and who.
    accepted: Mutex<HashMap<[u8; 32], (Instant, AgentPrincipal)>>,
}

impl std::fmt::Debug for TokenReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewer")
            .field("username", &self.username)
            .field("audience", &self.settings.audience)
            .finish_non_exhaustive()
    }
}

impl TokenReviewer {
    pub fn new(client: kube::Client, settings: TokenReviewSettings) -> Self {
        TokenReviewer {
            api: Api::all(client),
            username: settings.username(),
            settings,
            accepted: Mutex::default(),
        }
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<AgentPrincipal> {
        let cache = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(digest)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, principal)| principal.clone())
    }

    fn remember(&self, digest: [u8; 32], principal: &AgentPrincipal) {
        let now = Instant::now();
        let mut cache = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(digest, (now + self.settings.cache_for, principal.clone()));
    }

    async fn review(&self, token: &str) -> Result<AgentPrincipal, AuthError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: Some(vec![self.settings.audience.clone()]),
            },
            ..TokenReview::default()
        };
        let answer = self
            .api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|err| AuthError::Unavailable(Box::new(err)))?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            tracing::debug!(error = ?status.error, "TokenReview: not authenticated");
            return Err(AuthError::Rejected);
        }
        let audience_bound = status
            .audiences
            .as_ref()
            .is_some_and(|a| a.contains(&self.settings.audience));
        let user = status.user.unwrap_or_default();
        let username = user.username.unwrap_or_default();
        if !audience_bound || username != self.username {
            tracing::debug!(%username, audiences = ?status.audiences, "TokenReview: a token of someone else, or for another audience");
            return Err(AuthError::Rejected);
        }
        let extra = user.extra.unwrap_or_default();
        let first = |key: &str| extra.get(key).and_then(|v| v.first()).cloned();
        let name = match (
            first("authentication.kubernetes.io/pod-name"),
            first("authentication.kubernetes.io/node-name"),
        ) {
            (Some(pod), Some(node)) => format!("{username} (pod {pod} on {node})"),
            (Some(pod), None) => format!("{username} (pod {pod})"),
            _ => username,
        };
        Ok(AgentPrincipal { name })
    }
}

impl AgentAuthenticator for TokenReviewer {
    fn authenticate<'a>(&'a self, bearer: Option<&'a str>) -> AuthFuture<'a> {
        Box::pin(async move {
            let token = bearer.ok_or(AuthError::Missing)?;
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            if let Some(principal) = self.cached(&digest) {
                return Ok(principal);
            }
            let principal = self.review(token).await?;
            self.remember(digest, &principal);
            Ok(principal)
        })
    }
}
