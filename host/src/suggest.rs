//! "Did you mean": the closest known name to a misspelt one.

/// The candidates close to `wanted`, best first (Jaro-Winkler ≥ 0.8, or a
/// case-insensitive match).
pub fn close_matches<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| {
            let score = if c.to_lowercase() == wanted_lower {
                1.0
            } else {
                strsim::jaro_winkler(&wanted_lower, &c.to_lowercase())
            };
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().map(|(_, c)| c).collect()
}

/// The single closest candidate, if any is close enough.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    close_matches(wanted, candidates).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        assert_eq!(
            closest("api_kye", ["api_key", "http_basic"]),
            Some("api_key")
        );
        assert_eq!(closest("oauth", ["api_key", "http_basic"]), None);
        assert_eq!(closest("GitHub", ["github"]), Some("github"));
    }
}
