//! The executor: runs a plan's steps concurrently in dependency order
//! (bounded parallelism), records each created resource in the state file
//! as soon as it exists, and stops starting new steps at the first failure
//! while letting the running ones finish — so what exists is always on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use super::{ensure, Action, Plan, Step};
use crate::aws::Clients;
use crate::config::Deployment;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::state::{State, StateStore};

/// What every step may read and record.
pub struct Env {
    pub clients: Clients,
    pub d: Deployment,
    pub progress: Progress,
    pub account: String,
    pub azs: Vec<String>,
    pub timeout: Duration,
    pub allow_host_replacement: bool,
    /// Address → ID of everything that exists so far.
    pub ids: Mutex<BTreeMap<String, String>>,
    /// EIP address → public IP.
    pub eip_ips: Mutex<BTreeMap<String, String>>,
    state: Mutex<State>,
    store: StateStore,
    /// The host's AMI, looked up once, early (see `prefetch_ami`).
    ami: tokio::sync::OnceCell<String>,
    /// This run launched the host (which then boots with the runner's config).
    pub launched_host: std::sync::atomic::AtomicBool,
    /// The GitLab the data volume holds (`ee 19.3.0`), when known: a new
    /// host boots it; `gitlab/app` moves it on.
    pub data_gitlab: Mutex<Option<String>>,
    /// SSM holds intents of this deployment (`aws::intents`): cleared once
    /// every one of them is recorded.
    pub shared_intents: std::sync::atomic::AtomicBool,
    /// The early write of the planned intents to SSM (`send_intents`):
    /// `None` while it runs, then its outcome.
    intents_sent: tokio::sync::watch::Sender<Option<std::result::Result<(), String>>>,
}

