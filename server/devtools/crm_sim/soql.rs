//! The SOQL subset Terrane sends (`SELECT <fields> FROM Account` with simple `AND`ed filters,
//! `ORDER BY`, `LIMIT`, `OFFSET`) and query cursors for `nextRecordsUrl` paging.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, NaiveDate};
use serde_json::Value;

use crate::store::{Account, FieldDef, FieldKind, FieldValue, account_field};

/// Why a query was refused, with Salesforce's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoqlError {
    Malformed(String),
    InvalidType(String),
    InvalidField(String),
}

impl SoqlError {
    pub fn code(&self) -> &'static str {
        match self {
            SoqlError::Malformed(_) => "MALFORMED_QUERY",
            SoqlError::InvalidType(_) => "INVALID_TYPE",
            SoqlError::InvalidField(_) => "INVALID_FIELD",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            SoqlError::Malformed(m) | SoqlError::InvalidType(m) | SoqlError::InvalidField(m) => m,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    DateTime(i64),
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub field: &'static FieldDef,
    pub op: Op,
    pub values: Vec<Literal>,
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query {
    /// Empty for `SELECT COUNT()`.
    pub fields: Vec<&'static FieldDef>,
    pub count_only: bool,
    pub conditions: Vec<Condition>,
    pub order_by: Option<(&'static FieldDef, bool)>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    /// Parts of the query the simulator did not understand and ignored.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Symbol(&'static str),
}

fn tokenize(q: &str) -> Result<Vec<Token>, SoqlError> {
    let chars: Vec<char> = q.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(SoqlError::Malformed("unterminated string literal".into())),
                    Some('\\') => {
                        if let Some(next) = chars.get(i + 1) {
                            text.push(*next);
                        }
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        text.push(*other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Text(text));
        } else if let Some(symbol) = ["<=", ">=", "!=", "<>", "=", "<", ">", ",", "(", ")"]
            .iter()
            .find(|s| chars[i..].starts_with(&s.chars().collect::<Vec<_>>()))
        {
            tokens.push(Token::Symbol(if *symbol == "<>" { "!=" } else { symbol }));
            i += symbol.len();
        } else {
            let start = i;
            // Words run over letters, digits and the punctuation of names, numbers and
            // date-times (`Terrane_Tier__c`, `-1.5`, `2026-11-24T10:00:00.000+0000`).
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.:-+".contains(chars[i])) {
                i += 1;
            }
            if start == i {
                return Err(SoqlError::Malformed(format!("unexpected character '{c}'")));
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        }
    }
    Ok(tokens)
}

fn is_keyword(token: &Token, keyword: &str) -> bool {
    matches!(token, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
}

fn field_named(name: &str) -> Result<&'static FieldDef, SoqlError> {
    account_field(name).ok_or_else(|| {
        SoqlError::InvalidField(format!("No such column '{name}' on entity 'Account'"))
    })
}

/// Parses a query, refusing objects other than Account and unknown fields.
pub fn parse(q: &str) -> Result<Query, SoqlError> {
    let tokens = tokenize(q)?;
    let mut pos = 0;
    if !tokens.first().is_some_and(|t| is_keyword(t, "select")) {
        return Err(SoqlError::Malformed("a query starts with SELECT".into()));
    }
    pos += 1;

    let from = tokens
        .iter()
        .position(|t| is_keyword(t, "from"))
        .ok_or_else(|| SoqlError::Malformed("missing FROM".into()))?;
    let select = &tokens[pos..from];
    let (fields, count_only) = parse_select(select)?;
    pos = from + 1;

    let object = match tokens.get(pos) {
        Some(Token::Word(w)) => w.clone(),
        _ => return Err(SoqlError::Malformed("missing object after FROM".into())),
    };
    if !object.eq_ignore_ascii_case("account") {
        return Err(SoqlError::InvalidType(format!(
            "sObject type '{object}' is not supported."
        )));
    }
    pos += 1;

    let mut query = Query {
        fields,
        count_only,
        conditions: Vec::new(),
        order_by: None,
        limit: None,
        offset: None,
        ignored: Vec::new(),
    };
    let clause_end = |from: usize| {
        tokens[from..]
            .iter()
            .position(|t| {
                ["order", "limit", "offset", "for", "group"]
                    .iter()
                    .any(|k| is_keyword(t, k))
            })
            .map_or(tokens.len(), |p| from + p)
    };
    while pos < tokens.len() {
        let token = &tokens[pos];
        if is_keyword(token, "where") {
            let end = clause_end(pos + 1);
            parse_where(&tokens[pos + 1..end], &mut query)?;
            pos = end;
        } else if is_keyword(token, "order")
            && tokens.get(pos + 1).is_some_and(|t| is_keyword(t, "by"))
        {
            let name = match tokens.get(pos + 2) {
                Some(Token::Word(w)) => w.clone(),
                _ => return Err(SoqlError::Malformed("ORDER BY needs a field".into())),
            };
            let field = field_named(&name)?;
            pos += 3;
            let mut descending = false;
            while let Some(Token::Word(w)) = tokens.get(pos) {
                match w.to_ascii_lowercase().as_str() {
                    "asc" => pos += 1,
                    "desc" => {
                        descending = true;
                        pos += 1;
                    }
                    "nulls" => pos += 2,
                    _ => break,
                }
            }
            query.order_by = Some((field, descending));
        } else if is_keyword(token, "limit") || is_keyword(token, "offset") {
            let n = match tokens.get(pos + 1) {
                Some(Token::Word(w)) => w
                    .parse::<usize>()
                    .map_err(|_| SoqlError::Malformed(format!("{w} is not a whole number")))?,
                _ => {
                    return Err(SoqlError::Malformed(
                        "LIMIT and OFFSET need a number".into(),
                    ));
                }
            };
            if is_keyword(token, "limit") {
                query.limit = Some(n);
            } else {
                query.offset = Some(n);
            }
            pos += 2;
        } else {
            let end = clause_end(pos + 1);
            query.ignored.push(describe(&tokens[pos..end]));
            pos = end;
        }
    }
    Ok(query)
}

fn describe(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.clone(),
            Token::Text(s) => format!("'{s}'"),
            Token::Symbol(s) => (*s).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_select(tokens: &[Token]) -> Result<(Vec<&'static FieldDef>, bool), SoqlError> {
    if let [Token::Word(w), Token::Symbol("("), Token::Symbol(")")] = tokens
        && w.eq_ignore_ascii_case("count")
    {
        return Ok((Vec::new(), true));
    }
    let mut fields: Vec<&'static FieldDef> = Vec::new();
    let mut expect_field = true;
    for token in tokens {
        match (token, expect_field) {
            (Token::Word(name), true) => {
                let field = field_named(name)?;
                if !fields.iter().any(|f| f.name == field.name) {
                    fields.push(field);
                }
                expect_field = false;
            }
            (Token::Symbol(","), false) => expect_field = true,
            _ => {
                return Err(SoqlError::Malformed(format!(
                    "unexpected '{}' in the field list",
                    describe(std::slice::from_ref(token))
                )));
            }
        }
    }
    if fields.is_empty() || expect_field {
        return Err(SoqlError::Malformed(
            "the field list is empty or ends with a comma".into(),
        ));
    }
    Ok((fields, false))
}

/// `cond AND cond …`; a clause with OR or parentheses is ignored whole, a condition the
/// simulator cannot read is ignored alone (both noted in `ignored`).
fn parse_where(tokens: &[Token], query: &mut Query) -> Result<(), SoqlError> {
    let has_or_or_nesting = tokens.iter().enumerate().any(|(i, t)| {
        is_keyword(t, "or")
            || (matches!(t, Token::Symbol("(")) && !tokens[..i].iter().any(|p| is_keyword(p, "in")))
    });
    if has_or_or_nesting {
        query.ignored.push(format!("WHERE {}", describe(tokens)));
        return Ok(());
    }
    for part in tokens.split(|t| is_keyword(t, "and")) {
        match parse_condition(part)? {
            Some(condition) => query.conditions.push(condition),
            None => query.ignored.push(describe(part)),
        }
    }
    Ok(())
}

fn parse_condition(tokens: &[Token]) -> Result<Option<Condition>, SoqlError> {
    let Some(Token::Word(name)) = tokens.first() else {
        return Ok(None);
    };
    let field = field_named(name)?;
    let (op, rest) = match &tokens[1..] {
        [Token::Symbol(s), rest @ ..] => {
            let op = match *s {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                _ => return Ok(None),
            };
            (op, rest)
        }
        [Token::Word(w), rest @ ..] if w.eq_ignore_ascii_case("in") => (Op::In, rest),
        [Token::Word(n), Token::Word(w), rest @ ..]
            if n.eq_ignore_ascii_case("not") && w.eq_ignore_ascii_case("in") =>
        {
            (Op::NotIn, rest)
        }
        _ => return Ok(None),
    };
    let value_tokens: Vec<&Token> = match op {
        Op::In | Op::NotIn => match rest {
            [Token::Symbol("("), inner @ .., Token::Symbol(")")] => inner
                .iter()
                .filter(|t| !matches!(t, Token::Symbol(",")))
                .collect(),
            _ => return Ok(None),
        },
        _ => match rest {
            [single] => vec![single],
            _ => return Ok(None),
        },
    };
    let mut values = Vec::new();
    for token in value_tokens {
        let Some(literal) = literal(token) else {
            return Ok(None);
        };
        check_type(field, &literal)?;
        values.push(literal);
    }
    Ok(Some(Condition { field, op, values }))
}

fn literal(token: &Token) -> Option<Literal> {
    match token {
        Token::Text(s) => Some(Literal::Text(s.clone())),
        Token::Symbol(_) => None,
        Token::Word(w) => {
            let lower = w.to_ascii_lowercase();
            match lower.as_str() {
                "null" => return Some(Literal::Null),
                "true" => return Some(Literal::Bool(true)),
                "false" => return Some(Literal::Bool(false)),
                _ => {}
            }
            if let Ok(n) = w.parse::<f64>() {
                return Some(Literal::Number(n));
            }
            parse_datetime(w).map(Literal::DateTime)
        }
    }
}

/// `2026-11-24T10:00:00Z`, `…00.000+0000`, `…00+01:00`, or a date `2026-11-24` (midnight UTC).
pub fn parse_datetime(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, format) {
            return Some(dt.timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_millis())
}

fn check_type(field: &FieldDef, literal: &Literal) -> Result<(), SoqlError> {
    let ok = matches!(
        (field.kind, literal),
        (_, Literal::Null)
            | (FieldKind::Id | FieldKind::Text, Literal::Text(_))
            | (FieldKind::Number, Literal::Number(_))
            | (FieldKind::DateTime, Literal::DateTime(_))
            | (FieldKind::Bool, Literal::Bool(_))
    );
    if ok {
        Ok(())
    } else {
        Err(SoqlError::InvalidField(format!(
            "value of filter criterion for field '{}' must be of type {:?} and should not be enclosed in quotes",
            field.name, field.kind
        )))
    }
}

fn compare(kind: FieldKind, value: &FieldValue, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (FieldValue::Text(a), Literal::Text(b)) if kind == FieldKind::Id => {
            // Ids are case-sensitive; a 15-character id names the same record as its
            // 18-character form.
            if b.len() == 15 {
                Some(a.get(..15).unwrap_or(a).cmp(b.as_str()))
            } else {
                Some(a.as_str().cmp(b.as_str()))
            }
        }
        (FieldValue::Text(a), Literal::Text(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (FieldValue::Number(a), Literal::Number(b)) => a.partial_cmp(b),
        (FieldValue::DateTime(a), Literal::DateTime(b)) => Some(a.cmp(b)),
        (FieldValue::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

impl Condition {
    pub fn matches(&self, account: &Account) -> bool {
        let value = account.get(self.field);
        let kind = self.field.kind;
        let equals = |literal: &Literal| match literal {
            Literal::Null => value == FieldValue::Null,
            other => compare(kind, &value, other) == Some(Ordering::Equal),
        };
        match self.op {
            Op::In => self.values.iter().any(equals),
            Op::NotIn => !self.values.iter().any(equals),
            Op::Eq => self.values.first().is_some_and(equals),
            Op::Ne => !self.values.first().is_some_and(equals),
            op => {
                let Some(ordering) = self.values.first().and_then(|l| compare(kind, &value, l))
                else {
                    return false;
                };
                match op {
                    Op::Lt => ordering == Ordering::Less,
                    Op::Le => ordering != Ordering::Greater,
                    Op::Gt => ordering == Ordering::Greater,
                    _ => ordering != Ordering::Less,
                }
            }
        }
    }
}

impl Query {
    /// Whether a record passes every filter. Deleted records never do (`query`, not
    /// `queryAll`), whatever the filter on `IsDeleted` says.
    pub fn matches(&self, account: &Account) -> bool {
        !account.deleted && self.conditions.iter().all(|c| c.matches(account))
    }

    /// The matching accounts in order, after OFFSET and LIMIT.
    pub fn run<'a>(&self, accounts: impl Iterator<Item = &'a Account>) -> Vec<&'a Account> {
        let mut rows: Vec<&Account> = accounts.filter(|a| self.matches(a)).collect();
        if let Some((field, descending)) = self.order_by {
            rows.sort_by(|a, b| {
                let ordering = order_values(&a.get(field), &b.get(field));
                if descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            });
        }
        rows.into_iter()
            .skip(self.offset.unwrap_or(0))
            .take(self.limit.unwrap_or(usize::MAX))
            .collect()
    }
}

/// Sort order of two values of one field; nulls first, as Salesforce sorts ascending.
fn order_values(a: &FieldValue, b: &FieldValue) -> Ordering {
    match (a, b) {
        (FieldValue::Null, FieldValue::Null) => Ordering::Equal,
        (FieldValue::Null, _) => Ordering::Less,
        (_, FieldValue::Null) => Ordering::Greater,
        (FieldValue::Text(x), FieldValue::Text(y)) => x.cmp(y),
        (FieldValue::Number(x), FieldValue::Number(y)) => x.total_cmp(y),
        (FieldValue::DateTime(x), FieldValue::DateTime(y)) => x.cmp(y),
        (FieldValue::Bool(x), FieldValue::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

// ---------------------------------------------------------------------------------------------
// Cursors

/// Default and bounds of `Sforce-Query-Options: batchSize=N`.
pub const DEFAULT_BATCH: usize = 2000;
pub const MIN_BATCH: usize = 200;

/// Open cursors beyond this are dropped oldest first.
const MAX_CURSORS: usize = 64;

/// The rows of one query, rendered when it ran (later pages show the records as they were).
#[derive(Debug)]
struct Cursor {
    rows: Vec<Value>,
    batch: usize,
}

/// Open query cursors by locator id (`01g…`, 18 characters).
#[derive(Debug, Default)]
pub struct Cursors {
    open: HashMap<String, Cursor>,
    order: VecDeque<String>,
}

/// One page of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<Value>,
    pub total: usize,
    /// `(locator, offset)` of the next page, if any.
    pub next: Option<(String, usize)>,
}

/// The batch size a `Sforce-Query-Options` header asks for, clamped to 200..=2000.
pub fn batch_size(header: Option<&str>) -> Option<usize> {
    let value = header?;
    value.split(',').find_map(|part| {
        let (key, n) = part.split_once('=')?;
        (key.trim().eq_ignore_ascii_case("batchSize"))
            .then(|| n.trim().parse::<usize>().ok())
            .flatten()
            .map(|n| n.clamp(MIN_BATCH, DEFAULT_BATCH))
    })
}

impl Cursors {
    /// The first page of `rows`; opens a cursor when there are more.
    pub fn first_page(&mut self, locator: String, rows: Vec<Value>, batch: usize) -> Page {
        let total = rows.len();
        if total <= batch {
            return Page {
                rows,
                total,
                next: None,
            };
        }
        let first: Vec<Value> = rows[..batch].to_vec();
        self.open.insert(locator.clone(), Cursor { rows, batch });
        self.order.push_back(locator.clone());
        while self.order.len() > MAX_CURSORS {
            if let Some(old) = self.order.pop_front() {
                self.open.remove(&old);
            }
        }
        Page {
            rows: first,
            total,
            next: Some((locator, batch)),
        }
    }

    /// The page starting at `offset`; `None` for an unknown locator or offset past the end.
    pub fn page(&self, locator: &str, offset: usize, batch: Option<usize>) -> Option<Page> {
        let cursor = self.open.get(locator)?;
        let total = cursor.rows.len();
        if offset >= total {
            return None;
        }
        let end = offset
            .saturating_add(batch.unwrap_or(cursor.batch))
            .min(total);
        Some(Page {
            rows: cursor.rows[offset..end].to_vec(),
            total,
            next: (end < total).then(|| (locator.to_owned(), end)),
        })
    }

    pub fn clear(&mut self) {
        self.open.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::tests::store_with;

    #[test]
    fn select_lists_filters_and_order_parse() {
        let q = parse(
            "select Id, Name,Terrane_Tier__c FROM Account WHERE IsDeleted = false AND \
             LastModifiedDate > 2026-11-24T10:00:00.000+0000 AND Terrane_Priority__c IN (1, 2) \
             ORDER BY Id DESC LIMIT 50",
        )
        .expect("valid");
        assert_eq!(
            q.fields.iter().map(|f| f.name).collect::<Vec<_>>(),
            ["Id", "Name", "Terrane_Tier__c"]
        );
        assert_eq!(q.conditions.len(), 3);
        assert_eq!(
            q.conditions[1].values,
            [Literal::DateTime(1_795_514_400_000)]
        );
        assert_eq!(q.order_by.map(|(f, d)| (f.name, d)), Some(("Id", true)));
        assert_eq!(q.limit, Some(50));
        assert!(q.ignored.is_empty());
    }

    #[test]
    fn other_objects_unknown_fields_and_wrong_literals_are_refused() {
        assert_eq!(
            parse("SELECT Id FROM Contact")
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("INVALID_TYPE")
        );
        assert_eq!(
            parse("SELECT Id, Foo__c FROM Account")
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("INVALID_FIELD")
        );
        assert_eq!(
            parse("SELECT Id FROM Account WHERE Terrane_Priority__c = '1'")
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("INVALID_FIELD")
        );
        assert_eq!(
            parse("UPDATE Account").map(|_| ()).map_err(|e| e.code()),
            Err("MALFORMED_QUERY")
        );
        assert!(
            parse("SELECT COUNT() FROM Account")
                .expect("count")
                .count_only
        );
    }

    #[test]
    fn unsupported_filters_are_ignored_not_refused() {
        let q = parse("SELECT Id FROM Account WHERE Name LIKE 'A%' AND IsDeleted = false")
            .expect("lenient");
        assert_eq!(q.conditions.len(), 1);
        assert_eq!(q.ignored, ["Name LIKE 'A%'"]);
        let q = parse("SELECT Id FROM Account WHERE (Name = 'x' OR Name = 'y')").expect("lenient");
        assert!(q.conditions.is_empty());
        assert_eq!(q.ignored.len(), 1);
    }

    #[test]
    fn filters_select_matching_live_accounts() {
        let mut store = store_with(10);
        let first = store.accounts.keys().next().cloned().expect("an account");
        assert!(store.salesforce_delete(&first, 0));
        let all = parse("SELECT Id FROM Account WHERE IsDeleted = false").expect("valid");
        assert_eq!(all.run(store.accounts.values()).len(), 9);

        let second = store.accounts.keys().nth(1).cloned().expect("an account");
        let by_id = parse(&format!(
            "SELECT Id FROM Account WHERE Id = '{}'",
            &second[..15]
        ))
        .expect("valid");
        let rows = by_id.run(store.accounts.values());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, second);

        let newest = store.accounts[&second].modified_ms;
        let touched = store.tick(newest + 10);
        store
            .accounts
            .get_mut(&second)
            .expect("account")
            .modified_ms = touched;
        let since = parse(&format!(
            "SELECT Id FROM Account WHERE LastModifiedDate > {}",
            crate::clock::salesforce_time(newest)
        ))
        .expect("valid");
        assert_eq!(since.run(store.accounts.values()).len(), 1);
    }

    #[test]
    fn cursors_page_through_every_row_once() {
        let rows: Vec<Value> = (0..4500).map(|n| json!({ "n": n })).collect();
        let mut cursors = Cursors::default();
        let first = cursors.first_page("01gSm0000000000001".into(), rows, DEFAULT_BATCH);
        assert_eq!(first.rows.len(), 2000);
        assert_eq!(first.total, 4500);
        let mut seen: Vec<i64> = first.rows.iter().filter_map(|r| r["n"].as_i64()).collect();
        let mut next = first.next;
        let mut pages = 1;
        while let Some((locator, offset)) = next {
            let page = cursors.page(&locator, offset, None).expect("open cursor");
            seen.extend(page.rows.iter().filter_map(|r| r["n"].as_i64()));
            next = page.next;
            pages += 1;
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, (0..4500).collect::<Vec<_>>());
        assert!(cursors.page("01gUnknown", 0, None).is_none());
    }

    #[test]
    fn batch_size_header_is_clamped() {
        assert_eq!(batch_size(Some("batchSize=500")), Some(500));
        assert_eq!(batch_size(Some("batchSize=50")), Some(200));
        assert_eq!(batch_size(Some("batchSize=9000")), Some(2000));
        assert_eq!(batch_size(Some("other=1")), None);
        assert_eq!(batch_size(None), None);
    }
}
