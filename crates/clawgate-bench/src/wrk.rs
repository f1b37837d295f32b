//! Drives a scenario with `wrk`: writes its Lua script into the run's temp dir, runs it, and reads
//! the one JSON line the script's `done()` prints (requests, duration, p50/p99, errors).
//!
//! `non2xx` is wrk's own count of answers with status 400 or above (it has no other status
//! count without a per-response Lua callback, which would slow the client down).

use anyhow::Context;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// How hard wrk pushes: threads, connections, and for how long.
pub struct Load {
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
}

/// What one wrk run measured.
pub struct Outcome {
    pub requests: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// Answers with status >= 400.
    pub non2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
}

/// Fails early, with the way to install it, when wrk is missing.
pub async fn check() -> anyhow::Result<()> {
    // `wrk --version` prints its version and exits with 1; only a missing binary is an error.
    tokio::process::Command::new("wrk")
        .arg("--version")
        .output()
        .await
        .context("wrk is not installed; install it with `apt-get install -y wrk`")?;
    Ok(())
}

/// A Lua string literal; the values quoted here (keys, ids, tokens, paths) are plain ASCII.
pub fn lua_str(s: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        s.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' '),
        "not quoted for Lua: {s}"
    );
    Ok(format!("\"{s}\""))
}

/// A Lua list of string literals.
pub fn lua_list(items: &[String]) -> anyhow::Result<String> {
    let quoted: anyhow::Result<Vec<String>> = items.iter().map(|s| lua_str(s)).collect();
    Ok(format!("{{{}}}", quoted?.join(", ")))
}

/// Numbers each thread (`tid`, from 1) and prints the summary as one JSON line.
const COMMON: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"p50_us":%.0f,"p99_us":%.0f,' ..
    '"non2xx":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"timeout":%.0f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"#;

/// Runs wrk against `base` (http://host:port) with `scenario` (Lua: sets `wrk.*` or defines
/// `request()`), writing the script as `<name>.lua` in `dir`.
pub async fn run(dir: &Path, name: &str, base: &str, scenario: &str, load: &Load) -> anyhow::Result<Outcome> {
    let script = dir.join(format!("{name}.lua"));
    std::fs::write(&script, format!("-- clawgate-bench: {name}\n{scenario}\n{COMMON}"))?;
    let output = tokio::process::Command::new("wrk")
        .arg(format!("--threads={}", load.threads))
        .arg(format!("--connections={}", load.connections))
        .arg(format!("--duration={}s", load.duration.as_secs()))
        .arg("--timeout=10s")
        .arg(format!("--script={}", script.display()))
        .arg(base)
        .output()
        .await
        .context("cannot run wrk (apt-get install -y wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("BENCH_JSON ")).with_context(|| {
        format!("wrk printed no summary for {name}: {stdout}{}", String::from_utf8_lossy(&output.stderr))
    })?;
    let v: Value = serde_json::from_str(line).with_context(|| format!("wrk's summary: {line}"))?;
    let n = |k: &str| v[k].as_f64().map(|x| x as u64).with_context(|| format!("no `{k}` in {line}"));
    anyhow::ensure!(n("requests")? > 0, "{name}: wrk completed no request");
    Ok(Outcome {
        requests: n("requests")?,
        elapsed: Duration::from_micros(n("duration_us")?),
        p50: Duration::from_micros(n("p50_us")?),
        p99: Duration::from_micros(n("p99_us")?),
        non2xx: n("non2xx")?,
        socket_errors: n("connect")? + n("read")? + n("write")? + n("timeout")?,
    })
}

/// The same GET, or one POST with a fixed body, on every request.
pub fn fixed(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> anyhow::Result<String> {
    let mut lua = format!("wrk.method = {}\nwrk.path = {}\n", lua_str(method)?, lua_str(path)?);
    for (name, value) in headers {
        lua += &format!("wrk.headers[{}] = {}\n", lua_str(name)?, lua_str(value)?);
    }
    if let Some(body) = body {
        lua += &format!("wrk.body = {}\n", lua_long(body)?);
    }
    Ok(lua)
}

/// `POST /api/v1/approval/request` with `{"action":"bench create <thread>-<n>"}`, the keys taken
/// in turn.
pub fn create(keys: &[String]) -> anyhow::Result<String> {
    Ok(format!(
        r#"local keys = {}
local n = 0
function request()
  n = n + 1
  local key = keys[(n + tid) % #keys + 1]
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}}
  return wrk.format("POST", "/api/v1/approval/request", headers,
    string.format('{{"action":"bench create %d-%d"}}', tid, n))
end
"#,
        lua_list(keys)?
    ))
}

/// `GET /api/v1/approval/status/<id>` (no wait) over `ids` in turn, with `api_key`.
pub fn status(ids: &[String], api_key: &str) -> anyhow::Result<String> {
    Ok(format!(
        r#"local ids = {}
local requests = {{}}
local n = 0
function init(args)
  for i, id in ipairs(ids) do
    requests[i] = wrk.format("GET", "/api/v1/approval/status/" .. id, {{["Authorization"] = "Bearer " .. {}}})
  end
end
function request()
  n = n + 1
  return requests[(n + tid) % #requests + 1]
end
"#,
        lua_list(ids)?,
        lua_str(api_key)?
    ))
}

/// A Lua long string (`[==[…]==]`) of JSON: quotes and backslashes stay as they are.
fn lua_long(s: &str) -> anyhow::Result<String> {
    anyhow::ensure!(!s.contains("]==]") && !s.contains('\n'), "not quoted for Lua: {s}");
    Ok(format!("[==[{s}]==]"))
}

/// `POST /api/v1/gate` with `api_key`, the `bodies` (JSON tool calls) taken in turn.
pub fn gate(bodies: &[String], api_key: &str) -> anyhow::Result<String> {
    let quoted: anyhow::Result<Vec<String>> = bodies.iter().map(|b| lua_long(b)).collect();
    let bodies = format!("{{{}}}", quoted?.join(", "));
    Ok(format!(
        r#"local bodies = {}
local requests = {{}}
local n = 0
function init(args)
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. {}}}
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format("POST", "/api/v1/gate", headers, body)
  end
end
function request()
  n = n + 1
  return requests[(n + tid) % #requests + 1]
end
"#,
        bodies,
        lua_str(api_key)?
    ))
}
