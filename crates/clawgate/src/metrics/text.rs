//! The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` lines, then one
//! sample per line, label values escaped.

use std::fmt::Write;

/// The `Content-Type` of what [`Encoder`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes metric families into one text.
#[derive(Default)]
pub struct Encoder {
    out: String,
}

/// What a family is.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

impl Encoder {
    /// Starts a family: its `# HELP` and `# TYPE` lines. Every sample of it must follow at once.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample: `name{label="value",…} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Value) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_label_value(v, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        value.write(&mut self.out);
        self.out.push('\n');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A sample's value as the format spells it.
pub trait Value {
    fn write(&self, out: &mut String);
}

impl Value for u64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for i64 {
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    fn write(&self, out: &mut String) {
        out.push_str(&float(*self));
    }
}

/// A float as Prometheus reads it: `+Inf`, `-Inf`, `NaN`, or a decimal number.
pub fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes backslash and line feed (not quotes).
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Encoder::default();
        e.family("clawgate_x_total", Kind::Counter, "a \\ b\nc \"q\"");
        e.sample("clawgate_x_total", &[("route", "a\"b\\c\nd"), ("method", "GET")], 3u64);
        e.sample("clawgate_x_total", &[], 0u64);
        assert_eq!(
            e.finish(),
            "# HELP clawgate_x_total a \\\\ b\\nc \"q\"\n\
             # TYPE clawgate_x_total counter\n\
             clawgate_x_total{route=\"a\\\"b\\\\c\\nd\",method=\"GET\"} 3\n\
             clawgate_x_total 0\n"
        );
    }

    #[test]
    fn floats_are_spelled_as_prometheus_reads_them() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.005), "0.005");
        assert_eq!(float(1.0), "1");
        assert_eq!(float(0.0000001), "0.0000001");
    }
}
