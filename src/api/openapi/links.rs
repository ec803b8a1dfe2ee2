//! Links between operations: what a created record's id leads to. Clients
//! and testers (schemathesis' stateful phase) follow them from a new
//! record to the operations on it.

use utoipa::openapi::RefOr;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;

/// From an operation's answer of a status, to the operations whose `id`
/// is in that answer's body at the pointer given.
const LINKS: [(&str, &str, &str, &[&str]); 4] = [
    (
        "createWebhook",
        "200",
        "/id",
        &[
            "getWebhook",
            "updateWebhook",
            "deleteWebhook",
            "testWebhook",
            "listDeliveries",
            "recoverDeliveries",
        ],
    ),
    (
        "createWebhookPolicy",
        "201",
        "/id",
        &[
            "getWebhookPolicy",
            "updateWebhookPolicy",
            "deleteWebhookPolicy",
        ],
    ),
    (
        "listDeliveries",
        "200",
        "/0/id",
        &["getDelivery", "redeliver"],
    ),
    ("redeliver", "202", "/id", &["getDelivery", "redeliver"]),
];

/// Adds the links that start at `operation`.
pub fn link(operation: &mut Operation) {
    let Some(id) = operation.operation_id.clone() else {
        return;
    };
    for (from, status, pointer, targets) in LINKS.iter().filter(|l| l.0 == id) {
        let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else {
            panic!("no {status} answer of {from} to link from");
        };
        for target in *targets {
            let link = LinkBuilder::new()
                .operation_id(*target)
                .parameter("id", format!("$response.body#{pointer}"))
                .build();
            response.links.insert((*target).into(), RefOr::T(link));
        }
    }
}
