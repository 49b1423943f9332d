//! Generic YAML shapes the raw structs are built from, so that no raw struct needs a
//! hand-written visitor for them:
//!
//! - [`OrderedMap`]: a map that keeps its order, keyed by located strings;
//! - [`OneKey`]: a one-key map `{ kind: value }` whose value's type depends on the key
//!   ([`Keyed`]), reporting a second key, an empty map, a bare word or another shape;
//! - [`WordOrMap`]: a bare word or a map (`scripted: server` / `scripted: { client: b }`);
//! - [`ScalarOrMap`]: any scalar as text, or a map (`latency: 5ms` / `{ min: .., max: .. }`);
//! - [`Switch`]: `off` or a map of settings.
//!
//! Shapes never fail on a node of the wrong kind: they keep a description of what was
//! found (`a list`, `the number `3``, `nothing (null)`) for the checker's message.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A value with the location where it is written.
pub(super) type S<T> = Spanned<T>;

/// A YAML map whose order is kept, keyed by located strings.
pub(crate) struct OrderedMap<V>(pub(crate) Vec<(S<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<S<String>>()? {
                    let value = map.next_value::<V>()?;
                    out.push((key, value));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

/// Describes a node of the wrong shape, for messages like "expected a map, found a list".
pub(super) fn describe_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<String, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok("a list".to_string())
}

/// Implements the visitor methods for scalars (but strings) and sequences by producing
/// `$invalid(description)`.
macro_rules! other_shapes {
    ($invalid:expr) => {
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok($invalid(format!("`{v}`")))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($invalid(format!("the number `{v}`")))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($invalid(format!("the number `{v}`")))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok($invalid(format!("the number `{v}`")))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($invalid("nothing (null)".to_string()))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($invalid("nothing (null)".to_string()))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            $crate::scenario::shapes::describe_seq(seq).map($invalid)
        }
    };
}
pub(super) use other_shapes;

/// Consumes the rest of a map; returns its first remaining key, if any.
pub(super) fn drain_map<'de, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<S<String>>, A::Error> {
    let first = map.next_key::<S<String>>()?;
    if first.is_some() {
        map.next_value::<IgnoredAny>()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(first)
}

/// The value of a one-key map, whose type depends on the key.
pub(super) trait Keyed: Sized {
    /// What the node should look like (serde's `expecting`).
    const EXPECTING: &'static str;
    /// Reads the value of `key` (an unknown key's value is skipped and recorded as such).
    fn value<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Self, A::Error>;
}

/// A one-key map `{ key: value }`.
pub(super) enum OneKey<T> {
    Entry {
        key: S<String>,
        value: T,
        /// A second key (an error the checker reports), if the map has more than one.
        extra: Option<S<String>>,
    },
    /// A bare string instead of a map.
    Word(String),
    /// Another shape (described), or an empty map.
    Invalid(String),
}

impl<T> OneKey<T> {
    /// What was found instead of a one-key map, for "found ..." messages.
    pub(super) fn found(&self) -> String {
        match self {
            OneKey::Entry { .. } => "a map".to_string(),
            OneKey::Word(w) => format!("`{w}`"),
            OneKey::Invalid(what) => what.clone(),
        }
    }
}

impl<'de, T: Keyed> Deserialize<'de> for OneKey<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<T>(PhantomData<T>);
        impl<'de, T: Keyed> Visitor<'de> for Vis<T> {
            type Value = OneKey<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneKey<T>, E> {
                Ok(OneKey::Word(v.to_string()))
            }
            other_shapes!(OneKey::Invalid);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OneKey<T>, A::Error> {
                let Some(key) = map.next_key::<S<String>>()? else {
                    return Ok(OneKey::Invalid("an empty map".to_string()));
                };
                let value = T::value(&key.value, &mut map)?;
                let extra = drain_map(&mut map)?;
                Ok(OneKey::Entry { key, value, extra })
            }
        }
        d.deserialize_any(Vis(PhantomData))
    }
}

/// A map's shape and its `expecting` text, for [`WordOrMap`].
pub(super) trait Expecting {
    const EXPECTING: &'static str;
}

/// A bare word, or a map deserialized as `T`.
pub(super) enum WordOrMap<T> {
    Word(String),
    Map(T),
    /// Another shape (described).
    Invalid(String),
}

impl<T> WordOrMap<T> {
    /// What was found instead of the expected word or map, for "found ..." messages.
    pub(super) fn found(&self) -> String {
        match self {
            WordOrMap::Map(_) => "a map".to_string(),
            WordOrMap::Word(w) => format!("`{w}`"),
            WordOrMap::Invalid(what) => what.clone(),
        }
    }
}

impl<'de, T: Deserialize<'de> + Expecting> Deserialize<'de> for WordOrMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Expecting> Visitor<'de> for Vis<T> {
            type Value = WordOrMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WordOrMap<T>, E> {
                Ok(WordOrMap::Word(v.to_string()))
            }
            other_shapes!(WordOrMap::Invalid);
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WordOrMap<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(WordOrMap::Map)
            }
        }
        d.deserialize_any(Vis(PhantomData))
    }
}

/// Any scalar, as its text (`5ms`, `true`, `3`), or a map deserialized as `T`.
pub(super) enum ScalarOrMap<T> {
    Scalar(String),
    Map(T),
    /// Another shape (described).
    Invalid(String),
}

impl<'de, T: Deserialize<'de> + Expecting> Deserialize<'de> for ScalarOrMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Expecting> Visitor<'de> for Vis<T> {
            type Value = ScalarOrMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarOrMap<T>, E> {
                Ok(ScalarOrMap::Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarOrMap<T>, E> {
                Ok(ScalarOrMap::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarOrMap<T>, E> {
                Ok(ScalarOrMap::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarOrMap<T>, E> {
                Ok(ScalarOrMap::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarOrMap<T>, E> {
                Ok(ScalarOrMap::Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ScalarOrMap<T>, E> {
                Ok(ScalarOrMap::Invalid("nothing (null)".to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ScalarOrMap<T>, A::Error> {
                describe_seq(seq).map(ScalarOrMap::Invalid)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ScalarOrMap<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(ScalarOrMap::Map)
            }
        }
        d.deserialize_any(Vis(PhantomData))
    }
}

/// `off`, or a map of settings.
pub(super) enum Switch<T> {
    Off,
    On(T),
    Invalid(String),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Switch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Vis<T> {
            type Value = Switch<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`off` or a map")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Switch<T>, E> {
                Ok(if v == "off" {
                    Switch::Off
                } else {
                    Switch::Invalid(format!("`{v}`"))
                })
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Switch<T>, E> {
                // YAML 1.1 reads a bare `off` as false.
                Ok(if v {
                    Switch::Invalid("`on`".to_string())
                } else {
                    Switch::Off
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Switch<T>, E> {
                Ok(Switch::Invalid(format!("the number `{v}`")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Switch<T>, E> {
                Ok(Switch::Invalid(format!("the number `{v}`")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Switch<T>, E> {
                Ok(Switch::Invalid(format!("the number `{v}`")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Switch<T>, E> {
                Ok(Switch::Invalid("nothing (null)".to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Switch<T>, A::Error> {
                describe_seq(seq).map(Switch::Invalid)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Switch<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Switch::On)
            }
        }
        d.deserialize_any(Vis(PhantomData))
    }
}
