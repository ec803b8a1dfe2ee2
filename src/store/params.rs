//! Lists bound as one parameter, so a statement has one text (and stays
//! prepared) whatever their length: ids ([`IdList`]) and rows as JSON
//! ([`json_row_chunks`]).

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgTypeInfo;
use sqlx::sqlite::SqliteTypeInfo;
use sqlx::{Database, Encode, Postgres, Sqlite, Type};

use super::{StoreError, StoreResult};

/// Ids bound as one parameter: one statement text whatever their number,
/// so it stays prepared. SQLite reads a JSON array
/// (`IN (SELECT value FROM json_each($n))`), PostgreSQL a `bigint[]`
/// (`= ANY($n)`).
pub(crate) struct IdList<'a>(pub &'a [i64]);

impl<'q> Encode<'q, Sqlite> for IdList<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        let json = serde_json::to_string(self.0).unwrap_or_else(|_| "[]".into());
        <String as Encode<'q, Sqlite>>::encode(json, buf)
    }
}

impl Type<Sqlite> for IdList<'_> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for IdList<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <&[i64] as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl Type<Postgres> for IdList<'_> {
    fn type_info() -> PgTypeInfo {
        <Vec<i64> as Type<Postgres>>::type_info()
    }
}

/// Most bytes of JSON rows one statement takes: well under PostgreSQL's
/// 255 MB limit on one `jsonb` value, however large the messages.
pub(super) const MAX_ROWS_JSON: usize = 16 << 20;

/// `rows` as chunks of JSON, each bound as one parameter: arrays of arrays,
/// each with the range of `rows` it holds. One statement text, and one
/// round trip for any number of rows up to `max_bytes` of JSON (multi-row
/// `VALUES` need a text per length and hit parameter limits); a row larger
/// than that goes alone.
/// Booleans go as 0 or 1, and JSON documents as strings, so they are stored
/// as written.
///
/// A statement reads the chunk bound as `$n` as a row source `j`, whose
/// `j.key` is a row's position and `j.value->>i` its `i`th value: on SQLite
/// `json_each($n) AS j`, on PostgreSQL
/// `jsonb_array_elements($n::jsonb) WITH ORDINALITY AS j(value, key)`
/// (parsed once, as `jsonb`).
pub(super) fn json_row_chunks<T: serde::Serialize>(
    rows: &[T],
    max_bytes: usize,
) -> StoreResult<Vec<(std::ops::Range<usize>, String)>> {
    let mut chunks = Vec::new();
    let mut text = String::from("[");
    let mut start = 0;
    for (i, row) in rows.iter().enumerate() {
        let row = serde_json::to_string(row)
            .map_err(|e| StoreError::Database(sqlx::Error::Encode(e.into())))?;
        if i > start && text.len() + row.len() + 2 > max_bytes {
            text.push(']');
            chunks.push((start..i, std::mem::replace(&mut text, String::from("["))));
            start = i;
        }
        if i > start {
            text.push(',');
        }
        text.push_str(&row);
    }
    if start < rows.len() {
        text.push(']');
        chunks.push((start..rows.len(), text));
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::json_row_chunks;

    #[test]
    fn json_rows_are_cut_by_size_in_order_and_a_large_row_goes_alone() {
        let rows: Vec<(i64, String)> = (0..10)
            .map(|i| (i, if i == 4 { "x".repeat(100) } else { "ab".into() }))
            .collect();
        let chunks = json_row_chunks(&rows, 40).unwrap();
        let mut seen = Vec::new();
        let mut next = 0;
        for (range, json) in &chunks {
            assert_eq!(range.start, next, "chunks follow each other");
            next = range.end;
            assert!(json.len() <= 40 || range.len() == 1, "{json}");
            let parsed: Vec<(i64, String)> = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, rows[range.clone()]);
            seen.extend(parsed);
        }
        assert_eq!(seen, rows);
        assert!(
            chunks.iter().any(|(r, _)| *r == (4..5)),
            "the large row alone"
        );
        assert!(chunks.len() > 2);
        let all = json_row_chunks(&rows, usize::MAX).unwrap();
        assert_eq!(all.len(), 1);
        assert!(
            json_row_chunks::<(i64, String)>(&[], 40)
                .unwrap()
                .is_empty()
        );
    }
}
