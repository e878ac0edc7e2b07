//! Connection targets as they may be shown: never with a password.
//!
//! A Redis URL carries its credentials (`redis://user:secret@host/0`). Everything this crate
//! prints — `Debug`, `Display`, errors, health reports, log lines — shows the target through
//! [`Redacted`], which replaces the password with `***`. The URL itself stays private to the
//! connection code.

use std::fmt;

/// A Redis URL with its password hidden, safe to print.
///
/// ```
/// use palisade_redis::Redacted;
/// let shown = Redacted::new("redis://app:hunter2@cache.internal:6379/0");
/// assert_eq!(shown.to_string(), "redis://app:***@cache.internal:6379/0");
/// assert!(!format!("{shown:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    /// `url` with its password replaced by `***`. Text that does not parse as a URL is
    /// shown as `<unparsable Redis URL>`: it might still hold a secret.
    pub fn new(url: &str) -> Self {
        match url::Url::parse(url) {
            Ok(mut parsed) => {
                if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
                    return Redacted("<Redis URL>".into());
                }
                // A password given as a query parameter (`?password=`) is hidden too.
                let hidden: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let secret =
                            k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("pass");
                        (
                            k.into_owned(),
                            if secret { "***".into() } else { v.into_owned() },
                        )
                    })
                    .collect();
                if !hidden.is_empty() {
                    parsed.query_pairs_mut().clear().extend_pairs(hidden);
                }
                Redacted(parsed.to_string())
            }
            Err(_) => Redacted("<unparsable Redis URL>".into()),
        }
    }

    /// The redacted text.
    ///
    /// ```
    /// assert_eq!(palisade_redis::Redacted::new("redis://h:1").as_str(), "redis://h:1");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            ("redis://:s3cret@h:6379", "redis://:***@h:6379"),
            ("rediss://u:s3cret@h:6380/2", "rediss://u:***@h:6380/2"),
            (
                "redis://h:6379/0?password=s3cret",
                "redis://h:6379/0?password=***",
            ),
            ("redis://h:6379", "redis://h:6379"),
            ("not a url s3cret", "<unparsable Redis URL>"),
        ] {
            let r = Redacted::new(url);
            assert_eq!(r.to_string(), shown);
            assert!(!format!("{r:?}").contains("s3cret"));
        }
    }
}
