//! [`Loader`]: files, text, environment variables and code values merged by figment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::error::{Actual, Kind};
use figment::providers::{Format as _, Json, Toml, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Serialize;

use super::error::{LoadError, Source};
use super::{PalisadeConfig, env, seconds};

/// A configuration file format.
///
/// ```
/// use palisade::config::Format;
/// assert_eq!(Format::from_path("palisade.yml".as_ref()), Some(Format::Yaml));
/// assert_eq!(Format::Toml.to_string(), "TOML");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file's extension names, if any.
    ///
    /// ```
    /// use palisade::config::Format;
    /// assert_eq!(Format::from_path("conf/palisade.json".as_ref()), Some(Format::Json));
    /// assert_eq!(Format::from_path("palisade.ini".as_ref()), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub(crate) fn for_path(path: &Path) -> Result<Format, LoadError> {
        Format::from_path(path).ok_or_else(|| {
            LoadError::whole(
                Some(Source::File(path.to_owned())),
                "the file's extension names no known format: use .toml, .yaml, .yml or .json",
            )
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Toml => "TOML",
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        })
    }
}

/// The prefix environment variables are read with unless [`Loader::env_prefix`] says
/// otherwise.
///
/// ```
/// use palisade::config::{DEFAULT_ENV_PREFIX, Loader};
/// let name = format!("{DEFAULT_ENV_PREFIX}_API_MAX_ATTEMPTS");
/// let config = Loader::new().env_from([(name, "2")]).load()?;
/// assert_eq!(config.policies["api"].max_attempts, Some(2));
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
pub const DEFAULT_ENV_PREFIX: &str = "PALISADE";

/// Loads a [`PalisadeConfig`] from layers, each overriding the ones before it key by key:
///
/// 1. files and text, in the order they were added ([`file`](Self::file),
///    [`optional_file`](Self::optional_file), [`text`](Self::text));
/// 2. environment variables ([`env_prefix`](Self::env_prefix) reads the process
///    environment, [`env_from`](Self::env_from) takes the variables explicitly);
/// 3. values set in code ([`set`](Self::set)), in the order they were set.
///
/// The order is fixed, whatever order the methods are called in. Presets sit below all of
/// them: a policy's `preset` is applied first when its pipeline is built.
///
/// ```
/// use palisade::config::{Format, Loader};
///
/// let config = Loader::new()
///     .text(Format::Toml, "[policies.api]\npreset = \"api\"\nmax_attempts = 3")
///     .env_from([("PALISADE_API_MAX_ATTEMPTS", "4")]) // overrides the text
///     .set("policies.api.timeout", "5s")?             // the last word
///     .load()?;
/// assert_eq!(config.policies["api"].max_attempts, Some(4));
/// let api = config.pipeline("api")?;
/// assert_eq!(api.retry().map(|r| r.config().max_attempts), Some(4));
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Loader {
    texts: Vec<TextLayer>,
    env: Option<EnvLayer>,
    code: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
enum TextLayer {
    File { path: PathBuf, required: bool },
    Text { format: Format, text: String },
}

#[derive(Debug, Clone, Default)]
struct EnvLayer {
    prefix: Option<String>,
    vars: Option<Vec<(String, String)>>,
    strict: bool,
}

/// A variable with the environment prefix that names no setting, which loading ignored
/// (see [`Loader::strict_env`]): most likely one of the application's own
/// (`APP_DATABASE_URL`), perhaps a misspelt setting (`APP_DATABASE_TIMEOUT_SECODNS`).
///
/// ```
/// use palisade::config::Loader;
/// let config = Loader::new()
///     .env_prefix("APP")
///     .env_from([("APP_PORT", "8080"), ("APP_DB_MAX_ATEMPTS", "3")])
///     .load()?;
/// let ignored = config.ignored_env_vars();
/// assert_eq!(ignored[0].name(), "APP_DB_MAX_ATEMPTS");
/// assert_eq!(ignored[0].suggestion(), Some("APP_DB_MAX_ATTEMPTS"));
/// assert_eq!((ignored[1].name(), ignored[1].suggestion()), ("APP_PORT", None));
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredEnvVar {
    name: String,
    reason: String,
    suggestion: Option<String>,
}

impl IgnoredEnvVar {
    /// The variable's name, as the environment spells it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why it names no setting, and what the scheme expects.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The variable it would be with one slip undone (a letter missing, added or changed,
    /// or two swapped), when that names a setting: the misspelt Palisade variables among
    /// the ignored ones. An application can refuse to start on one.
    pub fn suggestion(&self) -> Option<&str> {
        self.suggestion.as_deref()
    }
}

impl fmt::Display for IgnoredEnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.reason)?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, " (did you mean {suggestion}?)")?;
        }
        Ok(())
    }
}

