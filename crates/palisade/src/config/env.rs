//! Environment variables to key paths: `<PREFIX>_<POLICY>_<KEY>[__<NESTED>...]`.
//!
//! The policy name may itself contain underscores, so the key is found by matching the
//! longest known key at the end of the name (`USER_DB_MAX_ATTEMPTS` is policy `user_db`,
//! key `max_attempts`; `API_TOTAL_TIMEOUT` is `total_timeout`, not `timeout` of a policy
//! `api_total`). A double underscore goes into a section: `API_RETRY__JITTER` is
//! `policies.api.retry.jitter`.

use figment::value::Value;

/// The settings directly under a policy, as the environment spells them.
const FLAT_KEYS: [&str; 11] = [
    "PRESET",
    "SEED",
    "BACKEND",
    "TIMEOUT",
    "TOTAL_TIMEOUT",
    "MAX_ATTEMPTS",
    "BASE_DELAY",
    "MAX_DELAY",
    "FAILURE_THRESHOLD",
    "RECOVERY_TIMEOUT",
    "RETRY_REJECTIONS",
];

/// The sections of a policy, reached with a double underscore.
const SECTIONS: [&str; 5] = [
    "RETRY",
    "CIRCUIT_BREAKER",
    "RATE_LIMIT",
    "BULKHEAD",
    "HEDGE",
];

/// The key path of the variable `name` (the whole name, prefix included) under `prefix`
/// (already upper case, without its trailing underscore): `Ok(None)` for a variable without
/// the prefix, `Err(reason)` for one with the prefix that names no setting.
pub(crate) fn key_path(prefix: &str, name: &str) -> Result<Option<Vec<String>>, String> {
    let upper = name.to_ascii_uppercase();
    let Some(rest) = upper
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
    else {
        return Ok(None);
    };
    let (head, tail) = match rest.split_once("__") {
        Some((head, tail)) => (head, Some(tail)),
        None => (rest, None),
    };
    let keys: &[&str] = if tail.is_some() {
        &SECTIONS
    } else {
        &FLAT_KEYS
    };
    let found = keys
        .iter()
        .filter_map(|key| {
            let policy = head.strip_suffix(key)?.strip_suffix('_')?;
            (!policy.is_empty()).then_some((policy, *key))
        })
        .max_by_key(|(_, key)| key.len());
    let Some((policy, key)) = found else {
        return Err(no_key_reason(prefix, head, tail.is_some()));
    };
    let mut path = vec![
        "policies".to_owned(),
        policy.to_ascii_lowercase(),
        key.to_ascii_lowercase(),
    ];
    if let Some(tail) = tail {
        for part in tail.split("__") {
            if part.is_empty() {
                return Err("has an empty key between double underscores".to_owned());
            }
            path.push(part.to_ascii_lowercase());
        }
    }
    Ok(Some(path))
}

fn no_key_reason(prefix: &str, head: &str, nested: bool) -> String {
    let other: &[&str] = if nested { &FLAT_KEYS } else { &SECTIONS };
    let names_other = other
        .iter()
        .any(|key| head.strip_suffix(key).is_some_and(|p| p.ends_with('_')));
    let list = |keys: &[&str]| keys.join(", ");
    if nested && names_other {
        format!(
            "names a setting, not a section: only {} take a double underscore",
            list(&SECTIONS)
        )
    } else if !nested && names_other {
        format!(
            "names a section: set one of its keys with a double underscore, such as \
             {prefix}_API_RETRY__MAX_ATTEMPTS"
        )
    } else {
        format!(
            "names no setting: expected {prefix}_<POLICY>_<KEY> with KEY one of {}, or \
             {prefix}_<POLICY>_<SECTION>__<KEY> with SECTION one of {}",
            list(&FLAT_KEYS),
            list(&SECTIONS)
        )
    }
}

/// An environment value as a configuration value: a boolean, an integer, a plain decimal
/// number, or else the string itself (durations such as `30s`, names, rates).
pub(crate) fn value(text: &str) -> Value {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("true") {
        return Value::from(true);
    }
    if trimmed.eq_ignore_ascii_case("false") {
        return Value::from(false);
    }
    if let Ok(n) = trimmed.parse::<u64>() {
        return Value::from(n);
    }
    if let Ok(n) = trimmed.parse::<i64>() {
        return Value::from(n);
    }
    if let Some(n) = super::value::plain_number(trimmed) {
        return Value::from(n);
    }
    Value::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> Result<Option<String>, String> {
        key_path("PALISADE", name).map(|p| p.map(|p| p.join(".")))
    }

    #[test]
    fn the_longest_known_key_wins_so_policy_names_may_hold_underscores() {
        assert_eq!(
            path("PALISADE_USER_DB_MAX_ATTEMPTS"),
            Ok(Some("policies.user_db.max_attempts".into()))
        );
        assert_eq!(
            path("PALISADE_API_TOTAL_TIMEOUT"),
            Ok(Some("policies.api.total_timeout".into()))
        );
        assert_eq!(
            path("PALISADE_API_TIMEOUT"),
            Ok(Some("policies.api.timeout".into()))
        );
        assert_eq!(
            path("PALISADE_API_RETRY__JITTER"),
            Ok(Some("policies.api.retry.jitter".into()))
        );
        assert_eq!(
            path("PALISADE_MY_API_CIRCUIT_BREAKER__SLIDING_WINDOW__SIZE"),
            Ok(Some(
                "policies.my_api.circuit_breaker.sliding_window.size".into()
            ))
        );
        assert_eq!(path("OTHER_API_TIMEOUT"), Ok(None));
        assert_eq!(path("PALISADEX_API_TIMEOUT"), Ok(None));
    }

    #[test]
    fn names_without_a_setting_are_refused() {
        for name in [
            "PALISADE_API",
            "PALISADE_MAX_ATTEMPTS",
            "PALISADE_API_MAX_ATEMPTS",
            "PALISADE_API_RETRY",
            "PALISADE_API_TIMEOUT__X",
            "PALISADE_API_RETRY__",
        ] {
            assert!(path(name).is_err(), "{name}");
        }
    }
}
