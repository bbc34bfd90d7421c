//! CSV manifests: a header row naming the columns, one item a row. Quoting
//! is the `csv` crate's (commas, quotes and line breaks inside quotes). A row
//! with the wrong number of fields or bytes that are not UTF-8 is skipped
//! with its line; the rest of the file is read on.

use super::{ManifestRow, Parsed};
use crate::template::Fields;

pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    let mut columns = Vec::with_capacity(header.len());
    for (index, name) in header.iter().enumerate() {
        let name = std::str::from_utf8(name)
            .map_err(|_| format!("column {} of the header row is not valid UTF-8", index + 1))?;
        columns.push(name.trim_start_matches('\u{feff}').to_string());
    }
    let mut parsed = Parsed::default();
    let mut record = csv::ByteRecord::new();
    // Lines are counted from the bytes: after a `\r\n` the reader's
    // position (and its line count) is still at the `\n`.
    let line_at = |byte: u64| {
        let mut end = (byte as usize).min(bytes.len());
        if bytes.get(end) == Some(&b'\n') {
            end += 1;
        }
        bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
    };
    loop {
        let line = line_at(reader.position().byte());
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // A flexible reader of bytes in memory has no error left but
            // this one's own; the rows after it cannot be trusted.
            Err(e) => {
                parsed.skip(
                    line,
                    format!("unreadable, and so is the rest of the file: {e}"),
                );
                break;
            }
        }
        let line = record.position().map_or(line, |p| line_at(p.byte()));
        if record.len() != columns.len() {
            parsed.skip(
                line,
                format!(
                    "it has {} field(s); the header has {} (a comma or quote out of place?)",
                    record.len(),
                    columns.len()
                ),
            );
            continue;
        }
        let mut fields = Fields::new();
        let mut bad = None;
        for (column, value) in columns.iter().zip(record.iter()) {
            match std::str::from_utf8(value) {
                Ok(text) if text.trim().is_empty() => {}
                Ok(text) => {
                    fields.insert(column.clone(), text.trim().into());
                }
                Err(_) => {
                    bad = Some(column);
                    break;
                }
            }
        }
        match bad {
            Some(column) => parsed.skip(
                line,
                format!("the {column:?} field is not valid UTF-8 (save the file as UTF-8)"),
            ),
            None => parsed.rows.push(ManifestRow { row: line, fields }),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8]) -> Parsed {
        parse(text).unwrap()
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        let parsed = rows(b"image,title\r\na.png,\"A, \"\"quoted\"\"\r\ntitle\"\r\nb.png,B\r\n");
        assert!(parsed.skipped.is_empty());
        assert_eq!(parsed.rows[0].row, 2);
        assert_eq!(parsed.rows[0].fields["title"], "A, \"quoted\"\r\ntitle");
        // The second row starts on line 4: the first took two.
        assert_eq!(parsed.rows[1].row, 4);
    }

    #[test]
    fn a_bad_row_is_skipped_with_its_line_and_the_rest_is_read() {
        let parsed = rows(b"\xef\xbb\xbfimage,title\nonly-one\na.png,caf\xe9\nb.png,ok\n");
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rows[0].fields["image"], "b.png");
        let skipped: Vec<_> = parsed
            .skipped
            .iter()
            .map(|s| (s.row, s.reason.as_str()))
            .collect();
        assert_eq!(skipped[0].0, 2);
        assert!(skipped[0].1.contains("1 field(s)"), "{skipped:?}");
        assert_eq!(skipped[1].0, 3);
        assert!(
            skipped[1].1.contains("\"title\" field is not valid UTF-8"),
            "{skipped:?}"
        );
    }

    #[test]
    fn an_unclosed_quote_swallows_the_rest_into_one_bad_row() {
        let parsed = rows(b"image,title,unit\na.png,\"never closed,pair\nb.png,B,piece\n");
        assert!(parsed.rows.is_empty());
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!(parsed.skipped[0].row, 2);
    }
}
