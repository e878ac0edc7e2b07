//! Key names: one hash tag per policy, so every script touches one Redis Cluster slot.
//!
//! A policy's keys are `{<prefix>:<name>}:<what>`. Redis Cluster hashes only the part inside
//! the first `{…}`, so all keys of a breaker (its state, its time buckets, its trial leases)
//! sit in one slot and one script can update them atomically. A keyed limiter tags each key
//! separately — `{<prefix>:<name>:<key>}` — so a million users spread over the cluster rather
//! than piling into one slot; each decision still touches one slot.

/// The keys of one backend: its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (validated by the builder: no braces, not empty).
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.trim_end_matches(':').to_owned(),
        }
    }

    /// The prefix, without a trailing `:`.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash tag of policy `name`: `{prefix:name}`.
    pub(crate) fn policy(&self, name: &str) -> String {
        format!("{{{}:{}}}", self.prefix, name)
    }

    /// Key `what` of policy `name`: `{prefix:name}:what`.
    pub(crate) fn of(&self, name: &str, what: &str) -> String {
        format!("{}:{what}", self.policy(name))
    }

    /// The key of `key` in keyed policy `name`: `{prefix:name:key}`.
    pub(crate) fn keyed(&self, name: &str, key: &str) -> String {
        format!("{{{}:{}:{}}}", self.prefix, name, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_policy_shares_its_hash_tag() {
        let keys = Keys::new("palisade:");
        assert_eq!(keys.of("db", "state"), "{palisade:db}:state");
        assert_eq!(keys.of("db", "b:17"), "{palisade:db}:b:17");
        assert_eq!(keys.keyed("api", "user-7"), "{palisade:api:user-7}");
    }
}
