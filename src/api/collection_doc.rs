//! The query parameters of a collection (§2) as the OpenAPI document shows
//! them, made from its [`CollectionSpec`]: paging, `fields`, `sort`,
//! `state` and each filter.

use utoipa::PartialSchema;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, Required};

use crate::api::collection::{CollectionSpec, MAX_FILTER_VALUES};
use crate::domain::list::{DEFAULT_PER_PAGE, FieldKind, MAX_PER_PAGE};

impl CollectionSpec {
    /// Every query parameter the collection takes; any other is a 400.
    pub fn parameters(&self) -> Vec<Parameter> {
        let mut parameters = vec![
            query(
                "page",
                "The page, from 1; one past the last is an empty list",
                integer(1, u32::MAX.into(), None),
            ),
            query(
                "per_page",
                "Records a page holds",
                integer(1, MAX_PER_PAGE.into(), Some(DEFAULT_PER_PAGE.into())),
            ),
            query(
                "fields",
                &format!(
                    "Comma-separated fields to show instead of the default ones (`id` always): {}",
                    self.fields.join(", ")
                ),
                String::schema(),
            ),
            query(
                "sort",
                &format!(
                    "Comma-separated fields to sort by, `-` before one for descending: {}",
                    names(self.sorts.iter().map(|f| f.name))
                ),
                String::schema(),
            ),
        ];
        if self.states {
            let states = ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .enum_values(Some(["enabled", "disabled"]));
            parameters.push(query(
                "state",
                "Only enabled or only disabled records",
                states.into(),
            ));
        }
        for filter in self.filters {
            let description = format!(
                "Filter by {}: {} At most {MAX_FILTER_VALUES} values for one filter in all; repeat the parameter to combine conditions.",
                filter.name,
                operators(filter.kind)
            );
            parameters.push(query(filter.name, &description, String::schema()));
        }
        parameters
    }
}

/// What a filter of `kind` takes.
fn operators(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Id => {
            "`v` equals, `!v` not, `a,b` any of, `>v`, `>=v`, `<v`, `<=v` and ranges such as `>a<b`; empty for none, `!` for any."
        }
        FieldKind::Text => "`v` equals, `!v` not; empty for blank, `!` for present.",
        FieldKind::Enum => "`v` equals, `!v` not, `a,b` any of; empty for blank, `!` for present.",
        FieldKind::Bool => {
            "true for `1`, `T`, `Y`, `TRUE`, `YES`, `ON` (any case), else false; `!v` not."
        }
        FieldKind::Date => {
            "a date (`2016-03-17`, that whole UTC day) or an RFC 3339 date-time (`+` encoded as `%2B`), with `!`, `>`, `>=`, `<`, `<=` and ranges such as `>a<b`."
        }
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

fn query(name: &str, description: &str, schema: RefOr<Schema>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn integer(minimum: i64, maximum: i64, default: Option<i64>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .minimum(Some(minimum))
        .maximum(Some(maximum))
        .default(default.map(Into::into))
        .into()
}
