//! PDF objects (ISO 32000-2 §7.3): a bounded parser over borrowed bytes and a serializer.

use std::ops::Range;

use super::PdfError;

/// Object number and generation.
pub type ObjectId = (u32, u16);

/// A parsed PDF object. Stream data stays in the file: `data` is its byte range there.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Null,
    Boolean(bool),
    Integer(i64),
    Real(f64),
    Name(Vec<u8>),
    String(Vec<u8>),
    Array(Vec<Object>),
    Dictionary(Dictionary),
    Reference(ObjectId),
    Stream {
        dict: Dictionary,
        data: Range<usize>,
    },
}

/// A dictionary, keys in file order (names without the slash).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dictionary(pub Vec<(Vec<u8>, Object)>);

impl Dictionary {
    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Replaces the value of `key`, or appends it.
    pub fn set(&mut self, key: &[u8], value: Object) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_vec(), value)),
        }
    }

    pub fn remove(&mut self, key: &[u8]) {
        self.0.retain(|(k, _)| k != key);
    }

    pub fn name(&self, key: &[u8]) -> Option<&[u8]> {
        match self.get(key) {
            Some(Object::Name(n)) => Some(n),
            _ => None,
        }
    }

    pub fn integer(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Object::Integer(i)) => Some(*i),
            _ => None,
        }
    }
}

impl Object {
    pub fn as_dict(&self) -> Option<&Dictionary> {
        match self {
            Object::Dictionary(d) => Some(d),
            Object::Stream { dict, .. } => Some(dict),
            _ => None,
        }
    }
}

pub(crate) fn is_whitespace(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}

pub(crate) fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !is_delimiter(b)
}

/// A cursor over file bytes; every object it builds is nested at most `max_depth` deep.
pub(crate) struct Lexer<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
    pub max_depth: usize,
    /// Values parsed so far, and how many one lexer may parse: what bounds the memory of a
    /// single huge array or dictionary.
    pub items: usize,
    pub max_items: usize,
}

/// Values one lexer parses unless told otherwise.
const DEFAULT_MAX_ITEMS: usize = 1_000_000;

impl<'a> Lexer<'a> {
    pub fn new(buf: &'a [u8], pos: usize, max_depth: usize) -> Self {
        Lexer {
            buf,
            pos,
            max_depth,
            items: 0,
            max_items: DEFAULT_MAX_ITEMS,
        }
    }

    pub fn with_max_items(mut self, max_items: usize) -> Self {
        self.max_items = max_items;
        self
    }

