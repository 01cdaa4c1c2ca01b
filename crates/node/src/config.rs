//! Node configuration files (TOML) and key files.
//!
//! ```toml
//! data_dir = "node0"            # blocks, snapshots and consensus journals
//! genesis = "genesis.json"      # relative paths are relative to this file
//! rpc = "127.0.0.1:9944"
//! key_file = "node0.key"        # 64 hex characters: the validator's ed25519 secret
//! p2p = "127.0.0.1:30300"
//! local_network = true          # allow loopback/private peer addresses
//!
//! public_address = "203.0.113.7:30300"  # optional: what other validators dial (default `p2p`)
//! joining = true                # only for a key outside the genesis set (added by governance)
//!
//! [[validators]]                # every genesis validator (this one included, if it is one)
//! public_key = "…64 hex…"
//! address = "127.0.0.1:30300"
//! ```
//!
//! The validator list is an address book: it must name every genesis validator (the node
//! refuses to start otherwise, rather than run a network that can never reach quorum) and may
//! name more. A validator that governance adds later needs no entry in anyone's config: each
//! validator publishes its `public_address` on chain, signed by its key (`Peers(SetAddress)`),
//! and the others dial that. A node whose key is not (yet) a validator follows the chain and
//! starts voting in the epoch after a `SetValidators` naming it.
//!
//! Block spacing is a chain parameter (`chain_params.block_interval_ms` in the genesis, changed
//! by governance), not a node setting: every leader of the network waits the same time.
//!
//! `rpc` may use port 0 (any free port; the node prints the address it bound). `p2p` may use
//! port 0 only on a single-validator network: the other validators must know the address ahead
//! of time.
//!
//! A full node leaves out `key_file` and `p2p` and names a node to follow instead:
//!
//! ```toml
//! data_dir = "full0"
//! genesis = "genesis.json"
//! rpc = "127.0.0.1:9960"
//! follow = "http://127.0.0.1:9950"
//! validators = []
//! ```

use crate::consensus::Timeouts;
use phalanx_client::config_file::{load_toml, resolve_relative, ConfigFileError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Problems with a config or key file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The TOML is invalid.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The config file is missing, unreadable or not valid node TOML.
    #[error("node {0}")]
    File(#[from] ConfigFileError),
    /// A key is not 32 bytes of hex.
    #[error("{0} is not 64 hex characters (an ed25519 key)")]
    BadKey(String),
    /// The validator list does not match genesis.
    #[error("the config's validators do not match the genesis validators: {0}")]
    ValidatorMismatch(String),
    /// The config still sets the block interval, which is now a chain parameter.
    #[error("`block_interval_ms` is no longer a node setting: block spacing is the chain parameter `chain_params.block_interval_ms` (set in the genesis, changed by governance); remove the line from the node config")]
    BlockIntervalMoved,
}

/// A validator entry: its consensus key and where it listens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorEntry {
    /// ed25519 public key, hex.
    pub public_key: String,
    /// p2p address.
    pub address: SocketAddr,
}

/// One node's config file: a validator (`key_file` and `p2p` set) or a full node that follows
/// another node's RPC (`follow` set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Genesis JSON file.
    pub genesis: PathBuf,
    /// JSON-RPC listen address (HTTP and WebSocket).
    pub rpc: SocketAddr,
    /// Validators: file holding the validator's ed25519 secret (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Validators: p2p listen address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p: Option<SocketAddr>,
    /// Full nodes: the RPC URL of a node to follow (every block's certificate is checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
    /// Allow loopback and private peer addresses (single machine and LAN networks).
    #[serde(default = "default_true")]
    pub local_network: bool,
    /// No longer used: block spacing is the chain parameter `chain_params.block_interval_ms`.
    /// A config that still sets it is refused with [`ConfigError::BlockIntervalMoved`] rather
    /// than silently ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_interval_ms: Option<u64>,
    /// Validators: the address other validators should dial, published on chain from this
    /// node's key (default: `p2p`, unless that is an unspecified address like 0.0.0.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_address: Option<SocketAddr>,
    /// Validators: this key is not a genesis validator; governance adds (or added) it with
    /// `SetValidators`. Keep it set for as long as the node runs with this key. Without it, a
    /// key outside the genesis set is refused at start, since that is far more often a wrong
    /// key file than a planned join.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub joining: bool,
    /// Known validators and their p2p addresses: at least every genesis validator.
    pub validators: Vec<ValidatorEntry>,
}

