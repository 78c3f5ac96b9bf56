//! What `cygni doctor` found: one [`Check`] per pre-flight check (pass, warn or fail, what was
//! seen, and for anything short of a pass the fix), rendered as lines for people or as JSON for
//! scripts. No I/O.

use serde::Serialize;
use std::fmt::Write as _;

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Ready as it is.
    Pass,
    /// Works, but something is likely to bite later.
    Warn,
    /// The operator cannot work like this.
    Fail,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
        })
    }
}

/// One check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `ECS cluster`.
    pub name: String,
    /// The verdict.
    pub outcome: Outcome,
    /// What was seen.
    pub detail: String,
    /// What to do about a warning or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A warning with its fix.
    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure with its fix.
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Every check, in the order they were made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

/// The JSON document `-o json` prints.
#[derive(Serialize)]
struct Document<'a> {
    passed: usize,
    warnings: usize,
    failed: usize,
    checks: &'a [Check],
}

impl Report {
    /// Adds checks.
    pub fn extend(&mut self, checks: impl IntoIterator<Item = Check>) {
        self.checks.extend(checks);
    }

    fn count(&self, outcome: Outcome) -> usize {
        self.checks.iter().filter(|c| c.outcome == outcome).count()
    }

    /// Whether any check failed (the command then exits non-zero).
    pub fn failed(&self) -> bool {
        self.count(Outcome::Fail) > 0
    }

    /// One line per check (`pass`, `warn`, `FAIL`, its name, what was seen), the fix under each
    /// warning and failure, and a closing count.
    pub fn to_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{:<4}  {:<width$}  {}",
                check.outcome, check.name, check.detail
            );
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "{:<4}  {:<width$}  fix: {fix}", "", "");
            }
        }
        let _ = writeln!(
            out,
            "{} passed, {} warnings, {} failed",
            self.count(Outcome::Pass),
            self.count(Outcome::Warn),
            self.count(Outcome::Fail)
        );
        out
    }

    /// The report as one JSON document: the counts and every check.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&Document {
            passed: self.count(Outcome::Pass),
            warnings: self.count(Outcome::Warn),
            failed: self.count(Outcome::Fail),
            checks: &self.checks,
        })
        .unwrap_or_default()
            + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            checks: vec![
                Check::pass("Kubernetes API", "v1.36.0"),
                Check::fail("ECS cluster", "cluster web not found", "create it"),
            ],
        }
    }

    #[test]
    fn text_has_a_line_per_check_and_the_fix_under_a_failure() {
        assert_eq!(
            sample().to_text(),
            "pass  Kubernetes API  v1.36.0\n\
             FAIL  ECS cluster     cluster web not found\n\
             \x20                     fix: create it\n\
             1 passed, 0 warnings, 1 failed\n"
        );
    }

    #[test]
    fn a_single_failure_fails_the_report_and_json_counts_it() {
        let report = sample();
        assert!(report.failed());
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["failed"], 1);
        assert_eq!(json["checks"][1]["outcome"], "fail");
        assert!(json["checks"][0].get("fix").is_none());
        assert!(
            !Report {
                checks: vec![Check::warn("a", "b", "c")]
            }
            .failed()
        );
    }
}
