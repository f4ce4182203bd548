//! Test harness: one local AWS emulator for the whole test binary, and a
//! builder that runs the real `gascale` binary against it with a clean
//! environment (dummy credentials, no IMDS, no user AWS config).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator's endpoint: `GASCALE_TEST_ENDPOINT` when `scripts/test`
/// started one, else one started here that exits with this test process.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("GASCALE_TEST_ENDPOINT") {
            if !e.is_empty() {
                return e;
            }
        }
        let dir = root().join("target").join(format!("emulator-{}", std::process::id()));
        let out = Command::new(root().join("scripts/aws-emulator"))
            .args(["start", "--dir"])
            .arg(&dir)
            .args([
                "--parent-pid",
                &std::process::id().to_string(),
                "--strict",
                "--eip-quota",
                "1000",
                "--vpc-quota",
                "1000",
            ])
            .output()
            .expect("run scripts/aws-emulator");
        assert!(out.status.success(), "emulator did not start: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
}

/// A unique deployment name per test, so tests share one emulator safely.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}x{}", std::process::id() % 10_000, N.fetch_add(1, Ordering::SeqCst))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// `gascale` with a scrubbed environment, run in `dir`.
pub fn gascale(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gascale"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("GASCALE_") || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-aws-credentials"))
        .env("COLUMNS", "100");
    cmd
}

pub fn run(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("run gascale"))
}

/// A scratch folder holding one config file.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn with_config(yaml: &str) -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gascale.yaml"), yaml).unwrap();
        Workdir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs gascale against the emulator with these args.
    pub fn gascale(&self, args: &[&str]) -> Run {
        run(gascale(self.path()).arg("--endpoint-url").arg(endpoint()).args(args))
    }
}

/// SDK clients for the tests' own reads and set-ups, on the shared emulator.
/// They sign as `setup`, which strict mode lets through at once: what a test
/// arranges stands for things done long before gascale runs.
pub fn sdk() -> gascale::aws::Clients {
    sdk_at(endpoint())
}

pub fn sdk_at(endpoint: &str) -> gascale::aws::Clients {
    clients(endpoint, "setup")
}

/// Clients that meet strict mode as gascale does (signing as `probe`: not
/// `setup`, and not `testing`, whose calls scripts/check-permissions counts
/// as gascale's).
pub fn sdk_strict() -> gascale::aws::Clients {
    clients(endpoint(), "probe")
}

fn clients(endpoint: &str, access_key: &str) -> gascale::aws::Clients {
    clients_with(endpoint, access_key, "testing")
}

/// Clients signing with a given key pair (an IAM user's, under enforcement).
pub fn clients_with(endpoint: &str, access_key: &str, secret: &str) -> gascale::aws::Clients {
    let config = runtime().block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_sts::config::Credentials::new(access_key, secret, None, None, "tests"))
            // The fault-injecting emulator throttles the tests' own calls too.
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(20))
            .load(),
    );
    gascale::aws::Clients {
        autoscaling: aws_sdk_autoscaling::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        s3: aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build()),
        ssm: aws_sdk_ssm::Client::new(&config),
        dlm: aws_sdk_dlm::Client::new(&config),
        quotas: aws_sdk_servicequotas::Client::new(&config),
        sts: aws_sdk_sts::Client::new(&config),
        region: "eu-west-1".into(),
    }
}

/// Sets the host's `gascale:bootstrap` tag as the bootstrap publishes its
/// progress (templates/user-data.sh.hbs `publish`): `running:STEP`,
/// `complete`, `failed:STEP`.
pub async fn publish_bootstrap(c: &gascale::aws::Clients, host: &str, status: &str) {
    let tag = aws_sdk_ec2::types::Tag::builder().key("gascale:bootstrap").value(status).build();
    c.ec2.create_tags().resources(host).tags(tag).send().await.unwrap();
}

/// One runtime for the tests' SDK calls.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// An emulator of the test's own, for counting calls without other tests'
/// noise. Stopped on drop (and by itself when the test process exits).
pub struct PrivateEmulator {
    pub endpoint: String,
    dir: tempfile::TempDir,
}

impl PrivateEmulator {
    pub fn start() -> PrivateEmulator {
        PrivateEmulator::start_with(&[])
    }

