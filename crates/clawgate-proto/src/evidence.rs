//! What a person's passkey signs when they decide: the WebAuthn challenge is derived from what is
//! decided, `SHA-256(tag ‖ canonical JSON of the content ‖ 16-byte nonce)`, so the assertion
//! itself proves which content the passkey signed; anyone holding the content, the nonce and the
//! assertion can check it without trusting the server.
//!
//! The canonical JSON is RFC 8785 (JCS): object members sorted by their names' UTF-16 code
//! units, no whitespace, strings escaped as ECMAScript's `JSON.stringify` does, numbers written as
//! ECMAScript writes them.

pub mod pruned;
pub mod receipt;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// Put before the content: a challenge made for anything else can never equal one of these.
pub const CHALLENGE_TAG: &[u8] = b"clawgate decision v1\0";
/// Bytes of server randomness in each challenge, so no two ceremonies sign alike.
pub const NONCE_BYTES: usize = 16;

/// The WebAuthn challenge for deciding `content`.
pub fn decision_challenge(content: &Value, nonce: &[u8; NONCE_BYTES]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(CHALLENGE_TAG);
    hash.update(canonical(content).as_bytes());
    hash.update(nonce);
    hash.finalize().into()
}

/// SHA-256 (hex) of the content's canonical JSON: what the approve page shows as "what your
/// passkey signs".
pub fn content_hash(content: &Value) -> String {
    hex::encode(Sha256::digest(canonical(content).as_bytes()))
}

/// What an approval decides: the request as the person saw it and, if they chose one, the
/// standing grant it makes (its exact scope, duration and use limit).
pub struct ApprovalContent<'a> {
    pub request_id: &'a str,
    pub action: &'a str,
    pub agent_id: Option<&'a str>,
    /// The agent's context object (`null` when it sent none).
    pub context: Value,
    pub binding_code: &'a str,
    /// RFC 3339, as the API shows it.
    pub expires_at: &'a str,
    /// `{"scope": …, "ttlSeconds": …, "maxUses": …}` of the grant made with it, if any.
    pub grant: Option<Value>,
}

impl ApprovalContent<'_> {
    pub fn to_value(&self) -> Value {
        json!({
            "decision": "approve",
            "requestId": self.request_id,
            "action": self.action,
            "agentId": self.agent_id,
            "context": self.context,
            "bindingCode": self.binding_code,
            "expiresAt": self.expires_at,
            "grant": self.grant,
        })
    }
}

/// RFC 8785 canonical JSON of `v`.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => object(map, out),
    }
}

fn object(map: &Map<String, Value>, out: &mut String) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(name, out);
        out.push(':');
        write(value, out);
    }
    out.push('}');
}

/// As `JSON.stringify`: `"` and `\` escaped, the short escapes for backspace, tab, newline, form
/// feed and carriage return, `\u00xx` (lower-case hex) for the other control characters.
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// As ECMAScript's `Number.prototype.toString` (RFC 8785 §3.2.2.3): integers as they are, other
/// numbers from their shortest round-trip digits.
fn number(n: &serde_json::Number) -> String {
    // JSON numbers are IEEE 754 doubles to the RFC (and to a browser): integers beyond 2^53 are
    // written as the double they read as, not digit for digit.
    const EXACT: u64 = 1 << 53;
    if n.as_i64().is_some_and(|i| i.unsigned_abs() <= EXACT) || n.as_u64().is_some_and(|u| u <= EXACT) {
        return n.to_string();
    }
    let Some(f) = n.as_f64() else { return n.to_string() };
    if f == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` gives the shortest digits that read back as `f`: `d.ddde±x`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    let n = exponent.parse::<i32>().unwrap_or(0) + 1;
    let sign = if f < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let rest = if k > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        let e = n - 1;
        format!("{}{rest}e{}{}", &digits[..1], if e < 0 { "-" } else { "+" }, e.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_sorted_by_utf16_code_units_and_strings_escaped_as_javascript_does() {
        // RFC 8785 §3.2.3's sorting example: by UTF-16 code units, not by bytes or code points.
        let v = json!({"\u{20ac}": "Euro Sign", "\r": "Carriage Return", "\u{fb33}": "Hebrew Letter Dalet With Dagesh",
            "1": "One", "\u{1f600}": "Emoji: Grinning Face", "\u{80}": "Control", "\u{f6}": "Latin Small Letter O With Diaeresis"});
        let keys: Vec<String> = match serde_json::from_str::<Value>(&canonical(&v)) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            other => panic!("{other:?}"),
        };
        let expected = ["\r", "1", "\u{80}", "\u{f6}", "\u{20ac}", "\u{1f600}", "\u{fb33}"];
        assert_eq!(keys, expected);
        assert_eq!(
            canonical(&json!({"b": [1, "\u{1}\n\"\\"], "a": null})),
            r#"{"a":null,"b":[1,"\u0001\n\"\\"]}"#
        );
    }

    #[test]
    fn numbers_are_written_as_ecmascript_writes_them() {
        // RFC 8785 Appendix B's examples.
        for (f, text) in [
            (333333333.3333333f64, "333333333.3333333"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (-1.5, "-1.5"),
            (4.5, "4.5"),
            (2e-3, "0.002"),
            (9007199254740994.0, "9007199254740994"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(canonical(&json!(f)), text, "{f:e}");
        }
        assert_eq!(canonical(&json!(-0.0)), "0");
        assert_eq!(canonical(&json!(42)), "42");
        // Beyond 2^53 an integer is the double JavaScript reads it as.
        assert_eq!(canonical(&json!(9007199254740993u64)), "9007199254740992");
        assert_eq!(canonical(&json!(12345678901234567890u64)), "12345678901234567000");
        assert_eq!(canonical(&json!(-9007199254740993i64)), "-9007199254740992");
    }

    #[test]
    fn the_challenge_changes_with_every_part_of_what_is_decided() {
        let content = |action: &str| {
            ApprovalContent {
                request_id: "req_1",
                action,
                agent_id: Some("bot"),
                context: Value::Null,
                binding_code: "123-456",
                expires_at: "2026-12-07T10:00:00.000Z",
                grant: None,
            }
            .to_value()
        };
        let nonce = [7u8; NONCE_BYTES];
        let c = decision_challenge(&content("ls"), &nonce);
        assert_eq!(c, decision_challenge(&content("ls"), &nonce));
        assert_ne!(c, decision_challenge(&content("ls "), &nonce));
        assert_ne!(c, decision_challenge(&content("ls"), &[8u8; NONCE_BYTES]));
        // The exact bytes hashed, so that any verifier can recompute them.
        let mut hash = Sha256::new();
        hash.update(b"clawgate decision v1\0");
        hash.update(
            br#"{"action":"ls","agentId":"bot","bindingCode":"123-456","context":null,"decision":"approve","expiresAt":"2026-12-07T10:00:00.000Z","grant":null,"requestId":"req_1"}"#,
        );
        hash.update([7u8; NONCE_BYTES]);
        assert_eq!(c, <[u8; 32]>::from(hash.finalize()));
    }
}
