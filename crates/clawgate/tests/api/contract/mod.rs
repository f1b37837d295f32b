//! The wire contract, held on every answer a test reads through the harness: the body must match
//! the schema the served OpenAPI document gives for that route and status (the document is
//! generated from the server's types, most of them `clawgate-proto`'s wire types), with no field
//! the document does not name; and an answer whose schema is one of the wire types must
//! deserialise into that type and serialise back to the same JSON (nothing the Rust client would
//! drop or misread). A route answering with a status its document does not list fails too.

mod typescript;

use clawgate_proto::wire;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The served document, with every object schema closed: `additionalProperties: false` where a
/// schema lists its properties and says nothing else about extra ones, and for a schema composed
/// with `allOf` (a flattened struct), `unevaluatedProperties: false` on the whole, its parts left
/// open (a closed part would refuse the other parts' fields).
fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(clawgate::http::openapi_document()).expect("the document is JSON");
        let mut parts = Vec::new();
        allof_parts(&doc, &mut parts);
        if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
            for (name, schema) in schemas.iter_mut() {
                close_objects(schema, !parts.contains(name));
            }
        }
        doc
    })
}

/// The components some `allOf` names as one of its parts.
fn allof_parts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for part in map.get("allOf").and_then(Value::as_array).into_iter().flatten() {
                if let Some(name) = part["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
                    out.push(name.to_owned());
                }
            }
            map.values().for_each(|v| allof_parts(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| allof_parts(v, out)),
        _ => {}
    }
}

fn close_objects(schema: &mut Value, close_this: bool) {
    match schema {
        Value::Object(map) => {
            let open = map.contains_key("additionalProperties") || map.contains_key("unevaluatedProperties");
            if map.contains_key("allOf") && !open {
                map.insert("unevaluatedProperties".into(), Value::Bool(false));
            } else if close_this
                && map.contains_key("properties")
                && !open
                && !map.contains_key("anyOf")
                && !map.contains_key("oneOf")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    ("allOf", Value::Array(parts)) => parts.iter_mut().for_each(close_nested),
                    (_, value) => close_objects(value, true),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| close_objects(v, true)),
        _ => {}
    }
}

/// A part of an `allOf`: left open itself, what it holds closed.
fn close_nested(part: &mut Value) {
    if let Value::Object(map) = part {
        map.values_mut().for_each(|v| close_objects(v, true));
    }
}

/// The document's path template that `path` (without its query) is an instance of.
fn route_of<'d>(doc: &'d Value, path: &str) -> Option<&'d str> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let paths = doc["paths"].as_object()?;
    // A literal segment beats a parameter: `/grants/uses` before `/grants/{id}`.
    let mut best: Option<(&str, usize)> = None;
    for template in paths.keys() {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let fits = parts.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if fits && best.is_none_or(|(_, l)| literal > l) {
            best = Some((template, literal));
        }
    }
    best.map(|(t, _)| t)
}

type Validator = Arc<jsonschema::Validator>;

/// One validator per schema, built once for the whole run (tests run in parallel).
fn validator_for(key: &str, schema: &Value) -> Validator {
    static CACHE: OnceLock<Mutex<HashMap<String, Validator>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(key.to_owned())
        .or_insert_with(|| {
            let mut root = schema.clone();
            if let Value::Object(map) = &mut root {
                map.insert("components".into(), document()["components"].clone());
            }
            Arc::new(jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("schema of {key}: {e}")))
        })
        .clone()
}

/// Checks an answer against the contract; the failure names the route, the status and what does
/// not hold.
pub fn check(method: &Method, path: &str, status: u16, content_type: Option<&str>, body: &Value) {
    let doc = document();
    let Some(route) = route_of(doc, path) else { return };
    let verb = method.as_str().to_ascii_lowercase();
    let Some(operation) = doc["paths"][route].get(&verb) else {
        // A method the route does not have: the router's 405, outside the contract.
        return;
    };
    let code = status.to_string();
    let response = match operation["responses"].get(&code) {
        Some(r) => r,
        None => panic!(
            "contract: {} {route} answered {status}, which its OpenAPI document does not list (it lists {}); body: {body}",
            method,
            operation["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        ),
    };
    let json = content_type.is_some_and(|c| c.starts_with("application/json"));
    let Some(schema) = response.pointer("/content/application~1json/schema") else { return };
    if !json {
        panic!("contract: {method} {route} {status} should answer JSON, not {content_type:?}");
    }
    let key = format!("{verb} {route} {code}");
    let errors: Vec<String> = validator_for(&key, schema)
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "contract: {method} {path} {status} does not match its OpenAPI schema:\n  {}\nbody: {body}",
        errors.join("\n  ")
    );
    let wire_type = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/"));
    if let Some(Err(e)) = wire_type.map(|name| read_as_wire_type(name, body)) {
        panic!("contract: {method} {path} {status}: {e}\nbody: {body}");
    }
}

/// `body` read as the wire type `name`, when it is one, and written back unchanged.
pub fn read_as_wire_type(name: &str, body: &Value) -> Result<(), String> {
    match name {
        "ApprovalCreated" => round_trip::<wire::ApprovalCreated>(name, body),
        "StatusView" => round_trip::<wire::StatusView>(name, body),
        "GateAnswer" => round_trip::<wire::GateAnswer>(name, body),
        "GateExplained" => round_trip::<wire::GateExplained>(name, body),
        "PolicyView" => round_trip::<wire::PolicyView>(name, body),
        "Verification" => round_trip::<wire::Verification>(name, body),
        "ErrorBody" => round_trip::<wire::ErrorBody>(name, body),
        _ => Ok(()),
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(name: &str, body: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(body.clone()).map_err(|e| format!("not a {name}: {e}"))?;
    let again = serde_json::to_value(&typed).map_err(|e| format!("{name} does not serialise: {e}"))?;
    if without_nulls(&again) != without_nulls(body) {
        return Err(format!("{name} read and written back differs: {again}"));
    }
    Ok(())
}

/// `null` and absent mean the same to a reader.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[test]
fn every_wire_type_the_document_names_is_read_as_itself() {
    let schemas = document()["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "ApprovalCreated",
        "StatusView",
        "GateAnswer",
        "GateExplained",
        "PolicyView",
        "Verification",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(name), "the document names {name}");
    }
    let not_a_status = serde_json::json!({"requestId": "req_1", "status": "MAYBE"});
    assert!(read_as_wire_type("StatusView", &not_a_status).is_err());
    let extra = serde_json::json!({"error": {"code": "x", "message": "y", "hint": "z"}});
    assert!(read_as_wire_type("ErrorBody", &extra).is_err(), "a field the type drops is caught");
}
