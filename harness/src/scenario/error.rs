//! What is wrong with a scenario, and where.
//!
//! Every [`Problem`] names its field path in the scenario
//! (`schedule[1].fault.partition[0][0]`, the syntax `serde_path_to_error`
//! uses) and, when the scenario came from a file, the line and column of that
//! field. Syntax and type errors stop parsing at the first one; semantic checks
//! run over the whole parsed scenario and report every problem they find.

use std::io;
use std::path::PathBuf;

use crate::base::Problem;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Position;

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
