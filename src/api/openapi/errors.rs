//! The error answers of the contract (§2) as the document shows them: the
//! `{"message"}` body, the 422 with its `[field, message]` pairs, and the
//! groups of errors routes share, each listed by the routes that answer it.

// The body types here and beside them only describe JSON the handlers
// build: none is ever made.
#![allow(dead_code)]

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

/// Every error but a validation failure.
#[derive(ToSchema)]
#[schema(example = json!({ "message": "Not Found" }))]
pub struct Error {
    /// What went wrong, for a person to read.
    message: String,
}

/// A validation failure (422): one `[field, message]` pair per problem.
#[derive(ToSchema)]
#[schema(example = json!({
    "message": "Validation Failed",
    "errors": [["uri", "Uri can't be blank"], ["event", "Event is not included in the list"]]
}))]
pub struct ValidationError {
    /// Always `Validation Failed`.
    message: String,
    #[schema(schema_with = pairs)]
    errors: Vec<Vec<String>>,
}

/// `[field, message]` pairs: arrays of two strings.
fn pairs() -> Schema {
    let text = ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
    ArrayBuilder::new()
        .items(
            ArrayBuilder::new()
                .items(text)
                .min_items(Some(2))
                .max_items(Some(2)),
        )
        .build()
        .into()
}

/// A JSON answer of `schema` (a component's name) described by `description`.
fn json_answer(description: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build(),
    )
}

/// An error answer whose body is [`Error`].
pub fn error(description: &str) -> RefOr<Response> {
    json_answer(description, "Error").build().into()
}

fn integer_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(i64::schema()))
        .description(Some(description))
        .build()
}

fn group(answers: Vec<(&str, RefOr<Response>)>) -> BTreeMap<String, RefOr<Response>> {
    answers
        .into_iter()
        .map(|(status, answer)| (status.to_string(), answer))
        .collect()
}

/// What every route behind a token may answer: 401 without a valid token,
/// 429 past the token's rate limit.
pub struct Authenticated;

impl IntoResponses for Authenticated {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let too_many = json_answer(
            "Over the token's rate limit (`--rate-limit` an hour)",
            "Error",
        )
        .header(
            "Retry-After",
            integer_header("Seconds until the token's budget starts over"),
        )
        .build();
        group(vec![
            (
                "401",
                error(
                    "No token, an unknown or revoked one, or an `X-R-Service-Account` naming another account",
                ),
            ),
            ("429", too_many.into()),
        ])
    }
}

/// 403: the token's person lacks the role the route needs.
pub struct Forbidden;

impl IntoResponses for Forbidden {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        group(vec![(
            "403",
            error("The token's person lacks the role this needs"),
        )])
    }
}

/// 404: no such record in the token's account (or an id that is no number).
pub struct NotFound;

impl IntoResponses for NotFound {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        group(vec![(
            "404",
            error("No such record in the token's account, or an id that is not a number"),
        )])
    }
}

/// 400: a collection's query string it cannot take.
pub struct BadQuery;

impl IntoResponses for BadQuery {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        group(vec![(
            "400",
            error(
                "An unknown parameter, field, filter or sort field, a bad value, more than 50 values for a filter, or a query string over 8 KiB",
            ),
        )])
    }
}

/// 422 alone: a request that cannot be done as it stands.
pub struct Invalid;

impl IntoResponses for Invalid {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        group(vec![(
            "422",
            json_answer("Validation failed", "ValidationError")
                .build()
                .into(),
        )])
    }
}

/// What a route that reads a JSON body may answer for it: 400, 408, 413
/// and 422.
pub struct BadBody;

impl IntoResponses for BadBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut answers = group(vec![
            (
                "400",
                error("Malformed JSON, a body of the wrong JSON type, or text with NUL characters"),
            ),
            (
                "408",
                error(
                    "The body did not all arrive within `--request-timeout`; the connection is closed",
                ),
            ),
            ("413", error("The body is over `--max-body-size`")),
        ]);
        answers.extend(Invalid::responses());
        answers
    }
}
