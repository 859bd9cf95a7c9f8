//! Dynamic client registration (RFC 7591) as MCP 2025-11-25 uses it: the
//! request a client sends and how it reads the answer, shared by the
//! host's MCP client and the `mcp_oauth2` provider.

use serde::Deserialize;

use crate::Secret;

/// The token endpoint authentication a client asks to be registered for,
/// from the methods the authorization server accepts (an empty list means
/// RFC 8414's default, `client_secret_basic`): a public client where
/// allowed (PKCE protects the code), else a secret. `None` when only other
/// methods (such as `private_key_jwt`) are accepted.
pub fn method_to_ask(accepted: &[&str]) -> Option<&'static str> {
    if accepted.is_empty() {
        return Some("client_secret_basic");
    }
    ["none", "client_secret_basic", "client_secret_post"]
        .into_iter()
        .find(|m| accepted.contains(m))
}

/// The registration request body: authhost by name, the redirect URI where
/// the browser comes back (none for a machine-to-machine client), the
/// grant types it will use and the authentication `method`.
pub fn request(
    redirect_uri: Option<&str>,
    grant_types: &[&str],
    method: &str,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "client_name": "authhost",
        "grant_types": grant_types,
        "response_types": if redirect_uri.is_some() { vec!["code"] } else { Vec::new() },
        "token_endpoint_auth_method": method,
    });
    if let Some(redirect) = redirect_uri {
        body["redirect_uris"] = serde_json::json!([redirect]);
    }
    body
}

/// The registration answer (RFC 7591 §3.2.1), the parts a client uses.
#[derive(Deserialize)]
pub struct Registered {
    /// The client id issued.
    pub client_id: String,
    /// The client secret, for a confidential client.
    pub client_secret: Option<Secret>,
    /// How the client must authenticate; RFC 7591's default when absent.
    pub token_endpoint_auth_method: Option<String>,
    /// When the secret expires, Unix seconds; `0` or absent: never.
    #[serde(default)]
    pub client_secret_expires_at: i64,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("client_id", &self.client_id)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .finish_non_exhaustive()
    }
}

/// How a registered client authenticates at the token endpoint.
#[derive(Debug, Clone)]
pub enum RegisteredAuth {
    /// A public client.
    None,
    /// HTTP Basic with the secret.
    Basic(Secret),
    /// The secret in the form body.
    Post(Secret),
}

impl Registered {
    /// How the registered client authenticates: the method the server
    /// registered, else (a secret issued) `client_secret_basic` or
    /// `client_secret_post` as `accepted` allows, else a public client.
    ///
    /// # Errors
    ///
    /// A method authhost cannot use, or a secret method without a secret.
    pub fn auth(&self, accepted: &[&str]) -> Result<RegisteredAuth, String> {
        let method =
            self.token_endpoint_auth_method
                .as_deref()
                .unwrap_or(match &self.client_secret {
                    Some(_) if accepted.is_empty() || accepted.contains(&"client_secret_basic") => {
                        "client_secret_basic"
                    }
                    Some(_) if accepted.contains(&"client_secret_post") => "client_secret_post",
                    _ => "none",
                });
        match (method, &self.client_secret) {
            ("none", _) => Ok(RegisteredAuth::None),
            ("client_secret_basic", Some(secret)) => Ok(RegisteredAuth::Basic(secret.clone())),
            ("client_secret_post", Some(secret)) => Ok(RegisteredAuth::Post(secret.clone())),
            (other, _) => Err(format!(
                "the authorization server registered authhost for `{}` without the secret it needs",
                other
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect::<String>()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(body: serde_json::Value) -> Registered {
        serde_json::from_value(body).expect("registration")
    }

    #[test]
    fn a_public_client_is_asked_for_where_allowed() {
        assert_eq!(
            method_to_ask(&["client_secret_basic", "none"]),
            Some("none")
        );
        assert_eq!(method_to_ask(&[]), Some("client_secret_basic"));
        assert_eq!(method_to_ask(&["private_key_jwt"]), None);
    }

    #[test]
    fn the_registered_method_decides_and_a_missing_secret_is_refused() {
        let basic = registered(serde_json::json!({"client_id": "c", "client_secret": "s"}));
        assert!(matches!(basic.auth(&[]), Ok(RegisteredAuth::Basic(_))));
        let post = registered(serde_json::json!({"client_id": "c", "client_secret": "s"}));
        assert!(matches!(
            post.auth(&["client_secret_post"]),
            Ok(RegisteredAuth::Post(_))
        ));
        let public = registered(serde_json::json!({"client_id": "c"}));
        assert!(matches!(public.auth(&["none"]), Ok(RegisteredAuth::None)));
        let broken = registered(
            serde_json::json!({"client_id": "c", "token_endpoint_auth_method": "client_secret_post"}),
        );
        assert!(broken.auth(&[]).is_err());
        let request = request(
            Some("http://127.0.0.1:1/cb"),
            &["authorization_code"],
            "none",
        );
        assert_eq!(request["redirect_uris"][0], "http://127.0.0.1:1/cb");
        assert_eq!(request["response_types"][0], "code");
    }
}