fn default_true() -> bool {
    true
}

impl NodeConfig {
    /// Reads a config; relative paths inside it become relative to the file's folder.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let mut config: NodeConfig = load_toml(path)?;
        resolve_relative(
            path,
            [
                Some(&mut config.data_dir),
                Some(&mut config.genesis),
                config.key_file.as_mut(),
            ]
            .into_iter()
            .flatten(),
        );
        Ok(config)
    }

    /// The consensus timing of this node (the defaults; block spacing comes from the chain).
    pub fn timeouts(&self) -> Result<Timeouts, ConfigError> {
        match self.block_interval_ms {
            Some(_) => Err(ConfigError::BlockIntervalMoved),
            None => Ok(Timeouts::default()),
        }
    }

    /// Writes the config as TOML.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })
    }
}

/// Parses 64 hex characters (optionally `0x`-prefixed) into 32 bytes.
pub fn parse_key_hex(text: &str) -> Result<[u8; 32], ConfigError> {
    let trimmed = text.trim();
    let trimmed = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    hex::decode(trimmed)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ConfigError::BadKey(text.trim().to_string()))
}

/// Reads a key file (hex secret).
pub fn read_key_file(path: &Path) -> Result<[u8; 32], ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        source,
    })?;
    parse_key_hex(&text)
}

/// Writes a key file readable only by its owner.
pub fn write_key_file(path: &Path, secret: &[u8; 32]) -> Result<(), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.into(),
        source,
    };
    std::fs::write(path, hex::encode(secret)).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_resolves_relative_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = NodeConfig {
            data_dir: "data".into(),
            genesis: "genesis.json".into(),
            rpc: "127.0.0.1:9944".parse().expect("addr"),
            key_file: Some("node.key".into()),
            p2p: Some("127.0.0.1:30300".parse().expect("addr")),
            follow: None,
            local_network: true,
            block_interval_ms: None,
            public_address: Some("203.0.113.7:30300".parse().expect("addr")),
            joining: false,
            validators: vec![ValidatorEntry {
                public_key: hex::encode([1u8; 32]),
                address: "127.0.0.1:30300".parse().expect("addr"),
            }],
        };
        let path = dir.path().join("node.toml");
        config.save(&path).expect("save");
        let loaded = NodeConfig::load(&path).expect("load");
        assert_eq!(loaded.data_dir, dir.path().join("data"));
        assert_eq!(loaded.key_file, Some(dir.path().join("node.key")));
        assert_eq!(loaded.validators, config.validators);
        assert_eq!(loaded.timeouts().expect("valid"), Timeouts::default());
    }

    #[test]
    fn a_config_that_still_sets_the_block_interval_is_refused() {
        let old = toml::from_str::<NodeConfig>(
            "data_dir = \"d\"\ngenesis = \"g\"\nrpc = \"127.0.0.1:0\"\nblock_interval_ms = 100\nvalidators = []\n",
        )
        .expect("parses");
        let err = old.timeouts().expect_err("refused");
        assert!(matches!(err, ConfigError::BlockIntervalMoved));
        assert!(
            err.to_string().contains("chain_params.block_interval_ms"),
            "{err}"
        );
        let defaults = toml::from_str::<NodeConfig>(
            "data_dir = \"d\"\ngenesis = \"g\"\nrpc = \"127.0.0.1:0\"\nvalidators = []\n",
        )
        .expect("parses");
        assert_eq!(defaults.timeouts().expect("defaults"), Timeouts::default());
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "rpc = \"127.0.0.1:0\"\ndata_dir = 5").expect("write");
        assert!(matches!(
            NodeConfig::load(&path),
            Err(ConfigError::File(ConfigFileError::Parse {
                at: Some((2, 12)),
                ..
            }))
        ));
        let missing = dir.path().join("missing.toml");
        let err = NodeConfig::load(&missing).expect_err("missing");
        assert!(matches!(
            err,
            ConfigError::File(ConfigFileError::Missing { .. })
        ));
        assert_eq!(
            err.to_string(),
            format!(
                "node config file {} does not exist; check the path (or create it)",
                missing.display()
            )
        );
        assert!(matches!(parse_key_hex("abcd"), Err(ConfigError::BadKey(_))));
        let key = dir.path().join("k");
        write_key_file(&key, &[3u8; 32]).expect("write");
        assert_eq!(read_key_file(&key).expect("read"), [3u8; 32]);
    }
}
