//! The OpenClaw plugin's wire types (`integrations/openclaw/src/wire.ts`) are generated from the
//! served OpenAPI document, so the TypeScript reads what the server sends: the plugin imports
//! them and `tsc` checks every use. The test fails when the file differs from what the document
//! gives now; `CLAWGATE_UPDATE_SNAPSHOTS=1 cargo test --test api -- typescript` writes it anew.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The schemas the plugin reads or sends, and what they name in turn.
const PLUGIN_READS: [&str; 6] =
    ["GateRequest", "GateAnswer", "StatusView", "ApprovalCreated", "Verification", "ErrorBody"];

fn wire_ts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integrations/openclaw/src/wire.ts")
}

#[test]
fn the_plugin_s_wire_types_are_generated_from_the_openapi_document() {
    let doc = serde_json::to_value(clawgate::http::openapi_document()).expect("the document is JSON");
    let generated = generate(&doc["components"]["schemas"], &PLUGIN_READS);
    let file = wire_ts();
    if std::env::var_os("CLAWGATE_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&file, &generated).expect("write wire.ts");
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is not what the OpenAPI document gives (CLAWGATE_UPDATE_SNAPSHOTS=1 writes it anew, then \
         rebuild the plugin: `npm run build` in integrations/openclaw)",
        file.display()
    );
}

/// TypeScript declarations for `roots` and every schema they refer to, in name order.
pub fn generate(schemas: &Value, roots: &[&str]) -> String {
    let mut names = BTreeSet::new();
    let mut todo: Vec<String> = roots.iter().map(|r| (*r).to_owned()).collect();
    while let Some(name) = todo.pop() {
        if names.insert(name.clone()) {
            let mut refs = Vec::new();
            references(&schemas[&name], &mut refs);
            todo.extend(refs);
        }
    }
    let mut out = String::from(
        "// Generated from clawgate's OpenAPI document (`/api/v1/openapi.json`) by the test\n\
         // crates/clawgate/tests/api/contract/typescript.rs; do not edit by hand.\n\
         // CLAWGATE_UPDATE_SNAPSHOTS=1 cargo test --test api -- typescript writes it anew.\n",
    );
    for name in &names {
        let schema = &schemas[name];
        out.push('\n');
        comment(&mut out, schema, "");
        match schema.get("properties").and_then(Value::as_object) {
            Some(properties) => {
                let required: BTreeSet<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let _ = writeln!(out, "export interface {name} {{");
                for (field, property) in properties {
                    comment(&mut out, property, "  ");
                    let optional = if required.contains(field.as_str()) { "" } else { "?" };
                    let _ = writeln!(out, "  {field}{optional}: {};", type_of(property));
                }
                out.push_str("}\n");
            }
            None => {
                let _ = writeln!(out, "export type {name} = {};", type_of(schema));
            }
        }
    }
    out
}

fn references(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = map.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn comment(out: &mut String, schema: &Value, indent: &str) {
    let Some(text) = schema.get("description").and_then(Value::as_str) else { return };
    let _ = writeln!(out, "{indent}/**");
    for line in text.replace("*/", "*\\/").lines() {
        let _ = writeln!(out, "{indent} * {line}");
    }
    let _ = writeln!(out, "{indent} */");
}

fn type_of(schema: &Value) -> String {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
        return name.to_owned();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            return options.iter().map(type_of).collect::<Vec<_>>().join(" | ");
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" | ");
    }
    match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .map(|t| type_named(t.as_str().unwrap_or("unknown"), schema))
            .collect::<Vec<_>>()
            .join(" | "),
        Value::String(t) => type_named(t, schema),
        _ => "unknown".to_owned(),
    }
}

fn type_named(name: &str, schema: &Value) -> String {
    match name {
        "string" => "string".into(),
        "integer" | "number" => "number".into(),
        "boolean" => "boolean".into(),
        "null" => "null".into(),
        "array" => format!("{}[]", bracketed(type_of(&schema["items"]))),
        "object" => "Record<string, unknown>".into(),
        _ => "unknown".into(),
    }
}

/// `A | B` as an array's items needs brackets: `(A | B)[]`.
fn bracketed(t: String) -> String {
    if t.contains(' ') { format!("({t})") } else { t }
}
