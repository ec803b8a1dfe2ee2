//! Collection conventions (§2): query parameters in, pagination headers and
//! field selection out.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use url::form_urlencoded;

use crate::domain::list::{Condition, Filter, Page};
use crate::domain::list::{
    FieldKind, ListField, ListQuery, MAX_PER_PAGE, SortKey, Value as FilterValue, parse_filter,
};
use crate::error::ApiError;

/// The longest query string a collection takes: far more than any filter,
/// sort and field list need, and what bounds the `Link` header that echoes
/// it four times.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Most values one filter field may be given, across repeated parameters,
/// comma lists and ranges: each becomes a term of the statement, and
/// SQLite refuses statements past a depth of terms.
pub const MAX_FILTER_VALUES: usize = 50;

/// What a resource's collection offers.
pub struct CollectionSpec {
    /// Every field a record has, in output order.
    pub fields: &'static [&'static str],
    pub filters: &'static [ListField],
    pub sorts: &'static [ListField],
    /// Supports `/enabled`, `/disabled` and `?state=` on a `disabled` column.
    pub states: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Enabled,
    Disabled,
}

/// A parsed collection request.
pub struct CollectionRequest {
    pub query: ListQuery,
    /// `None`: the resource's default fields.
    pub fields: Option<Vec<String>>,
}

impl CollectionSpec {
    pub fn parse(
        &self,
        raw_query: Option<&str>,
        path_state: Option<State>,
    ) -> Result<CollectionRequest, ApiError> {
        let raw_query = raw_query.unwrap_or("");
        if raw_query.len() > MAX_QUERY_BYTES {
            return Err(ApiError::BadRequest(format!(
                "The query string is too long (maximum is {MAX_QUERY_BYTES} bytes)"
            )));
        }
        let mut query = ListQuery::default();
        let mut fields = None;
        let mut state = path_state;
        for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
            if key.contains('\0') || value.contains('\0') {
                return Err(ApiError::BadRequest(
                    "Query parameters with NUL characters are not accepted".into(),
                ));
            }
            match key.as_ref() {
                "page" => query.page = parse_number("page", &value, 1, u32::MAX)?,
                "per_page" => query.per_page = parse_number("per_page", &value, 1, MAX_PER_PAGE)?,
                "fields" => fields = Some(self.parse_fields(&value)?),
                "sort" => query.sort = self.parse_sort(&value)?,
                "state" if self.states => {
                    state = Some(match value.as_ref() {
                        "enabled" => State::Enabled,
                        "disabled" => State::Disabled,
                        other => {
                            return Err(ApiError::BadRequest(format!(
                                "Invalid state {other:?}: use enabled or disabled"
                            )));
                        }
                    })
                }
                name => {
                    let field = self
                        .filters
                        .iter()
                        .find(|f| f.name == name)
                        .ok_or_else(|| ApiError::BadRequest(format!("Unknown filter: {name}")))?;
                    query
                        .filters
                        .push(parse_filter(*field, &value).map_err(ApiError::BadRequest)?);
                    let values: usize = query
                        .filters
                        .iter()
                        .filter(|f| f.field.name == name)
                        .map(Filter::value_count)
                        .sum();
                    if values > MAX_FILTER_VALUES {
                        return Err(ApiError::BadRequest(format!(
                            "Too many values for filter {name} (maximum is {MAX_FILTER_VALUES})"
                        )));
                    }
                }
            }
        }
        if let Some(state) = state {
            let field = ListField {
                name: "state",
                column: "disabled",
                kind: FieldKind::Bool,
                case_insensitive: false,
            };
            query.filters.push(Filter {
                field,
                conditions: vec![Condition::Eq(FilterValue::Bool(state == State::Disabled))],
            });
        }
        Ok(CollectionRequest { query, fields })
    }

    fn parse_fields(&self, value: &str) -> Result<Vec<String>, ApiError> {
        let mut chosen = vec!["id".to_string()];
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !self.fields.contains(&name) {
                return Err(ApiError::BadRequest(format!("Unknown field: {name}")));
            }
            if !chosen.iter().any(|c| c == name) {
                chosen.push(name.to_string());
            }
        }
        Ok(chosen)
    }

    fn parse_sort(&self, value: &str) -> Result<Vec<SortKey>, ApiError> {
        value
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|key| {
                let (descending, name) = match key.strip_prefix('-') {
                    Some(name) => (true, name),
                    None => (false, key),
                };
                self.sorts
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| SortKey {
                        column: f.column,
                        descending,
                    })
                    .ok_or_else(|| ApiError::BadRequest(format!("Unsupported sort field: {name}")))
            })
            .collect()
    }
}