    pub fn error(&self, reason: impl Into<String>) -> PdfError {
        PdfError::Syntax {
            offset: self.pos as u64,
            reason: reason.into(),
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Skips white space and comments.
    pub fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            if is_whitespace(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The next run of regular characters, without consuming it.
    pub fn peek_word(&self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|b| !is_regular(*b))
            .unwrap_or(rest.len());
        &rest[..len]
    }

    /// Consumes `word` (after white space) if it is the next token.
    pub fn eat_keyword(&mut self, word: &[u8]) -> bool {
        self.skip_space();
        if self.peek_word() == word {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    pub fn expect_keyword(&mut self, word: &str) -> Result<(), PdfError> {
        if self.eat_keyword(word.as_bytes()) {
            Ok(())
        } else {
            Err(self.error(format!("expected {word}")))
        }
    }

    /// An unsigned integer token.
    pub fn unsigned(&mut self) -> Result<u64, PdfError> {
        self.skip_space();
        let word = self.peek_word();
        if word.is_empty() || word.len() > 19 || !word.iter().all(u8::is_ascii_digit) {
            return Err(self.error("expected an unsigned integer"));
        }
        let value = word
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        self.pos += word.len();
        Ok(value)
    }

    /// One direct object, or a reference `n g R`.
    pub fn object(&mut self) -> Result<Object, PdfError> {
        self.object_at_depth(0)
    }

    fn object_at_depth(&mut self, depth: usize) -> Result<Object, PdfError> {
        self.items += 1;
        if self.items > self.max_items {
            return Err(PdfError::TooManyObjects {
                context: "values parsed in one object",
                limit: self.max_items,
            });
        }
        if depth > self.max_depth {
            return Err(PdfError::Recursion {
                context: format!("arrays and dictionaries nested at offset {}", self.pos),
                limit: self.max_depth,
            });
        }
        self.skip_space();
        let Some(b) = self.peek() else {
            return Err(self.error("unexpected end of file"));
        };
        match b {
            b'/' => {
                self.pos += 1;
                Ok(Object::Name(self.name_body()))
            }
            b'(' => self.literal_string().map(Object::String),
            b'<' if self.buf.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                let mut dict = Dictionary::default();
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b'>') if self.buf.get(self.pos + 1) == Some(&b'>') => {
                            self.pos += 2;
                            // Two values for one key would let readers disagree.
                            let mut keys: Vec<&[u8]> =
                                dict.0.iter().map(|(k, _)| k.as_slice()).collect();
                            keys.sort_unstable();
                            if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
                                return Err(self.error(format!(
                                    "duplicate key /{} in a dictionary",
                                    String::from_utf8_lossy(pair[0])
                                )));
                            }
                            return Ok(Object::Dictionary(dict));
                        }
                        Some(b'/') => {
                            self.pos += 1;
                            let key = self.name_body();
                            let value = self.object_at_depth(depth + 1)?;
                            // A null value is the same as an absent key (§7.3.7).
                            if value != Object::Null {
                                dict.0.push((key, value));
                            }
                        }
                        _ => return Err(self.error("expected a name key or >> in a dictionary")),
                    }
                }
            }
            b'<' => self.hex_string().map(Object::String),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Object::Array(items));
                    }
                    items.push(self.object_at_depth(depth + 1)?);
                }
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number_or_reference(),
            _ => {
                let word = self.peek_word();
                let value = match word {
                    b"true" => Object::Boolean(true),
                    b"false" => Object::Boolean(false),
                    b"null" => Object::Null,
                    _ => return Err(self.error("unexpected token")),
                };
                self.pos += word.len();
                Ok(value)
            }
        }
    }

    fn name_body(&mut self) -> Vec<u8> {
        let mut name = Vec::new();
        while let Some(b) = self.peek() {
            if !is_regular(b) {
                break;
            }
            self.pos += 1;
            if b == b'#' {
                let hex = self.buf.get(self.pos..self.pos + 2).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok())
                });
                if let Some(value) = hex {
                    name.push(value);
                    self.pos += 2;
                    continue;
                }
            }
            name.push(b);
        }
        name
    }

    fn literal_string(&mut self) -> Result<Vec<u8>, PdfError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        // Balanced parentheses are counted, not recursed into.
        let mut open = 1usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'(' => {
                    open += 1;
                    out.push(b);
                }
                b')' => {
                    open -= 1;
                    if open == 0 {
                        return Ok(out);
                    }
                    out.push(b);
                }
                b'\\' => {
                    let Some(c) = self.peek() else { break };
                    self.pos += 1;
                    match c {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut value = u32::from(c - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        value = value * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((value & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
        Err(PdfError::Syntax {
            offset: start as u64,
            reason: "unterminated string".into(),
        })
    }

    fn hex_string(&mut self) -> Result<Vec<u8>, PdfError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        while let Some(b) = self.peek() {
            self.pos += 1;
            let nibble = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                b'>' => {
                    if let Some(h) = high {
                        out.push(h << 4);
                    }
                    return Ok(out);
                }
                w if is_whitespace(w) => continue,
                _ => {
                    return Err(PdfError::Syntax {
                        offset: (self.pos - 1) as u64,
                        reason: "invalid character in a hex string".into(),
                    })
                }
            };
            match high.take() {
                Some(h) => out.push(h << 4 | nibble),
                None => high = Some(nibble),
            }
        }
        Err(PdfError::Syntax {
            offset: start as u64,
            reason: "unterminated hex string".into(),
        })
    }

    fn number_or_reference(&mut self) -> Result<Object, PdfError> {
        let start = self.pos;
        let word = self.peek_word();
        if !word
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-'))
        {
            return Err(self.error("invalid number"));
        }
        let text = std::str::from_utf8(word).map_err(|_| self.error("invalid number"))?;
        let is_integer = !text.contains('.');
        if is_integer {
            let value: i64 = text.parse().map_err(|_| self.error("invalid integer"))?;
            self.pos += word.len();
            // `n g R` is a reference; look ahead without committing.
            if value >= 0 && value <= i64::from(u32::MAX) && !text.starts_with(['+', '-']) {
                let save = self.pos;
                if let Ok(generation) = self.unsigned() {
                    if generation <= u64::from(u16::MAX) && self.eat_keyword(b"R") {
                        return Ok(Object::Reference((value as u32, generation as u16)));
                    }
                }
                self.pos = save;
            }
            Ok(Object::Integer(value))
        } else {
            let value: f64 = match text {
                "-" | "+" | "." | "-." | "+." => 0.0,
                _ => text.parse().map_err(|_| PdfError::Syntax {
                    offset: start as u64,
                    reason: "invalid real number".into(),
                })?,
            };
            if !value.is_finite() {
                return Err(PdfError::Syntax {
                    offset: start as u64,
                    reason: "real number out of range".into(),
                });
            }
            self.pos += word.len();
            Ok(Object::Real(value))
        }
    }

    /// `n g obj` at the current position.
    pub fn object_header(&mut self) -> Result<ObjectId, PdfError> {
        let num = self.unsigned()?;
        let generation = self.unsigned()?;
        if num > u64::from(u32::MAX) || generation > u64::from(u16::MAX) {
            return Err(self.error("object number out of range"));
        }
        self.expect_keyword("obj")?;
        Ok((num as u32, generation as u16))
    }

    /// After a stream dictionary: consumes `stream` and its end of line, returns where the
    /// data starts, or `None` when no `stream` keyword follows.
    pub fn stream_start(&mut self) -> Option<usize> {
        let save = self.pos;
        if !self.eat_keyword(b"stream") {
            self.pos = save;
            return None;
        }
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        if self.peek() == Some(b'\n') {
            self.pos += 1;
        }
        Some(self.pos)
    }
}

/// First occurrence of `needle` in `hay` at or after `from`.
pub(crate) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let next = hay[i..].iter().position(|b| *b == first)? + i;
        if hay.get(next..next + needle.len()) == Some(needle) {
            return Some(next);
        }
        i = next + 1;
    }
    None
}

