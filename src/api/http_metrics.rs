//! Counts API requests by method, route template and status, and times
//! them; on when `--metrics-listen` is given.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::telemetry::Metrics;

/// The route of a request no route matched: paths are not labels, so
/// their number stays bounded.
const UNMATCHED: &str = "unmatched";

pub async fn count(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.http_request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// The method as a label; methods Herald has no route for are `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