/// The marker figment keeps in each layer's metadata, so a value's tag leads back to it.
const LAYER_MARKER: &str = "palisade-config-layer:";

/// One merged layer, as figment sees it.
struct Layer {
    index: usize,
    name: String,
    data: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::from(
            self.name.clone(),
            figment::Source::Custom(format!("{LAYER_MARKER}{}", self.index)),
        )
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

/// What each layer is, and which variable set each key of the environment layer.
#[derive(Debug, Default)]
struct Layers {
    sources: Vec<Source>,
    env_index: Option<usize>,
    env_vars: BTreeMap<String, String>,
    /// (layer, key path) of every value a layer wrote as `<key>_seconds`.
    seconds: std::collections::BTreeSet<(usize, String)>,
}

impl Layers {
    fn add(&mut self, source: Source) -> usize {
        self.sources.push(source);
        self.sources.len() - 1
    }

    /// Remembers which keys of layer `index` were written as `<key>_seconds`.
    fn record_seconds(&mut self, index: usize, renamed: Vec<seconds::Renamed>) {
        self.seconds
            .extend(renamed.into_iter().map(|renamed| (index, renamed.key)));
    }

    /// The layer a figment tag's metadata names.
    fn index_of(&self, metadata: Option<&Metadata>) -> Option<usize> {
        let marker = metadata?.source.as_ref()?.custom()?;
        marker.strip_prefix(LAYER_MARKER)?.parse().ok()
    }

    /// The source of the value at `key` in layer `index`: for the environment, the variable
    /// that set the key (or the nearest one above it).
    fn source(&self, index: usize, key: &str) -> Option<Source> {
        if Some(index) == self.env_index {
            let mut key = key;
            loop {
                if let Some(var) = self.env_vars.get(key) {
                    return Some(Source::Env(var.clone()));
                }
                key = key.rsplit_once('.')?.0;
            }
        }
        self.sources.get(index).cloned()
    }
}

/// Where each value of a loaded configuration came from: key path → (layer, source); and
/// the key paths that were written as `<key>_seconds`, so messages use the user's spelling.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins(
    pub(crate) Arc<BTreeMap<String, (usize, Source)>>,
    pub(crate) Arc<BTreeMap<String, String>>,
);

impl Loader {
    /// A loader with no layers: add files, environment variables and code values.
    ///
    /// ```
    /// let config = palisade::config::Loader::new().load()?;
    /// assert!(config.policies.is_empty());
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn new() -> Loader {
        Loader::default()
    }

