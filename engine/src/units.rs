//! Sizes printed the way Docker prints them (go-units): a number with a fixed count of
//! significant digits, trailing zeros dropped, then the unit with no space — `1.5kB`,
//! `12.35MB`, `8GiB`. Docker uses decimal units with four digits for most columns,
//! three digits for image sizes, and binary units for memory.

const DECIMAL_UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
const BINARY_UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Decimal units, four significant digits (go-units `HumanSize`): `1.234kB`.
pub fn decimal_size(bytes: u64) -> String {
    format_size(bytes, 1000.0, &DECIMAL_UNITS, 4)
}

/// Decimal units, three significant digits, as `docker images` prints SIZE: `1.23kB`.
pub fn image_size(bytes: u64) -> String {
    format_size(bytes, 1000.0, &DECIMAL_UNITS, 3)
}

/// Binary units, four significant digits (go-units `BytesSize`): `1.5KiB`.
pub fn binary_size(bytes: u64) -> String {
    format_size(bytes, 1024.0, &BINARY_UNITS, 4)
}

fn format_size(bytes: u64, base: f64, units: &[&str], significant: usize) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= base && unit + 1 < units.len() {
        value /= base;
        unit += 1;
    }
    let integer_digits = if value < 1.0 {
        1
    } else {
        value.log10().floor() as usize + 1
    };
    let decimals = significant.saturating_sub(integer_digits);
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_sizes_have_four_significant_digits() {
        assert_eq!(decimal_size(0), "0B");
        assert_eq!(decimal_size(12), "12B");
        assert_eq!(decimal_size(1234), "1.234kB");
        assert_eq!(decimal_size(1500), "1.5kB");
        assert_eq!(decimal_size(123_456), "123.5kB");
        assert_eq!(decimal_size(12_345_678), "12.35MB");
        assert_eq!(decimal_size(3_000_000), "3MB");
        assert_eq!(decimal_size(999_999), "1000kB");
    }

    #[test]
    fn image_sizes_have_three_significant_digits() {
        assert_eq!(image_size(0), "0B");
        assert_eq!(image_size(999), "999B");
        assert_eq!(image_size(1_234), "1.23kB");
        assert_eq!(image_size(4_260_000), "4.26MB");
        assert_eq!(image_size(12_300_000), "12.3MB");
        assert_eq!(image_size(4_000_000), "4MB");
    }

    #[test]
    fn binary_sizes_use_powers_of_1024() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(1536), "1.5KiB");
        assert_eq!(binary_size(8 * 1024 * 1024 * 1024), "8GiB");
    }
}
