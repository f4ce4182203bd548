//! The plan as people read it (`+ create`, `~ change`, `= keep`, `-/+
//! replace`, `- delete`, then `Plan: N to add, M to change, K to destroy.`)
//! and as JSON.

use std::io::{self, Write};

use serde::Serialize;

use super::{Action, Plan};
use crate::output::Report;

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Keep => "=",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Plan {
    /// Replacements count as one to add and one to destroy, like Terraform.
    pub fn summary(&self) -> Summary {
        let replace = self.count(Action::Replace);
        Summary {
            add: self.count(Action::Create) + replace,
            change: self.count(Action::Update),
            destroy: self.count(Action::Delete) + replace,
        }
    }

    pub fn summary_line(&self) -> String {
        let s = self.summary();
        format!("Plan: {} to add, {} to change, {} to destroy.", s.add, s.change, s.destroy)
    }

    /// The text form, also used by `up` for its log on stderr: a line a
    /// resource — a new one with its key attributes, a changed one with
    /// `key: old -> new` — and with `detail` (`-v`) every attribute of
    /// each resource to create or change on a line of its own.
    pub fn write_text(&self, out: &mut dyn Write, detail: bool) -> io::Result<()> {
        writeln!(out, "deployment {} in {} (account {}):", self.deployment, self.region, self.account)?;
        let width = self.steps.iter().map(|s| s.address.len()).max().unwrap_or(0);
        for s in &self.steps {
            let mut line = format!("  {:>3} {:<width$}", s.action.symbol(), s.address);
            if let Some(id) = s.id.as_ref().filter(|_| s.kind != super::Kind::Workers) {
                line.push_str(&format!("  {id}"));
            }
            if s.action == Action::Create {
                for a in s.attributes.iter().filter(|a| a.brief) {
                    line.push_str(&format!("  {}", a.brief_text()));
                }
            }
            if let Some(reason) = &s.reason {
                line.push_str(&format!("  ({reason})"));
            }
            writeln!(out, "{}", line.trim_end())?;
            let shown = s.action != Action::Keep && s.action != Action::Delete;
            for a in s.attributes.iter().filter(|_| detail && shown) {
                match a.change() {
                    Some(change) => writeln!(out, "        ~ {change}")?,
                    None => writeln!(out, "          {}: {}", a.key, a.value)?,
                }
            }
            if let Some(snap) = &s.snapshot_first {
                let kept = if snap.reason == "final" { "; kept after destroy" } else { "" };
                writeln!(
                    out,
                    "  {:>3} {:<width$}  (of {}: {}, GitLab {}{kept})",
                    "+", "snapshot", s.address, snap.reason, snap.gitlab
                )?;
            }
        }
        for c in &self.conflicts {
            writeln!(out, "  ! {c}")?;
        }
        for p in &self.problems {
            writeln!(out, "  ! {p}")?;
        }
        writeln!(out, "{}", self.summary_line())
    }
}

/// The plan with its summary counts, as `plan` prints it.
#[derive(Serialize)]
pub struct PlanReport<'a> {
    #[serde(flatten)]
    pub plan: &'a Plan,
    /// Every attribute in the text form (`-v`).
    #[serde(skip)]
    pub detail: bool,
    pub summary: Summary,
    /// The longest chain of calls that must run one after another.
    pub critical_path: super::critical::CriticalPath,
}

impl<'a> PlanReport<'a> {
    pub fn new(plan: &'a Plan, detail: bool) -> PlanReport<'a> {
        PlanReport { plan, detail, summary: plan.summary(), critical_path: super::critical::critical_path(plan) }
    }
}

impl Report for PlanReport<'_> {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        self.plan.write_text(out, self.detail)
    }
}
