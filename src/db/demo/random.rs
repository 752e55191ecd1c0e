//! The fixed-seed random generator and calendar helpers the generators share.

#[allow(unused_imports)]
use super::*;

pub(super) const SEED: u64 = 0x5EED_AD8D_0DE1_2026;

/// SplitMix64: a tiny, fully specified generator, so the data depends on no crate's choices.
pub(super) struct Rng(u64);

impl Rng {
    /// Independent stream per purpose, so changing one table's generator leaves the others intact.
    pub(super) fn stream(id: u64) -> Self {
        let mut r = Self(SEED ^ id.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Self(r.next_u64())
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`) by multiply-shift; its bias (< n / 2^64) is negligible.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.saturating_sub(lo).max(0) as u64 + 1;
        lo + self.below(span) as i64
    }

    pub(super) fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// Picks from a non-empty array; emptiness is rejected at compile time.
    pub(super) fn pick<T: Copy, const N: usize>(&mut self, items: &[T; N]) -> T {
        const { assert!(N > 0) };
        items[self.below(N as u64) as usize]
    }

    /// Index with probability proportional to `weights`.
    pub(super) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            let w = u64::from(w);
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// Pareto-like weight in `1..=cap + 1` with P(w > x) ≈ 1/x: a few heavy hitters, a long tail.
    pub(super) fn heavy_tail(&mut self, cap: u64) -> u64 {
        (1_000_000 / (1 + self.below(1_000_000))).min(cap) + 1
    }

    /// Seconds into a day, following an hourly activity profile.
    pub(super) fn time_of_day(&mut self, hour_weights: &[u32; 24]) -> u32 {
        let hour = self.weighted(hour_weights) as u32;
        hour * 3600 + self.below(3600) as u32
    }
}

/// Orders by hour of day (UTC): quiet nights, busy office hours and evenings.
pub(super) const ORDER_HOURS: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 9, 9, 9, 10, 11, 11, 9, 6, 3,
];

pub(super) const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's civil algorithm).
pub(super) const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
pub(super) const fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// 0 = Sunday .. 6 = Saturday.
pub(super) const fn weekday(day: i64) -> usize {
    (day + 4).rem_euclid(7) as usize
}

pub(super) fn push_digits(out: &mut String, value: i64, width: u32) {
    let mut div = 10i64.pow(width.saturating_sub(1));
    for _ in 0..width {
        out.push(char::from(b'0' + (value / div % 10) as u8));
        div /= 10;
    }
}

/// Appends `YYYY-MM-DD`.
pub(super) fn push_date(out: &mut String, day: i64) {
    let (y, m, d) = civil_from_days(day);
    push_digits(out, y, 4);
    out.push('-');
    push_digits(out, m, 2);
    out.push('-');
    push_digits(out, d, 2);
}

/// Appends `YYYY-MM-DDTHH:MM:SS` for seconds since the Unix epoch.
pub(super) fn push_timestamp(out: &mut String, secs: i64) {
    let day = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    push_date(out, day);
    out.push('T');
    push_digits(out, sod / 3600, 2);
    out.push(':');
    push_digits(out, sod / 60 % 60, 2);
    out.push(':');
    push_digits(out, sod % 60, 2);
}

pub(super) fn date_string(day: i64) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, day);
    s
}

/// Splits `total` events over days in proportion to `weights`, exactly and without sampling noise.
pub(super) fn spread(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum::<u128>().max(1);
    let mut counts = Vec::with_capacity(weights.len());
    let mut cum: u128 = 0;
    let mut assigned: u64 = 0;
    for &w in weights {
        cum += u128::from(w);
        let upto = (cum * u128::from(total) / sum) as u64;
        counts.push(upto - assigned);
        assigned = upto;
    }
    counts
}

/// Money is kept in integer cents and only turned into a decimal at the SQL boundary.
pub(super) fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// Lower-case ASCII for e-mail addresses: folds common accents, drops other symbols.
pub(super) fn ascii_slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let folded = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' | 'Á' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'Ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' | 'Ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            _ => continue,
        };
        out.push(folded);
    }
    out
}
