//! Queries: the decisions of a developer, a dataset or a scenario over a span of time.

use std::path::Path;

use rusqlite::types::Value;

use super::store::{open_read, Record};
use super::LogError;

/// Which records to return; every condition given must hold.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// The developer.
    pub developer: Option<String>,
    /// The dataset.
    pub dataset: Option<String>,
    /// The scenario.
    pub scenario: Option<String>,
    /// The action.
    pub action: Option<String>,
    /// `allow` or `deny`.
    pub decision: Option<String>,
    /// One decision, by id.
    pub id: Option<String>,
    /// From this instant on (milliseconds since the epoch, inclusive).
    pub since: Option<i64>,
    /// Before this instant (exclusive).
    pub until: Option<i64>,
    /// At most this many records, the oldest first.
    pub limit: Option<u64>,
    /// Include checkpoint records too.
    pub checkpoints: bool,
}

/// Calls `each` with every record that matches, oldest first, until it returns false.
/// Returns how many records were passed to `each`.
pub fn query(
    path: &Path,
    filter: &Filter,
    mut each: impl FnMut(Record) -> bool,
) -> Result<u64, LogError> {
    let conn = open_read(path)?;
    let mut sql = format!("SELECT {} FROM records WHERE 1 = 1", Record::COLUMNS);
    let mut params: Vec<Value> = Vec::new();
    let mut eq = |sql: &mut String, column: &str, v: &Option<String>| {
        if let Some(v) = v {
            params.push(Value::Text(v.clone()));
            sql.push_str(&format!(" AND {column} = ?{}", params.len()));
        }
    };
    eq(&mut sql, "developer", &filter.developer);
    eq(&mut sql, "dataset", &filter.dataset);
    eq(&mut sql, "scenario", &filter.scenario);
    eq(&mut sql, "action", &filter.action);
    eq(&mut sql, "decision", &filter.decision);
    eq(&mut sql, "id", &filter.id);
    if let Some(t) = filter.since {
        params.push(Value::Integer(t));
        sql.push_str(&format!(" AND ts >= ?{}", params.len()));
    }
    if let Some(t) = filter.until {
        params.push(Value::Integer(t));
        sql.push_str(&format!(" AND ts < ?{}", params.len()));
    }
    if !filter.checkpoints {
        sql.push_str(" AND kind = 'decision'");
    }
    sql.push_str(" ORDER BY seq");
    if let Some(n) = filter.limit {
        params.push(Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT ?{}", params.len()));
    }
    let mut stmt = conn.prepare(&sql).map_err(LogError::read)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(LogError::read)?;
    let mut n = 0;
    while let Some(row) = rows.next().map_err(LogError::read)? {
        n += 1;
        if !each(Record::from_row(row).map_err(LogError::read)?) {
            break;
        }
    }
    Ok(n)
}
