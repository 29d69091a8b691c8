//! `custom`: any Rust closure over the history.
//!
//! Rust users state invariants the built-ins do not cover as a closure that
//! returns a [`CheckResult`]. The result carries the custom checker's name
//! whatever name the closure gave it. A closure that panics yields `unknown`
//! (with the panic message) rather than taking the report down with it.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::CheckResult;
use crate::history::History;

/// The closure behind a custom checker.
pub type CheckFn = Arc<dyn Fn(&History) -> CheckResult + Send + Sync>;

/// A named closure over the history.
#[derive(Clone)]
pub struct Custom {
    name: String,
    check: CheckFn,
}

impl Custom {
    /// A checker named `name` that runs `check`.
    pub fn new(
        name: impl Into<String>,
        check: impl Fn(&History) -> CheckResult + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            check: Arc::new(check),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the closure; its result is renamed to this checker's name.
    pub fn check(&self, history: &History) -> CheckResult {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.check)(history)));
        let mut result = outcome.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic".to_owned());
            CheckResult::unknown("", format!("the checker panicked: {message}"))
        });
        result.name = self.name.clone();
        result
    }
}

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Custom")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::synthetic::{history, op};
    use crate::check::Verdict;
    use crate::history::Outcome;

    fn at_most_one_failure() -> Custom {
        Custom::new("at most one failure", |h: &History| {
            let failures = h.ops().filter(|o| o.outcome == Outcome::Fail).count();
            if failures <= 1 {
                CheckResult::pass("ignored", format!("{failures} failures"))
            } else {
                CheckResult::fail("ignored", format!("{failures} failures"))
            }
        })
    }

    #[test]
    fn a_custom_checker_passes_what_its_closure_passes() {
        let h = history(vec![op(1, "a", "x", Outcome::Fail, 0, 1)]);
        let result = at_most_one_failure().check(&h);
        assert_eq!(result.verdict, Verdict::Pass);
        assert_eq!(result.name, "at most one failure");
    }

    #[test]
    fn a_custom_checker_fails_what_its_closure_fails() {
        let h = history(vec![
            op(1, "a", "x", Outcome::Fail, 0, 1),
            op(2, "a", "x", Outcome::Fail, 2, 3),
        ]);
        assert_eq!(at_most_one_failure().check(&h).verdict, Verdict::Fail);
    }

    #[test]
    fn a_panicking_custom_checker_is_unknown() {
        let checker = Custom::new("boom", |_: &History| -> CheckResult { panic!("no data") });
        let result = checker.check(&history(vec![]));
        assert_eq!(result.verdict, Verdict::Unknown);
        assert!(result.message.contains("no data"), "{}", result.message);
    }
}
