//! JSON Pointer (RFC 6901) segments, for naming a place in a workflow.

/// `key` escaped as one JSON Pointer segment (`~` → `~0`, `/` → `~1`).
pub fn segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