    /// A loader of one text: shorthand for `Loader::new().text(format, text)`.
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let config = Loader::from_str(Format::Json, r#"{"policies": {"db": {"preset": "database"}}}"#).load()?;
    /// assert!(config.pipeline("db").is_ok());
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    #[allow(clippy::should_implement_trait)] // two arguments: not FromStr
    pub fn from_str(format: Format, text: &str) -> Loader {
        Loader::new().text(format, text)
    }

    /// Adds a file, its format named by its extension (`.toml`, `.yaml`/`.yml`, `.json`). A
    /// missing or unreadable file is an error when loading.
    ///
    /// ```
    /// use palisade::config::Loader;
    /// let dir = std::env::temp_dir().join("palisade-doc-file");
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("palisade.toml");
    /// std::fs::write(&path, "[policies.db]\npreset = \"database\"\n")?;
    /// let config = Loader::new().file(&path).load()?;
    /// assert!(config.policies.contains_key("db"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn file(mut self, path: impl AsRef<Path>) -> Loader {
        self.texts.push(TextLayer::File {
            path: path.as_ref().to_owned(),
            required: true,
        });
        self
    }

    /// Adds a file that may be absent (a local override): a missing file adds nothing; a
    /// present one must be valid.
    ///
    /// ```
    /// let config = palisade::config::Loader::new().optional_file("no-such-file.toml").load()?;
    /// assert!(config.policies.is_empty());
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn optional_file(mut self, path: impl AsRef<Path>) -> Loader {
        self.texts.push(TextLayer::File {
            path: path.as_ref().to_owned(),
            required: false,
        });
        self
    }

    /// Adds configuration text in `format` (tests, embedded defaults).
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let config = Loader::new()
    ///     .text(Format::Yaml, "policies: { cache: { preset: cache } }")
    ///     .text(Format::Toml, "[policies.cache]\nmax_attempts = 1") // overrides
    ///     .load()?;
    /// assert_eq!(config.policies["cache"].max_attempts, Some(1));
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn text(mut self, format: Format, text: impl Into<String>) -> Loader {
        self.texts.push(TextLayer::Text {
            format,
            text: text.into(),
        });
        self
    }

    /// Reads environment variables named `<prefix>_<POLICY>_<KEY>` (see the
    /// [module docs](super#environment-variables)) from the process environment, or from
    /// [`env_from`](Self::env_from)'s variables if given. A trailing underscore on `prefix`
    /// is ignored; names are matched without regard to case.
    ///
    /// The prefix may be the application's own: a variable with it that names no setting
    /// (`MYAPP_PORT`, `MYAPP_DATABASE_URL`) is ignored and listed by
    /// [`PalisadeConfig::ignored_env_vars`], unless [`strict_env`](Self::strict_env) is on.
    ///
    /// ```
    /// let loader = palisade::config::Loader::new().env_prefix("MYAPP");
    /// # let _ = loader;
    /// ```
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Loader {
        self.env.get_or_insert_with(EnvLayer::default).prefix = Some(prefix.into());
        self
    }

