//! Which user each MCP session belongs to. A session id is a bearer of
//! nothing by itself, but the spec asks servers to bind sessions to users:
//! another user's request carrying the id is answered as if the session did
//! not exist.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, PoisonError},
};

/// Most sessions remembered; the oldest is forgotten first.
const CAPACITY: usize = 100_000;

/// Session id → user id, bounded.
#[derive(Debug, Default)]
pub(crate) struct SessionOwners {
    inner: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl SessionOwners {
    /// Records that `user` opened session `id`.
    pub(super) fn bind(&self, id: &str, user: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (owners, order) = &mut *guard;
        if owners.insert(id.to_owned(), user.to_owned()).is_none() {
            order.push_back(id.to_owned());
        }
        while owners.len() > CAPACITY {
            let Some(oldest) = order.pop_front() else {
                break;
            };
            owners.remove(&oldest);
        }
    }

    /// Whether `user` may use session `id`: it is theirs, or unknown here
    /// (another replica's, or forgotten; rmcp answers an unknown session).
    pub(super) fn allows(&self, id: &str, user: &str) -> bool {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.get(id).is_none_or(|owner| owner == user)
    }

    /// Forgets a closed session.
    pub(super) fn forget(&self, id: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (owners, order) = &mut *guard;
        if owners.remove(id).is_some() {
            order.retain(|s| s != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_serves_only_its_owner_until_forgotten() {
        let owners = SessionOwners::default();
        owners.bind("s1", "alice");
        assert!(owners.allows("s1", "alice"));
        assert!(!owners.allows("s1", "bob"));
        assert!(owners.allows("unknown", "bob"));
        owners.forget("s1");
        assert!(owners.allows("s1", "bob"));
    }
}
