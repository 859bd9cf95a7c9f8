//! Which user each MCP session belongs to, and whether its client takes
//! URL-mode elicitation. A session id is a bearer of nothing by itself, but
//! the spec asks servers to bind sessions to users: another user's request
//! carrying the id is answered as if the session did not exist.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, PoisonError},
};

/// Most sessions remembered; the oldest is forgotten first.
const CAPACITY: usize = 100_000;

/// What is known of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Session {
    /// The user who opened it.
    pub(super) user: String,
    /// Whether its client declared URL-mode elicitation at `initialize`.
    pub(super) url_elicitation: bool,
}

/// Session id → [`Session`], bounded.
#[derive(Debug, Default)]
pub(crate) struct SessionOwners {
    inner: Mutex<(HashMap<String, Session>, VecDeque<String>)>,
}

impl SessionOwners {
    /// Records that `session.user` opened session `id`.
    pub(super) fn bind(&self, id: &str, session: Session) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (owners, order) = &mut *guard;
        if owners.insert(id.to_owned(), session).is_none() {
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
        guard.0.get(id).is_none_or(|s| s.user == user)
    }

    /// The session `id`, when this process opened it.
    pub(super) fn get(&self, id: &str) -> Option<Session> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.get(id).cloned()
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
        let alice = Session {
            user: "alice".to_owned(),
            url_elicitation: true,
        };
        owners.bind("s1", alice.clone());
        assert!(owners.allows("s1", "alice"));
        assert!(!owners.allows("s1", "bob"));
        assert!(owners.allows("unknown", "bob"));
        assert_eq!(owners.get("s1"), Some(alice));
        owners.forget("s1");
        assert!(owners.allows("s1", "bob"));
        assert_eq!(owners.get("s1"), None);
    }
}
