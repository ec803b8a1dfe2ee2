use super::*;

#[test]
fn a_diff_holds_only_the_fields_that_moved() {
    let before = vec![("name", json!("a")), ("disabled", json!(false))];
    let after = vec![("name", json!("a")), ("disabled", json!(true))];
    let changes = diff(before, after);
    assert_eq!(
        changes,
        vec![Change {
            field: "disabled",
            old: json!(false),
            new: json!(true)
        }]
    );
    assert_eq!(update_action(&changes), Action::Disable);
    assert_eq!(
        AuditEntry::new(RecordType::Webhook, 1, Action::Disable)
            .with_changes(changes)
            .changes_json(),
        json!({ "disabled": { "old": false, "new": true } })
    );
}

#[test]
fn flipping_disabled_back_is_enable_and_anything_else_update() {
    let change = |field, new| Change {
        field,
        old: Value::Null,
        new,
    };
    assert_eq!(
        update_action(&[change("disabled", json!(false))]),
        Action::Enable
    );
    assert_eq!(update_action(&[change("name", json!("x"))]), Action::Update);
}

#[test]
fn a_record_made_or_deleted_lists_the_fields_it_had() {
    let fields = || vec![("name", json!("a")), ("description", Value::Null)];
    assert_eq!(
        created(fields()),
        vec![Change {
            field: "name",
            old: Value::Null,
            new: json!("a")
        }]
    );
    assert_eq!(deleted(fields())[0].old, json!("a"));
    assert_eq!(deleted(fields()).len(), 1);
}

#[test]
fn a_call_through_no_socket_has_no_client_address() {
    let caller = Caller::new(3, 4, AccountId::from_trusted("a".into()), Role::Member, "");
    let actor = Actor::token(&caller, IpAddr::from([0, 0, 0, 0]));
    assert_eq!(
        (actor.token_id, actor.person_id, actor.client_ip),
        (Some(3), Some(4), None)
    );
    let actor = Actor::anonymous(IpAddr::from([192, 0, 2, 1]));
    assert_eq!(actor.client_ip, Some(IpAddr::from([192, 0, 2, 1])));
}
