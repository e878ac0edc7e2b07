//! `retry_on` / `failure_on`: a list of error classes, written as a list in a file
//! (`["unreached", "transient"]`) or as one string in an environment variable
//! (`APP_WRITES_RETRY_ON=unreached,transient`, brackets optional).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Unexpected, Visitor};
use serde::ser::{SerializeSeq, Serializer};

use crate::classify::ErrorClass;

const CLASSES: [ErrorClass; 4] = [
    ErrorClass::Unreached,
    ErrorClass::Transient,
    ErrorClass::Failure,
    ErrorClass::Answer,
];

struct ClassesVisitor;

impl ClassesVisitor {
    fn class<E: de::Error>(&self, name: &str) -> Result<ErrorClass, E> {
        CLASSES
            .into_iter()
            .find(|class| class.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| E::invalid_value(Unexpected::Str(name), self))
    }
}

impl<'de> Visitor<'de> for ClassesVisitor {
    type Value = Vec<ErrorClass>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of error classes: unreached, transient, failure, answer")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
        inner
            .split(',')
            .map(|name| name.trim().trim_matches('"'))
            .filter(|name| !name.is_empty())
            .map(|name| self.class(name))
            .collect()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut classes = Vec::new();
        while let Some(name) = seq.next_element::<String>()? {
            classes.push(self.class(&name)?);
        }
        Ok(classes)
    }
}

pub(crate) fn serialize<S: Serializer>(
    value: &Option<Vec<ErrorClass>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(classes) => {
            let mut seq = serializer.serialize_seq(Some(classes.len()))?;
            for class in classes {
                seq.serialize_element(class.name())?;
            }
            seq.end()
        }
        None => serializer.serialize_none(),
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<ErrorClass>>, D::Error> {
    deserializer.deserialize_any(ClassesVisitor).map(Some)
}
