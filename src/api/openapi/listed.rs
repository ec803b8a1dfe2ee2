//! The schema of a record in a collection, made from the record's: the
//! same fields, of which only `id` is always there (`?fields=` picks).

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// `record`'s schema with only `id` required.
pub fn listed(mut record: RefOr<Schema>, description: &str) -> RefOr<Schema> {
    if let RefOr::T(Schema::Object(object)) = &mut record {
        object.required = vec!["id".into()];
        object.description = Some(description.into());
        object.examples = Vec::new();
    }
    record
}

/// Declares `$name`, the schema of a `$record` in a collection.
macro_rules! listed_schema {
    ($name:ident, $record:ty, $description:expr) => {
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::api::openapi::listed::listed(<$record>::schema(), $description)
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                <$record as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}

pub(crate) use listed_schema;
