//! Collection queries (§2): filters, sorting and paging, as the store runs them.

use super::time::parse_date_or_datetime;

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Id,
    Text,
    /// One of a known set of words (event names...): comma lists allowed.
    Enum,
    Bool,
    Date,
}

/// A field a collection can be filtered or sorted on, and the column behind it.
#[derive(Clone, Copy, Debug)]
pub struct ListField {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: FieldKind,
    pub case_insensitive: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Text(String),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    /// Null, or an empty string.
    Empty,
    Present,
    Cmp(CmpOp, Value),
}

#[derive(Clone, Debug)]
pub struct Filter {
    pub field: ListField,
    pub conditions: Vec<Condition>,
}

impl Filter {
    /// How many values its conditions compare with (each member of a list
    /// counts).
    pub fn value_count(&self) -> usize {
        self.conditions
            .iter()
            .map(|c| match c {
                Condition::In(values) => values.len(),
                _ => 1,
            })
            .sum()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub column: &'static str,
    pub descending: bool,
}

#[derive(Clone, Debug)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    pub sort: Vec<SortKey>,
    pub page: u32,
    pub per_page: u32,
}

impl ListQuery {
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filters: Vec::new(),
            sort: Vec::new(),
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

/// One page of a collection and the number of records matching in all.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// §2 booleans: JSON true/false, or the strings 1,T,Y,TRUE,YES,ON (any case).
pub fn parse_bool_text(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_uppercase().as_str(),
        "1" | "T" | "Y" | "TRUE" | "YES" | "ON"
    )
}

/// Parses one filter parameter's value (`=v`, `=!v`, `=`, `=!`, `a,b`, `>a<b`...).
pub fn parse_filter(field: ListField, raw: &str) -> Result<Filter, String> {
    let conditions = if raw.is_empty() {
        vec![Condition::Empty]
    } else if raw == "!" {
        vec![Condition::Present]
    } else if let Some(rest) = raw.strip_prefix('!') {
        vec![Condition::Ne(parse_value(field, rest)?)]
    } else if raw.starts_with(['<', '>']) && matches!(field.kind, FieldKind::Id | FieldKind::Date) {
        parse_comparisons(field, raw)?
    } else if raw.contains(',') && matches!(field.kind, FieldKind::Id | FieldKind::Enum) {
        let values = raw
            .split(',')
            .map(|part| parse_value(field, part.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        vec![Condition::In(values)]
    } else if field.kind == FieldKind::Date && !raw.contains('T') {
        // A plain date matches the whole day.
        let start = date_value(field, raw)?;
        let Value::Int(start_secs) = start else {
            unreachable!("dates are integers")
        };
        vec![
            Condition::Cmp(CmpOp::Ge, start),
            Condition::Cmp(CmpOp::Lt, Value::Int(start_secs + 86_400)),
        ]
    } else {
        vec![Condition::Eq(parse_value(field, raw)?)]
    };
    Ok(Filter { field, conditions })
}

fn parse_comparisons(field: ListField, raw: &str) -> Result<Vec<Condition>, String> {
    let mut conditions = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let (op, after) = if let Some(r) = rest.strip_prefix(">=") {
            (CmpOp::Ge, r)
        } else if let Some(r) = rest.strip_prefix("<=") {
            (CmpOp::Le, r)
        } else if let Some(r) = rest.strip_prefix('>') {
            (CmpOp::Gt, r)
        } else if let Some(r) = rest.strip_prefix('<') {
            (CmpOp::Lt, r)
        } else {
            return Err(format!("invalid value for filter {}: {raw:?}", field.name));
        };
        let end = after.find(['<', '>']).unwrap_or(after.len());
        conditions.push(Condition::Cmp(op, parse_value(field, &after[..end])?));
        rest = &after[end..];
    }
    Ok(conditions)
}

fn parse_value(field: ListField, text: &str) -> Result<Value, String> {
    match field.kind {
        FieldKind::Id => text.parse::<i64>().map(Value::Int).map_err(|_| {
            format!(
                "invalid value for filter {}: {text:?} is not an id",
                field.name
            )
        }),
        FieldKind::Date => date_value(field, text),
        FieldKind::Bool => Ok(Value::Bool(parse_bool_text(text))),
        FieldKind::Text | FieldKind::Enum => Ok(Value::Text(text.to_string())),
    }
}

fn date_value(field: ListField, text: &str) -> Result<Value, String> {
    parse_date_or_datetime(text).map(Value::Int).ok_or_else(|| {
        format!(
            "invalid value for filter {}: {text:?} is not a date (2016-03-17) or date-time (2016-03-17T16:36:11-06:00)",
            field.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: ListField = ListField {
        name: "id",
        column: "id",
        kind: FieldKind::Id,
        case_insensitive: false,
    };
    const NAME: ListField = ListField {
        name: "name",
        column: "name",
        kind: FieldKind::Text,
        case_insensitive: false,
    };
    const CREATED: ListField = ListField {
        name: "created_at",
        column: "created_at",
        kind: FieldKind::Date,
        case_insensitive: false,
    };

    fn conditions(field: ListField, raw: &str) -> Vec<Condition> {
        parse_filter(field, raw).unwrap().conditions
    }

    #[test]
    fn operators() {
        assert_eq!(conditions(NAME, ""), vec![Condition::Empty]);
        assert_eq!(conditions(NAME, "!"), vec![Condition::Present]);
        assert_eq!(
            conditions(NAME, "!x"),
            vec![Condition::Ne(Value::Text("x".into()))]
        );
        assert_eq!(
            conditions(NAME, "a,b"),
            vec![Condition::Eq(Value::Text("a,b".into()))]
        );
        assert_eq!(
            conditions(ID, "1,2"),
            vec![Condition::In(vec![Value::Int(1), Value::Int(2)])]
        );
        assert_eq!(
            conditions(ID, ">=3<9"),
            vec![
                Condition::Cmp(CmpOp::Ge, Value::Int(3)),
                Condition::Cmp(CmpOp::Lt, Value::Int(9))
            ]
        );
    }

    #[test]
    fn dates_and_ranges() {
        assert_eq!(
            conditions(CREATED, "2016-03-17"),
            vec![
                Condition::Cmp(CmpOp::Ge, Value::Int(1458172800)),
                Condition::Cmp(CmpOp::Lt, Value::Int(1458259200))
            ]
        );
        assert_eq!(
            conditions(CREATED, ">2016-03-17T16:36:11-06:00"),
            vec![Condition::Cmp(CmpOp::Gt, Value::Int(1458254171))]
        );
        assert!(parse_filter(CREATED, ">soon").is_err());
        assert!(parse_filter(ID, "x").is_err());
    }

    #[test]
    fn booleans() {
        for t in ["1", "t", "Y", "true", "YES", "on"] {
            assert!(parse_bool_text(t), "{t}");
        }
        for f in ["0", "no", "false", "", "maybe"] {
            assert!(!parse_bool_text(f), "{f}");
        }
    }
}
