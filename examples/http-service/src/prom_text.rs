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
/// must belong to a family declared with `# TYPE` (counters end in `_total`, histograms in
/// `_bucket`/`_sum`/`_count`), and the page must end with `# EOF`.
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
            page.help.insert(name.into(), help.into());
        } else if line.starts_with('#') {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').ok_or_else(|| bad("sample"))?;
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
            let family = [
                ("_total", "counter"),
                ("_bucket", "histogram"),
                ("_sum", "histogram"),
                ("_count", "histogram"),
            ]
            .iter()
            .find_map(|(suffix, kind)| {
                let base = name.strip_suffix(suffix)?;
                (page.types.get(base).map(String::as_str) == Some(*kind)).then_some(base)
            })
            .unwrap_or(name);
            if !page.types.contains_key(family) {
                return Err(bad("sample of an undeclared family"));
            }
            page.samples.insert(series.into(), value);
        }
    }
    if !eof {
        return Err("no # EOF at the end".into());
    }
    Ok(page)
}
