//! `gascale plan`: what `up` would do. Reads only.

use super::session::Session;
use super::Context;
use crate::error::{exit, Result};
use crate::plan::PlanReport;

pub async fn run(ctx: &Context, detailed_exitcode: bool) -> Result<u8> {
    let (session, _, inventory) = Session::open_discovered(ctx, None).await?;
    let state = session.store.load()?;
    let plan = session.plan(ctx, &inventory, state.as_ref()).await?;
    ctx.output.emit(&PlanReport::new(&plan, ctx.verbose > 0))?;
    let attention = plan.has_changes() || !plan.conflicts.is_empty() || !plan.problems.is_empty();
    Ok(if detailed_exitcode && attention { exit::CHANGES } else { exit::OK })
}
