//! The users API's store and body rules, as `examples/fastjson_api.rs` has them on one shard.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error_body;

/// The body of POST and PUT.
#[derive(Deserialize)]
pub struct NewUser {
    name: String,
    email: String,
}

/// A stored user.
#[derive(Serialize, Clone, Debug)]
pub struct User {
    id: u64,
    name: String,
    email: String,
}

/// Every user, by id; ids count up from 0, as the example's do on one shard.
#[derive(Default)]
pub struct Users {
    users: BTreeMap<u64, User>,
    next: u64,
}

impl Users {
    /// Stores a new user under the next id.
    pub fn create(&mut self, new: NewUser) -> User {
        let id = self.next;
        self.next += 1;
        let user = User {
            id,
            name: new.name,
            email: new.email,
        };
        self.users.insert(id, user.clone());
        user
    }

    /// Every user, by id.
    pub fn list(&self) -> Vec<User> {
        self.users.values().cloned().collect()
    }

    /// The user `id`, if stored.
    pub fn get(&self, id: u64) -> Option<User> {
        self.users.get(&id).cloned()
    }

    /// Replaces `id`'s name and email; the updated user, or `None` if absent.
    pub fn update(&mut self, id: u64, new: NewUser) -> Option<User> {
        self.users.get_mut(&id).map(|user| {
            user.name = new.name;
            user.email = new.email;
            user.clone()
        })
    }

    /// Removes `id`; whether it was there.
    pub fn delete(&mut self, id: u64) -> bool {
        self.users.remove(&id).is_some()
    }
}

/// A path's `:id`: not a number is the same 404 as an absent user, as in the example.
pub fn parse_id(segment: &str) -> Option<u64> {
    segment.parse().ok()
}

/// Why a body was refused: the status and the JSON error body (ringpin's `JsonRejection`
/// with its `serde-json` feature: 415, 400 for a syntax error, 422 for a data error).
pub struct Rejection {
    /// 415, 400 or 422.
    pub status: u16,
    /// `{"error": ..., "detail": ...}`.
    pub body: Vec<u8>,
}

/// The body as a [`NewUser`], after checking `Content-Type` (`application/json` or
/// `application/*+json`, parameters ignored).
pub fn parse_new_user(content_type: Option<&[u8]>, body: &[u8]) -> Result<NewUser, Rejection> {
    if !content_type.is_some_and(is_json_media_type) {
        return Err(Rejection {
            status: 415,
            body: error_body(
                "unsupported media type",
                "expected Content-Type: application/json",
            ),
        });
    }
    serde_json::from_slice(body).map_err(|e| {
        let (status, error) = match e.classify() {
            serde_json::error::Category::Data => (422, "invalid JSON body"),
            _ => (400, "malformed JSON"),
        };
        Rejection {
            status,
            body: error_body(error, &e.to_string()),
        }
    })
}

fn is_json_media_type(value: &[u8]) -> bool {
    let media = value.split(|&b| b == b';').next().unwrap_or_default();
    let media = media.trim_ascii();
    let Some(subtype) = media
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case(b"application/"))
        .and_then(|_| media.get(12..))
    else {
        return false;
    };
    subtype.eq_ignore_ascii_case(b"json")
        || subtype
            .len()
            .checked_sub(5)
            .and_then(|start| subtype.get(start..))
            .is_some_and(|s| s.len() < subtype.len() && s.eq_ignore_ascii_case(b"+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let json = Some(&b"application/json; charset=utf-8"[..]);
        let ok = br#"{"name":"Ada","email":"ada@example.com"}"#;
        assert!(parse_new_user(json, ok).is_ok());
        assert!(parse_new_user(Some(b"application/problem+json"), ok).is_ok());
        let status =
            |ct: Option<&[u8]>, body: &[u8]| parse_new_user(ct, body).err().map(|r| r.status);
        assert_eq!(status(None, ok), Some(415));
        assert_eq!(status(Some(b"text/plain"), ok), Some(415));
        assert_eq!(status(Some(b"application/+json"), ok), Some(415));
        assert_eq!(status(json, b"{"), Some(400));
        assert_eq!(status(json, br#"{"name":"Ada"}"#), Some(422));
    }

    #[test]
    fn store() {
        let mut users = Users::default();
        let new = || NewUser {
            name: "Ada".into(),
            email: "ada@example.com".into(),
        };
        assert_eq!(users.create(new()).id, 0);
        assert_eq!(users.create(new()).id, 1);
        assert_eq!(
            serde_json::to_string(&users.get(0)).unwrap(),
            r#"{"id":0,"name":"Ada","email":"ada@example.com"}"#
        );
        assert_eq!(users.list().len(), 2);
        assert!(users.delete(0));
        assert!(users.update(0, new()).is_none());
        assert_eq!(parse_id("x"), None);
    }
}