    /// Reads environment variables from `vars` instead of the process environment (tests,
    /// or variables gathered elsewhere); the prefix is [`DEFAULT_ENV_PREFIX`] unless
    /// [`env_prefix`](Self::env_prefix) sets one.
    ///
    /// ```
    /// let config = palisade::config::Loader::new()
    ///     .env_from([("PALISADE_USER_DB_MAX_ATTEMPTS", "5"), ("HOME", "/root")])
    ///     .load()?;
    /// assert_eq!(config.policies["user_db"].max_attempts, Some(5));
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn env_from<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Loader
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.env.get_or_insert_with(EnvLayer::default).vars = Some(vars);
        self
    }

    /// With `true`, a variable with the environment prefix that names no setting is an
    /// error naming it (and the others), instead of being ignored: for a prefix Palisade
    /// has to itself, where every such variable is a mistake. Off by default, because an
    /// application usually shares its prefix with Palisade.
    ///
    /// ```
    /// use palisade::config::Loader;
    /// let vars = [("APP_PORT", "8080"), ("APP_DB_MAX_ATTEMPTS", "3")];
    /// let loader = Loader::new().env_prefix("APP").env_from(vars);
    /// assert!(loader.clone().load().is_ok());
    /// let err = loader.strict_env(true).load().unwrap_err();
    /// assert_eq!(err.env_var(), Some("APP_PORT"));
    /// ```
    pub fn strict_env(mut self, strict: bool) -> Loader {
        self.env.get_or_insert_with(EnvLayer::default).strict = strict;
        self
    }

    /// Sets the value at a dotted key path in code: the last layer. Durations are strings
    /// (`"5s"`) or seconds; the value is checked when loading, like any other.
    ///
    /// ```
    /// let config = palisade::config::Loader::new()
    ///     .set("policies.api.retry.max_attempts", 2)?
    ///     .load()?;
    /// assert_eq!(config.policies["api"].retry.as_ref().and_then(|r| r.max_attempts), Some(2));
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A value serde cannot represent (a map with non-string keys).
    pub fn set(mut self, key: &str, value: impl Serialize) -> Result<Loader, LoadError> {
        let value = Value::serialize(value).map_err(|error| {
            LoadError::at_key(key, error.kind.to_string()).with_source(Some(Source::Code))
        })?;
        self.code.push((key.to_owned(), value));
        Ok(self)
    }

    /// Reads every layer, merges them and checks the result against the model: unknown
    /// keys, values of the wrong type and unknown names are errors naming their source and
    /// key path. Values that only building a pipeline checks (a zero `max_attempts`) are
    /// reported by [`PalisadeConfig::pipeline`].
    ///
    /// When a setting is given both as a shortcut (`max_attempts`) and in its section
    /// (`retry.max_attempts`), the one from the later layer is kept and the other dropped
    /// (in one layer, the shortcut), so the loaded configuration says one thing.
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let err = Loader::from_str(Format::Toml, "[policies.api]\nretries = 3").load().unwrap_err();
    /// assert_eq!(err.key(), Some("policies.api.retries"));
    /// ```
    pub fn load(self) -> Result<PalisadeConfig, LoadError> {
        let mut layers = Layers::default();
        let mut figment = Figment::new();
        for text in self.texts {
            let (source, format, text) = match text {
                TextLayer::Text { format, text } => (Source::Text(format), format, text),
                TextLayer::File { path, required } => {
                    let source = Source::File(path.clone());
                    let format = Format::for_path(&path)?;
                    match std::fs::read_to_string(&path) {
                        Ok(text) => (source, format, text),
                        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                            continue;
                        }
                        Err(e) => {
                            return Err(LoadError::whole(
                                Some(source),
                                format!("cannot read the file: {e}"),
                            ));
                        }
                    }
                }
            };
            let with_source = |e: LoadError| e.with_source(Some(source.clone()));
            check_syntax(format, &text).map_err(with_source)?;
            let mut dict = parse(&layers, format, &text).map_err(with_source)?;
            let renamed = seconds::resolve(&mut dict).map_err(with_source)?;
            let index = layers.add(source.clone());
            layers.record_seconds(index, renamed);
            figment = figment.merge(Layer {
                index,
                name: source.to_string(),
                data: dict,
            });
        }
        let mut ignored = Vec::new();
        if let Some(env) = self.env {
            let (dict, vars, renamed, unused) = env_dict(&env)?;
            let index = layers.add(Source::Env(String::new()));
            layers.env_index = Some(index);
            layers.env_vars = vars;
            layers.record_seconds(index, renamed);
            ignored = unused;
            figment = figment.merge(Layer {
                index,
                name: "environment variables".to_owned(),
                data: dict,
            });
        }
        for (key, value) in self.code {
            let mut dict = match figment::util::nest(&key, value) {
                Value::Dict(_, dict) => dict,
                _ => return Err(LoadError::at_key(key, "is not a key path")),
            };
            let renamed =
                seconds::resolve(&mut dict).map_err(|e| e.with_source(Some(Source::Code)))?;
            let index = layers.add(Source::Code);
            layers.record_seconds(index, renamed);
            figment = figment.merge(Layer {
                index,
                name: "code".to_owned(),
                data: dict,
            });
        }
        let mut config: PalisadeConfig = figment
            .extract()
            .map_err(|error| translate(&layers, error))?;
        let mut origins = BTreeMap::new();
        for top in ["resilience_enabled", "policies"] {
            if let Ok(value) = figment.find_value(top) {
                collect_origins(&figment, &layers, top, &value, &mut origins);
            }
        }
        let spelled = origins
            .iter()
            .filter(|(key, (index, _))| layers.seconds.contains(&(*index, (*key).clone())))
            .map(|(key, _)| (key.clone(), format!("{key}{}", seconds::SUFFIX)))
            .collect();
        config.origins = Origins(Arc::new(origins), Arc::new(spelled));
        config.ignored_env = ignored;
        config.prefer_later_layers();
        Ok(config)
    }
}

