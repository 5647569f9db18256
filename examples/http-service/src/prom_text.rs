//! A strict reader of the Prometheus / OpenMetrics text format, for checking `/metrics`.

use std::collections::BTreeMap;

/// Samples by `name{labels}` (as written), and the declared type of each family.
#[derive(Debug, Default)]
pub struct Page {
    /// `name{labels}` → value.
    pub samples: BTreeMap<String, f64>,
    /// Family name → `counter`, `gauge`, `histogram`, ...
    pub types: BTreeMap<String, String>,
    /// Family name → help text.
    pub help: BTreeMap<String, String>,
}

impl Page {
    /// The value of `name{labels}`, written exactly as on the page.
    pub fn get(&self, sample: &str) -> Option<f64> {
        self.samples.get(sample).copied()
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses a page; `Err` names the first line that is not valid text format. Every sample
/// must belong to a family declared with `# TYPE` (a counter's samples end in `_total`, a
/// histogram's in `_bucket`/`_sum`/`_count`), no series may appear twice, exemplars are
/// cut off, and the page must end with `# EOF`.
pub fn parse(text: &str) -> Result<Page, String> {
    let mut page = Page::default();
    let mut eof = false;
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if eof {
            return Err(bad("text after # EOF"));
        }
        if line == "# EOF" {
            eof = true;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| bad("TYPE"))?;
            if !valid_name(name) {
                return Err(bad("metric name"));
            }
            page.types.insert(name.into(), kind.into());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').ok_or_else(|| bad("HELP"))?;
            if !valid_name(name) {
                return Err(bad("metric name"));
            }
            page.help.insert(name.into(), help.into());
        } else if line.starts_with('#') {
            continue;
        } else {
            // An exemplar (` # {...} v`) is not part of the sample.
            let sample = line.split_once(" # ").map_or(line, |(sample, _)| sample);
            let (series, value) = sample.rsplit_once(' ').ok_or_else(|| bad("sample"))?;
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().map_err(|_| bad("value"))?,
            };
            let name = series.split('{').next().unwrap_or_default();
            if !valid_name(name) {
                return Err(bad("metric name"));
            }
            if series.contains('{') && !series.ends_with('}') {
                return Err(bad("labels"));
            }
            // The family a sample belongs to: counters are written `<family>_total`,
            // histograms `<family>_bucket` / `_sum` / `_count`, anything else bare.
            let suffixed = [
                ("_total", "counter"),
                ("_bucket", "histogram"),
                ("_sum", "histogram"),
                ("_count", "histogram"),
            ]
            .iter()
            .any(|(suffix, kind)| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| page.types.get(base).map(String::as_str) == Some(*kind))
            });
            if !suffixed {
                match page.types.get(name).map(String::as_str) {
                    Some("counter" | "histogram") => {
                        return Err(bad("a counter or histogram sample without its suffix"))
                    }
                    Some(_) => {}
                    None => return Err(bad("sample of an undeclared family")),
                }
            }
            if page.samples.contains_key(series) {
                return Err(bad("the same series twice"));
            }
            page.samples.insert(series.into(), value);
        }
    }
    if !eof {
        return Err("no # EOF at the end".into());
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::parse;

    const HEAD: &str = "# HELP jobs_sent Jobs sent.\n# TYPE jobs_sent counter\n";

    #[test]
    fn a_valid_page_parses_and_exemplars_are_cut_off() {
        let page = parse(&format!(
            "{HEAD}jobs_sent_total{{q=\"a\"}} 5 # {{id=\"x\"}} 1\n# EOF\n"
        ))
        .unwrap();
        assert_eq!(page.get(r#"jobs_sent_total{q="a"}"#), Some(5.0));
        assert_eq!(page.types["jobs_sent"], "counter");
    }

    #[test]
    fn malformed_pages_are_refused() {
        for (page, why) in [
            (format!("{HEAD}jobs_sent 5\n# EOF\n"), "without its suffix"),
            (
                format!("{HEAD}jobs_sent_total 5\njobs_sent_total 6\n# EOF\n"),
                "twice",
            ),
            (format!("{HEAD}other_total 5\n# EOF\n"), "undeclared"),
            (format!("{HEAD}jobs_sent_total five\n# EOF\n"), "value"),
            (format!("{HEAD}jobs_sent_total 5\n"), "# EOF"),
            (format!("{HEAD}# EOF\njobs_sent_total 5\n"), "after # EOF"),
        ] {
            let err = parse(&page).unwrap_err();
            assert!(err.contains(why), "{why:?} not in {err:?}");
        }
    }
}
