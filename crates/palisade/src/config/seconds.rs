//! The `_seconds` spellings: `timeout_seconds = 30.0` is `timeout = 30.0`.
//!
//! Every duration setting `<key>` may also be written `<key>_seconds`, a number of seconds.
//! Each layer (a file, the environment, a value set in code) is rewritten to the plain
//! spelling before the layers are merged, so a later layer's `timeout` overrides an earlier
//! layer's `timeout_seconds` and the other way round, as for any other key. Both spellings in
//! one layer are an error naming both.

use figment::value::{Dict, Value};

use super::error::LoadError;
use super::value::{Refused, duration_from_secs, plain_number};

/// The duration settings under a policy, as key paths relative to it.
pub(crate) const DURATION_KEYS: [&str; 18] = [
    "timeout",
    "total_timeout",
    "base_delay",
    "max_delay",
    "recovery_timeout",
    "retry.base_delay",
    "retry.max_delay",
    "retry.max_elapsed",
    "retry.budget.ttl",
    "circuit_breaker.slow_call_duration",
    "circuit_breaker.recovery_timeout",
    "circuit_breaker.max_wait_in_half_open",
    "circuit_breaker.sliding_window.duration",
    "circuit_breaker.recovery_backoff.max",
    "rate_limit.window",
    "rate_limit.max_wait",
    "bulkhead.max_wait",
    "hedge.delay",
];

/// The suffix of the seconds spelling.
pub(crate) const SUFFIX: &str = "_seconds";

/// One `<key>_seconds` of a layer, rewritten to `<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Renamed {
    /// The full key path as written: `policies.db.timeout_seconds`.
    pub(crate) written: String,
    /// The full key path it stands for: `policies.db.timeout`.
    pub(crate) key: String,
}

/// Rewrites every `<key>_seconds` of one layer's `policies` to `<key>`, checking that its
/// value is a number of seconds. Errors name the key as written; the caller adds the source.
pub(crate) fn resolve(dict: &mut Dict) -> Result<Vec<Renamed>, LoadError> {
    let mut renamed = Vec::new();
    let Some(Value::Dict(_, policies)) = dict.get_mut("policies") else {
        return Ok(renamed);
    };
    for (name, policy) in policies.iter_mut() {
        let Value::Dict(_, policy) = policy else {
            continue;
        };
        for path in DURATION_KEYS {
            let (parents, leaf) = match path.rsplit_once('.') {
                Some((parents, leaf)) => (Some(parents), leaf),
                None => (None, path),
            };
            let Some(parent) = table_at(policy, parents) else {
                continue;
            };
            let alias = format!("{leaf}{SUFFIX}");
            let Some(value) = parent.remove(&alias) else {
                continue;
            };
            let key = format!("policies.{name}.{path}");
            let written = format!("{key}{SUFFIX}");
            if parent.contains_key(leaf) {
                return Err(LoadError::at_key(
                    written,
                    format!(
                        "and {key} are the same setting, and both are set: keep one \
                         ({leaf}{SUFFIX} is {leaf} as a number of seconds)"
                    ),
                ));
            }
            check_seconds(&value)
                .map_err(|why| LoadError::invalid(written.clone(), shown(&value), why))?;
            parent.insert(leaf.to_owned(), value);
            renamed.push(Renamed { written, key });
        }
    }
    Ok(renamed)
}

/// The table at the dotted `path` under `policy` (`policy` itself for `None`), if every
/// step is a table.
fn table_at<'a>(policy: &'a mut Dict, path: Option<&str>) -> Option<&'a mut Dict> {
    let mut current = policy;
    for part in path.into_iter().flat_map(|path| path.split('.')) {
        current = match current.get_mut(part) {
            Some(Value::Dict(_, inner)) => inner,
            _ => return None,
        };
    }
    Some(current)
}