impl Env {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clients: Clients,
        d: Deployment,
        progress: Progress,
        account: String,
        azs: Vec<String>,
        timeout: Duration,
        allow_host_replacement: bool,
        ids: BTreeMap<String, String>,
        eip_ips: BTreeMap<String, String>,
        state: State,
        store: StateStore,
    ) -> Env {
        Env {
            clients,
            d,
            progress,
            account,
            azs,
            timeout,
            allow_host_replacement,
            ids: Mutex::new(ids),
            eip_ips: Mutex::new(eip_ips),
            state: Mutex::new(state),
            store,
            ami: tokio::sync::OnceCell::new(),
            launched_host: std::sync::atomic::AtomicBool::new(false),
            data_gitlab: Mutex::new(None),
            shared_intents: std::sync::atomic::AtomicBool::new(false),
            intents_sent: tokio::sync::watch::Sender::new(Some(Ok(()))),
        }
    }

    /// The host's template inputs from what exists so far.
    pub fn host_inputs(&self) -> Result<crate::render::HostInputs> {
        let ids = self.ids.lock().expect("ids lock").clone();
        let eips = self.eip_ips.lock().expect("eip lock").clone();
        super::host_inputs(&self.d, &self.account, &ids, &eips, &self.azs)
            .ok_or_else(|| Error::Failed("the host's inputs (VPC, subnets, EIP) do not all exist".into()))
    }

    /// The host's AMI: from the config, or AWS's public SSM parameter.
    pub async fn ami(&self) -> Result<String> {
        self.ami.get_or_try_init(|| crate::aws::ec2::host_ami(&self.clients, &self.d)).await.cloned()
    }

    pub fn id(&self, address: &str) -> Result<String> {
        self.ids
            .lock()
            .expect("ids lock")
            .get(address)
            .cloned()
            .ok_or_else(|| Error::Failed(format!("{address} does not exist yet (dependency missing)")))
    }

    /// Records a resource: in memory for later steps, and on disk.
    pub fn record(&self, address: &str, id: &str) -> Result<()> {
        self.ids.lock().expect("ids lock").insert(address.to_owned(), id.to_owned());
        let mut state = self.state.lock().expect("state lock");
        state.resources.insert(address.to_owned(), id.to_owned());
        state.intents.remove(address);
        self.store.save(&state)
    }

    /// Records, before the call that creates it, what `address` is about to
    /// be (see `State::intents`); returns an intent an earlier, interrupted
    /// run recorded instead, so a resumed run reuses it, or the one
    /// `send_intents` recorded for this run. Kept in SSM too, for a run on
    /// another machine (`aws::intents`).
    pub async fn intend(&self, address: &str, value: &str) -> Result<String> {
        match self.add_intents(vec![(address.to_owned(), value.to_owned())])? {
            Some(intents) => crate::aws::intents::write(&self.clients, self.d.name(), &intents).await?,
            None => self.intents_in_ssm().await?,
        }
        Ok(self.state.lock().expect("state lock").intents[address].clone())
    }

    /// Records `planned` (what `intend` will be asked for) and sends it to
    /// SSM in the background, so the write is off the critical path; the
    /// step that needs one waits for it in `intend`.
    fn send_intents(self: &Arc<Self>, planned: Vec<(String, String)>) -> Result<()> {
        let Some(intents) = self.add_intents(planned)? else { return Ok(()) };
        self.intents_sent.send_replace(None);
        let env = self.clone();
        tokio::spawn(async move {
            let sent = crate::aws::intents::write(&env.clients, env.d.name(), &intents).await;
            env.intents_sent.send_replace(Some(sent.map_err(|e| e.to_string())));
        });
        Ok(())
    }

    /// Adds what is not recorded yet of `planned` to the state's intents
    /// (saved); all of them, to send to SSM, when any was new.
    fn add_intents(&self, planned: Vec<(String, String)>) -> Result<Option<BTreeMap<String, String>>> {
        let mut state = self.state.lock().expect("state lock");
        let before = state.intents.len();
        for (address, value) in planned {
            state.intents.entry(address).or_insert(value);
        }
        if state.intents.len() == before {
            return Ok(None);
        }
        self.store.save(&state)?;
        self.shared_intents.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(Some(state.intents.clone()))
    }

    /// Waits for `send_intents`' write.
    async fn intents_in_ssm(&self) -> Result<()> {
        let mut sent = self.intents_sent.subscribe();
        let outcome = sent.wait_for(Option::is_some).await.map(|o| o.clone()).ok().flatten().unwrap_or(Ok(()));
        outcome.map_err(|e| Error::Failed(format!("keeping the intents in SSM: {e}")))
    }

    /// Intents are kept in SSM and none is outstanding: time to clear them.
    fn settled(&self) -> bool {
        self.shared_intents.load(std::sync::atomic::Ordering::SeqCst)
            && self.state.lock().expect("state lock").intents.is_empty()
    }

    /// Clears the intents kept in SSM once none is outstanding (after the
    /// early write of them, which must not land after the delete).
    async fn settle_intents(&self) -> Result<()> {
        if !self.settled() {
            return Ok(());
        }
        let _ = self.intents_in_ssm().await;
        let none_left = self.state.lock().expect("state lock").intents.is_empty();
        if none_left && self.shared_intents.swap(false, std::sync::atomic::Ordering::SeqCst) {
            crate::aws::intents::write(&self.clients, self.d.name(), &Default::default()).await?;
        }
        Ok(())
    }

    pub fn forget(&self, address: &str) -> Result<()> {
        self.ids.lock().expect("ids lock").remove(address);
        let mut state = self.state.lock().expect("state lock");
        state.resources.remove(address);
        self.store.save(&state)
    }

    /// The deployment as a new host boots it (see `plan::booting`).
    pub fn booting(&self) -> Deployment {
        super::booting(&self.d, self.data_gitlab.lock().expect("data lock").as_deref())
    }

    pub fn state(&self) -> State {
        self.state.lock().expect("state lock").clone()
    }
}

/// What executing a plan did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub changed: Vec<String>,
    /// Steps that failed, with their error.
    pub failed: Vec<(String, Error)>,
    /// Steps not started because a step they depend on failed.
    pub skipped: Vec<String>,
    /// A signal stopped the plan before every step ran.
    pub interrupted: bool,
}

impl Outcome {
    /// The first failure as the command's error, for `up`.
    pub fn into_result(mut self) -> Result<Vec<String>> {
        if self.interrupted {
            Err(Error::Interrupted)
        } else if self.failed.is_empty() {
            Ok(self.changed)
        } else {
            let steps = self.failed.iter().map(|(address, _)| address.clone()).collect();
            Err(Error::StepsFailed { steps, first: Box::new(self.failed.remove(0).1) })
        }
    }
}

