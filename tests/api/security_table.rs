//! Keeps SECURITY.md's ASVS table true (#22 item 7): every test a row cites exists, every
//! `Met` row cites a test or a document section, and the counts at the top of the table
//! are the counts of its rows. No server: this reads files only.
//!
//! A row is `| ID | L | requirement | status | how | test |`; the test cell lists
//! `path::name` (a file of this repository and a function in it; `src/x.rs::tests::name`
//! names the function `name`) or `doc: FILE#anchor` (a heading of that file), separated by
//! `<br>` or `;`, or `—` for none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LEVELS: [&str; 2] = ["L1", "L2"];
const STATUSES: [&str; 3] = ["Met", "Not met", "N/A"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cells of a Markdown table line (`None` for any other line).
fn cells(line: &str) -> Option<Vec<String>> {
    let line = line.trim();
    let inner = line.strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(|c| c.trim().to_owned()).collect())
}

fn is_requirement_id(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// The three statuses a row may have.
fn status_of(cell: &str) -> Option<&'static str> {
    match cell {
        "Met" => Some("Met"),
        "Not met" => Some("Not met"),
        "N/A" => Some("N/A"),
        _ => None,
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

struct Row {
    id: String,
    level: String,
    status: &'static str,
    references: Vec<String>,
}

fn asvs_rows(security: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for line in security.lines() {
        let Some(cells) = cells(line) else { continue };
        if !cells.first().is_some_and(|id| is_requirement_id(id)) {
            continue;
        }
        assert_eq!(
            cells.len(),
            6,
            "an ASVS row has 6 cells (no `|` inside a cell): {line}"
        );
        let status = status_of(&cells[3]).unwrap_or_else(|| {
            panic!(
                "{}: status {:?} is not one of {STATUSES:?}",
                cells[0], cells[3]
            )
        });
        assert!(
            LEVELS.contains(&cells[1].as_str()),
            "{}: level {:?}",
            cells[0],
            cells[1]
        );
        assert!(!cells[2].is_empty(), "{}: no requirement text", cells[0]);
        assert!(!cells[4].is_empty(), "{}: no explanation", cells[0]);
        let references = cells[5]
            .split("<br>")
            .flat_map(|part| part.split(';'))
            .map(|r| r.trim().trim_matches('`').trim().to_owned())
            .filter(|r| !r.is_empty() && r != "—" && r != "-")
            .collect();
        rows.push(Row {
            id: cells[0].clone(),
            level: cells[1].clone(),
            status,
            references,
        });
    }
    rows
}

/// Checks one reference; the problem, if any.
fn check_reference(reference: &str, files: &mut BTreeMap<PathBuf, String>) -> Option<String> {
    if let Some(doc) = reference.strip_prefix("doc:") {
        let (file, section) = doc.trim().split_once('#').unwrap_or((doc.trim(), ""));
        let path = root().join(file);
        if !path.is_file() {
            return Some(format!("{reference}: no file {file}"));
        }
        let text = files.entry(path.clone()).or_insert_with(|| read(&path));
        if !section.is_empty() && !anchors(text).contains(section) {
            return Some(format!("{reference}: {file} has no heading #{section}"));
        }
        return None;
    }
    let Some((file, rest)) = reference.split_once("::") else {
        return Some(format!(
            "{reference}: neither `path::name` nor `doc: FILE#section`"
        ));
    };
    let name = rest.rsplit("::").next().unwrap_or(rest);
    let path = root().join(file);
    if !file.ends_with(".rs") || !path.is_file() {
        return Some(format!("{reference}: no file {file}"));
    }
    let text = files.entry(path.clone()).or_insert_with(|| read(&path));
    if !text.contains(&format!("fn {name}(")) {
        return Some(format!("{reference}: {file} has no `fn {name}`"));
    }
    None
}

/// `| L1 | met | not met | N/A | total |` lines of the counts table.
fn stated_counts(security: &str) -> BTreeMap<String, [usize; 4]> {
    let mut counts = BTreeMap::new();
    for line in security.lines() {
        let Some(cells) = cells(line) else { continue };
        let Some(level) = cells
            .first()
            .filter(|c| LEVELS.contains(&c.as_str()) || c.as_str() == "L1+L2")
        else {
            continue;
        };
        assert_eq!(cells.len(), 5, "counts row: {line}");
        let numbers: Vec<usize> = cells[1..]
            .iter()
            .map(|c| {
                c.trim_matches('*')
                    .parse()
                    .unwrap_or_else(|e| panic!("counts row {line}: {c:?}: {e}"))
            })
            .collect();
        counts.insert(
            level.clone(),
            [numbers[0], numbers[1], numbers[2], numbers[3]],
        );
    }
    counts
}

#[test]
fn every_test_the_asvs_table_cites_exists_and_the_counts_add_up() {
    let security = read(&root().join("SECURITY.md"));
    let rows = asvs_rows(&security);
    assert!(!rows.is_empty(), "SECURITY.md has no ASVS table");

    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut files = BTreeMap::new();
    let mut counted: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for row in &rows {
        if !seen.insert(row.id.clone()) {
            problems.push(format!("{}: listed twice", row.id));
        }
        if row.status == "Met" && row.references.is_empty() {
            problems.push(format!(
                "{}: Met without a test or document section",
                row.id
            ));
        }
        for reference in &row.references {
            if let Some(problem) = check_reference(reference, &mut files) {
                problems.push(format!("{}: {problem}", row.id));
            }
        }
        let column = STATUSES
            .iter()
            .position(|s| *s == row.status)
            .unwrap_or_default();
        for level in [row.level.as_str(), "L1+L2"] {
            let entry = counted.entry(level.to_owned()).or_default();
            entry[column] += 1;
            entry[3] += 1;
        }
    }

    let stated = stated_counts(&security);
    for level in ["L1", "L2", "L1+L2"] {
        let actual = counted.get(level).copied().unwrap_or_default();
        match stated.get(level) {
            Some(stated) if *stated == actual => {}
            Some(stated) => problems.push(format!(
                "counts for {level}: stated {stated:?} (met, not met, N/A, total), rows say {actual:?}"
            )),
            None => problems.push(format!("no counts row for {level}")),
        }
    }
    assert!(
        problems.is_empty(),
        "SECURITY.md's ASVS table is out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_table_checker_reads_cells_references_and_anchors() {
    assert_eq!(
        anchor("5. ASVS 5.0 Level 1 and 2"),
        "5-asvs-50-level-1-and-2"
    );
    assert_eq!(anchor("Logging inventory"), "logging-inventory");
    assert!(is_requirement_id("16.3.2") && !is_requirement_id("L1") && !is_requirement_id("1.2"));
    let rows = asvs_rows(
        "| 9.1.1 | L1 | signed | Met | pinned | `tests/api/tokens.rs::a`<br>`src/x.rs::tests::b`; doc: README.md#x |",
    );
    assert_eq!(
        rows[0].references,
        [
            "tests/api/tokens.rs::a",
            "src/x.rs::tests::b",
            "doc: README.md#x"
        ]
    );
    let mut files = BTreeMap::new();
    assert!(check_reference("tests/api/security_table.rs::tests::root", &mut files).is_none());
    assert!(check_reference("tests/api/security_table.rs::no_such_fn", &mut files).is_some());
    assert!(check_reference("tests/api/missing.rs::root", &mut files).is_some());
    assert!(check_reference("doc: README.md#configuration", &mut files).is_none());
    assert!(check_reference("doc: README.md#no-such-section", &mut files).is_some());
}