/// A text's values, read by figment's provider for its format.
fn parse(layers: &Layers, format: Format, text: &str) -> Result<Dict, LoadError> {
    let data = match format {
        Format::Toml => Toml::string(text).data(),
        Format::Yaml => Yaml::string(text).data(),
        Format::Json => Json::string(text).data(),
    };
    let mut data = data.map_err(|error| translate(layers, error))?;
    Ok(data.remove(&Profile::Default).unwrap_or_default())
}

/// Checks the text's syntax with the format's own parser, for its line number.
fn check_syntax(format: Format, text: &str) -> Result<(), LoadError> {
    let (line, message) = match format {
        Format::Toml => match toml::from_str::<toml::Table>(text) {
            Ok(_) => return Ok(()),
            Err(e) => (
                e.span().map(|span| line_of(text, span.start)),
                one_line(e.message()),
            ),
        },
        Format::Yaml => match serde_yaml::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => return Ok(()),
            Err(e) => (
                e.location().map(|l| l.line()),
                strip_location(&e.to_string()),
            ),
        },
        Format::Json => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => return Ok(()),
            Err(e) => (
                (e.line() > 0).then_some(e.line()),
                strip_location(&e.to_string()),
            ),
        },
    };
    Err(LoadError::whole(None, format!("malformed {format}: {message}")).with_line(line))
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// "expected value at line 1 column 2" → "expected value" (the line is reported apart).
fn strip_location(message: &str) -> String {
    let message = one_line(message);
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

/// A parser's message on one line, so the error reads as one sentence.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    lines.join("; ")
}

/// The environment layer: its dict, the variable behind each key path, the keys written
/// as `<key>_seconds`, and the variables that name no setting.
type EnvData = (
    Dict,
    BTreeMap<String, String>,
    Vec<seconds::Renamed>,
    Vec<IgnoredEnvVar>,
);

