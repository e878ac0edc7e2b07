//! Environment variables to key paths: `<PREFIX>_<POLICY>_<KEY>[__<NESTED>...]`.
//!
//! The policy name may itself contain underscores, so the key is found by matching the
//! longest known key at the end of the name (`USER_DB_MAX_ATTEMPTS` is policy `user_db`,
//! key `max_attempts`; `API_TOTAL_TIMEOUT` is `total_timeout`, not `timeout` of a policy
//! `api_total`). A double underscore goes into a section: `API_RETRY__JITTER` is
//! `policies.api.retry.jitter`. The duration keys also match with `_SECONDS`
//! (`DATABASE_TIMEOUT_SECONDS`); the loader rewrites those to the plain key.
//!
//! Two variables have no policy: `<PREFIX>_RESILIENCE_ENABLED` is the top-level
//! `resilience_enabled` (a policy named `resilience` is reached as
//! `<PREFIX>_RESILIENCE_RESILIENCE_ENABLED`), and `<PREFIX>_REDIS_URL` is `redis_url`.
//!
//! A name with the prefix that matches no key is refused here with the reason; the loader
//! ignores and lists it, or with `strict_env` reports it ([`suggestion`] finds the setting a
//! misspelt one meant).

use figment::value::Value;

/// The settings at the top of the configuration, no policy: `<PREFIX>_RESILIENCE_ENABLED`,
/// `<PREFIX>_REDIS_URL`.
const GLOBAL_KEYS: [&str; 2] = ["RESILIENCE_ENABLED", "REDIS_URL"];

/// The settings directly under a policy, as the environment spells them.
const FLAT_KEYS: [&str; 15] = [
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
    "IDEMPOTENT",
    "RETRY_ON",
    "FAILURE_ON",
    "RESILIENCE_ENABLED",
];

/// The settings of [`FLAT_KEYS`] that are durations, and so also take the
/// `_SECONDS` spelling (`PALISADE_DATABASE_TIMEOUT_SECONDS=30`).
const FLAT_DURATION_KEYS: [&str; 5] = [
    "TIMEOUT_SECONDS",
    "TOTAL_TIMEOUT_SECONDS",
    "BASE_DELAY_SECONDS",
    "MAX_DELAY_SECONDS",
    "RECOVERY_TIMEOUT_SECONDS",
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
    if GLOBAL_KEYS.contains(&rest) {
        return Ok(Some(vec![rest.to_ascii_lowercase()]));
    }
    let (head, tail) = match rest.split_once("__") {
        Some((head, tail)) => (head, Some(tail)),
        None => (rest, None),
    };
    let keys: &[&str] = if tail.is_some() {
        &SECTIONS
    } else {
        &FLAT_KEYS
    };
    let extra: &[&str] = if tail.is_some() {
        &[]
    } else {
        &FLAT_DURATION_KEYS
    };
    let found = keys
        .iter()
        .chain(extra)
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

/// The variable `name` probably meant, when it is one small slip (a letter missing, added,
/// changed, or two swapped) away from naming a setting: `APP_DB_TIMEOUT_SECODNS` →
/// `APP_DB_TIMEOUT_SECONDS`. `name` is one [`key_path`] refused.
pub(crate) fn suggestion(prefix: &str, name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let rest = upper.strip_prefix(prefix)?.strip_prefix('_')?;
    let (head, tail) = match rest.split_once("__") {
        Some((head, tail)) => (head, Some(tail)),
        None => (rest, None),
    };
    if tail.is_none()
        && let Some(key) = GLOBAL_KEYS
            .iter()
            .find(|key| (1..=2).contains(&edit_distance(head, key)))
    {
        return Some(format!("{prefix}_{key}"));
    }
    let keys: Vec<&str> = match tail {
        Some(_) => SECTIONS.to_vec(),
        None => FLAT_KEYS
            .iter()
            .chain(&FLAT_DURATION_KEYS)
            .copied()
            .collect(),
    };
    // Every split of `head` at an underscore into a policy name and a would-be key.
    let best = head
        .match_indices('_')
        .map(|(at, _)| (&head[..at], &head[at + 1..]))
        .filter(|(policy, written)| !policy.is_empty() && !written.is_empty())
        .flat_map(|(policy, written)| {
            keys.iter().filter_map(move |key| {
                let distance = edit_distance(written, key);
                let allowed = if key.len() >= 8 { 2 } else { 1 };
                (distance > 0 && distance <= allowed).then_some((distance, policy, *key))
            })
        })
        .min_by_key(|(distance, _, key)| (*distance, std::cmp::Reverse(key.len())))?;
    let (_, policy, key) = best;
    let mut fixed = format!("{prefix}_{policy}_{key}");
    if let Some(tail) = tail {
        fixed.push_str("__");
        fixed.push_str(tail);
    }
    key_path(prefix, &fixed).ok().flatten()?;
    Some(fixed)
}

/// The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// neighbours, each counting one.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1)
                .min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
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
        assert_eq!(
            path("PALISADE_RESILIENCE_ENABLED"),
            Ok(Some("resilience_enabled".into()))
        );
        assert_eq!(
            path("PALISADE_PAYMENTS_RESILIENCE_ENABLED"),
            Ok(Some("policies.payments.resilience_enabled".into()))
        );
        assert_eq!(
            path("PALISADE_PAYMENTS_RETRY__ENABLED"),
            Ok(Some("policies.payments.retry.enabled".into()))
        );
        assert_eq!(path("OTHER_API_TIMEOUT"), Ok(None));
        assert_eq!(path("PALISADEX_API_TIMEOUT"), Ok(None));
    }

    #[test]
    fn the_seconds_spellings_of_durations_are_settings() {
        assert_eq!(
            path("PALISADE_DATABASE_TIMEOUT_SECONDS"),
            Ok(Some("policies.database.timeout_seconds".into()))
        );
        assert_eq!(
            path("PALISADE_USER_DB_RECOVERY_TIMEOUT_SECONDS"),
            Ok(Some("policies.user_db.recovery_timeout_seconds".into()))
        );
        assert_eq!(
            path("PALISADE_API_RETRY__BASE_DELAY_SECONDS"),
            Ok(Some("policies.api.retry.base_delay_seconds".into()))
        );
    }

    #[test]
    fn one_slip_away_from_a_setting_is_suggested() {
        let suggest = |name: &str| suggestion("APP", name);
        assert_eq!(
            suggest("APP_DATABASE_TIMEOUT_SECODNS").as_deref(),
            Some("APP_DATABASE_TIMEOUT_SECONDS")
        );
        assert_eq!(
            suggest("APP_USER_DB_MAX_ATEMPTS").as_deref(),
            Some("APP_USER_DB_MAX_ATTEMPTS")
        );
        assert_eq!(
            suggest("APP_API_RETRI__JITTER").as_deref(),
            Some("APP_API_RETRY__JITTER")
        );
        assert_eq!(
            suggest("APP_RESILIENCE_ENABLD").as_deref(),
            Some("APP_RESILIENCE_ENABLED")
        );
        for unrelated in ["APP_PORT", "APP_DATABASE_URL", "APP_LOG_LEVEL", "APP_NAME"] {
            assert_eq!(suggest(unrelated), None, "{unrelated}");
        }
        assert_eq!(edit_distance("SECODNS", "SECONDS"), 1);
        assert_eq!(edit_distance("", "ABC"), 3);
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
