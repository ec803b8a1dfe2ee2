//! The web console as a browser sees it: pages, forms and their tokens,
//! sessions, and what every page must never do (run a script it was
//! given, be framed, show another account).

mod counts;
mod escaping;
mod pages;
mod sessions;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::TestApp;

/// An answer of the console.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    /// The `value` of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body))
            + "name=\"csrf\" value=\"".len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }

    /// The value a `Set-Cookie` header gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().to_string())
    }
}

/// A browser signed in to the console of a [`TestApp`].
pub struct Console {
    app: TestApp,
    pub cookie: String,
    pub csrf: String,
}

/// One request to the app's router with `cookie`, and a form body.
pub async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    form: Option<&[(&str, &str)]>,
) -> Page {
    let mut request = Request::builder().method(method).uri(path);
    if !cookie.is_empty() {
        request = request.header(header::COOKIE, cookie);
    }
    let body = match form {
        Some(fields) => {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            let mut encoded = url::form_urlencoded::Serializer::new(String::new());
            encoded.extend_pairs(fields.iter());
            Body::from(encoded.finish())
        }
        None => Body::empty(),
    };
    let response = app
        .router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Runs `sql` on the app's database, behind Herald's back.
pub async fn execute(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

/// Posts the sign-in form with `token`, as a browser that opened it.
pub async fn sign_in_with(app: &TestApp, token: &str) -> Page {
    let form = request(app, Method::GET, "/console/sign-in", "", None).await;
    assert_eq!(form.status, StatusCode::OK);
    let secret = form.cookie("herald_console_sign_in").unwrap();
    let cookie = format!("herald_console_sign_in={secret}");
    let csrf = form.csrf();
    let fields = [("csrf", csrf.as_str()), ("token", token)];
    request(
        app,
        Method::POST,
        "/console/sign-in",
        &cookie,
        Some(&fields),
    )
    .await
}

impl Console {
    /// Signs in with an administrator's `token`; panics unless it works.
    pub async fn sign_in(app: &TestApp, token: &str) -> Console {
        let answer = sign_in_with(app, token).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location(), "/console");
        let secret = answer.cookie("herald_console").expect("a session cookie");
        let cookie = format!("herald_console={secret}");
        let overview = request(app, Method::GET, "/console", &cookie, None).await;
        assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
        Console {
            app: app.clone(),
            csrf: overview.csrf(),
            cookie,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        request(&self.app, Method::GET, path, &self.cookie, None).await
    }

    /// Posts a form with the session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut with_token = vec![("csrf", self.csrf.as_str())];
        with_token.extend_from_slice(fields);
        self.post_raw(path, &with_token).await
    }

    /// Posts a form as given: no CSRF token added.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        request(&self.app, Method::POST, path, &self.cookie, Some(fields)).await
    }
}
