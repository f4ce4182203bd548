//! `-vv`: every AWS call on stderr with its outcome and duration, retries
//! included in the time (one line per operation, as the SDK executes it).

use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::progress::{Level, Progress};

#[derive(Debug, Clone)]
pub struct CallLog(pub Progress);

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Started>;
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "gascale call log"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.level() >= Level::Debug {
            cfg.interceptor_state().store_put(Started(Instant::now()));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Started(started)) = cfg.load::<Started>().cloned() else { return Ok(()) };
        let op = cfg.load::<Metadata>().map_or("?".to_owned(), |m| format!("{}:{}", m.service(), m.name()));
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => "ok".to_owned(),
            Some(Err(e)) => format!("error ({e})"),
            None => "no response".to_owned(),
        };
        let status = context.response().map(|r| format!(" HTTP {}", r.status().as_u16())).unwrap_or_default();
        self.0.debug(format!("aws {op}{status} {outcome} in {} ms", started.elapsed().as_millis()));
        Ok(())
    }
}
