//! `gascale plan`: what `up` would do. Reads only.

use super::session::{Purpose, Session};
use super::Context;
use crate::cli::PlanArgs;
use crate::error::{exit, Result};
use crate::plan::PlanReport;

pub async fn run(ctx: &Context, args: &PlanArgs) -> Result<u8> {
    let (session, _, inventory) = Session::open_discovered(ctx, None, Purpose::Plan).await?;
    let (state, _) = session.state(&inventory)?;
    let plan = session.plan(ctx, &inventory, state.as_ref(), args.allow_unlisted_version).await?;
    ctx.output.emit(&PlanReport::new(&plan, ctx.verbose > 0))?;
    let attention = plan.has_changes() || !plan.conflicts.is_empty() || !plan.problems.is_empty();
    Ok(if args.detailed_exitcode && attention { exit::CHANGES } else { exit::OK })
}
