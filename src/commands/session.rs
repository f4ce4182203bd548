//! What `plan`, `up` and `status` share: the deployment, AWS clients, who we
//! are, the state file, and what exists — gathered in one place, once.

use std::sync::Arc;

use crate::aws::discover::{self, Inventory, Names};
use crate::aws::lock::Lock;
use crate::aws::{Clients, Identity};
use crate::config::Deployment;
use crate::error::Result;
use crate::plan::apply::Env;
use crate::plan::{self, desired, Known, Plan};
use crate::state::{State, StateStore};

use super::Context;

pub struct Session {
    pub d: Deployment,
    pub clients: Clients,
    pub identity: Identity,
    pub store: StateStore,
    pub bucket: String,
}

impl Session {
    pub async fn open(ctx: &Context) -> Result<Session> {
        let (d, clients) = ctx.connect().await?;
        let identity = clients.identity().await?;
        Ok(Session::of(ctx, d, clients, identity))
    }

    /// Opens a session and discovers the deployment at once: STS says who we
    /// are while every describe that does not need the account runs (the
    /// bucket's name does; its tags are read as soon as STS answers). With
    /// `lock` (the command's name) the deployment's lock is taken first, so
    /// what is discovered holds while the lock is held; STS, which reads
    /// nothing of the deployment, answers meanwhile, and the bucket is
    /// described with the rest. `purpose` says what the inventory is for.
    pub async fn open_discovered(
        ctx: &Context,
        lock: Option<&str>,
        purpose: Purpose,
    ) -> Result<(Session, Option<Lock>, Inventory)> {
        let (d, clients) = ctx.connect().await?;
        let store = StateStore::new(&ctx.state_dir, d.name());
        let identity = tokio::sync::OnceCell::new();
        let lock = match lock {
            Some(command) => {
                // A failed STS call is made again by discovery, which reports it.
                let (lock, _) = tokio::join!(
                    ctx.lock(&clients, d.name(), command),
                    identity.get_or_try_init(|| clients.identity())
                );
                Some(lock?)
            }
            None => None,
        };
        let bucket = async {
            let id = identity.get_or_try_init(|| clients.identity()).await?;
            Ok(d.bucket_name(&id.account, d.region()))
        };
        let inventory = discovery(&d, &clients, &store, bucket, purpose).await?;
        let identity = identity.into_inner().expect("discovery awaited the identity");
        let mut d = d;
        if d.runner.executor.is_none() {
            // Without runner.executor an existing deployment keeps what its
            // host runs (the host's gascale:executor tag); a new one gets
            // docker-autoscaler.
            let running = inventory.found.get(crate::plan::desired::RUNNER_CONFIG).map(|f| f.state.as_str());
            // A host without the tag predates docker-autoscaler support: it
            // runs docker+machine.
            d.runner.executor = match running {
                Some("docker-autoscaler") | None => Some(crate::config::Executor::DockerAutoscaler),
                Some(_) => Some(crate::config::Executor::DockerMachine),
            };
        }
        Ok((Session::of(ctx, d, clients, identity), lock, inventory))
    }

    /// A session for a deployment known without its file (`reap`).
    pub fn of(ctx: &Context, d: Deployment, clients: Clients, identity: Identity) -> Session {
        let bucket = d.bucket_name(&identity.account, d.region());
        let store = StateStore::new(&ctx.state_dir, d.name());
        Session { d, clients, identity, store, bucket }
    }

    /// The state file, with the intents a run on another machine left in SSM
    /// (`aws::intents`, read by discovery) added; true when SSM holds any.
    pub fn state(&self, inventory: &Inventory) -> Result<(Option<State>, bool)> {
        let local = self.store.load()?;
        if inventory.shared_intents.is_empty() {
            return Ok((local, false));
        }
        let d = &self.d;
        let mut state = local.unwrap_or_else(|| State::new(d.name(), d.region(), &self.identity.account));
        for (address, value) in &inventory.shared_intents {
            state.intents.entry(address.clone()).or_insert(value.clone());
        }
        Ok((Some(state), true))
    }

    /// Discovers the deployment (the session knows its bucket's name).
    pub async fn discover(&self) -> Result<Inventory> {
        let bucket = std::future::ready(Ok(self.bucket.clone()));
        discovery(&self.d, &self.clients, &self.store, bucket, Purpose::Look).await
    }

