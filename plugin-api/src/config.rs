//! Parsing a provider's JSON configuration with key paths and no values in
//! error messages.

use serde::de::DeserializeOwned;

use crate::Error;

/// Deserializes `json` into `C`. Errors name the key path and what was
/// expected, but never the offending value: it may be a secret.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) when `json`
/// is not valid JSON or does not match `C`.
pub fn parse_config<C: DeserializeOwned>(json: &str) -> Result<C, Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let message = redact_serde_message(&e.inner().to_string());
        if path == "." {
            Error::config(message)
        } else {
            Error::config(format!("{path}: {message}"))
        }
    })
}

/// Removes the value serde quotes in `invalid type` / `invalid value`
/// messages, and the line/column of the serialized JSON (meaningless to a
/// user, who wrote YAML).
fn redact_serde_message(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (unexpected, expected) = match rest.find(", expected") {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let kind = unexpected
                .split(['"', '`', '\''])
                .next()
                .unwrap_or_default()
                .trim_end();
            return format!("{prefix}{kind}{expected}");
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Cfg {
        key: u16,
        nested: Nested,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Nested {
        port: u16,
    }

    #[test]
    fn names_the_path_and_hides_the_value() {
        let err = parse_config::<Cfg>(r#"{"key": "sentinel-4411", "nested": {"port": 1}}"#)
            .expect_err("wrong type");
        assert_eq!(err.message(), "key: invalid type: string, expected u16");

        let err = parse_config::<Cfg>(r#"{"key": 1, "nested": {"port": 99999}}"#)
            .expect_err("out of range");
        assert_eq!(
            err.message(),
            "nested.port: invalid value: integer, expected u16"
        );
    }

    #[test]
    fn reports_missing_fields() {
        let err = parse_config::<Cfg>(r#"{"key": 1}"#).expect_err("missing");
        assert_eq!(err.message(), "missing field `nested`");
    }
}
