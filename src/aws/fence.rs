//! The lock's fence (see `aws::lock`): one SDK interceptor on every client,
//! built by the one SDK config builder.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Refuses every AWS call that changes something once the held lock's lease
/// ran out (a run paused past it, or cut off from SSM): another run may hold
/// the deployment by then. Steps under way when it happened fail at their
/// next call instead of finishing twice; the lock's own renewal is refused
/// too, so a woken run cannot overwrite its successor's lock. Reads go on.
/// (A request already on the wire when the run froze can still land: AWS
/// APIs take no fencing token.)
#[derive(Debug, Clone)]
pub struct Fence;

impl Intercept for Fence {
    fn name(&self) -> &'static str {
        "gascale lock fence"
    }

    // Checked as late as the SDK allows: before each attempt's bytes go, so
    // a call built before a pause and sent after it is stopped too.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(op) = cfg.load::<Metadata>() else { return Ok(()) };
        let reading = ["Describe", "Get", "List", "Head"].iter().any(|verb| op.name().starts_with(verb));
        if reading || !crate::interrupt::lease_ran_out() {
            return Ok(());
        }
        Err(format!("not sent: this run's lock lease ran out, another run may hold the deployment ({})", op.name())
            .into())
    }
}
