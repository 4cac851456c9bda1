//! Code suites: the program a completion is tested with, and the executor
//! interface the sandbox implements (`sandbox.rs`). The runner only sees the
//! trait, so tests use a double and the CLI plugs in the real sandbox.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a program may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time before the program is killed.
    pub timeout: Duration,
    /// Address-space limit in bytes.
    pub memory_bytes: u64,
}

/// How a program ended. Only the kind of outcome is scored and recorded (not
/// its output), so results do not depend on paths or timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exited with status 0 in time.
    Passed,
    /// Exited non-zero (a failed assertion, an exception); `detail` is a tail of stderr.
    Failed { detail: String },
    /// Killed at the time limit.
    Timeout,
    /// Killed at the memory limit.
    Memory,
    /// Could not be run at all (no interpreter, sandbox setup failed).
    Error { detail: String },
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Passed)
    }

    /// The label kept in per-item results.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed { .. } => "failed",
            Outcome::Timeout => "timeout",
            Outcome::Memory => "memory",
            Outcome::Error { .. } => "error",
        }
    }
}

/// Runs a Python program in isolation (no network, a temporary directory, the limits).
pub trait CodeExecutor: Send + Sync {
    fn run(&self, program: &str, limits: &Limits) -> Outcome;
}

/// HumanEval's program: the prompt, the model's completion, the tests, and the call
/// of `check` on the entry point.
pub fn program(prompt: &str, completion: &str, tests: &str, entry_point: &str) -> String {
    format!("{prompt}{completion}\n\n{tests}\n\ncheck({entry_point})\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_humaneval_shaped() {
        assert_eq!(
            program(
                "def f():\n",
                "    return 1\n",
                "def check(c):\n    assert c() == 1",
                "f"
            ),
            "def f():\n    return 1\n\n\ndef check(c):\n    assert c() == 1\n\ncheck(f)\n"
        );
    }

    #[test]
    fn labels() {
        assert!(Outcome::Passed.passed());
        assert_eq!(Outcome::Timeout.label(), "timeout");
        assert!(!Outcome::Memory.passed());
    }
}
