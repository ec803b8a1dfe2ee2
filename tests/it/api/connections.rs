//! What a hostile or careless client can do to Herald's connections: slow
//! bodies, bodies from callers without the role, idle floods. Each test
//! asserts an outcome (an answer, a closed connection, a place freed,
//! another client answered), never a duration.

use axum::http::StatusCode;
use herald::config::Settings;
use herald::domain::Role;
use tokio::io::AsyncWriteExt;

use crate::on_databases;
use crate::support::served::{PATIENCE, closed_by_herald, exchange, get_request, read_answer};
use crate::support::{Backend, TestApp};

on_databases!(
    a_caller_without_the_role_is_answered_before_its_body_comes,
    a_slow_body_gets_408_its_connection_is_closed_and_its_place_freed,
    one_client_cannot_hold_every_place_and_health_checks_get_through,
    a_client_that_reads_no_answers_is_closed_and_its_place_freed,
);

/// A request head announcing a 1,000-byte JSON body, and one byte of it.
fn stalled_post(path: &str, token: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: herald.test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .into_bytes()
}

async fn a_caller_without_the_role_is_answered_before_its_body_comes(backend: Backend) {
    let Some(app) = TestApp::start(backend, Settings::default()).await else {
        return;
    };
    let member = app.token("wdc", Role::Member).await;
    let served = app.serve().await;
    let mut stream = served.connect_from("127.0.0.1").await;
    let answer = exchange(&mut stream, &stalled_post("/v1/events", &member)).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(answer.json()["message"], "Forbidden");

    let mut stream = served.connect_from("127.0.0.1").await;
    let answer = exchange(&mut stream, &stalled_post("/v1/webhooks", &member)).await;
    assert_eq!(answer.status, 403, "{answer:?}");

    let mut stream = served.connect_from("127.0.0.1").await;
    let answer = exchange(&mut stream, &stalled_post("/v1/events", "hrld_unknown")).await;
    assert_eq!(answer.status, 401, "{answer:?}");
}

async fn a_slow_body_gets_408_its_connection_is_closed_and_its_place_freed(backend: Backend) {
    let settings = Settings {
        request_timeout: Some("1s".into()),
        max_connections: Some(1),
        ..Settings::default()
    };
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let admin = app.admin("wdc").await;
    let served = app.serve().await;
    let mut slow = served.connect_from("127.0.0.1").await;
    let answer = exchange(&mut slow, &stalled_post("/v1/webhooks", &admin)).await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.json()["message"], "Request Timeout");
    assert!(answer.head.contains("connection: close"), "{}", answer.head);
    assert!(
        closed_by_herald(&mut slow).await,
        "the slow connection stayed open"
    );

    // The only place is free again: a new client is served in full (a
    // health place would answer 503), once the closed one has given it back.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut next = served.connect_from("127.0.0.1").await;
        let answer = exchange(&mut next, &get_request("/v1", Some(&admin))).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn one_client_cannot_hold_every_place_and_health_checks_get_through(backend: Backend) {
    let settings = Settings {
        max_connections: Some(8),
        max_connections_per_client: Some(4),
        ..Settings::default()
    };
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let served = app.serve().await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(served.connect_from("127.0.0.1").await);
    }
    // A fifth connection of the same client is closed unanswered.
    let mut fifth = served.connect_from("127.0.0.1").await;
    fifth
        .write_all(&get_request("/healthz", None))
        .await
        .unwrap();
    assert!(
        closed_by_herald(&mut fifth).await,
        "a client held more than its cap"
    );

    // Another client is answered (and keeps its connection, and place).
    let mut other = served.connect_from("127.0.0.2").await;
    let answer = exchange(&mut other, &get_request("/healthz", None)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    idle.push(other);

    // With every place taken, a health check still gets through, and the
    // API answers 503 at once.
    for _ in 0..3 {
        idle.push(served.connect_from("127.0.0.3").await);
    }
    let mut probe = served.connect_from("127.0.0.4").await;
    let answer = exchange(&mut probe, &get_request("/healthz", None)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let mut api = served.connect_from("127.0.0.4").await;
    let answer = exchange(&mut api, &get_request("/v1", None)).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE.as_u16(),
        "{answer:?}"
    );
    assert_eq!(answer.json()["message"], "Service Unavailable");

    // An idle connection closed gives its place back.
    idle.pop();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut next = served.connect_from("127.0.0.4").await;
        next.write_all(&get_request("/v1", None)).await.unwrap();
        let answer = read_answer(&mut next).await;
        if answer.status == 401 {
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn a_client_that_reads_no_answers_is_closed_and_its_place_freed(backend: Backend) {
    let settings = Settings {
        request_timeout: Some("1s".into()),
        max_connections: Some(1),
        rate_limit: Some(0),
        ..Settings::default()
    };
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let admin = app.admin("wdc").await;
    for _ in 0..5 {
        let description = "d".repeat(60_000);
        let body = serde_json::json!({
            "event": "request.create", "uri": "https://example.com/", "description": description,
        });
        app.create_webhook(&admin, body).await;
    }
    let served = app.serve().await;
    // Requests for large answers, pipelined, which it never reads: once the
    // socket buffers are full, Herald's writes wait on it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut greedy = socket.connect(served.address).await.unwrap();
    let requests = get_request("/v1/webhooks?fields=description", Some(&admin)).repeat(200);
    let sending = tokio::spawn(async move {
        let _ = greedy.write_all(&requests).await;
        greedy
    });
    // Its place is freed once Herald gives up on it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut next = served.connect_from("127.0.0.2").await;
        let answer = exchange(&mut next, &get_request("/v1", Some(&admin))).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    sending.abort();
}
