//! What every console page shares: the frame around it (account, section,
//! sign-out form, notice), rendering a template, the HTML error pages, and
//! the headers every answer carries.

use askama::Template;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::store::StoreError;

/// No inline script or style, nothing from elsewhere, no framing, forms
/// only to the console itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The frame of a page: whose console it is, which section is open, the
/// sign-out form's CSRF token, and a notice of what was just done.
pub struct Chrome {
    pub account: String,
    pub section: &'static str,
    pub csrf: String,
    pub notice: Option<String>,
}

/// A console answer that is not a page: an error page.
#[derive(Debug)]
pub enum ConsoleError {
    NotFound,
    /// Refused, with the reason shown.
    Forbidden(&'static str),
    Internal(anyhow::Error),
}

pub type PageResult = Result<Response, ConsoleError>;

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    title: &'static str,
    message: &'static str,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            ConsoleError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page, or it is not in your account.",
            ),
            ConsoleError::Forbidden(reason) => (StatusCode::FORBIDDEN, "Refused", *reason),
            ConsoleError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "console page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Herald could not answer this page. The error is in its log.",
                )
            }
        };
        let page = ErrorPage { title, message };
        match page.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

impl From<StoreError> for ConsoleError {
    fn from(error: StoreError) -> Self {
        ConsoleError::Internal(error.into())
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(error: askama::Error) -> Self {
        ConsoleError::Internal(error.into())
    }
}

/// An API error that is not about the form (those are shown beside its
/// fields before this): a missing record is the 404 page.
impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound => ConsoleError::NotFound,
            ApiError::Forbidden => ConsoleError::Forbidden("Your token may not do this."),
            ApiError::Internal(cause) => ConsoleError::Internal(cause),
            other => ConsoleError::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

/// A page no route names.
pub async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}

/// The record id of a page's path; one that is not a number names no
/// record: the 404 page.
pub struct PageId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PageId {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ConsoleError::NotFound)?;
        text.parse().map(PageId).map_err(|_| ConsoleError::NotFound)
    }
}

/// `template` as a page.
pub fn render(template: &impl Template) -> PageResult {
    Ok(Html(template.render()?).into_response())
}

/// `template` as a page with `status` (a form shown again with its problems).
pub fn render_with(status: StatusCode, template: &impl Template) -> PageResult {
    Ok((status, Html(template.render()?)).into_response())
}

/// After a form: on to `path`, read with GET.
pub fn see_other(path: &str) -> PageResult {
    Ok(Redirect::to(path).into_response())
}

/// The headers of every console answer: its security policy, and pages
/// never cached (they show an account's records).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |name, value: &'static str| (name, HeaderValue::from_static(value));
    for (name, value) in [
        set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        set(header::X_FRAME_OPTIONS, "DENY"),
        set(header::REFERRER_POLICY, "no-referrer"),
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, value);
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// What a notice code in a page's query says: fixed texts only, so a
/// link cannot put words in the console's mouth.
pub fn notice(code: Option<&str>, count: Option<i64>) -> Option<String> {
    let text = match code? {
        "created" => "Created.",
        "saved" => "Saved.",
        "enabled" => "Enabled.",
        "disabled" => "Disabled.",
        "deleted" => "Deleted.",
        "test_sent" => "Test message queued: it is sent at once.",
        "verification_sent" => "Verification message queued with a new code.",
        "verified" => "This webhook's URI is verified already: no message was needed.",
        "redelivered" => "Redelivery queued: this is the new delivery.",
        "recovered" => {
            return Some(format!(
                "Recovery queued {} deliveries.",
                count.unwrap_or(0).max(0)
            ));
        }
        "signed_out" => "You are signed out.",
        "session_ended" => "Your session has ended: sign in again.",
        _ => return None,
    };
    Some(text.to_string())
}

/// An epoch time as the console shows it (UTC).
pub fn when(secs: i64) -> String {
    crate::domain::time::format_epoch(secs)
        .replace("T", " ")
        .replace("+00:00", " UTC")
}
