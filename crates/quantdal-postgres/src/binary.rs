//! PostgreSQL's binary wire formats for the types quantdal uses, both directions. Shared by COPY encoding,
//! bound parameters and result decoding, so each format is written once.

use bytes::{BufMut, BytesMut};

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;

/// Writes a NUMERIC for `unscaled × 10^-scale` (scale ≥ 0). Base-10000 digits, most significant first.
pub fn put_numeric(buf: &mut BytesMut, unscaled: i128, scale: u16) {
    let negative = unscaled < 0;
    let magnitude = unscaled.unsigned_abs();
    let divisor = 10u128.pow(u32::from(scale));
    let int_part = magnitude / divisor;
    let frac_part = magnitude % divisor;
    // Fractional digits padded on the right to whole base-10000 groups.
    let frac_groups = usize::from(scale).div_ceil(4);
    let pad = (frac_groups * 4 - usize::from(scale)) as u32;
    let mut digits: [u16; 48] = [0; 48];
    let mut n = 0usize;
    // Integer groups, least significant first, then reversed into place.
    let mut int_digits: [u16; 12] = [0; 12];
    let mut int_len = 0usize;
    let mut rest = int_part;
    while rest > 0 {
        int_digits[int_len] = (rest % 10_000) as u16;
        rest /= 10_000;
        int_len += 1;
    }
    for i in (0..int_len).rev() {
        digits[n] = int_digits[i];
        n += 1;
    }
    if frac_groups > 0 {
        // frac_part < 10^scale ≤ 10^38; times 10^pad (≤ 1000) stays below 2^128 only up to scale 35, so larger
        // scales are split digit group by digit group from the top instead.
        let mut frac_digits: [u16; 12] = [0; 12];
        let mut rest = frac_part;
        let mut shifted_ok = true;
        let shifted = rest.checked_mul(10u128.pow(pad)).unwrap_or_else(|| {
            shifted_ok = false;
            0
        });
        if shifted_ok {
            rest = shifted;
            for i in (0..frac_groups).rev() {
                frac_digits[i] = (rest % 10_000) as u16;
                rest /= 10_000;
            }
        } else {
            let mut remaining_scale = u32::from(scale);
            for digit in frac_digits.iter_mut().take(frac_groups) {
                let take = remaining_scale.min(4);
                remaining_scale -= take;
                let div = 10u128.pow(remaining_scale);
                let group = (rest / div) as u16;
                rest %= div;
                *digit = group * 10u16.pow(4 - take);
            }
        }
        digits[n..n + frac_groups].copy_from_slice(&frac_digits[..frac_groups]);
        n += frac_groups;
    }
    // weight = exponent (base 10000) of the first digit group.
    let mut weight = int_len as i16 - 1;
    let mut start = 0usize;
    while start < n && digits[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = n;
    while end > start && digits[end - 1] == 0 {
        end -= 1;
    }
    let ndigits = end - start;
    if ndigits == 0 {
        weight = 0;
    }
    buf.put_i16(ndigits as i16);
    buf.put_i16(weight);
    buf.put_u16(if negative && ndigits > 0 {
        NUMERIC_NEG
    } else {
        NUMERIC_POS
    });
    buf.put_u16(scale);
    for d in &digits[start..end] {
        buf.put_u16(*d);
    }
}

/// Reads a NUMERIC into an unscaled integer at `scale`; `None` for NaN/infinity, more fractional digits than
/// `scale`, or overflow.
pub fn get_numeric(raw: &[u8], scale: u16) -> Option<i128> {
    if raw.len() < 8 {
        return None;
    }
    let ndigits = i16::from_be_bytes([raw[0], raw[1]]);
    let weight = i16::from_be_bytes([raw[2], raw[3]]);
    let sign = u16::from_be_bytes([raw[4], raw[5]]);
    if sign == NUMERIC_NAN || (sign != NUMERIC_POS && sign != NUMERIC_NEG) || ndigits < 0 {
        return None;
    }
    let ndigits = ndigits as usize;
    if raw.len() < 8 + 2 * ndigits {
        return None;
    }
    let mut value: i128 = 0;
    // Digit i has base-10000 exponent weight - i; we want value × 10^scale as an integer.
    let scale = i32::from(scale);
    for i in 0..ndigits {
        let d = i128::from(u16::from_be_bytes([raw[8 + 2 * i], raw[9 + 2 * i]]));
        let exp10 = 4 * (i32::from(weight) - i as i32) + scale;
        if exp10 >= 0 {
            let term = d.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
            value = value.checked_add(term)?;
        } else {
            let div = 10i128.checked_pow((-exp10) as u32)?;
            if d % div != 0 {
                return None;
            }
            value = value.checked_add(d / div)?;
        }
    }
    Some(if sign == NUMERIC_NEG { -value } else { value })
}

pub fn get_i16(raw: &[u8]) -> Option<i16> {
    Some(i16::from_be_bytes(raw.try_into().ok()?))
}
pub fn get_i32(raw: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(raw.try_into().ok()?))
}
pub fn get_i64(raw: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(raw.try_into().ok()?))
}
pub fn get_f32(raw: &[u8]) -> Option<f32> {
    Some(f32::from_be_bytes(raw.try_into().ok()?))
}
pub fn get_f64(raw: &[u8]) -> Option<f64> {
    Some(f64::from_be_bytes(raw.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(unscaled: i128, scale: u16) -> Option<i128> {
        let mut b = BytesMut::new();
        put_numeric(&mut b, unscaled, scale);
        assert_eq!(
            b.len(),
            8 + 2 * usize::from(u16::from_be_bytes([b[0], b[1]]))
        );
        get_numeric(&b, scale)
    }

    #[test]
    fn numeric_layout_matches_postgres() {
        // 12345.678 at scale 3: digits [1, 2345, 6780], weight 1, dscale 3.
        let mut b = BytesMut::new();
        put_numeric(&mut b, 12_345_678, 3);
        assert_eq!(
            &b[..],
            &[0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C]
        );
        // -0.5 at scale 4: one digit 5000, weight -1, negative.
        let mut b = BytesMut::new();
        put_numeric(&mut b, -5_000, 4);
        assert_eq!(&b[..], &[0, 1, 0xFF, 0xFF, 0x40, 0, 0, 4, 0x13, 0x88]);
        // Zero: no digits, positive, scale kept.
        let mut b = BytesMut::new();
        put_numeric(&mut b, 0, 2);
        assert_eq!(&b[..], &[0, 0, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn numerics_round_trip_at_every_scale() {
        let values = [
            0i128,
            1,
            -1,
            9_999,
            10_000,
            123_456_789,
            -987_654_321_012,
            10i128.pow(37),
            -(10i128.pow(38) - 1),
        ];
        for scale in [0u16, 1, 2, 3, 4, 5, 8, 10, 18, 36, 37, 38] {
            for v in values {
                assert_eq!(roundtrip(v, scale), Some(v), "{v} at scale {scale}");
            }
        }
    }

    #[test]
    fn numerics_with_more_fraction_than_the_column_are_refused() {
        let mut b = BytesMut::new();
        put_numeric(&mut b, 12_345, 3); // 12.345
        assert_eq!(get_numeric(&b, 2), None);
        assert_eq!(get_numeric(&b, 4), Some(123_450));
    }
}