/// Runs every step that is not `Keep`, deletes included, each once all the
/// steps it depends on succeeded. A failed step does not stop independent
/// ones; the steps that depend on it are skipped.
pub async fn apply(env: Arc<Env>, plan: &Plan, parallelism: usize) -> Result<Outcome> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    for s in plan.steps.iter().filter(|s| s.action == Action::Keep) {
        done.insert(s.address.clone());
        if let Some(id) = &s.id {
            env.record(&s.address, id)?;
        }
    }
    env.send_intents(super::ensure::planned_intents(plan))?;
    // The AMI lookup is nobody's dependency but the host's: start it now,
    // off the critical path.
    if plan
        .steps
        .iter()
        .any(|s| s.kind == super::Kind::Instance && matches!(s.action, Action::Create | Action::Replace))
    {
        let env = env.clone();
        tokio::spawn(async move { env.ami().await });
    }
    // Ready steps start longest-remaining-chain first (list scheduling), so
    // the critical path never waits behind a short branch.
    let tails = super::critical::tails(plan);
    let mut waiting: Vec<&Step> = plan.steps.iter().filter(|s| s.action != Action::Keep).collect();
    waiting.sort_by_key(|s| std::cmp::Reverse(tails.get(s.address.as_str()).copied().unwrap_or(0)));
    let mut broken: BTreeSet<String> = BTreeSet::new();
    let mut running: JoinSet<(String, Result<String>)> = JoinSet::new();
    let mut outcome = Outcome::default();
    // Cleared while later steps run, off the end of the run.
    let mut settling: Option<tokio::task::JoinHandle<Result<()>>> = None;
    loop {
        let (skip, rest): (Vec<&Step>, Vec<&Step>) =
            waiting.into_iter().partition(|s| s.deps.iter().any(|d| broken.contains(d)));
        for s in skip {
            broken.insert(s.address.clone());
            outcome.skipped.push(s.address.clone());
        }
        let (ready, rest): (Vec<&Step>, Vec<&Step>) =
            rest.into_iter().partition(|s| s.deps.iter().all(|d| done.contains(d) || plan.step(d).is_none()));
        waiting = rest;
        let mut ready = ready.into_iter();
        while running.len() < parallelism.max(1) && !crate::interrupt::requested() {
            let Some(step) = ready.next() else { break };
            let (env, step) = (env.clone(), step.clone());
            running.spawn(async move {
                let result = match step.action {
                    Action::Delete => ensure::delete(&env, &step).await.map(|_| String::new()),
                    _ => ensure::run(&env, &step).await,
                };
                (step.address.clone(), result)
            });
        }
        waiting.extend(ready);
        let Some(joined) = running.join_next().await else { break };
        let (address, result) = joined.map_err(|e| Error::Failed(format!("a step panicked: {e}")))?;
        let step = plan.step(&address).expect("ran a step of this plan");
        match result {
            Ok(_) if step.action == Action::Delete => {
                env.forget(&address)?;
                env.progress.info(format!("deleted {address}  {}", step.id.as_deref().unwrap_or("")));
                done.insert(address.clone());
                outcome.changed.push(address);
            }
            Ok(id) => {
                env.record(&address, &id)?;
                env.progress.info(format!("{} {address}  {id}", verb(step.action)));
                if settling.is_none() && env.settled() {
                    let env = env.clone();
                    settling = Some(tokio::spawn(async move { env.settle_intents().await }));
                }
                done.insert(address.clone());
                outcome.changed.push(address);
            }
            Err(Error::Interrupted) => {
                broken.insert(address.clone());
                outcome.skipped.push(address);
            }
            Err(e) => {
                env.progress.error(format!("{address}: {e}"));
                broken.insert(address.clone());
                outcome.failed.push((address, e));
            }
        }
    }
    for s in waiting {
        outcome.skipped.push(s.address.clone());
    }
    outcome.interrupted = crate::interrupt::requested();
    let early = match settling {
        Some(task) => task.await.unwrap_or_else(|e| Err(Error::Failed(format!("clearing the intents: {e}")))),
        None => Ok(()),
    };
    // Intents added after the early clearing are cleared now.
    if let Err(e) = early.and(env.settle_intents().await) {
        env.progress.warn(format!("the intents kept in SSM stay until the next run: {e}"));
    }
    Ok(outcome)
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Keep => "kept",
        Action::Delete => "deleted",
    }
}
