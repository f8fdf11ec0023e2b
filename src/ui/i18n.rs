//! Languages of the pages: one TOML catalogue per language (`data/ui/en.toml`,
//! `data/ui/zh.toml`, and any `lang/*.toml` in `ui.templates_dir`), chosen by a `lang`
//! query or cookie, else by `Accept-Language`, else English.
//!
//! A catalogue is a tree of tables of strings; templates read it as `t.section.key`. Keys
//! missing from a catalogue fall back to English, so a partial translation still works.

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::{HeaderMap, header};

/// The language of the built-in default.
pub const DEFAULT_LANG: &str = "en";

/// The embedded catalogues: English and Simplified Chinese.
const EMBEDDED: [(&str, &str); 2] = [
    ("en", include_str!("../../data/ui/en.toml")),
    ("zh", include_str!("../../data/ui/zh.toml")),
];

/// Every language the pages speak, by code (the catalogue's file name).
#[derive(Debug, Clone)]
pub struct Catalogues {
    by_code: BTreeMap<String, serde_json::Value>,
}

impl Catalogues {
    /// The embedded catalogues, then those of `dir/lang/*.toml` (which add languages or
    /// replace keys), each completed from English.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut by_code = BTreeMap::new();
        for (code, text) in EMBEDDED {
            by_code.insert(code.to_owned(), parse(code, text)?);
        }
        if let Some(dir) = dir.map(|d| d.join("lang")).filter(|d| d.is_dir()) {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                let code = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                if path.extension().and_then(|e| e.to_str()) != Some("toml") || !is_code(code) {
                    continue;
                }
                let text = std::fs::read_to_string(&path)?;
                let mut extra =
                    parse(code, &text).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
                if let Some(base) = by_code.remove(code) {
                    let mut base = base;
                    merge(&mut base, &extra);
                    extra = base;
                }
                by_code.insert(code.to_owned(), extra);
            }
        }
        let english = by_code
            .get(DEFAULT_LANG)
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        for catalogue in by_code.values_mut() {
            let mut complete = english.clone();
            merge(&mut complete, catalogue);
            *catalogue = complete;
        }
        Ok(Self { by_code })
    }

    /// The catalogue of `code` (English when unknown).
    pub fn get(&self, code: &str) -> &serde_json::Value {
        self.by_code
            .get(code)
            .or_else(|| self.by_code.get(DEFAULT_LANG))
            .unwrap_or(&serde_json::Value::Null)
    }

    /// Language codes and their own names (`meta.name`), for the switch on every page.
    pub fn languages(&self) -> Vec<(String, String)> {
        self.by_code
            .iter()
            .map(|(code, t)| {
                let name = t["meta"]["name"].as_str().unwrap_or(code).to_owned();
                (code.clone(), name)
            })
            .collect()
    }

    /// The language of a request: `?lang=` (as the switch links send it), the `lang`
    /// cookie, then `Accept-Language` in order of preference, then English.
    pub fn choose(&self, query: Option<&str>, cookie: Option<&str>, headers: &HeaderMap) -> String {
        for asked in [query, cookie].into_iter().flatten() {
            if self.by_code.contains_key(asked) {
                return asked.to_owned();
            }
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for tag in preferred_tags(accept) {
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            if self.by_code.contains_key(&primary) {
                return primary;
            }
        }
        DEFAULT_LANG.to_owned()
    }

    /// Whether `code` is a language of these catalogues.
    pub fn has(&self, code: &str) -> bool {
        self.by_code.contains_key(code)
    }
}

/// A language code as a file name may give it: 2 to 8 ASCII letters (`en`, `zh`, `pt`).
fn is_code(code: &str) -> bool {
    (2..=8).contains(&code.len()) && code.chars().all(|c| c.is_ascii_lowercase())
}

fn parse(code: &str, text: &str) -> anyhow::Result<serde_json::Value> {
    let value: toml::Value =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("ui catalogue {code}.toml: {e}"))?;
    Ok(serde_json::to_value(value)?)
}

/// Copies every key of `over` into `base` (tables merged key by key).
fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// The tags of an `Accept-Language` value, most preferred first (`q=0` dropped).
fn preferred_tags(accept: &str) -> Vec<String> {
    let mut tags: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            if tag.is_empty() || tag == "*" {
                return None;
            }
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then(|| (q, i, tag.to_owned()))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, tag)| tag).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn catalogues() -> Catalogues {
        Catalogues::load(None).unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    fn accept_language_picks_the_most_preferred_known_language() {
        let c = catalogues();
        let mut headers = HeaderMap::new();
        for (accept, expected) in [
            ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
            ("fr-FR, en;q=0.5, zh;q=0.7", "zh"),
            ("de, fr", "en"),
            ("zh;q=0, en", "en"),
            ("", "en"),
        ] {
            headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(accept));
            assert_eq!(c.choose(None, None, &headers), expected, "{accept}");
        }
        assert_eq!(c.choose(Some("en"), Some("zh"), &headers), "en");
        assert_eq!(c.choose(Some("xx"), Some("zh"), &headers), "zh");
    }

    #[test]
    fn every_english_key_has_a_chinese_translation() {
        let en: toml::Value = toml::from_str(EMBEDDED[0].1).unwrap_or_else(|e| panic!("{e}"));
        let zh: toml::Value = toml::from_str(EMBEDDED[1].1).unwrap_or_else(|e| panic!("{e}"));
        fn keys(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
            if let toml::Value::Table(t) = v {
                for (k, v) in t {
                    keys(v, &format!("{prefix}{k}."), out);
                }
            } else {
                out.push(prefix.to_owned());
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        keys(&en, "", &mut a);
        keys(&zh, "", &mut b);
        let missing: Vec<_> = a.iter().filter(|k| !b.contains(k)).collect();
        assert!(missing.is_empty(), "missing in zh.toml: {missing:?}");
    }
}
