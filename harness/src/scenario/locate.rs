//! Field path → line and column, so semantic problems point into the file.
//!
//! serde_json reports positions only for the errors it finds itself. Checks
//! that run after parsing know a field path (`links[2].between[1]`); this
//! module scans the (already valid) JSON text once and records where every
//! value starts, keyed by the same path syntax.

use std::collections::HashMap;

use crate::base::{FieldPath, Position};

/// Where each value of a JSON document starts.
#[derive(Debug, Default)]
pub struct SourceMap {
    positions: HashMap<String, Position>,
}

impl SourceMap {
    /// Scans `text`. Text that is not valid JSON gives a partial map.
    pub fn new(text: &str) -> Self {
        let mut scanner = Scanner {
            chars: text.chars().collect(),
            at: 0,
            line: 1,
            column: 1,
            map: HashMap::new(),
        };
        scanner.skip_whitespace();
        scanner.value(&FieldPath::root());
        Self {
            positions: scanner.map,
        }
    }

    /// Where the value at `path` starts, if the document holds that exact path.
    pub fn exact(&self, path: &str) -> Option<Position> {
        self.positions.get(path).copied()
    }

    /// Where the value at `path` starts; a path the document does not hold
    /// (a field left to its default) falls back to its nearest enclosing value.
    pub fn position(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(position) = self.positions.get(path) {
                return Some(*position);
            }
            if path.is_empty() {
                return None;
            }
            path = match path.rfind(['.', '[']) {
                Some(cut) => &path[..cut],
                None => "",
            };
        }
    }
}

struct Scanner {
    chars: Vec<char>,
    at: usize,
    line: usize,
    column: usize,
    map: HashMap<String, Position>,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.bump();
        }
    }

    fn value(&mut self, path: &FieldPath) {
        self.map.insert(
            path.as_str().to_owned(),
            Position {
                line: self.line,
                column: self.column,
            },
        );
        match self.peek() {
            Some('{') => self.object(path),
            Some('[') => self.array(path),
            Some('"') => {
                self.string();
            }
            Some(_) => {
                while matches!(self.peek(), Some(c) if !matches!(c, ',' | '}' | ']') && !c.is_whitespace())
                {
                    self.bump();
                }
            }
            None => {}
        }
    }

    fn object(&mut self, path: &FieldPath) {
        self.bump();
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some('"') => {}
                Some('}') | None => {
                    self.bump();
                    return;
                }
                Some(_) => {
                    // Not JSON; give up on this object.
                    return;
                }
            }
            let key = self.string();
            self.skip_whitespace();
            if self.peek() == Some(':') {
                self.bump();
            }
            self.skip_whitespace();
            self.value(&path.key(&key));
            self.skip_whitespace();
            if self.peek() == Some(',') {
                self.bump();
            }
        }
    }

    fn array(&mut self, path: &FieldPath) {
        self.bump();
        let mut index = 0;
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(']') | None => {
                    self.bump();
                    return;
                }
                Some(_) => {}
            }
            let before = self.at;
            self.value(&path.index(index));
            index += 1;
            self.skip_whitespace();
            if self.peek() == Some(',') {
                self.bump();
            } else if self.at == before {
                return;
            }
        }
    }

    /// Reads a string literal and returns its (unescaped) text.
    fn string(&mut self) -> String {
        let mut text = String::new();
        self.bump();
        while let Some(c) = self.bump() {
            match c {
                '"' => break,
                '\\' => match self.bump() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some('b') => text.push('\u{8}'),
                    Some('f') => text.push('\u{c}'),
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                        if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            text.push(c);
                        }
                    }
                    Some(other) => text.push(other),
                    None => break,
                },
                other => text.push(other),
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{
  "name": "x",
  "regions": ["us-east", "eu-west"],
  "schedule": [
    {"at": "5s", "fault": {"partition": [["us-east"], ["eu-wets"]]}}
  ]
}"#;

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn every_value_is_found_by_its_path() {
        let map = SourceMap::new(TEXT);
        assert_eq!(map.position(""), at(1, 1));
        assert_eq!(map.position("name"), at(2, 11));
        assert_eq!(map.position("regions[1]"), at(3, 26));
        assert_eq!(map.position("schedule[0].fault.partition[1][0]"), at(5, 56));
    }

    #[test]
    fn a_missing_field_falls_back_to_its_parent() {
        let map = SourceMap::new(TEXT);
        assert_eq!(map.position("schedule[0].for"), at(5, 5));
        assert_eq!(map.position("max_duration"), at(1, 1));
    }

    #[test]
    fn escaped_keys_are_unescaped() {
        let map = SourceMap::new("{\"a\\\"b\": {\"c\": 1}}");
        assert_eq!(map.position("a\"b.c"), at(1, 16));
    }
}
