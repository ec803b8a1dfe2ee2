//! Console sessions over HTTP: the cookie, the session every page acts in
//! (looked up by a layer), forms checked against their CSRF token, and
//! signing in and out.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::page::{self, Chrome, ConsoleError, PageResult};
use crate::api::extract::ClientIp;
use crate::api::state::AppState;
use crate::crypto::tokens::{csrf_token, hash_token, same_token, session_secret};
use crate::domain::audit::Actor;
use crate::domain::time::now_epoch;
use crate::domain::{Caller, Role};

/// The session's secret.
const COOKIE: &str = "herald_console";
/// The sign-in form's secret, which its CSRF token is made from.
const SIGN_IN_COOKIE: &str = "herald_console_sign_in";

pub const SIGN_IN_PATH: &str = "/console/sign-in";

/// The session a page acts in: its caller (an administrator) and the CSRF
/// token of its forms.
#[derive(Clone)]
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    hash: String,
}

impl Session {
    /// The frame of a page of `section` in this session.
    pub fn chrome(&self, section: &'static str, notice: Option<String>) -> Chrome {
        Chrome {
            account: self.caller.account.as_str().to_string(),
            section,
            csrf: self.csrf.clone(),
            notice,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(ConsoleError::Forbidden("Sign in first."))
    }
}

/// Who acts in a session, for the audit trail: the signed-in token's
/// person, from the client's address, as an API call with that token.
pub struct ConsoleActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for ConsoleActor {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        Ok(ConsoleActor(Actor::token(&session.caller, ip)))
    }
}

/// Lets a request through only in a running session of an administrator:
/// without one, a page read goes to the sign-in page and a form is refused.
pub async fn require_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let now = now_epoch();
    let secret = cookie(req.headers(), COOKIE).filter(|c| !c.is_empty());
    let had_cookie = secret.is_some();
    let found = match secret {
        Some(secret) => {
            let hash = hash_token(&secret);
            match state.store.console_session(&hash, now).await {
                Ok(found) => found.map(|s| (s, secret, hash)),
                Err(error) => return ConsoleError::from(error).into_response(),
            }
        }
        None => None,
    };
    match found {
        Some((session, secret, hash)) if session.caller.may(Role::Administrator) => {
            req.extensions_mut().insert(Session {
                caller: session.caller,
                csrf: csrf_token(&secret),
                hash,
            });
            next.run(req).await
        }
        _ if req.method() == Method::GET => {
            let to = if had_cookie {
                "/console/sign-in?notice=session_ended"
            } else {
                SIGN_IN_PATH
            };
            let mut answer = Redirect::to(to).into_response();
            set_cookie(&mut answer, &clear(COOKIE, "/console"));
            answer
        }
        _ => ConsoleError::Forbidden("Your session has ended: sign in again.").into_response(),
    }
}

/// The fields of a form posted in a session, its CSRF token checked
/// (missing or wrong: the 403 page).
pub struct Form(pub Fields);

/// A form's fields as sent, in order.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Fields {
        Fields(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The field's value, trimmed; `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// Whether the CSRF field holds `expected`.
    fn carries(&self, expected: &str) -> bool {
        self.get("csrf").is_some_and(|t| same_token(t, expected))
    }
}

const BAD_CSRF: &str =
    "This form's security token is missing or wrong. Go back, reload the page and send it again.";

impl FromRequest<AppState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = Fields::parse(&bytes);
        if fields.carries(&session.csrf) {
            Ok(Form(fields))
        } else {
            Err(ConsoleError::Forbidden(BAD_CSRF).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    csrf: String,
    notice: Option<String>,
    error: Option<&'static str>,
}

#[derive(serde::Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// The sign-in page, with a fresh secret for its form's CSRF token.
pub async fn sign_in_page(
    State(state): State<AppState>,
    Query(query): Query<NoticeQuery>,
) -> PageResult {
    let notice = page::notice(query.notice.as_deref(), None);
    sign_in_form(&state, StatusCode::OK, notice, None)
}

fn sign_in_form(
    state: &AppState,
    status: StatusCode,
    notice: Option<String>,
    error: Option<&'static str>,
) -> PageResult {
    let secret = session_secret();
    let page = SignInPage {
        csrf: csrf_token(&secret),
        notice,
        error,
    };
    let mut answer = page::render_with(status, &page)?;
    let cookie = cookie_value(state, SIGN_IN_COOKIE, &secret, SIGN_IN_PATH, 3600);
    set_cookie(&mut answer, &cookie);
    Ok(answer)
}

/// Exchanges an administrator's token for a session: its secret goes to
/// the browser in a cookie, its hash to the database.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let fields = Fields::parse(&body);
    let form_secret = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if form_secret.is_empty() || !fields.carries(&csrf_token(&form_secret)) {
        return Err(ConsoleError::Forbidden(BAD_CSRF));
    }
    let token = fields.get("token").unwrap_or_default();
    let now = now_epoch();
    let auth = match token {
        "" => None,
        token => state.store.authenticate(&hash_token(token), now).await?,
    };
    let Some(auth) = auth else {
        let error = Some("That token is not valid: it is unknown, revoked or expired.");
        return sign_in_form(&state, StatusCode::UNAUTHORIZED, None, error);
    };
    if !auth.caller.may(Role::Administrator) {
        let error = Some("Only an administrator's token can sign in to the console.");
        return sign_in_form(&state, StatusCode::FORBIDDEN, None, error);
    }
    let secret = session_secret();
    let ttl = state.config.console.session_ttl.as_secs() as i64;
    let actor = Actor::token(&auth.caller, ip);
    state
        .store
        .start_console_session(&auth.caller, &hash_token(&secret), now + ttl, &actor, now)
        .await?;
    let mut answer = page::see_other("/console")?;
    set_cookie(
        &mut answer,
        &cookie_value(&state, COOKIE, &secret, "/console", ttl),
    );
    set_cookie(&mut answer, &clear(SIGN_IN_COOKIE, SIGN_IN_PATH));
    Ok(answer)
}

/// Ends the session: its row goes, so its cookie opens nothing any more.
pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    Form(_): Form,
) -> PageResult {
    state
        .store
        .end_console_session(&session.hash, &actor, now_epoch())
        .await?;
    let mut answer = page::see_other("/console/sign-in?notice=signed_out")?;
    set_cookie(&mut answer, &clear(COOKIE, "/console"));
    Ok(answer)
}

/// The value of cookie `name` of the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// A cookie only the console's own requests carry, out of scripts' reach,
/// and only over TLS when Herald is reached over it.
fn cookie_value(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

fn clear(name: &str, path: &str) -> String {
    format!("{name}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Strict")
}

fn set_cookie(answer: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        answer.headers_mut().append(header::SET_COOKIE, value);
    }
}