    /// The plan for `inventory`, with the preflight's findings.
    /// `allow_unlisted_version`: a GitLab beyond the upgrade path gascale
    /// knows is no problem.
    pub async fn plan(
        &self,
        ctx: &Context,
        inventory: &Inventory,
        state: Option<&State>,
        allow_unlisted_version: bool,
    ) -> Result<Plan> {
        if !self.d.autoscaler() {
            // GitLab deprecated the docker+machine executor in Runner 17.5
            // and removes it in 20.0 (DESIGN.md; GitLab Runner docs).
            ctx.progress.warn(
                "runner.executor docker+machine is deprecated and goes with GitLab Runner 20.0 (May 2027); \
                 switch with runner.executor: docker-autoscaler (GitLab and its data stay)",
            );
        }
        let volume_exists = inventory.id(plan::desired::DATA_VOLUME).is_some();
        let restoring = plan::preflight::Restoring::read(&self.clients, &self.d, volume_exists).await?;
        let known = Known {
            inventory,
            state,
            account: &self.identity.account,
            bucket: &self.bucket,
            restored: restoring.as_ref().and_then(|r| r.gitlab()),
        };
        let mut plan = plan::build(&self.d, &known);
        let zones = &inventory.availability_zones;
        let checks = (restoring.as_ref(), allow_unlisted_version);
        let facts = inventory.region_facts.as_ref();
        plan.problems = plan::preflight::check(&self.clients, &self.d, &plan, (zones, facts), checks).await?;
        Ok(plan)
    }

    /// The executor's environment for a plan built from `inventory`.
    pub fn env(
        &self,
        ctx: &Context,
        inventory: &Inventory,
        state: Option<State>,
        allow_host_replacement: bool,
        plan: &Plan,
    ) -> Arc<Env> {
        let d = &self.d;
        let ids = inventory.ids();
        let base = state.unwrap_or_else(|| State::new(d.name(), d.region(), &self.identity.account));
        let env = Env::new(
            self.clients.clone(),
            d.clone(),
            ctx.progress.clone(),
            self.identity.account.clone(),
            inventory.availability_zones.clone(),
            ctx.timeout,
            allow_host_replacement,
            ids,
            inventory.eip_ips.clone(),
            base,
            self.store.clone(),
        );
        *env.data_gitlab.lock().expect("data lock") = plan.data_gitlab.clone();
        Arc::new(env)
    }

    /// "account A as ARN in REGION": printed before any mutating call.
    pub fn whoami(&self) -> String {
        format!("account {}, caller {}, region {}", self.identity.account, self.identity.arn, self.identity.region)
    }
}

pub use crate::aws::ec2::{bootstrap_failed, WAITING_DNS};

/// What a command discovers the deployment for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A plan (`plan`, `up`): the preflight's reads of the region go out
    /// with discovery when the deployment is likely new.
    Plan,
    /// Only what exists (`status`, `render`, `snapshot`).
    Look,
}

/// The discovery every command runs, by the deployment's names.
async fn discovery(
    d: &Deployment,
    clients: &Clients,
    store: &StateStore,
    bucket: impl std::future::Future<Output = Result<String>>,
    purpose: Purpose,
) -> Result<Inventory> {
    let names = Names {
        deployment: d.name(),
        roles: [
            (desired::ROLE_HOST, desired::role_name(d, desired::Role::Host)),
            (desired::ROLE_WORKER, desired::role_name(d, desired::Role::Workers)),
        ],
        profiles: [
            (desired::PROFILE_HOST, format!("gascale-{}-host", d.name())),
            (desired::PROFILE_WORKER, d.worker_profile_name()),
        ],
        worker_group: d.worker_group_name(),
    };
    // A state file naming a VPC makes one round of describes likely to pay.
    let network_likely = store.load().ok().flatten().is_some_and(|s| s.resources.contains_key(desired::VPC));
    // A new deployment's plan creates everything the preflight checks: its
    // reads need not wait for the plan. Otherwise the preflight reads only
    // what the plan turns out to need (a no-op `up` none).
    let facts = async {
        match purpose {
            Purpose::Plan if !network_likely => plan::preflight::prefetch(clients, d).await.map(Some),
            _ => Ok(None),
        }
    };
    // The intents a killed run left in SSM, read in the same round.
    let (mut inventory, intents, facts) = tokio::try_join!(
        discover::discover(clients, &names, bucket, network_likely),
        crate::aws::intents::read(clients, d.name()),
        facts
    )?;
    inventory.shared_intents = intents;
    inventory.region_facts = facts;
    Ok(inventory)
}
