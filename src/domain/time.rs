//! Timestamps: stored as epoch seconds, shown as RFC 3339 in UTC (§2).

use chrono::{DateTime, NaiveDate, Utc};

pub fn now_epoch() -> i64 {
    Utc::now().timestamp()
}

/// Queue times are epoch milliseconds.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2016-03-17T22:36:11+00:00`: whole seconds, explicit offset.
pub fn format_epoch(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

/// A filter bound: a date (`2016-03-17`, midnight UTC) or an RFC 3339 date-time.
pub fn parse_date_or_datetime(text: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_offset_and_no_fraction() {
        assert_eq!(format_epoch(1458254171), "2016-03-17T22:36:11+00:00");
    }

    #[test]
    fn parses_dates_and_datetimes_with_offsets() {
        assert_eq!(parse_date_or_datetime("2016-03-17"), Some(1458172800));
        assert_eq!(
            parse_date_or_datetime("2016-03-17T16:36:11-06:00"),
            Some(1458254171)
        );
        assert_eq!(parse_date_or_datetime("yesterday"), None);
    }
}