/// The environment layer as a dict, and the variable behind each key path.
fn env_dict(env: &EnvLayer) -> Result<EnvData, LoadError> {
    let prefix = env
        .prefix
        .as_deref()
        .unwrap_or(DEFAULT_ENV_PREFIX)
        .trim_end_matches('_')
        .to_ascii_uppercase();
    if prefix.is_empty() {
        return Err(LoadError::whole(
            None,
            "the environment prefix is empty: every variable would be read as configuration",
        ));
    }
    let mut vars: Vec<(String, String)> = match &env.vars {
        Some(vars) => vars.clone(),
        None => process_env(&prefix)?,
    };
    vars.sort();
    let mut dict = Dict::new();
    let mut names = BTreeMap::new();
    let mut ignored = Vec::new();
    for (name, text) in vars {
        let source = Some(Source::Env(name.clone()));
        let path = match env::key_path(&prefix, &name) {
            Ok(Some(path)) => path,
            Ok(None) => continue,
            Err(reason) => {
                let suggestion = env::suggestion(&prefix, &name);
                ignored.push(IgnoredEnvVar {
                    name,
                    reason,
                    suggestion,
                });
                continue;
            }
        };
        let key = path.join(".");
        insert(&mut dict, &path, env::value(&text))
            .map_err(|reason| LoadError::at_key(key.clone(), reason).with_source(source))?;
        names.insert(key, name);
    }
    if env.strict
        && let Some(first) = ignored.first()
    {
        // What is wrong and the names first, the scheme last: the reason may be clipped.
        let (what, scheme) = first
            .reason
            .split_once(": ")
            .unwrap_or((first.reason.as_str(), ""));
        let mut reason = format!("{what} (strict_env is on)");
        if let Some(suggestion) = &first.suggestion {
            reason = format!("{reason}; did you mean {suggestion}?");
        }
        if ignored.len() > 1 {
            let others: Vec<&str> = ignored[1..].iter().map(|v| v.name.as_str()).collect();
            reason = format!(
                "{reason}; other variables that name no setting: {}",
                others.join(", ")
            );
        }
        if !scheme.is_empty() {
            reason = format!("{reason}; {scheme}");
        }
        return Err(LoadError::whole(
            Some(Source::Env(first.name.clone())),
            reason,
        ));
    }
    let renamed = seconds::resolve(&mut dict).map_err(|error| {
        // The error names the `_seconds` key; the variable that set it is the source, and a
        // clash also names the other variable.
        let var = |key: &str| names.get(key).cloned();
        let written = error.key().unwrap_or_default().to_owned();
        let plain = written.strip_suffix(seconds::SUFFIX).unwrap_or(&written);
        let error = match (error.value(), var(plain)) {
            (None, Some(other)) => LoadError::at_key(
                written.clone(),
                format!("{} (environment variable {other})", error.reason()),
            ),
            _ => error,
        };
        error.with_source(var(&written).map(Source::Env))
    })?;
    for renamed in &renamed {
        if let Some(name) = names.remove(&renamed.written) {
            names.insert(renamed.key.clone(), name);
        }
    }
    Ok((dict, names, renamed, ignored))
}

/// The process's variables that start with the prefix; a non-UTF-8 value of one is an
/// error.
fn process_env(prefix: &str) -> Result<Vec<(String, String)>, LoadError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let upper = name.to_ascii_uppercase();
        if !upper.starts_with(prefix) {
            continue;
        }
        match value.into_string() {
            Ok(value) => vars.push((name.to_owned(), value)),
            Err(_) => {
                return Err(LoadError::whole(
                    Some(Source::Env(name.to_owned())),
                    "the value is not valid UTF-8",
                ));
            }
        }
    }
    Ok(vars)
}

/// Inserts `value` at `path`, creating tables on the way.
fn insert(dict: &mut Dict, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut current = dict;
    for part in parents {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| Value::from(Dict::new()));
        current = match entry {
            Value::Dict(_, inner) => inner,
            _ => {
                return Err(format!(
                    "is inside `{part}`, which another variable sets to a value"
                ));
            }
        };
    }
    if matches!(current.get(last), Some(Value::Dict(..))) {
        return Err("is a section that other variables set keys of".to_owned());
    }
    current.insert(last.clone(), value);
    Ok(())
}

/// Records, for every value under `path`, the layer and source that set it.
fn collect_origins(
    figment: &Figment,
    layers: &Layers,
    path: &str,
    value: &Value,
    origins: &mut BTreeMap<String, (usize, Source)>,
) {
    if let Value::Dict(_, dict) = value {
        for (key, value) in dict {
            collect_origins(figment, layers, &format!("{path}.{key}"), value, origins);
        }
        return;
    }
    if let Some(index) = layers.index_of(figment.get_metadata(value.tag()))
        && let Some(source) = layers.source(index, path)
    {
        origins.insert(path.to_owned(), (index, source));
    }
}

