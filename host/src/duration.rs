//! Durations in workflow files: `500ms`, `10s`, `2m`, `1h`, `30d`, or a
//! number of seconds.

use std::{borrow::Cow, time::Duration};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer};

/// A duration as written in a workflow; never zero (every duration in a
/// workflow is a timeout or a lifetime, and zero would fail every call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

/// Parses `500ms`, `10s`, `2m`, `1h`, `30d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        "d" => Some(Duration::from_secs(n.checked_mul(86_400)?)),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        let duration = match Raw::deserialize(deserializer)? {
            Raw::Seconds(s) => Duration::from_secs(s),
            Raw::Text(t) => parse_duration(&t).ok_or_else(|| {
                de::Error::custom("expected a duration such as 500ms, 10s, 2m or 1h")
            })?,
        };
        if duration.is_zero() {
            return Err(de::Error::custom("must be longer than zero"));
        }
        Ok(Self(duration))
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration longer than zero: 500ms, 10s, 2m, 1h, 30d, or a number of seconds.",
            "type": ["string", "integer"],
            "pattern": "^[0-9]*[1-9][0-9]*(ms|s|m|h|d)$",
            "minimum": 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(
            parse_duration("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration("5w"), None);
        let d: DurationSpec = serde_json::from_value(serde_json::json!(7)).expect("seconds");
        assert_eq!(d.0, Duration::from_secs(7));
        for zero in [
            serde_json::json!(0),
            serde_json::json!("0s"),
            serde_json::json!("000ms"),
        ] {
            let err = serde_json::from_value::<DurationSpec>(zero).expect_err("zero");
            assert!(err.to_string().contains("longer than zero"), "{err}");
        }
    }
}