    /// With fault options of scripts/aws-emulator (`--throttle 0.2`, ...),
    /// in strict mode like every emulator of the tests, in an account whose
    /// Elastic IP and VPC quotas are raised unless `--eip-quota` or
    /// `--vpc-quota` says otherwise.
    pub fn start_with(faults: &[&str]) -> PrivateEmulator {
        let eip: &[&str] = if faults.contains(&"--eip-quota") { &[] } else { &["--eip-quota", "1000"] };
        let vpc: &[&str] = if faults.contains(&"--vpc-quota") { &[] } else { &["--vpc-quota", "1000"] };
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(root().join("scripts/aws-emulator"))
            .args(["start", "--dir"])
            .arg(dir.path())
            .args(["--parent-pid", &std::process::id().to_string(), "--strict"])
            .args(faults)
            .args(eip)
            .args(vpc)
            .output()
            .expect("run scripts/aws-emulator");
        assert!(out.status.success(), "emulator did not start: {}", String::from_utf8_lossy(&out.stderr));
        PrivateEmulator { endpoint: String::from_utf8(out.stdout).unwrap().trim().to_owned(), dir }
    }

    /// How many requests the emulator has answered so far.
    pub fn request_count(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("requests.jsonl")).unwrap_or_default().lines().count()
    }

    /// (service, operation) of every request so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        let log = std::fs::read_to_string(self.dir.path().join("requests.jsonl")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["path"] != "/moto-api/data.json")
            .map(|v| {
                (v["auth"].as_str().unwrap_or_default().to_owned(), v["op"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    }

    /// Every request so far, as the emulator logged it (op, strict, ...).
    pub fn log(&self) -> Vec<serde_json::Value> {
        let log = std::fs::read_to_string(self.dir.path().join("requests.jsonl")).unwrap_or_default();
        log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The emulator's clock (its log's times), in seconds since the epoch.
    pub fn now(&self) -> f64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
    }

    /// Changing calls (see `is_mutating`) that arrived at `since` or later.
    pub fn mutating_since(&self, since: f64) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|v| v["arrived"].as_f64().unwrap_or_default() >= since)
            .map(|v| v["op"].as_str().unwrap_or_default().to_owned())
            .filter(|op| is_mutating(op))
            .collect()
    }

    /// Changes the emulator's fault rates from now on.
    pub fn set_faults(&self, throttle: f64, error: f64, seed: u64) {
        let body = serde_json::json!({"throttle": throttle, "error": error, "seed": seed});
        emulator_control(&self.endpoint, "POST", "/gascale-test/faults", &body.to_string());
    }

    /// How many requests the emulator answered with an injected fault.
    pub fn faults(&self) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("requests.jsonl")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| !v["fault"].is_null())
            .count()
    }

    /// Operation names of every request so far.
    pub fn operations(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("requests.jsonl")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["path"] != "/moto-api/data.json")
            .map(|v| v["op"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub fn gascale(&self, w: &Workdir, args: &[&str]) -> Run {
        run(gascale(w.path()).arg("--endpoint-url").arg(&self.endpoint).args(args))
    }
}

impl Drop for PrivateEmulator {
    fn drop(&mut self) {
        // Kept for scripts/check-permissions, which reads every call gascale made.
        if let Some(dir) = std::env::var_os("GASCALE_TEST_LOG_DIR") {
            let to =
                PathBuf::from(dir).join(format!("private-{}.jsonl", self.endpoint.rsplit(':').next().unwrap_or("0")));
            let _ = std::fs::copy(self.dir.path().join("requests.jsonl"), to);
        }
        let _ = Command::new(root().join("scripts/aws-emulator")).args(["stop", "--dir"]).arg(self.dir.path()).output();
    }
}

/// Whether an AWS operation changes the deployment: any changing call but
/// SSM's parameter writes, which are gascale's lock and intents (`aws::lock`,
/// `aws::intents`) — taken and released by every `up`, even a refused or
/// no-op one.
pub fn changes_deployment(op: &str) -> bool {
    is_mutating(op) && !matches!(op, "PutParameter" | "DeleteParameter")
}

/// Whether an AWS operation changes anything (read operations are
/// Describe/Get/List/Head and S3 GET/HEAD).
pub fn is_mutating(op: &str) -> bool {
    let read = ["Describe", "Get", "List", "Head"].iter().any(|p| op.starts_with(p))
        || op.starts_with("S3:GET")
        || op.starts_with("S3:HEAD");
    !read
}

/// A plain HTTP request to the emulator's test controls (no client crate
/// needed for two calls).
pub fn emulator_control(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the emulator");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}

/// Sets what SSM commands on `instance` print (see scripts/emulator/launch.py).
pub fn set_ssm_result(instance: &str, status: &str, code: i32, stdout: &str, stderr: &str) {
    set_ssm_result_at(endpoint(), instance, status, code, stdout, stderr);
}

/// `set_ssm_result` on the emulator at `endpoint`.
pub fn set_ssm_result_at(endpoint: &str, instance: &str, status: &str, code: i32, stdout: &str, stderr: &str) {
    let body = serde_json::json!({
        "InstanceId": instance, "Status": status, "ResponseCode": code,
        "StandardOutputContent": stdout, "StandardErrorContent": stderr,
    });
    emulator_control(endpoint, "POST", "/gascale-test/ssm-result", &body.to_string());
}
