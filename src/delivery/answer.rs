//! What of a receiver's answer is kept with an attempt: text any database
//! stores, within caps that hold after the conversion (an invalid byte
//! becomes a three-byte U+FFFD), since a receiver decides what it answers
//! and every attempt is kept for the retention period.

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use super::sender::MAX_RESPONSE_BODY;

/// Most bytes of header names and values kept...
pub const MAX_RESPONSE_HEADER_BYTES: usize = 16 * 1024;
/// ...and most headers.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// Bytes as text any database stores: invalid UTF-8 and NUL (which
/// PostgreSQL refuses in text) become U+FFFD.
fn storable_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// The body as stored text of at most [`MAX_RESPONSE_BODY`] bytes (cut at
/// a character), and whether it was cut here.
pub fn stored_body(bytes: &[u8]) -> (String, bool) {
    let mut text = storable_text(bytes);
    if text.len() <= MAX_RESPONSE_BODY {
        return (text, false);
    }
    let mut end = MAX_RESPONSE_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

/// The first headers within the caps, as a JSON object (a repeated name
/// becomes an array, in order), and whether any were left out.
pub fn stored_headers(headers: &HeaderMap) -> (Value, bool) {
    let mut map = Map::new();
    let (mut kept, mut bytes) = (0, 0);
    for (name, value) in headers {
        let value = storable_text(value.as_bytes());
        bytes += name.as_str().len() + value.len();
        if kept == MAX_RESPONSE_HEADERS || bytes > MAX_RESPONSE_HEADER_BYTES {
            return (Value::Object(map), true);
        }
        kept += 1;
        match map.get_mut(name.as_str()) {
            None => {
                map.insert(name.as_str().to_string(), Value::String(value));
            }
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(first) => *first = Value::Array(vec![first.take(), Value::String(value)]),
        }
    }
    (Value::Object(map), false)
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};
    use serde_json::json;

    use super::*;

    #[test]
    fn few_headers_are_kept_whole_and_repeats_become_lists() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append("x-a", HeaderValue::from_static("3"));
        headers.append("x-b", HeaderValue::from_static("4"));
        let (kept, truncated) = stored_headers(&headers);
        assert_eq!(kept, json!({ "x-a": ["1", "2", "3"], "x-b": "4" }));
        assert!(!truncated);
    }

    #[test]
    fn headers_past_the_caps_are_left_out_and_said_to_be() {
        let mut large = HeaderMap::new();
        for i in 0..95 {
            let name = HeaderName::try_from(format!("x-h{i}")).unwrap();
            large.append(name, HeaderValue::from_str(&"v".repeat(4000)).unwrap());
        }
        let (kept, truncated) = stored_headers(&large);
        assert!(truncated);
        assert_eq!(
            kept.as_object().unwrap().len(),
            4,
            "4 headers of 4 KB fit in 16 KiB"
        );

        let mut many = HeaderMap::new();
        for i in 0..(MAX_RESPONSE_HEADERS + 5) {
            many.append("x-many", HeaderValue::from_str(&i.to_string()).unwrap());
        }
        let (kept, truncated) = stored_headers(&many);
        assert!(truncated);
        assert_eq!(
            kept["x-many"].as_array().unwrap().len(),
            MAX_RESPONSE_HEADERS
        );
    }

    #[test]
    fn invalid_bytes_count_as_what_they_are_stored_as() {
        let mut headers = HeaderMap::new();
        let invalid = HeaderValue::from_bytes(&[0xff; 6000]).unwrap();
        headers.append("x-a", invalid.clone());
        headers.append("x-b", invalid);
        let (kept, truncated) = stored_headers(&headers);
        assert!(truncated, "18,000 bytes of U+FFFD are over 16 KiB");
        assert_eq!(kept.as_object().unwrap().len(), 0);

        let (body, cut) = stored_body(&[0xff; 16 * 1024]);
        assert!(cut);
        assert!(body.len() <= MAX_RESPONSE_BODY && body.chars().all(|c| c == '\u{FFFD}'));
        assert_eq!(stored_body(b"ok\0"), ("ok\u{FFFD}".to_string(), false));
    }
}
