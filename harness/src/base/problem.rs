//! Problems with field paths: what is wrong, and where in a document
//! (`schedule[1].fault.partition[0][0]`, the syntax `serde_path_to_error`
//! uses). Scenario validation and the schedule's steps both report into a
//! [`Problems`]; the scenario adds the file, line and column.

use std::fmt;

/// A place in a scenario file, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Which stage found a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The text is not JSON.
    Syntax,
    /// The JSON does not have the scenario's shape (a wrong type, an unknown
    /// field, a missing field, a duration without a unit).
    Shape,
    /// The shape is right but the values do not fit together (an unknown
    /// region, a step after the end of the drill, …).
    Semantic,
}

/// One thing wrong with a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field path, e.g. `schedule[1].fault.partition[0][0]`; empty for the
    /// whole document.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Where in the file, if the scenario came from text.
    pub position: Option<Position>,
    /// Which stage found it.
    pub stage: Stage,
}

impl Problem {
    /// A semantic problem at `path`, without a position yet.
    pub fn semantic(path: impl fmt::Display, message: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            message: message.into(),
            position: None,
            stage: Stage::Semantic,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(position) = self.position {
            write!(f, "{position}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// A field path under construction, in `serde_path_to_error`'s syntax:
/// `schedule[1].fault.partition[0][0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// The whole document.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// The field `key` of this object.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        if self.0.is_empty() {
            Self(key.to_owned())
        } else {
            Self(format!("{}.{key}", self.0))
        }
    }

    /// The element `index` of this array.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects semantic problems while a scenario is checked.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem at `path`.
    pub fn push(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.0.push(Problem::semantic(path, message));
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in the order they were recorded.
    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_read_like_serde_path_to_error() {
        let path = FieldPath::root()
            .key("schedule")
            .index(1)
            .key("fault")
            .key("partition")
            .index(0)
            .index(0);
        assert_eq!(path.as_str(), "schedule[1].fault.partition[0][0]");
    }
}
