//! What is wrong with a scenario, and where.
//!
//! Every [`Problem`] names its field path in the scenario
//! (`schedule[1].fault.partition[0][0]`, the syntax `serde_path_to_error`
//! uses) and, when the scenario came from a file, the line and column of that
//! field. Syntax and type errors stop parsing at the first one; semantic checks
//! run over the whole parsed scenario and report every problem they find.

use std::fmt;
use std::io;
use std::path::PathBuf;

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

/// Why a scenario could not be loaded or validated.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: cannot read the scenario: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The scenario is not valid; every problem found is listed.
    #[error("{}", render(origin.as_deref(), problems))]
    Invalid {
        /// The file name (or another label of the source), if any.
        origin: Option<String>,
        /// At least one problem, in the order of the document where known.
        problems: Vec<Problem>,
    },
}

impl ScenarioError {
    /// An invalid scenario with these problems.
    pub fn invalid(origin: Option<String>, problems: Vec<Problem>) -> Self {
        ScenarioError::Invalid { origin, problems }
    }

    /// The problems (none for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ScenarioError::Read { .. } => &[],
            ScenarioError::Invalid { problems, .. } => problems,
        }
    }
}

fn render(origin: Option<&str>, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| match origin {
            Some(origin) if problem.position.is_some() => format!("{origin}:{problem}"),
            Some(origin) => format!("{origin}: {problem}"),
            None => problem.to_string(),
        })
        .collect();
    lines.join("\n")
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

    #[test]
    fn an_error_names_the_file_the_position_and_the_field() {
        let mut problem =
            Problem::semantic("schedule[1].fault.partition", "unknown region \"eu-wets\"");
        problem.position = Some(Position {
            line: 12,
            column: 7,
        });
        let error = ScenarioError::invalid(Some("scenario.json".into()), vec![problem]);
        assert_eq!(
            error.to_string(),
            "scenario.json:12:7: schedule[1].fault.partition: unknown region \"eu-wets\""
        );
    }

    #[test]
    fn every_problem_gets_its_own_line() {
        let error = ScenarioError::invalid(
            None,
            vec![
                Problem::semantic("seed", "too big"),
                Problem::semantic("", "empty"),
            ],
        );
        assert_eq!(error.to_string(), "seed: too big\nempty");
    }
}
