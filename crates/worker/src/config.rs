//! The worker's configuration file (TOML).
//!
//! ```toml
//! simulated = true                        # required: only SIMULATED enclaves exist yet
//! data_dir = "worker0"                    # sealed state and the simulated platform secret
//! node_rpc = "http://127.0.0.1:9944"      # a node's JSON-RPC (finalized blocks, submission)
//! operator_dev = "charlie"                # dev chains: a well-known dev account pays and owns
//! # operator_key_file = "operator.key"    # or: 64 hex characters, the operator's ed25519 secret
//! listen = "127.0.0.1:8100"               # the worker's query endpoint
//! # public_endpoint = "https://w0.example" # what clients are told, if not http://<listen>
//! # reregister_every_blocks = 3600        # refresh the attestation and benchmark this often
//! # poll_interval_ms = 500                # how often to look for new blocks
//! # query_concurrency = 8                 # queries running in the enclave at once
//! # queries_per_second_per_ip = 100       # each client address's query rate (0: no limit)
//! # outbound_http = true                  # perform contracts' HTTP requests for queries
//! # outbound_http_private = false         # ... to loopback and private addresses too
//! # settle_usage_every_blocks = 240       # report metered query usage at least this often
//! ```
//!
//! Relative paths are relative to the config file's folder. Exactly one of `operator_dev` and
//! `operator_key_file` must be set.

use phalanx_client::config_file::{load_toml, resolve_relative, ConfigFileError};
use phalanx_primitives::Keypair;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why a worker configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing, unreadable, or not valid worker TOML.
    #[error("worker {0}")]
    File(#[from] ConfigFileError),
    /// `simulated` is not true.
    #[error("real enclaves (SGX/TDX builds) are not built yet: this worker only runs a SIMULATED enclave, which protects nothing; set `simulated = true` to run it on a dev or test chain")]
    NotSimulated,
    /// Neither or both operator settings.
    #[error("set exactly one of `operator_dev` (a dev account name) and `operator_key_file` (the operator's key file)")]
    Operator,
    /// The operator key file is unreadable or not a key.
    #[error("operator key file {path}: {message}; it must hold the operator's ed25519 secret as 64 hex characters")]
    OperatorKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A zero interval.
    #[error("`poll_interval_ms`, `reregister_every_blocks`, `query_concurrency` and `settle_usage_every_blocks` must be positive")]
    ZeroInterval,
}

fn default_reregister() -> u64 {
    3_600
}

fn default_poll() -> u64 {
    500
}

/// A worker's configuration (format in the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Must be true: only the SIMULATED enclave exists.
    pub simulated: bool,
    /// Sealed state and the simulated platform secret live here.
    pub data_dir: PathBuf,
    /// The node's JSON-RPC URL.
    pub node_rpc: String,
    /// A dev account name as the operator (dev chains only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_dev: Option<String>,
    /// A key file with the operator's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_key_file: Option<PathBuf>,
    /// Where the query endpoint listens.
    pub listen: SocketAddr,
    /// The endpoint URL registered on chain; `http://<bound listen address>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_endpoint: Option<String>,
    /// Re-register (fresh quote and benchmark) when the last attestation is this many blocks old.
    #[serde(default = "default_reregister")]
    pub reregister_every_blocks: u64,
    /// Milliseconds between looks at the node's head.
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// Queries running in the enclave at once (more wait, up to a queue; then `503`).
    #[serde(default = "default_query_concurrency")]
    pub query_concurrency: usize,
    /// Queries each client IP address may send per second, with bursts of twice as many
    /// (`0`: no limit). Checked before the enclave spends anything on a query.
    #[serde(default = "default_query_rate")]
    pub queries_per_second_per_ip: u32,
    /// Whether the host performs contracts' outbound HTTP requests for queries (when false,
    /// every request fails as `HTTP_FAILED`).
    #[serde(default = "default_true")]
    pub outbound_http: bool,
    /// Whether those requests may reach loopback, private and link-local addresses (the
    /// operator's own network: its node, a cloud metadata service). Off unless set.
    #[serde(default)]
    pub outbound_http_private: bool,
    /// Report metered query usage once the oldest unreported usage is this many blocks old
    /// (each report is a message the operator pays to relay; it must land well within the
    /// chain's `withdrawal_delay_blocks`).
    #[serde(default = "default_settle_every")]
    pub settle_usage_every_blocks: u64,
}

fn default_query_concurrency() -> usize {
    8
}

fn default_query_rate() -> u32 {
    100
}

fn default_true() -> bool {
    true
}

fn default_settle_every() -> u64 {
    240
}

