//! Parsing raw input into domain values, each failure naming its field.

use super::{Error, Result};
use std::str::FromStr;

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

/// One of a closed set of values (`wire_enum!` types); absent or null gives `None`.
pub fn one_of<T>(field: &str, value: Option<&str>) -> Result<Option<T>>
where
    T: FromStr<Err = ()> + WireValues,
{
    match value {
        None => Ok(None),
        // The compatible network's wording, which its clients match on.
        Some(raw) => raw.parse().map(Some).map_err(|()| {
            Error::malformed(
                field,
                format!("Invalid {field} '{raw}'. Must be one of: {}", T::expected()),
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
