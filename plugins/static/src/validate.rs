//! Checks shared by the providers: header names and values that would break
//! or inject into an HTTP request are refused at create time.

use authhost_plugin_api::{Error, Secret};

/// A header name must be an RFC 9110 token.
pub(crate) fn header_name(key: &str, name: &str) -> Result<(), Error> {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() {
        return Err(Error::config(format!("{key}: must not be empty")));
    }
    if !name.chars().all(is_tchar) {
        return Err(Error::config(format!(
            "{key}: `{name}` is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        )));
    }
    Ok(())
}

/// A secret value must be non-empty and free of control characters (a CR or
/// LF would inject headers). The message never includes the value.
pub(crate) fn secret_value(key: &str, value: &Secret) -> Result<(), Error> {
    let value = value.expose();
    if value.is_empty() {
        return Err(Error::config(format!("{key}: must not be empty")));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::config(format!(
            "{key}: contains a control character (newline, tab, …); the value is not shown"
        )));
    }
    Ok(())
}

/// A non-secret value placed in a header (a prefix, a user name).
pub(crate) fn plain_value(key: &str, value: &str) -> Result<(), Error> {
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::config(format!(
            "{key}: contains a control character (newline, tab, …)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names() {
        assert!(header_name("header", "X-API-Key").is_ok());
        let err = header_name("header", "X API").expect_err("space");
        assert!(err.message().starts_with("header: `X API` is not a valid"));
        assert!(header_name("header", "").is_err());
        assert!(header_name("header", "a\r\nb").is_err());
    }

    #[test]
    fn secret_values_never_echoed() {
        let err = secret_value("api_key", &Secret::new("sentinel\r\nX-Evil: 1")).expect_err("crlf");
        assert!(!err.message().contains("sentinel"));
        assert!(secret_value("api_key", &Secret::new("")).is_err());
    }
}
