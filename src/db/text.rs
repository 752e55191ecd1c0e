//! Cutting text for messages and results: one rule for each need, one
//! ellipsis (`…`), and markers that give the full size.

/// At most `max` characters of `s`, with `…` when something was cut; for
/// echoing names and server messages back in errors.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub fn prefix_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// How every truncation marker starts; the renderer recognises a value the
/// backend already cut by it.
pub const TRUNCATION_MARK: &str = "…[truncated, ";

/// "…[truncated, N bytes total]": the marker of a value cut at conversion
/// (`unit` is `bytes` or `characters`).
pub fn truncation_marker(total: usize, unit: &str) -> String {
    format!("{TRUNCATION_MARK}{total} {unit} total]")
}

/// Text of a value, cut after at most `limit` bytes (on a UTF-8 boundary)
/// with a marker giving its full size; only the kept part is copied, so a
/// huge value costs at most the limit. Invalid UTF-8 is replaced, as
/// `String::from_utf8_lossy` does.
pub fn capped_text(bytes: &[u8], limit: usize) -> String {
    if bytes.len() <= limit {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut cut = limit;
    // Back off to the start of a UTF-8 sequence (at most 3 continuation bytes).
    while cut > 0 && (bytes[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    let mut out = String::from_utf8_lossy(&bytes[..cut]).into_owned();
    out.push_str(&truncation_marker(bytes.len(), "bytes"));
    out
}

/// Long text (CLOB, LONG) cut after `limit` characters, with a marker that
/// says how long it really was.
pub fn capped_chars(s: String, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        None => s,
        Some((cut, _)) => {
            let total = s.chars().count();
            let mut out = s;
            out.truncate(cut);
            out.push_str(&truncation_marker(total, "characters"));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cut_lands_on_a_character_boundary() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("äöü", 3), "äöü");
        assert_eq!(clip("äöüß", 2), "äö…");
        assert_eq!(prefix_bytes("é", 1), "");
        assert_eq!(prefix_bytes("abc", 2), "ab");
        assert_eq!(
            capped_chars("ééé".into(), 2),
            "éé…[truncated, 3 characters total]"
        );
        assert_eq!(capped_chars("ab".into(), 2), "ab");
    }
}
