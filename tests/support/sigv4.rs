//! An independent AWS Signature Version 4 check, written from AWS's
//! published algorithm (not from the `aws-sigv4` crate): the canonical
//! request rebuilt from what a server received, the string to sign, the
//! derived key (HMAC-SHA256 per RFC 2104, by hand), and the signature
//! compared with the `Authorization` header's. Also checks the payload
//! hash header against the body received.

use sha2::{Digest, Sha256};

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut key_block = [0u8; BLOCK];
    if key.len() > BLOCK {
        key_block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        key_block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| key_block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept.
fn encode(text: &str, keep_slash: bool) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b'/' if keep_slash => "/".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Checks the SigV4 signature of a request an echo server received
/// (`method`, `path`, `query`, lowercase `headers`, `body`), signed with
/// `secret`. Returns the credential scope (`date/region/service/aws4_request`).
///
/// # Errors
///
/// What does not match, in words.
pub fn verify(echoed: &serde_json::Value, secret: &str) -> Result<String, String> {
    let headers = echoed["headers"].as_object().ok_or("no headers")?;
    let header = |name: &str| headers.get(name).and_then(|v| v.as_str());
    let authorization = header("authorization").ok_or("no authorization header")?;
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .ok_or(format!("no {name} in the authorization header"))
    };
    let (credential, signed, signature) = (
        field("Credential")?,
        field("SignedHeaders")?,
        field("Signature")?,
    );
    let (_, scope) = credential.split_once('/').ok_or("bad credential")?;
    let amz_date = header("x-amz-date").ok_or("no x-amz-date")?;
    let payload_hash = header("x-amz-content-sha256").ok_or("no x-amz-content-sha256")?;
    let body = echoed["body"].as_str().unwrap_or_default();
    if payload_hash != "UNSIGNED-PAYLOAD"
        && payload_hash != hex::encode(Sha256::digest(body.as_bytes()))
    {
        return Err("x-amz-content-sha256 is not the body's hash".to_owned());
    }
    let mut query: Vec<(String, String)> =
        url::form_urlencoded::parse(echoed["query"].as_str().unwrap_or_default().as_bytes())
            .map(|(k, v)| (encode(&k, false), encode(&v, false)))
            .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let value = header(name).ok_or(format!("signed header {name} was not received"))?;
        canonical_headers.push_str(&format!("{name}:{}\n", value.trim()));
    }
    let parts: Vec<&str> = scope.split('/').collect();
    let [date, region, service, "aws4_request"] = parts[..] else {
        return Err(format!("bad scope {scope}"));
    };
    // The path as received is encoded once; S3 signs it so, every other
    // service encodes it again.
    let path = echoed["path"].as_str().unwrap_or("/");
    let canonical_path = if service == "s3" {
        path.to_owned()
    } else {
        encode(path, true)
    };
    let canonical_request = format!(
        "{}\n{canonical_path}\n{canonical_query}\n{canonical_headers}\n{signed}\n{payload_hash}",
        echoed["method"].as_str().unwrap_or_default(),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if expected != signature {
        return Err(format!(
            "signature mismatch for the canonical request:\n{canonical_request}"
        ));
    }
    Ok(scope.to_owned())
}

#[cfg(test)]
mod tests {
    /// RFC 4231 test case 2.
    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex::encode(super::hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