/// Serializes an object; streams are written by the caller, so only their dictionary is.
pub(crate) fn write_object(out: &mut Vec<u8>, object: &Object) {
    match object {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Object::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Object::Real(r) => {
            let text = format!("{r:.4}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            out.extend_from_slice(if text.is_empty() || text == "-" {
                b"0"
            } else {
                text.as_bytes()
            });
        }
        Object::Name(n) => write_name(out, n),
        Object::String(s) => write_literal_string(out, s),
        Object::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_object(out, item);
            }
            out.push(b']');
        }
        Object::Dictionary(d) | Object::Stream { dict: d, .. } => write_dict(out, d),
        Object::Reference((n, g)) => out.extend_from_slice(format!("{n} {g} R").as_bytes()),
    }
}

pub(crate) fn write_dict(out: &mut Vec<u8>, dict: &Dictionary) {
    out.extend_from_slice(b"<<");
    for (key, value) in &dict.0 {
        write_name(out, key);
        out.push(b' ');
        write_object(out, value);
    }
    out.extend_from_slice(b">>");
}

pub(crate) fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'/');
    for &b in name {
        if is_regular(b) && b != b'#' && (0x21..0x7f).contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("#{b:02X}").as_bytes());
        }
    }
}

/// A literal string with `(`, `)`, `\` and bytes outside printable ASCII escaped.
pub(crate) fn write_literal_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'(');
    for &b in s {
        match b {
            b'(' | b')' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn parse(text: &[u8]) -> Result<Object, PdfError> {
        Lexer::new(text, 0, 8).object()
    }

    #[test]
    fn parses_the_basic_kinds() {
        let object =
            parse(b"<< /A 1 /B [2 0 R 3.5 (x\\(y\\)\\101) <414> /N#41me] /C null /D true >>")
                .unwrap();
        let dict = object.as_dict().unwrap();
        assert_eq!(dict.integer(b"A"), Some(1));
        assert_eq!(dict.get(b"C"), None);
        assert_eq!(dict.get(b"D"), Some(&Object::Boolean(true)));
        let Some(Object::Array(items)) = dict.get(b"B") else {
            panic!("B is an array")
        };
        assert_eq!(items[0], Object::Reference((2, 0)));
        assert_eq!(items[1], Object::Real(3.5));
        assert_eq!(items[2], Object::String(b"x(y)A".to_vec()));
        assert_eq!(items[3], Object::String(vec![0x41, 0x40]));
        assert_eq!(items[4], Object::Name(b"NAme".to_vec()));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        assert!(matches!(
            parse(text.as_bytes()),
            Err(PdfError::Recursion { limit: 8, .. })
        ));
    }

    #[test]
    fn duplicate_keys_huge_reals_and_too_many_values_are_errors() {
        assert!(
            matches!(parse(b"<< /A 1 /B 2 /A 3 >>"), Err(PdfError::Syntax { reason, .. }) if reason.contains("duplicate key /A"))
        );
        let huge = format!("{}.5", "9".repeat(400));
        assert!(matches!(
            parse(huge.as_bytes()),
            Err(PdfError::Syntax { .. })
        ));
        assert!(matches!(parse(b"1.5e3"), Err(PdfError::Syntax { .. })));
        let many = format!("[{}]", "0 ".repeat(100));
        let result = Lexer::new(many.as_bytes(), 0, 8)
            .with_max_items(50)
            .object();
        assert!(matches!(
            result,
            Err(PdfError::TooManyObjects { limit: 50, .. })
        ));
    }

    #[test]
    fn truncated_input_is_an_error() {
        for text in [
            &b"<< /A (abc"[..],
            b"<41",
            b"[1 2",
            b"<< /A",
            b"/",
            b"",
            b"99999999999999999999",
        ] {
            assert!(
                parse(text).is_err() || text == b"/",
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn serialized_objects_parse_back_equal() {
        let object = parse(b"<< /A#20b [1 -2 0.5 (\\(\xe9\\)) 4 0 R] /S <00ff> >>").unwrap();
        let mut out = Vec::new();
        write_object(&mut out, &object);
        assert_eq!(parse(&out).unwrap(), object);
    }
}
