//! Where sign-in sends the browser back to: only URLs whose origin is listed in
//! `ui.allowed_return_origins`, compared exactly after the URL standard's parsing (the
//! `url` crate implements the same parser browsers use, so the origin checked is the
//! origin the browser will go to). Anything else — relative and scheme-relative URLs,
//! userinfo, other schemes, backslash and percent-encoded tricks — goes to the account page.

/// The URL to send the browser to, as the parser serialises it (never the raw input, so
/// the redirect is exactly what was checked), or `None`.
pub fn allowed(raw: &str, allowed_origins: &[String]) -> Option<String> {
    if raw.is_empty() || raw.len() > 2048 {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    allowed_origins.contains(&origin).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_pass_whatever_the_spelling() {
        let listed = vec!["https://app.example.com".to_owned()];
        let ok = |raw: &str| allowed(raw, &listed);
        assert_eq!(
            ok("https://app.example.com/after?x=1").as_deref(),
            Some("https://app.example.com/after?x=1")
        );
        assert_eq!(
            ok("HTTPS://APP.example.com").as_deref(),
            Some("https://app.example.com/")
        );
        // A backslash is a path separator in special schemes: this stays on app.example.com.
        assert_eq!(
            ok("https://app.example.com\\@evil.example").as_deref(),
            Some("https://app.example.com/@evil.example")
        );
        for bad in [
            "",
            "/account",
            "//evil.example",
            "///evil.example",
            "\\\\evil.example",
            "https:evil.example",
            "https:\\\\evil.example",
            "https://evil.example",
            "https://app.example.com.evil.example",
            "https://app.example.com@evil.example",
            "https://user:pw@app.example.com/",
            "https://user@app.example.com/",
            "http://app.example.com",
            "https://app.example.com:444/",
            "https%3A%2F%2Fapp.example.com",
            "https://evil.example%2F@app.example.com",
            "https://evil.example%2f.app.example.com",
            "javascript:alert(1)//https://app.example.com",
            "data:text/html,hi",
            " https://evil.example",
            "https://evil.example\t/",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
    }
}