/// A figment error as a [`LoadError`]: its source, key path, value and reason.
fn translate(layers: &Layers, error: figment::Error) -> LoadError {
    let Some(error) = error.into_iter().next() else {
        return LoadError::whole(None, "the configuration could not be read");
    };
    let mut key = error.path.join(".");
    let index = layers.index_of(error.metadata.as_ref());
    let mut at = |field: &str| {
        if !field.is_empty() && !key.ends_with(field) {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(field);
        }
    };
    let (value, reason) = match &error.kind {
        Kind::UnknownField(field, expected) => {
            at(field);
            (
                None,
                format!("unknown key; expected one of: {}", expected.join(", ")),
            )
        }
        Kind::MissingField(field) => {
            at(field);
            (None, "is required".to_owned())
        }
        Kind::UnknownVariant(variant, expected) => (
            Some(variant.clone()),
            format!("expected one of: {}", expected.join(", ")),
        ),
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => (
            Some(shown(actual)),
            format!("expected {}", plain(expected, &key)),
        ),
        Kind::Message(message) if key.is_empty() && message.contains("expected a map") => (
            None,
            format!("{}: the document must be a table", strip_location(message)),
        ),
        Kind::Message(message) => (None, strip_location(message)),
        other => (None, other.to_string()),
    };
    let source = index.and_then(|index| layers.source(index, &key));
    let error = if key.is_empty() {
        LoadError::whole(None, reason)
    } else {
        LoadError::at_key(key, reason)
    };
    error.with_value(value).with_source(source)
}

/// A value as it was written.
fn shown(actual: &Actual) -> String {
    match actual {
        Actual::Bool(v) => v.to_string(),
        Actual::Unsigned(v) => v.to_string(),
        Actual::Signed(v) => v.to_string(),
        Actual::Float(v) => v.to_string(),
        Actual::Char(v) => v.to_string(),
        Actual::Str(v) => v.clone(),
        Actual::Map => "a table".to_owned(),
        Actual::Seq => "a list".to_owned(),
        Actual::Unit => "null".to_owned(),
        other => other.to_string(),
    }
}

/// serde's names of expected types, in words; a whole number's range is the one the
/// setting at `key` accepts when the pipeline is built, so the message agrees with that
/// check (`max_attempts` starts at 1, not at 0).
fn plain(expected: &str, key: &str) -> String {
    let whole = |type_max: u64| {
        let (min, max) = whole_number_range(key).unwrap_or((0, type_max));
        format!("a whole number from {min} to {}", max.min(type_max))
    };
    match expected {
        "u32" => whole(u64::from(u32::MAX)),
        "u64" | "usize" => whole(u64::MAX),
        "f64" | "f32" => "a number".to_owned(),
        "a boolean" | "bool" => "true or false".to_owned(),
        "a map" => "a table".to_owned(),
        other => match other.strip_prefix("struct ") {
            Some(_) => "a table of settings".to_owned(),
            None => other.to_owned(),
        },
    }
}

/// The whole numbers the setting at `key` (`policies.<name>.<path>`) accepts, where that is
/// narrower than its type's: the same bounds the policies' `build()` checks.
fn whole_number_range(key: &str) -> Option<(u64, u64)> {
    let path = key.strip_prefix("policies.")?.split_once('.')?.1;
    let u32_max = u64::from(u32::MAX);
    Some(match path {
        "max_attempts"
        | "retry.max_attempts"
        | "failure_threshold"
        | "circuit_breaker.failure_threshold"
        | "circuit_breaker.minimum_calls"
        | "circuit_breaker.half_open_requests"
        | "circuit_breaker.success_threshold"
        | "circuit_breaker.sliding_window.size"
        | "rate_limit.burst"
        | "rate_limit.capacity"
        | "rate_limit.max_requests" => (1, u32_max),
        "circuit_breaker.sliding_window.buckets" => (1, 1000),
        "bulkhead.max_concurrent" => (1, crate::sync::semaphore::MAX_PERMITS as u64),
        "hedge.max_hedged_attempts" => (1, u64::from(crate::hedge::MAX_HEDGED_ATTEMPTS)),
        "hedge.sample_size" | "hedge.min_samples" => (1, u64::from(crate::hedge::MAX_SAMPLE_SIZE)),
        _ => return None,
    })
}
