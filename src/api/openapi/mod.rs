//! The OpenAPI 3.1 document of the API, made from the routes themselves:
//! each handler's `#[utoipa::path]` (its parameters, bodies and answers),
//! the body types beside this module, and [`finish`], which adds what the
//! layers do to every route (request ids, rate-limit and paging headers,
//! 500 and 503). Served at `GET /v1/openapi.json`; `docs/openapi.json` is
//! a copy a test keeps equal.

pub mod deliveries;
pub mod errors;
pub mod events;
pub mod health;
pub mod links;
pub mod listed;
pub mod policies;
pub mod tokens;
pub mod webhooks;

use std::sync::Arc;

use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::PartialSchema;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, OpenApi as Document, Ref, RefOr, Required};

use crate::api::request_id::REQUEST_ID;

/// The security scheme of routes behind a token.
pub const BEARER: &str = "bearer";

/// What the document says besides its paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "A self-hosted webhook service speaking the R-Service Webhooks API. Every error is `{\"message\": ...}`; a validation failure (422) adds `errors`, one `[field, message]` pair per problem.",
        license(name = "Proprietary"),
    ),
    tags(
        (name = "webhooks", description = "Subscriptions of URIs to events (administrators)"),
        (name = "webhook_policies", description = "How messages to webhooks are signed (administrators)"),
        (name = "events", description = "Publishing events (administrators and publishers)"),
        (name = "deliveries", description = "Delivery history, redelivery and recovery (administrators)"),
        (name = "api_tokens", description = "The account's API tokens: listing and revoking them (administrators)"),
        (name = "audit_events", description = "The account's audit trail: who changed what, when, from where (administrators)"),
        (name = "verification", description = "The webhook.verify callback, opened by receivers without a token"),
        (name = "health", description = "Liveness and readiness, without a token"),
        (name = "meta", description = "The API itself"),
    ),
    components(schemas(errors::Error, errors::ValidationError))
)]
struct Root;

/// The document of `paths`, with the root's info and the answers every
/// route's layers add.
pub fn document(paths: Document) -> Document {
    let mut document = Root::openapi().merge_from(paths);
    document.info.version = env!("CARGO_PKG_VERSION").into();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    add_components(components);
    let mut operation_ids = std::collections::HashSet::new();
    for item in document.paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            finish(operation);
            links::link(operation);
            // PATCH and PUT (its alias) share a handler: ids must differ.
            if let Some(id) = &mut operation.operation_id
                && !operation_ids.insert(id.clone())
            {
                id.push_str(method);
            }
        }
    }
    document
}

/// The operations of a path, by method (as a suffix for operation ids).
fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("Get", &mut item.get),
        ("Post", &mut item.post),
        ("Patch", &mut item.patch),
        ("Put", &mut item.put),
        ("Delete", &mut item.delete),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
    .collect()
}

/// The document as served: its JSON, made once.
#[derive(Clone)]
pub struct Served(pub Arc<str>);

impl Served {
    pub fn new(document: &Document) -> Served {
        let json = document.to_json().expect("the document is JSON");
        Served(Arc::from(json))
    }
}

/// `GET /v1/openapi.json`: this document. No token needed.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json"))
)]
pub async fn serve(Extension(served): Extension<Served>) -> Response {
    let mut response = served.0.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What the layers do to every route: an `X-Request-Id` in and out; for
/// routes behind a token, `X-R-Service-Account` and the rate-limit
/// headers; for collections, the paging headers; and on any route a 500
/// (a fault, such as a database down) or a 503 (every connection place
/// taken, or readiness failing). Headers and parameters are components,
/// referred to from each operation.
fn finish(operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let collection = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.name == "per_page"));
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    parameters.push(reference("parameters", REQUEST_ID_PARAMETER));
    if secured {
        parameters.push(reference("parameters", ACCOUNT_PARAMETER));
    }
    let responses = &mut operation.responses.responses;
    responses.entry("500".into()).or_insert_with(|| {
        errors::error("A fault of Herald's (logged); the request may not have been done")
    });
    responses.entry("503".into()).or_insert_with(|| {
        errors::error("Every connection place is taken (the connection is closed)")
    });
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let mut names = vec!["X-Request-Id"];
        if secured && status != "401" {
            names.extend(RATE_LIMIT_HEADERS.map(|(name, _)| name));
        }
        if collection && status == "200" {
            names.extend(PAGING_HEADERS.map(|(name, _)| name));
            names.push("Link");
        }
        for name in names {
            response
                .headers
                .insert(name.into(), reference("headers", name));
        }
    }
}

/// The parameter every route takes.
const REQUEST_ID_PARAMETER: &str = "RequestId";
/// The parameter every route behind a token takes.
const ACCOUNT_PARAMETER: &str = "Account";

/// `#/components/<kind>/<name>`.
fn reference<T>(kind: &str, name: &str) -> RefOr<T> {
    RefOr::Ref(Ref::new(format!("#/components/{kind}/{name}")))
}

/// The headers and parameters [`finish`] refers to.
fn add_components(components: &mut Components) {
    components.parameters.insert(
        REQUEST_ID_PARAMETER.into(),
        header_parameter(
            REQUEST_ID,
            "Your id of the request (1 to 128 letters, digits and `-._:`), answered in `X-Request-Id` and logged with the request; another is made when it is missing or unfit",
        ),
    );
    components.parameters.insert(
        ACCOUNT_PARAMETER.into(),
        header_parameter(
            crate::api::auth::ACCOUNT_HEADER,
            "The token's account id; another account's is a 401",
        ),
    );
    let headers = &mut components.headers;
    headers.insert(
        "X-Request-Id".into(),
        required(text_header("The request's id: the client's, or a new UUID")).into(),
    );
    for (name, description) in RATE_LIMIT_HEADERS {
        headers.insert(name.into(), integer_header(description).into());
    }
    for (name, description) in PAGING_HEADERS {
        headers.insert(name.into(), required(integer_header(description)).into());
    }
    headers.insert(
        "Link".into(),
        required(text_header(
            "`first`, `prev` (past page 1), `next` (before the last page) and `last` page URLs",
        ))
        .into(),
    );
}

/// Sent when `--rate-limit` is not 0.
const RATE_LIMIT_HEADERS: [(&str, &str); 3] = [
    ("X-RateLimit-Limit", "Requests a token may make an hour"),
    (
        "X-RateLimit-Remaining",
        "Requests the token has left in this hour",
    ),
    (
        "X-RateLimit-Reset",
        "When the token's hour ends, in epoch seconds",
    ),
];

const PAGING_HEADERS: [(&str, &str); 4] = [
    ("X-Pagination-Per-Page", "Records a page holds"),
    ("X-Pagination-Current-Page", "This page's number, from 1"),
    ("X-Pagination-Total-Pages", "Pages in all (at least 1)"),
    ("X-Pagination-Total-Entries", "Records in all"),
];

fn header_parameter(name: &str, description: &str) -> RefOr<Parameter> {
    RefOr::T(
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(String::schema()))
            .build(),
    )
}

fn text_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(String::schema()))
        .description(Some(description))
        .build()
}

fn integer_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(i64::schema()))
        .description(Some(description))
        .build()
}

/// A header every such answer carries. utoipa's header object has no
/// `required`, which OpenAPI's has: it goes in as an extension field,
/// which serializes beside the others.
fn required(mut header: Header) -> Header {
    let extensions = header.extensions.get_or_insert_with(Extensions::default);
    extensions.insert("required".into(), serde_json::Value::Bool(true));
    header
}
