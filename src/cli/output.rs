//! Output for people (aligned tables, short sentences) or for scripts (`--json`).

use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub enum Format {
    Table,
    Json,
}

impl Format {
    /// Reports a completed action: `json` for scripts, `text()` for people.
    pub fn done(self, json: &serde_json::Value, text: impl FnOnce() -> String) {
        match self {
            Format::Json => println!("{json}"),
            Format::Table => println!("{}", text()),
        }
    }
}

/// Prints `rows` as a JSON array, or as a table of the given columns.
pub fn print_rows<T: Serialize>(format: Format, rows: &[T], columns: &[&str]) {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    if let Format::Json = format {
        println!("{}", serde_json::Value::Array(values));
        return;
    }
    let cell = |row: &serde_json::Value, column: &str| match &row[column] {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| {
            values
                .iter()
                .map(|row| cell(row, c).chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|c| c.to_uppercase()).collect());
    for row in &values {
        line(columns.iter().map(|c| cell(row, c)).collect());
    }
    if values.is_empty() {
        println!("(none)");
    }
}
