//! Authentication (bearer tokens, `X-R-Service-Account`), rate limiting and
//! role checks (§2).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::extract::ClientIp;
use crate::api::state::AppState;
use crate::crypto::tokens::hash_token;
use crate::domain::audit::Actor;
use crate::domain::time::now_epoch;
use crate::domain::{Caller, Role};
use crate::error::ApiError;

pub const ACCOUNT_HEADER: &str = "x-r-service-account";

/// Resolves the caller, enforces the account header and the rate limit, and
/// puts `X-RateLimit-*` headers on the answer.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let caller = match resolve_caller(&state, req.headers()).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let budget = state.rate_limiter.check(caller.token_id, now_epoch());
    let mut response = match budget {
        Some(b) if !b.allowed => ApiError::TooManyRequests {
            retry_after_secs: (b.reset - now_epoch()).max(1) as u64,
        }
        .into_response(),
        _ => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
    };
    if let Some(b) = budget {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(b.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(b.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(b.reset));
    }
    response
}

async fn resolve_caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let hash = hash_token(token);
    let now = now_epoch();
    let auth = match state.tokens.get(&hash, now) {
        Some(auth) => auth,
        None => {
            let generation = state.tokens.generation();
            let auth = state
                .store
                .authenticate(&hash, now)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            state.tokens.put(hash.clone(), auth.clone(), generation);
            auth
        }
    };
    if let Some(account) = headers.get(ACCOUNT_HEADER)
        && account.as_bytes() != auth.caller.account.as_str().as_bytes()
    {
        return Err(ApiError::Unauthorized);
    }
    if state.tokens.use_due(&hash, &auth, now) {
        note_use(state, auth.caller.token_id, now);
    }
    Ok(auth.caller)
}

/// Writes a token's `last_used_at` beside the request, which does not wait
/// for it.
fn note_use(state: &AppState, token_id: i64, now: i64) {
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(error) = store.touch_token(token_id, now).await {
            tracing::warn!(
                token = token_id,
                error = format!("{:#}", anyhow::Error::from(error)),
                "could not note a token's last use"
            );
        }
    });
}

/// The authenticated caller the middleware put on the request.
fn caller_of(parts: &Parts) -> Result<Caller, ApiError> {
    parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or(ApiError::Unauthorized)
}

/// A caller with the `administrator` role; anyone else gets 403. Like every
/// extractor of the request head, it runs before a handler's body is read,
/// so a caller without the role is answered without reading a byte of it.
pub struct Admin(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let caller = caller_of(parts)?;
        if caller.may(Role::Administrator) {
            Ok(Admin(caller))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// A caller who may publish events: an `administrator` or a `publisher`;
/// anyone else gets 403 before the body is read.
pub struct Publisher(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Publisher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let caller = caller_of(parts)?;
        if caller.may(Role::Publisher) {
            Ok(Publisher(caller))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// Who is acting, for the audit trail: the authenticated caller's token and
/// person, and the client's address (see [`ClientIp`]).
pub struct Acting(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = caller_of(parts)?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        Ok(Acting(Actor::token(&caller, ip)))
    }
}

/// Any authenticated caller.
pub struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        caller_of(parts).map(Authenticated)
    }
}
