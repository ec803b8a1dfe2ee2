//! The Webhooks API (§4): its routes, its collection and the record it
//! shows; reading, writing, the input rules and the verification handshake
//! live beside it.

mod input;
mod read;
mod verification;
mod write;

pub(crate) use verification::send_verification;
pub(crate) use write::{create_webhook, update_webhook};

use serde_json::{Map, Value, json};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::collection::{self, CollectionSpec};
use crate::api::state::AppState;
use crate::domain::Webhook;
use crate::domain::list::{FieldKind, ListField};
use crate::domain::node_id::node_id;
use crate::domain::time::format_epoch;

pub const SOURCE_HEADER: &str = "x-r-service-source";

const fn field(name: &'static str, kind: FieldKind) -> ListField {
    ListField {
        name,
        column: name,
        kind,
        case_insensitive: false,
    }
}

pub const COLLECTION: CollectionSpec = CollectionSpec {
    fields: &[
        "id",
        "nodeID",
        "name",
        "event",
        "uri",
        "description",
        "disabled",
        "mail_exceptions_to",
        "source",
        "sourceID",
        "webhook_policy",
        "attachments",
        "last_error",
        "verified",
        "created_at",
        "updated_at",
    ],
    filters: &[
        field("id", FieldKind::Id),
        field("name", FieldKind::Text),
        field("event", FieldKind::Enum),
        field("uri", FieldKind::Text),
        field("disabled", FieldKind::Bool),
        field("created_at", FieldKind::Date),
        field("updated_at", FieldKind::Date),
    ],
    sorts: &[
        field("id", FieldKind::Id),
        field("name", FieldKind::Text),
        field("event", FieldKind::Enum),
        field("uri", FieldKind::Text),
        field("created_at", FieldKind::Date),
        field("updated_at", FieldKind::Date),
    ],
    states: true,
};

const DEFAULT_FIELDS: [&str; 6] = ["id", "name", "event", "uri", "created_at", "updated_at"];

/// The webhooks API (§4).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read::list, write::create))
        .routes(routes!(read::list_enabled))
        .routes(routes!(read::list_disabled))
        .routes(routes!(read::get, write::update, write::delete))
        .routes(routes!(write::test))
}

/// The verification callback (§8): opened by the receiver, without a
/// token (its code is the credential).
pub fn callback_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verification::verify_callback))
}

/// The query parameters of the webhooks collection.
pub struct ListParams;

impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        COLLECTION.parameters()
    }
}

/// The seed's list shape: `disabled` and `last_error` only on disabled records.
fn default_fields(hook: &Webhook, record: Map<String, Value>) -> Value {
    if hook.disabled {
        collection::keep(
            record,
            &[&DEFAULT_FIELDS[..], &["disabled", "last_error"]].concat(),
        )
    } else {
        collection::keep(record, &DEFAULT_FIELDS)
    }
}

/// The full record (§4): every field, blank ones as null.
fn record(state: &AppState, hook: &Webhook) -> Map<String, Value> {
    let json = json!({
        "id": hook.id,
        "nodeID": node_id(&state.config.instance_domain, "Webhook", hook.id),
        "name": hook.name,
        "event": hook.event.as_str(),
        "uri": hook.uri,
        "description": hook.description,
        "disabled": hook.disabled,
        "mail_exceptions_to": hook.mail_exceptions_to,
        "source": hook.source,
        "sourceID": hook.source_id,
        "webhook_policy": hook.webhook_policy_id.map(|id| json!({ "id": id, "name": hook.webhook_policy_name })),
        "attachments": hook.attachments,
        "last_error": hook.last_error,
        "verified": hook.verified,
        "created_at": format_epoch(hook.created_at),
        "updated_at": format_epoch(hook.updated_at),
    });
    match json {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}
