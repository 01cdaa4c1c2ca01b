//! Node configuration files (TOML) and key files.
//!
//! ```toml
//! data_dir = "node0"            # blocks, snapshots and consensus journals
//! genesis = "genesis.json"      # relative paths are relative to this file
//! rpc = "127.0.0.1:9944"
//! key_file = "node0.key"        # 64 hex characters: the validator's ed25519 secret
//! p2p = "127.0.0.1:30300"
//! local_network = true          # allow loopback/private peer addresses
//! block_interval_ms = 500       # optional: least time between blocks (below the 1 s leader timeout)
//!
//! [[validators]]                # every validator, this one included
//! public_key = "…64 hex…"
//! address = "127.0.0.1:30300"
//! ```
//!
//! The validator list must name exactly the genesis validators; the node refuses to start
//! otherwise, rather than run a network that can never reach quorum.
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
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// A key is not 32 bytes of hex.
    #[error("{0} is not 64 hex characters (an ed25519 key)")]
    BadKey(String),
    /// The validator list does not match genesis.
    #[error("the config's validators do not match the genesis validators: {0}")]
    ValidatorMismatch(String),
    /// The block interval is zero, or not below the leader timeout (leaders would time out).
    #[error("block interval {interval_ms} ms is out of range: it must be at least 1 ms and below the {leader_ms} ms leader timeout (the default is 500 ms)")]
    BlockInterval {
        /// The configured interval.
        interval_ms: u64,
        /// The leader timeout it must stay below.
        leader_ms: u64,
    },
}

/// Consensus timing with blocks spaced at least `interval_ms` apart, checked against the leader
/// timeout: a leader that waits for its interval longer than the others wait for it is skipped
/// every view, and the chain stops.
pub fn timeouts_with_block_interval(interval_ms: u64) -> Result<Timeouts, ConfigError> {
    let mut timeouts = Timeouts::default();
    let leader_ms = u64::try_from(timeouts.leader.as_millis()).unwrap_or(u64::MAX);
    if interval_ms == 0 || interval_ms >= leader_ms {
        return Err(ConfigError::BlockInterval {
            interval_ms,
            leader_ms,
        });
    }
    timeouts.block_interval = Duration::from_millis(interval_ms);
    Ok(timeouts)
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
    /// Least time between blocks, in milliseconds (default 500); must stay below the leader
    /// timeout. Every validator of a network should use the same value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_interval_ms: Option<u64>,
    /// Every validator.
    pub validators: Vec<ValidatorEntry>,
}

fn default_true() -> bool {
    true
}

impl NodeConfig {
    /// Reads a config; relative paths inside it become relative to the file's folder.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        let mut config: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            Some(&mut config.data_dir),
            Some(&mut config.genesis),
            config.key_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// The consensus timing this config asks for (defaults, with `block_interval_ms` applied).
    pub fn timeouts(&self) -> Result<Timeouts, ConfigError> {
        match self.block_interval_ms {
            Some(ms) => timeouts_with_block_interval(ms),
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
            block_interval_ms: Some(100),
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
        assert_eq!(
            loaded.timeouts().expect("valid").block_interval,
            Duration::from_millis(100)
        );
    }

    #[test]
    fn block_interval_must_stay_below_the_leader_timeout() {
        assert_eq!(
            timeouts_with_block_interval(250)
                .expect("valid")
                .block_interval,
            Duration::from_millis(250)
        );
        for bad in [0, 1_000, 5_000] {
            let err = timeouts_with_block_interval(bad).expect_err("refused");
            assert!(
                matches!(err, ConfigError::BlockInterval { interval_ms, leader_ms: 1_000 } if interval_ms == bad),
                "{err}"
            );
            assert!(
                err.to_string().contains("below the 1000 ms leader timeout"),
                "{err}"
            );
        }
        let defaults = toml::from_str::<NodeConfig>(
            "data_dir = \"d\"\ngenesis = \"g\"\nrpc = \"127.0.0.1:0\"\nvalidators = []\n",
        )
        .expect("parses");
        assert_eq!(defaults.block_interval_ms, None);
        assert_eq!(defaults.timeouts().expect("defaults"), Timeouts::default());
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "data_dir = 5").expect("write");
        assert!(matches!(
            NodeConfig::load(&path),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            NodeConfig::load(&dir.path().join("missing.toml")),
            Err(ConfigError::Io { .. })
        ));
        assert!(matches!(parse_key_hex("abcd"), Err(ConfigError::BadKey(_))));
        let key = dir.path().join("k");
        write_key_file(&key, &[3u8; 32]).expect("write");
        assert_eq!(read_key_file(&key).expect("read"), [3u8; 32]);
    }
}
