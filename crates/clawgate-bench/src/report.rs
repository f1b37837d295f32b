//! The table printed at the end and the same figures as JSON (`results-<backend>.json`).

use crate::memory::{Floor, Waiters};
use serde_json::{Value, json};
use std::time::Duration;

/// One measured line: a scenario or a ceiling.
pub struct Row {
    pub name: String,
    /// `wrk`, `reqwest` (in the bench process) or `in-process` (a ceiling measured without HTTP).
    pub driver: &'static str,
    pub count: u64,
    pub elapsed: Duration,
    pub median: Duration,
    pub p99: Duration,
    /// Percent of each named ceiling's rate.
    pub ratios: Vec<(String, f64)>,
    pub non2xx: u64,
    pub socket_errors: u64,
}

impl Row {
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    /// Adds this row's rate as a percent of a ceiling's `rate`, labelled `label`.
    pub fn against(mut self, label: &str, rate: f64) -> Self {
        self.ratios.push((label.to_owned(), 100.0 * self.per_second() / rate));
        self
    }
}

/// The machine the run was on.
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        Self { cores: std::thread::available_parallelism().map_or(0, usize::from), cpu }
    }
}

pub struct Report {
    pub backend: String,
    pub machine: Machine,
    pub command: String,
    pub settings: Value,
    pub scenarios: Vec<Row>,
    pub ceilings: Vec<Row>,
    pub idle_kib: u64,
    pub waiters: Waiters,
    pub floor: Floor,
    pub notes: Vec<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn short(d: Duration) -> String {
    if d < Duration::from_millis(1) { format!("{} µs", d.as_micros()) } else { format!("{:.2} ms", ms(d)) }
}

fn print_row(r: &Row) {
    let ratios: Vec<String> = r.ratios.iter().map(|(c, p)| format!("{p:.1}% of {c}")).collect();
    println!(
        "  {:<40} {:<10} {:>10.0}  {:>9}  {:>9}  {}",
        r.name,
        r.driver,
        r.per_second(),
        short(r.median),
        short(r.p99),
        ratios.join(", ")
    );
}

fn row_json(r: &Row) -> Value {
    let ratios: serde_json::Map<String, Value> =
        r.ratios.iter().map(|(c, p)| (c.clone(), json!(p))).collect();
    json!({
        "name": r.name, "driver": r.driver, "per_second": r.per_second(), "count": r.count,
        "seconds": r.elapsed.as_secs_f64(), "median_ms": ms(r.median), "p99_ms": ms(r.p99),
        "percent_of": ratios, "non2xx": r.non2xx, "socket_errors": r.socket_errors,
    })
}

impl Report {
    pub fn print(&self) {
        println!("\n== clawgate-bench results: {} ==", self.backend);
        println!("machine: {} cores, {}", self.machine.cores, self.machine.cpu);
        println!("command: {}", self.command);
        println!(
            "\n  {:<40} {:<10} {:>10}  {:>9}  {:>9}  share of its ceiling",
            "scenario", "driver", "per s", "median", "p99"
        );
        self.scenarios.iter().for_each(print_row);
        println!("\n  ceilings, measured in this run:");
        self.ceilings.iter().for_each(print_row);
        let (w, f) = (&self.waiters, &self.floor);
        println!("\n  memory (resident, KiB = 1024 bytes):");
        println!("  clawgate idle after setup            {:>8.1} MiB", self.idle_kib as f64 / 1024.0);
        println!(
            "  clawgate, {} long-polls parked     {:>8.1} MiB (from {:.1} MiB before them): {:.1} KiB per waiting agent",
            w.waiters,
            w.parked_kib as f64 / 1024.0,
            w.before_kib as f64 / 1024.0,
            w.kib_per_waiter()
        );
        println!(
            "  bare axum, {} waiting connections  {:>8.1} MiB (from {:.1} MiB idle): {:.1} KiB per connection",
            f.connections,
            f.parked_kib as f64 / 1024.0,
            f.idle_kib as f64 / 1024.0,
            f.kib_per_connection()
        );
        println!(
            "  decision to waiting agent: median {}, p99 {} ({} parked in {:.1} s; {} denials, 8 at a time, \
             in {:.1} s; {} waits lapsed first and were sent again)",
            short(w.median),
            short(w.p99),
            w.waiters,
            w.parking_took.as_secs_f64(),
            w.waiters,
            w.denials_took.as_secs_f64(),
            w.lapsed
        );
        println!();
        for note in &self.notes {
            println!("note: {note}");
        }
    }

    pub fn json(&self) -> Value {
        let (w, f) = (&self.waiters, &self.floor);
        json!({
            "backend": self.backend,
            "machine": { "cores": self.machine.cores, "cpu": self.machine.cpu },
            "command": self.command,
            "settings": self.settings,
            "scenarios": self.scenarios.iter().map(row_json).collect::<Vec<_>>(),
            "ceilings": self.ceilings.iter().map(row_json).collect::<Vec<_>>(),
            "memory": {
                "idle_kib": self.idle_kib,
                "waiters": w.waiters, "before_waiters_kib": w.before_kib, "with_waiters_kib": w.parked_kib,
                "kib_per_waiter": w.kib_per_waiter(),
                "bare_connections": f.connections, "bare_idle_kib": f.idle_kib,
                "bare_with_connections_kib": f.parked_kib, "bare_kib_per_connection": f.kib_per_connection(),
                "decision_to_agent_median_ms": ms(w.median), "decision_to_agent_p99_ms": ms(w.p99),
                "parking_seconds": w.parking_took.as_secs_f64(), "denials_seconds": w.denials_took.as_secs_f64(),
                "waits_lapsed_and_resent": w.lapsed,
            },
            "notes": self.notes,
        })
    }
}
