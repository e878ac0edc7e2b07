//! [`LoadError`]: where a bad setting came from, its key path, its value and why.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Format;

/// Where a configuration value came from.
///
/// ```
/// use palisade::config::Source;
/// let source = Source::Env("PALISADE_API_MAX_ATTEMPTS".into());
/// assert_eq!(source.to_string(), "environment variable PALISADE_API_MAX_ATTEMPTS");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A configuration file.
    File(PathBuf),
    /// Text given to [`Loader::text`](super::Loader::text).
    Text(Format),
    /// An environment variable, by name.
    Env(String),
    /// A value set in code with [`Loader::set`](super::Loader::set).
    Code,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Text(format) => write!(f, "{format} text"),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Code => f.write_str("a value set in code"),
        }
    }
}

/// A configuration that could not be loaded, saved or turned into a pipeline.
///
/// It says where the bad setting came from ([`source`](Self::source): the file, with the
/// [`line`](Self::line) when the format reports one, or the environment variable), which
/// setting ([`key`](Self::key), a dotted path such as `policies.x.retry.max_attempts`), the
/// rejected [`value`](Self::value) as written, and the [`reason`](Self::reason). Its
/// `Display` reads as one sentence.
///
/// ```
/// use palisade::config::{Format, Loader};
/// let err = Loader::from_str(Format::Toml, "[policies.x.retry]\nmax_attempts = -3")
///     .load()
///     .unwrap_err();
/// assert_eq!(err.key(), Some("policies.x.retry.max_attempts"));
/// assert_eq!(err.value(), Some("-3"));
/// assert_eq!(
///     err.to_string(),
///     "invalid configuration in TOML text: policies.x.retry.max_attempts = -3: \
///      expected a whole number from 1 to 4294967295"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    source: Option<Source>,
    line: Option<usize>,
    key: Option<String>,
    value: Option<String>,
    reason: String,
}

/// Longest value and reason kept, in characters: a megabyte of garbage in a file must not
/// become a megabyte of log line.
const MAX_VALUE: usize = 80;
const MAX_REASON: usize = 400;

/// `text` cut to `max` characters, marked with an ellipsis when cut.
fn clip(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

impl LoadError {
    /// A bad `value` at `key`.
    pub(crate) fn invalid(
        key: impl Into<String>,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> LoadError {
        LoadError {
            source: None,
            line: None,
            key: Some(key.into()),
            value: Some(clip(value.to_string(), MAX_VALUE)),
            reason: clip(reason.into(), MAX_REASON),
        }
    }

    /// A problem with `key` itself (unknown, missing, not used).
    pub(crate) fn at_key(key: impl Into<String>, reason: impl Into<String>) -> LoadError {
        LoadError {
            source: None,
            line: None,
            key: Some(key.into()),
            value: None,
            reason: clip(reason.into(), MAX_REASON),
        }
    }

    /// A problem with a whole source (unreadable, malformed).
    pub(crate) fn whole(source: Option<Source>, reason: impl Into<String>) -> LoadError {
        LoadError {
            source,
            line: None,
            key: None,
            value: None,
            reason: clip(reason.into(), MAX_REASON),
        }
    }

    pub(crate) fn with_source(mut self, source: Option<Source>) -> LoadError {
        if self.source.is_none() {
            self.source = source;
        }
        self
    }

    pub(crate) fn with_key(mut self, key: String) -> LoadError {
        self.key = Some(key);
        self
    }

    pub(crate) fn with_line(mut self, line: Option<usize>) -> LoadError {
        self.line = line;
        self
    }

    pub(crate) fn with_value(mut self, value: Option<String>) -> LoadError {
        self.value = value.map(|value| clip(value, MAX_VALUE));
        self
    }

    /// Where the bad setting came from, when known: a file, text, an environment variable
    /// or code. `None` for a value no source set (a preset's or a policy's default that
    /// another setting contradicts).
    ///
    /// ```
    /// use palisade::config::{Loader, Source};
    /// let err = Loader::new()
    ///     .env_from([("PALISADE_API_MAX_ATTEMPTS", "many")])
    ///     .load()
    ///     .unwrap_err();
    /// assert_eq!(err.source(), Some(&Source::Env("PALISADE_API_MAX_ATTEMPTS".into())));
    /// ```
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// The file the bad setting came from, if it came from a file.
    ///
    /// ```
    /// let err = palisade::config::Loader::new().file("missing.toml").load().unwrap_err();
    /// assert_eq!(err.file(), Some(std::path::Path::new("missing.toml")));
    /// ```
    pub fn file(&self) -> Option<&Path> {
        match &self.source {
            Some(Source::File(path)) => Some(path),
            _ => None,
        }
    }

    /// The environment variable the bad setting came from, if any.
    ///
    /// ```
    /// let err = palisade::config::Loader::new()
    ///     .env_from([("PALISADE_API_TIMEOUT", "soon")])
    ///     .load()
    ///     .unwrap_err();
    /// assert_eq!(err.env_var(), Some("PALISADE_API_TIMEOUT"));
    /// ```
    pub fn env_var(&self) -> Option<&str> {
        match &self.source {
            Some(Source::Env(name)) => Some(name),
            _ => None,
        }
    }

    /// The line (1-based) in the file or text, when the format reports one (syntax errors).
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let err = Loader::from_str(Format::Toml, "[policies.x]\ntimeout = ").load().unwrap_err();
    /// assert_eq!(err.line(), Some(2));
    /// ```
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The dotted key path of the bad setting (`policies.x.retry.max_attempts`), if the
    /// problem is one setting.
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let err = Loader::from_str(Format::Toml, "[policies.x]\nmax_atempts = 3").load().unwrap_err();
    /// assert_eq!(err.key(), Some("policies.x.max_atempts"));
    /// ```
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The rejected value as written, if the problem is a value.
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let err = Loader::from_str(Format::Toml, "[policies.x]\npreset = \"databse\"").load().unwrap_err();
    /// assert_eq!(err.value(), Some("databse"));
    /// ```
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Why the setting was refused and what would be accepted.
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let err = Loader::from_str(Format::Toml, "[policies.x]\npreset = \"databse\"").load().unwrap_err();
    /// assert!(err.reason().contains("database, api"));
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration")?;
        if let Some(source) = &self.source {
            write!(f, " in {source}")?;
        }
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            f.write_str(key)?;
            if let Some(value) = &self.value {
                write!(f, " = {value}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for LoadError {}