/// A page as the API answers it: the pagination headers, and of each record
/// the chosen fields or, without `?fields=`, what `default` keeps.
pub fn respond<T>(
    page: &Page<T>,
    request: &CollectionRequest,
    link_base: &str,
    raw_query: Option<&str>,
    full: impl Fn(&T) -> Map<String, Value>,
    default: impl Fn(&T, Map<String, Value>) -> Value,
) -> (HeaderMap, Json<Vec<Value>>) {
    let headers = pagination_headers(&request.query, page.total, link_base, raw_query);
    let items = page
        .items
        .iter()
        .map(|item| match &request.fields {
            Some(fields) => select_fields(full(item), fields),
            None => default(item, full(item)),
        })
        .collect();
    (headers, Json(items))
}

/// The path of a collection or of one of its predefined filters.
pub fn state_path(collection: &str, state: Option<State>) -> String {
    match state {
        None => collection.to_string(),
        Some(State::Enabled) => format!("{collection}/enabled"),
        Some(State::Disabled) => format!("{collection}/disabled"),
    }
}

/// Keeps `fields` of a full record.
pub fn keep(record: Map<String, Value>, fields: &[&str]) -> Value {
    Value::Object(
        record
            .into_iter()
            .filter(|(k, _)| fields.contains(&k.as_str()))
            .collect(),
    )
}

/// Keeps the chosen fields of a full record (which holds them all).
pub fn select_fields(record: Map<String, Value>, fields: &[String]) -> Value {
    Value::Object(
        record
            .into_iter()
            .filter(|(k, _)| fields.iter().any(|f| f == k))
            .collect(),
    )
}

fn parse_number(name: &str, value: &str, min: u32, max: u32) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Invalid {name} {value:?}: use a whole number from {min} to {max}"
            ))
        })
}

/// `X-Pagination-*` and `Link` headers for one page of `total` records at
/// `base_url` (the public URL and path), keeping the request's other parameters.
pub fn pagination_headers(
    query: &ListQuery,
    total: i64,
    base_url: &str,
    raw_query: Option<&str>,
) -> HeaderMap {
    let per_page = i64::from(query.per_page);
    let total_pages = ((total + per_page - 1) / per_page).max(1);
    let page = i64::from(query.page);
    let others: Vec<(String, String)> = form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let link_to = |target: i64, rel: &str| {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &others {
            serializer.append_pair(k, v);
        }
        serializer.append_pair("page", &target.to_string());
        format!("<{base_url}?{}>; rel=\"{rel}\"", serializer.finish())
    };
    let mut links = vec![link_to(1, "first")];
    if page > 1 {
        links.push(link_to((page - 1).min(total_pages), "prev"));
    }
    if page < total_pages {
        links.push(link_to(page + 1, "next"));
    }
    links.push(link_to(total_pages, "last"));

    let mut headers = HeaderMap::new();
    headers.insert("x-pagination-per-page", HeaderValue::from(per_page));
    headers.insert("x-pagination-current-page", HeaderValue::from(page));
    headers.insert("x-pagination-total-pages", HeaderValue::from(total_pages));
    headers.insert("x-pagination-total-entries", HeaderValue::from(total));
    if let Ok(link) = HeaderValue::from_str(&links.join(", ")) {
        headers.insert("link", link);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_keeps_other_parameters() {
        let query = ListQuery {
            page: 2,
            per_page: 10,
            ..ListQuery::default()
        };
        let headers = pagination_headers(
            &query,
            35,
            "http://h/v1/webhooks",
            Some("per_page=10&page=2&sort=-id"),
        );
        let link = headers["link"].to_str().unwrap();
        assert_eq!(
            link,
            "<http://h/v1/webhooks?per_page=10&sort=-id&page=1>; rel=\"first\", \
             <http://h/v1/webhooks?per_page=10&sort=-id&page=1>; rel=\"prev\", \
             <http://h/v1/webhooks?per_page=10&sort=-id&page=3>; rel=\"next\", \
             <http://h/v1/webhooks?per_page=10&sort=-id&page=4>; rel=\"last\""
        );
        assert_eq!(headers["x-pagination-total-pages"], "4");
    }
}
