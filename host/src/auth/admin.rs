//! The operator's admin key (`AGENTX_ADMIN_KEY` or config). Without one, admin routes are
//! closed rather than open.

use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Default)]
pub struct AdminKey(Option<String>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCheck {
    Granted,
    /// No key was presented.
    Missing,
    /// A wrong key, or no admin key is configured.
    Denied,
}

impl AdminKey {
    pub fn new(key: Option<String>) -> Self {
        Self(key.filter(|k| !k.is_empty()))
    }

    /// Whether a key is set (without one, admin routes are closed).
    pub fn is_configured(&self) -> bool {
        self.0.is_some()
    }

    pub fn check(&self, presented: Option<&str>) -> AdminCheck {
        match (presented, &self.0) {
            (None, _) => AdminCheck::Missing,
            (Some(p), Some(k)) if bool::from(p.as_bytes().ct_eq(k.as_bytes())) => {
                AdminCheck::Granted
            }
            _ => AdminCheck::Denied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_key_denies_everyone() {
        let key = AdminKey::new(None);
        assert_eq!(key.check(Some("")), AdminCheck::Denied);
        assert_eq!(key.check(Some("anything")), AdminCheck::Denied);
        assert_eq!(key.check(None), AdminCheck::Missing);
    }

    #[test]
    fn set_key() {
        let key = AdminKey::new(Some("s3cret".into()));
        assert_eq!(key.check(Some("s3cret")), AdminCheck::Granted);
        assert_eq!(key.check(Some("s3cre")), AdminCheck::Denied);
    }
}
