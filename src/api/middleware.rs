//! The layers every request passes: its request id and log span, its
//! metrics, its body's bounds, errors in the contract's JSON whatever made
//! them, and panics caught.

use std::any::Any;

use axum::Extension;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::api::http_metrics;
use crate::api::json::BodyRules;
use crate::api::request_id::{REQUEST_ID, request_id};
use crate::error::ApiError;
use crate::telemetry::Metrics;

/// `router` with the layers of the public API around it (the outermost
/// last): a panic's 500 is counted and carries the request id too.
pub fn around(router: Router, body_rules: BodyRules, metrics: &Metrics) -> Router {
    let router = router
        .layer(Extension(body_rules))
        .layer(middleware::map_response(json_errors))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(CatchPanicLayer::custom(panic_response));
    let router = if metrics.enabled() {
        router.layer(middleware::from_fn_with_state(
            metrics.clone(),
            http_metrics::count,
        ))
    } else {
        router
    };
    router.layer(middleware::from_fn(request_id))
}

/// The span of a request: its id, method and path, never its query, which
/// may carry a credential (the verification callback's code). At `error`,
/// the one level every log filter lets through, so that every line logged
/// while answering carries the request id, whatever `--log-level` says
/// (a span's level only decides whether it exists, not what is printed).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::error_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        request_id = id
    )
}

/// Every error answer is the contract's JSON (§2), whatever produced it:
/// one a layer or the framework made as plain text gets
/// `{"message": <reason>}` with its status and headers kept. The console's
/// error pages (HTML) stay pages.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let kept = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || kept {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let message = status.canonical_reason().unwrap_or("Error");
    let body = serde_json::json!({ "message": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}
