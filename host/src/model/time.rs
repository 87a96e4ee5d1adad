//! Timestamps as RFC 3339 text, the same text chrono writes, made without `core::fmt`.
//!
//! chrono writes a timestamp through the formatting machinery, and serde_json takes that a
//! character at a time through an escaping adapter. A public call formats three: its
//! request's `created_at`, and its two chat turns on the store's writer thread, the one
//! thread that applies every write in turn, where those two were 3.6% of its samples
//! (benches/README.md, "Text without `core::fmt`"). This writes the digits straight into
//! a buffer on the stack.
//!
//! The text is chrono's, byte for byte: seconds, then a fraction only if there is one, with
//! 3, 6 or 9 digits, whichever shows all of it (chrono's `SecondsFormat::AutoSi`, which is
//! also what its `Debug` and serde write); a leap second as second 60. Years outside 0 to
//! 9999, which chrono writes with a sign, are left to chrono.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// How the time zone is written: serde's `Z`, or `+00:00` as `DateTime::to_rfc3339`.
#[derive(Clone, Copy)]
enum Zone {
    Z,
    Offset,
}

impl Zone {
    fn suffix(self) -> &'static [u8] {
        match self {
            Zone::Z => b"Z",
            Zone::Offset => b"+00:00",
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+00:00`, the longest text made here.
const MAX_LEN: usize = 35;

/// The text, on the stack.
struct Text {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Text {
    fn as_str(&self) -> &str {
        // SAFETY: only ASCII digits and the ASCII separators above are ever written.
        unsafe { std::str::from_utf8_unchecked(&self.bytes[..self.len]) }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// `value` as exactly `width` decimal digits (it has no more).
    fn digits(&mut self, value: u32, width: usize) {
        let mut value = value;
        for slot in self.bytes[self.len..self.len + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }
}

/// `at` as text, or `None` for a year chrono writes with a sign.
fn write(at: &DateTime<Utc>, zone: Zone) -> Option<Text> {
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut second = at.second();
    let mut nano = at.nanosecond();
    if nano >= 1_000_000_000 {
        // chrono keeps a leap second as second 59 with a nanosecond past a billion.
        second += 1;
        nano -= 1_000_000_000;
    }
    let mut text = Text {
        bytes: [0; MAX_LEN],
        len: 0,
    };
    text.digits(year as u32, 4);
    text.push(b"-");
    text.digits(at.month(), 2);
    text.push(b"-");
    text.digits(at.day(), 2);
    text.push(b"T");
    text.digits(at.hour(), 2);
    text.push(b":");
    text.digits(at.minute(), 2);
    text.push(b":");
    text.digits(second, 2);
    if nano != 0 {
        text.push(b".");
        if nano.is_multiple_of(1_000_000) {
            text.digits(nano / 1_000_000, 3);
        } else if nano.is_multiple_of(1_000) {
            text.digits(nano / 1_000, 6);
        } else {
            text.digits(nano, 9);
        }
    }
    text.push(zone.suffix());
    Some(text)
}

/// The same text as `at.to_rfc3339()`.
pub fn rfc3339(at: &DateTime<Utc>) -> String {
    match write(at, Zone::Offset) {
        Some(text) => text.as_str().to_owned(),
        None => at.to_rfc3339(),
    }
}

/// For `#[serde(serialize_with)]`: the same text as chrono's own `Serialize`.
pub fn serialize<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    match write(at, Zone::Z) {
        Some(text) => s.serialize_str(text.as_str()),
        None => s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    /// chrono's texts for the same instants: `to_rfc3339`, and its serde via serde_json.
    fn chrono_texts(at: &DateTime<Utc>) -> (String, String) {
        (at.to_rfc3339(), serde_json::to_string(at).unwrap())
    }

    fn ours(at: &DateTime<Utc>) -> (String, String) {
        let mut json = serde_json::Serializer::new(Vec::new());
        serialize(at, &mut json).unwrap();
        (rfc3339(at), String::from_utf8(json.into_inner()).unwrap())
    }

    #[test]
    fn writes_what_chrono_writes() {
        let mut instants = vec![
            Utc::now(),
            Utc.with_ymd_and_hms(2026, 12, 5, 8, 11, 22).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            // Out of the four-digit range: chrono's own text.
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
        ];
        // Every fraction width: none, milli, micro, nano, and a leap second.
        for nano in [
            0,
            1,
            999,
            1_000,
            120_000,
            5_000_000,
            123_456_789,
            999_999_999,
        ] {
            let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
            instants.push(date.and_hms_nano_opt(23, 59, 58, nano).unwrap().and_utc());
            instants.push(
                date.and_hms_nano_opt(23, 59, 59, 1_000_000_000 + nano)
                    .unwrap()
                    .and_utc(),
            );
        }
        // And a spread of ordinary instants at nanosecond precision.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 253_402_300_800) as i64; // up to 9999-12-31
            let nano = ((x >> 20) % 1_000_000_000) as u32;
            let nano = match x % 4 {
                0 => 0,
                1 => nano / 1_000_000 * 1_000_000,
                2 => nano / 1_000 * 1_000,
                _ => nano,
            };
            instants.push(DateTime::from_timestamp(secs, nano).unwrap());
        }
        for at in &instants {
            assert_eq!(ours(at), chrono_texts(at), "{at:?}");
        }
    }
}
