//! Where a statement's error is in the configuration file.
//!
//! A statement is one YAML scalar; the loader knows where the scalar starts and how it was
//! written. An offset inside the statement's value maps back to the file by replaying how YAML
//! wrote the value: a plain scalar is the value itself; single quotes add the opening quote and
//! double every `'`; double quotes add the quote and an escape before `"`, `\` and control
//! characters; a block scalar (`|`, `>`) starts on the line after its indicator, indented as
//! the indicator is (the usual `- |` layout; deeper indentation shifts the column).

use weir_core::config::yaml::{Location, ScalarStyle};

/// The file position of byte `offset` of a scalar's `value` that starts at `loc`.
pub fn locate(value: &str, style: ScalarStyle, loc: Location, offset: usize) -> Location {
    let offset = offset.min(value.len());
    let before = &value[..offset];
    match style {
        ScalarStyle::Plain => {
            let line = before.matches('\n').count();
            if line == 0 {
                Location { line: loc.line, column: loc.column + before.chars().count() }
            } else {
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
                Location { line: loc.line + line, column: col + 1 }
            }
        }
        ScalarStyle::SingleQuoted => {
            Location { line: loc.line, column: loc.column + 1 + before.chars().count() + before.matches('\'').count() }
        }
        ScalarStyle::DoubleQuoted => {
            let escaped = before.chars().filter(|c| matches!(c, '"' | '\\') || c.is_control()).count();
            Location { line: loc.line, column: loc.column + 1 + before.chars().count() + escaped }
        }
        ScalarStyle::Literal | ScalarStyle::Folded => {
            let line = before.matches('\n').count();
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
            Location { line: loc.line + 1 + line, column: loc.column + col }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_through_each_scalar_style() {
        let at = Location { line: 3, column: 9 };
        assert_eq!(locate("set(x)", ScalarStyle::Plain, at, 4), Location { line: 3, column: 13 });
        // 'it''s' : the value "it's" has one doubled quote before offset 4.
        assert_eq!(locate("it's x", ScalarStyle::SingleQuoted, at, 5), Location { line: 3, column: 16 });
        // "a\"b" : the value a"b has one escaped quote before offset 2.
        assert_eq!(locate("a\"b", ScalarStyle::DoubleQuoted, at, 2), Location { line: 3, column: 13 });
        assert_eq!(locate("a\nbc", ScalarStyle::Literal, at, 3), Location { line: 5, column: 10 });
    }
}
