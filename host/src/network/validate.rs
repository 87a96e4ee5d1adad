//! Parsing raw input into domain values, each failure naming its field.

use crate::error::{Error, ErrorKind, Result};
use std::str::FromStr;

// The longest each kind of string field may be, in characters (JSON Schema's `maxLength`,
// which the request schemas state too). Without them a field is bounded only by the body
// limit, and what is stored is kept for good: 200 registrations with 125 KB names grew the
// database by 50 MB in half a second.

/// A person's or an agent's name, a token's label, a chat's sender.
pub const MAX_NAME_CHARS: usize = 100;
/// RFC 5321's limit on a forward path.
pub const MAX_EMAIL_CHARS: usize = 254;
/// A webhook URL; browsers and proxies commonly stop near 2 KB.
pub const MAX_URL_CHARS: usize = 2048;
/// An identifier: ours are UUIDs (36), hosted agents' ids at most 64, invite codes shorter;
/// 128 leaves room without letting an id carry a payload.
pub const MAX_ID_CHARS: usize = 128;
/// One of a closed set of words (`framework`, `category`, `contract`, …).
pub const MAX_WORD_CHARS: usize = 32;
/// A thread's subject or an announcement's title: one line.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// An announcement's text, shown to every agent.
pub const MAX_ANNOUNCEMENT_CHARS: usize = 20_000;
/// An API key is 68 characters; a longer one cannot be right.
pub const MAX_KEY_CHARS: usize = 128;

/// For `#[serde(deserialize_with)]` on an optional struct field: the struct only from a
/// JSON object (or null). Serde's derive also builds a struct from an array of its fields
/// in order, which no client means and no schema of ours allows. The object's fields go
/// straight to the struct, as they would without this, rather than through a
/// `serde_json::Map` first (which was 0.9% of the workers' samples under the public load,
/// benches/README.md, "Text without `core::fmt`").
pub fn object<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::de::{Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};
    use std::marker::PhantomData;

    struct ObjectOrNull<T>(PhantomData<T>);

    impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for ObjectOrNull<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_none<E>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> std::result::Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(
            self,
            map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }

    deserializer.deserialize_option(ObjectOrNull(PhantomData))
}

/// A field the contract requires: present and, once trimmed, not empty.
pub fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => Err(Error::malformed(
            field,
            format!("{field} must not be empty"),
        )),
        None => Err(Error::malformed(field, format!("{field} is required"))),
    }
}

/// Refuses the first of `fields` (name, value, most characters) that is too long.
pub fn bounded(fields: &[(&str, Option<&str>, usize)]) -> Result<()> {
    for &(field, value, max) in fields {
        // Bytes bound characters from above: most values are short and need no count.
        if value.is_some_and(|v| v.len() > max && v.chars().count() > max) {
            return Err(Error::new(
                ErrorKind::Malformed,
                "too_long",
                format!("{field} must be at most {max} characters"),
            )
            .on(field));
        }
    }
    Ok(())
}

/// One of a closed set of values (`wire_enum!` types); absent or null gives `None`.
pub fn one_of<T>(field: &str, value: Option<&str>) -> Result<Option<T>>
where
    T: FromStr<Err = ()> + WireValues,
{
    match value {
        None => Ok(None),
        // The compatible network's wording, which its clients match on; a long value is
        // cut, so the refusal of a huge one is not huge itself.
        Some(raw) => raw.parse().map(Some).map_err(|()| {
            let shown: String = raw.chars().take(MAX_WORD_CHARS).collect();
            let cut = if shown.len() < raw.len() { "…" } else { "" };
            Error::malformed(
                field,
                format!(
                    "Invalid {field} '{shown}{cut}'. Must be one of: {}",
                    T::expected()
                ),
            )
        }),
    }
}

/// The list of accepted values, for error messages.
pub trait WireValues {
    fn expected() -> String;
}

macro_rules! wire_values {
    ($($t:ty),+) => {$(
        impl WireValues for $t { fn expected() -> String { <$t>::expected() } }
    )+};
}
use crate::model::{Category, Framework, Level, MessageType};
wire_values!(Category, Framework, MessageType);

/// The compatible network lists the levels alphabetically, unlike their declaration order
/// (which is the order of trust); its clients match on the text.
impl WireValues for Level {
    fn expected() -> String {
        let mut names: Vec<_> = Level::ALL.iter().map(|l| l.as_str()).collect();
        names.sort_unstable();
        names.join(", ")
    }
}

/// A plausible email address: one `@`, a local part, a dotted domain, no whitespace.
/// Deliverability is not checked; the address is an account name.
pub fn email(field: &str, raw: &str) -> Result<String> {
    let valid = raw.len() <= 254
        && !raw.chars().any(char::is_whitespace)
        && match raw.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|label| !label.is_empty())
            }
            None => false,
        };
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(Error::malformed(
            field,
            format!("{field} is not a valid email address"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_structs_come_from_objects_only() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Inner {
            a: Option<String>,
            b: Option<u32>,
        }
        #[derive(serde::Deserialize)]
        struct Outer {
            #[serde(default, deserialize_with = "object")]
            inner: Option<Inner>,
        }
        let parse = |s| serde_json::from_str::<Outer>(s).map(|o| o.inner);
        let inner = parse(r#"{"inner": {"a": "x", "b": 2, "other": [1]}}"#).unwrap();
        assert_eq!(
            inner,
            Some(Inner {
                a: Some("x".into()),
                b: Some(2)
            })
        );
        assert_eq!(parse(r#"{"inner": null}"#).unwrap(), None);
        assert_eq!(parse("{}").unwrap(), None);
        // An array of the fields in order, which serde's derive would take, and wrong types.
        for bad in [
            r#"{"inner": ["x", 2]}"#,
            r#"{"inner": "x"}"#,
            r#"{"inner": 1}"#,
            r#"{"inner": {"b": "x"}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.org"] {
            assert!(email("email", ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.de", "a@b..co", "a@.co",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_count_characters_and_name_the_field() {
        let ok = "é".repeat(10);
        assert!(bounded(&[("name", Some(&ok), 10), ("other", None, 1)]).is_ok());
        let long = "é".repeat(11);
        let e = bounded(&[("email", Some("a@b.co"), 254), ("name", Some(&long), 10)]);
        let e = e.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"));
        assert_eq!(e.kind, ErrorKind::Malformed);
        assert_eq!(e.detail, "name must be at most 10 characters");
    }

    #[test]
    fn a_long_wrong_word_is_cut_in_the_refusal() {
        let raw = "x".repeat(100_000);
        let e = one_of::<Category>("category", Some(&raw)).unwrap_err();
        assert!(e.detail.len() < 200, "{}", e.detail);
    }

    #[test]
    fn enums_name_the_field_and_choices() {
        let e = one_of::<Category>("category", Some("gossip")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("category"));
        assert_eq!(
            e.detail,
            "Invalid category 'gossip'. Must be one of: info, requests, personal"
        );
        let e = one_of::<Level>("level", Some("sometimes")).unwrap_err();
        assert_eq!(
            e.detail,
            "Invalid level 'sometimes'. Must be one of: ask, auto, never"
        );
        assert_eq!(one_of::<Category>("category", None).unwrap(), None);
    }
}