/// Why a `_seconds` value is refused, if it is: it must be a number (or text that is only a
/// number, as an environment variable's is), finite, not negative, and representable.
fn check_seconds(value: &Value) -> Result<(), String> {
    let secs = match value {
        Value::Num(_, num) => {
            if num.to_i128().is_some_and(|whole| whole < 0) {
                return Err(refused(&Refused::Negative));
            }
            if let Some(whole) = num.to_u128_lossy() {
                return if whole > u128::from(u64::MAX) {
                    Err(refused(&Refused::TooLarge))
                } else {
                    Ok(())
                };
            }
            num.to_f64()
        }
        Value::String(_, text) => plain_number(text),
        _ => None,
    };
    let Some(secs) = secs else {
        return Err(
            "expected a number of seconds, such as 30 or 0.5 (the key says seconds); for a \
             duration with units (\"1m 30s\") use the key without _seconds"
                .to_owned(),
        );
    };
    duration_from_secs(secs)
        .map(drop)
        .map_err(|why| refused(&why))
}

fn refused(why: &Refused) -> String {
    format!("expected a number of seconds; this one {why}")
}

/// A value as it was written.
fn shown(value: &Value) -> String {
    match value {
        Value::String(_, text) => text.clone(),
        Value::Num(_, num) => match (num.to_i128(), num.to_u128(), num.to_f64()) {
            (Some(whole), _, _) => whole.to_string(),
            (_, Some(whole), _) => whole.to_string(),
            (_, _, Some(float)) => float.to_string(),
            _ => format!("{num:?}"),
        },
        Value::Bool(_, b) => b.to_string(),
        Value::Dict(..) => "a table".to_owned(),
        Value::Array(..) => "a list".to_owned(),
        Value::Char(_, c) => c.to_string(),
        Value::Empty(..) => "null".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(text: &str) -> Dict {
        use figment::Provider;
        use figment::providers::{Format, Toml};
        let mut data = Toml::string(text).data().expect("toml");
        data.remove(&figment::Profile::Default)
            .expect("default profile")
    }

    #[test]
    fn every_duration_key_takes_a_seconds_spelling() {
        let mut text = String::from("[policies.x]\n");
        for path in DURATION_KEYS {
            text.push_str(&format!("{path}_seconds = 1.5\n"));
        }
        let mut dict = policies(&text);
        let renamed = resolve(&mut dict).expect("resolves");
        assert_eq!(renamed.len(), DURATION_KEYS.len());
        assert_eq!(
            renamed[0],
            Renamed {
                written: "policies.x.timeout_seconds".into(),
                key: "policies.x.timeout".into()
            }
        );
        let Some(Value::Dict(_, policies)) = dict.get("policies") else {
            panic!("no policies")
        };
        let Some(Value::Dict(_, x)) = policies.get("x") else {
            panic!("no x")
        };
        assert!(x.contains_key("timeout") && !x.contains_key("timeout_seconds"));
    }

    #[test]
    fn seconds_must_be_a_number_and_not_both_spellings() {
        let err = resolve(&mut policies(
            "[policies.x]\ntimeout = \"2s\"\ntimeout_seconds = 2",
        ))
        .unwrap_err();
        assert_eq!(err.key(), Some("policies.x.timeout_seconds"));
        assert!(
            err.reason()
                .starts_with("and policies.x.timeout are the same setting")
        );
        for (text, value, reason) in [
            ("\"2m\"", "2m", "expected a number of seconds, such as 30"),
            (
                "-3",
                "-3",
                "expected a number of seconds; this one must not be negative",
            ),
            (
                "-0.5",
                "-0.5",
                "expected a number of seconds; this one must not be negative",
            ),
            ("true", "true", "expected a number of seconds, such as 30"),
            (
                "nan",
                "NaN",
                "expected a number of seconds; this one must be a finite",
            ),
        ] {
            let err = resolve(&mut policies(&format!(
                "[policies.x.retry]\nbase_delay_seconds = {text}"
            )))
            .unwrap_err();
            assert_eq!(
                (err.key(), err.value()),
                (Some("policies.x.retry.base_delay_seconds"), Some(value)),
                "{text}"
            );
            assert!(err.reason().starts_with(reason), "{text}: {err}");
        }
        assert!(resolve(&mut policies("[policies.x]\ntimeout_seconds = \"30\"")).is_ok());
        // The environment's numbers are unsigned.
        let mut dict = Dict::new();
        let policy: Dict = [("timeout_seconds".to_owned(), Value::from(30u64))].into();
        let x: Dict = [("x".to_owned(), Value::from(policy))].into();
        dict.insert("policies".to_owned(), Value::from(x));
        assert_eq!(resolve(&mut dict).map(|r| r.len()), Ok(1));
    }
}