impl WorkerConfig {
    /// A dev worker: `operator_dev` named `operator`, data in `data_dir`, endpoint on `listen`.
    pub fn dev(node_rpc: &str, data_dir: PathBuf, operator: &str, listen: SocketAddr) -> Self {
        WorkerConfig {
            simulated: true,
            data_dir,
            node_rpc: node_rpc.to_string(),
            operator_dev: Some(operator.to_string()),
            operator_key_file: None,
            listen,
            public_endpoint: None,
            reregister_every_blocks: default_reregister(),
            poll_interval_ms: default_poll(),
            query_concurrency: default_query_concurrency(),
            queries_per_second_per_ip: default_query_rate(),
            outbound_http: true,
            outbound_http_private: false,
            // Dev chains settle quickly, so a newcomer sees the payment land.
            settle_usage_every_blocks: 10,
        }
    }

    /// Reads and checks a config file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<WorkerConfig, ConfigError> {
        let mut config: WorkerConfig = load_toml(path)?;
        resolve_relative(
            path,
            [
                Some(&mut config.data_dir),
                config.operator_key_file.as_mut(),
            ]
            .into_iter()
            .flatten(),
        );
        config.validate()?;
        Ok(config)
    }

    /// Checks the rules in the module docs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.simulated {
            return Err(ConfigError::NotSimulated);
        }
        if self.operator_dev.is_some() == self.operator_key_file.is_some() {
            return Err(ConfigError::Operator);
        }
        if self.poll_interval_ms == 0
            || self.reregister_every_blocks == 0
            || self.query_concurrency == 0
            || self.settle_usage_every_blocks == 0
        {
            return Err(ConfigError::ZeroInterval);
        }
        Ok(())
    }

    /// The operator's key, from the dev name or the key file.
    pub fn operator(&self) -> Result<Keypair, ConfigError> {
        match (&self.operator_dev, &self.operator_key_file) {
            (Some(name), None) => Ok(Keypair::dev(name)),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::OperatorKey {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                Keypair::from_secret_hex(&text).map_err(|e| ConfigError::OperatorKey {
                    path: path.clone(),
                    message: e.to_string(),
                })
            }
            _ => Err(ConfigError::Operator),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("worker.toml");
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn loads_the_documented_example_with_relative_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            r#"
simulated = true
data_dir = "worker0"
node_rpc = "http://127.0.0.1:9944"
operator_dev = "charlie"
listen = "127.0.0.1:8100"
"#,
        );
        let config = WorkerConfig::load(&path).expect("loads");
        assert_eq!(config.data_dir, dir.path().join("worker0"));
        assert_eq!(config.reregister_every_blocks, 3_600);
        assert_eq!(config.poll_interval_ms, 500);
        assert_eq!(
            config.operator().expect("dev key").account(),
            Keypair::dev("charlie").account()
        );
    }

    #[test]
    fn a_missing_file_or_an_unknown_setting_says_which_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("absent.toml");
        let err = WorkerConfig::load(&missing).expect_err("missing");
        assert!(matches!(
            err,
            ConfigError::File(ConfigFileError::Missing { .. })
        ));
        assert!(
            err.to_string().starts_with(&format!(
                "worker config file {} does not exist",
                missing.display()
            )),
            "{err}"
        );
        let path = write(
            dir.path(),
            "simulated = true\ndata_dir = \"w\"\nnode_rpc = \"http://127.0.0.1:9944\"\nbogus = 1\n",
        );
        let err = WorkerConfig::load(&path).expect_err("unknown setting");
        assert!(
            matches!(
                &err,
                ConfigError::File(ConfigFileError::Parse { at: Some((4, 1)), message, .. })
                    if message.contains("unknown field `bogus`")
            ),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_non_simulated_worker_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            r#"
simulated = false
data_dir = "w"
node_rpc = "http://127.0.0.1:9944"
operator_dev = "charlie"
listen = "127.0.0.1:8100"
"#,
        );
        let err = WorkerConfig::load(&path).expect_err("refused");
        assert!(matches!(err, ConfigError::NotSimulated));
        assert!(err.to_string().contains("not built yet"));
    }

    #[test]
    fn needs_exactly_one_operator_and_reads_key_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = WorkerConfig::dev(
            "http://127.0.0.1:9944",
            dir.path().into(),
            "dave",
            "127.0.0.1:0".parse().expect("addr"),
        );
        config.validate().expect("valid");
        config.operator_key_file = Some(dir.path().join("op.key"));
        assert!(matches!(config.validate(), Err(ConfigError::Operator)));
        config.operator_dev = None;
        assert!(matches!(
            config.operator(),
            Err(ConfigError::OperatorKey { .. })
        ));
        let key = Keypair::dev("operator");
        std::fs::write(dir.path().join("op.key"), hex::encode(key.secret())).expect("write");
        assert_eq!(config.operator().expect("reads").account(), key.account());
        assert!(toml::from_str::<WorkerConfig>("simulated = true\nbogus = 1").is_err());
    }
}
