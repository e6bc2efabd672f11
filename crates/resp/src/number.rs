//! The integers of RESP headers (`*3`, `$5`, `:42`), read from the bytes where they lie.

use crate::ProtocolError;

/// `text` as an i64, accepting exactly what `str::parse::<i64>` accepts (an optional sign, then digits, none
/// of it other than ASCII), without going through a `str`: headers are read once per argument and per reply.
pub(crate) fn parse(text: &[u8]) -> Result<i64, ProtocolError> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(ProtocolError::BadNumber);
    }
    let mut value: i64 = 0;
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return Err(ProtocolError::BadNumber);
        }
        // Built on the negative side, which holds i64::MIN.
        value = value.checked_mul(10).and_then(|v| v.checked_sub(i64::from(digit))).ok_or(ProtocolError::BadNumber)?;
    }
    if negative { Ok(value) } else { value.checked_neg().ok_or(ProtocolError::BadNumber) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str, expected: Option<i64>) {
        assert_eq!(parse(text.as_bytes()).ok(), expected, "{text:?}");
    }

    #[test]
    fn numbers_as_std_reads_them() {
        check("0", Some(0));
        check("42", Some(42));
        check("-1", Some(-1));
        check("+7", Some(7));
        check("007", Some(7));
        check("9223372036854775807", Some(i64::MAX));
        check("-9223372036854775808", Some(i64::MIN));
        check("9223372036854775808", None);
        check("-9223372036854775809", None);
        check("", None);
        check("-", None);
        check("+", None);
        check("+-1", None);
        check(" 1", None);
        check("1 ", None);
        check("1\r", None);
        check("١", None);
    }

    proptest! {
        #[test]
        fn any_text_reads_as_std_reads_it(text in "[-+0-9a ]{0,22}") {
            prop_assert_eq!(parse(text.as_bytes()).ok(), text.parse::<i64>().ok());
        }

        #[test]
        fn any_bytes_read_as_std_reads_them(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            let expected = std::str::from_utf8(&bytes).ok().and_then(|t| t.parse::<i64>().ok());
            prop_assert_eq!(parse(&bytes).ok(), expected);
        }

        #[test]
        fn every_i64_reads_back(n in any::<i64>()) {
            prop_assert_eq!(parse(n.to_string().as_bytes()).ok(), Some(n));
        }
    }
}
