//! The compact sparse Merkle tree's nodes and their pure operations.

use crate::hashing::{bit, internal_hash, leaf_hash, KEY_BITS};
use crate::proof::{Proof, Terminal};
use phalanx_primitives::Hash;
use std::sync::Arc;

/// A node of the tree; `None` stands for an empty subtree.
#[derive(Debug)]
pub(crate) enum Node {
    /// The only key in its subtree.
    Leaf {
        path: Hash,
        value_hash: Hash,
        hash: Hash,
    },
    /// A subtree with at least two keys.
    Internal {
        left: Option<Arc<Node>>,
        right: Option<Arc<Node>>,
        hash: Hash,
    },
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Leaf { hash, .. } | Node::Internal { hash, .. } => *hash,
        }
    }

    fn leaf(path: Hash, value_hash: Hash) -> Arc<Node> {
        Arc::new(Node::Leaf {
            path,
            value_hash,
            hash: leaf_hash(&path, &value_hash),
        })
    }

    fn internal(left: Option<Arc<Node>>, right: Option<Arc<Node>>) -> Arc<Node> {
        let hash = internal_hash(&hash_of(left.as_ref()), &hash_of(right.as_ref()));
        Arc::new(Node::Internal { left, right, hash })
    }
}

/// The hash of a possibly empty subtree.
pub(crate) fn hash_of(node: Option<&Arc<Node>>) -> Hash {
    node.map_or(Hash::ZERO, |n| n.hash())
}

/// A batch of writes for [`update`]: each path with its new value hash, or `None` to remove it.
/// Sorted by path, each path once.
pub(crate) type Writes = [(Hash, Option<Hash>)];

/// The subtree `node` (at `depth`) with every write of `writes` applied (all of them under
/// this subtree's prefix). Each node a write passes through is rebuilt and hashed once however
/// many writes pass through it, and untouched subtrees are shared, so a block's writes cost
/// about one hash per changed node rather than a full path of hashes per key.
pub(crate) fn update(node: Option<&Arc<Node>>, depth: usize, writes: &Writes) -> Option<Arc<Node>> {
    if writes.is_empty() {
        return node.cloned();
    }
    match node.map(|n| n.as_ref()) {
        None => build(depth, writes),
        Some(Node::Leaf {
            path, value_hash, ..
        }) => {
            // The usual case, an existing key rewritten or removed by itself, needs no merge.
            if let [(only, value)] = writes {
                if only == path {
                    return value.map(|value| Node::leaf(*path, value));
                }
            }
            // The lone key joins the batch unless the batch rewrites or removes it.
            let mut merged = writes.to_vec();
            if let Err(at) = merged.binary_search_by(|(p, _)| p.as_bytes().cmp(path.as_bytes())) {
                merged.insert(at, (*path, Some(*value_hash)));
            }
            build(depth, &merged)
        }
        Some(Node::Internal { left, right, .. }) => {
            let (to_left, to_right) = split_at_bit(writes, depth);
            join(
                update(left.as_ref(), depth + 1, to_left),
                update(right.as_ref(), depth + 1, to_right),
            )
        }
    }
}

/// The subtree holding exactly the present entries of `writes` (an empty subtree's writes).
fn build(depth: usize, writes: &Writes) -> Option<Arc<Node>> {
    let mut present = writes
        .iter()
        .filter_map(|(path, value)| value.map(|value| (*path, value)));
    let first = present.next()?;
    if present.next().is_none() {
        return Some(Node::leaf(first.0, first.1));
    }
    // Two or more keys: distinct SHA-256 paths part before the last bit; the guard keeps the
    // recursion finite even so.
    if depth >= KEY_BITS {
        return Some(Node::leaf(first.0, first.1));
    }
    let (to_left, to_right) = split_at_bit(writes, depth);
    join(build(depth + 1, to_left), build(depth + 1, to_right))
}

/// Splits sorted writes at `depth` into those whose bit there is 0 and those whose bit is 1.
fn split_at_bit(writes: &Writes, depth: usize) -> (&Writes, &Writes) {
    let at = writes.partition_point(|(path, _)| !bit(path, depth));
    writes.split_at(at)
}

/// Two children made into one subtree in the tree's canonical form: nothing, a lone leaf
/// (moved up: its hash does not depend on depth), or an internal node.
fn join(left: Option<Arc<Node>>, right: Option<Arc<Node>>) -> Option<Arc<Node>> {
    match (&left, &right) {
        (None, None) => None,
        (Some(only), None) | (None, Some(only)) if matches!(only.as_ref(), Node::Leaf { .. }) => {
            Some(only.clone())
        }
        _ => Some(Node::internal(left, right)),
    }
}

/// The subtree `node` (at `depth`) with `path` set to `value_hash`: one write at a time, the
/// reference [`update`] is tested against.
#[cfg(test)]
pub(crate) fn insert(
    node: Option<&Arc<Node>>,
    depth: usize,
    path: Hash,
    value_hash: Hash,
) -> Arc<Node> {
    match node.map(|n| (n, n.as_ref())) {
        None => Node::leaf(path, value_hash),
        Some((_, Node::Leaf { path: existing, .. })) if *existing == path => {
            Node::leaf(path, value_hash)
        }
        Some((existing_node, Node::Leaf { path: existing, .. })) => {
            split(existing_node.clone(), *existing, depth, path, value_hash)
        }
        Some((_, Node::Internal { left, right, .. })) => {
            if bit(&path, depth) {
                Node::internal(
                    left.clone(),
                    Some(insert(right.as_ref(), depth + 1, path, value_hash)),
                )
            } else {
                Node::internal(
                    Some(insert(left.as_ref(), depth + 1, path, value_hash)),
                    right.clone(),
                )
            }
        }
    }
}

/// Two leaves that share a subtree at `depth`: internal nodes down to where their paths part.
#[cfg(test)]
fn split(
    existing: Arc<Node>,
    existing_path: Hash,
    depth: usize,
    path: Hash,
    value_hash: Hash,
) -> Arc<Node> {
    // Distinct SHA-256 paths part before the last bit; the guard keeps the recursion finite
    // even so.
    if depth >= KEY_BITS {
        return Node::leaf(path, value_hash);
    }
    let new_leaf = || Node::leaf(path, value_hash);
    match (bit(&existing_path, depth), bit(&path, depth)) {
        (false, true) => Node::internal(Some(existing), Some(new_leaf())),
        (true, false) => Node::internal(Some(new_leaf()), Some(existing)),
        (false, false) => Node::internal(
            Some(split(existing, existing_path, depth + 1, path, value_hash)),
            None,
        ),
        (true, true) => Node::internal(
            None,
            Some(split(existing, existing_path, depth + 1, path, value_hash)),
        ),
    }
}

/// The subtree `node` (at `depth`) without `path`, collapsed so a single key is a leaf: one
/// write at a time, the reference [`update`] is tested against.
#[cfg(test)]
pub(crate) fn remove(node: Option<&Arc<Node>>, depth: usize, path: &Hash) -> Option<Arc<Node>> {
    let node = node?;
    match node.as_ref() {
        Node::Leaf { path: existing, .. } => (existing != path).then(|| node.clone()),
        Node::Internal { left, right, .. } => {
            let (left, right) = if bit(path, depth) {
                (left.clone(), remove(right.as_ref(), depth + 1, path))
            } else {
                (remove(left.as_ref(), depth + 1, path), right.clone())
            };
            match (&left, &right) {
                // A lone leaf moves up: its hash does not depend on depth.
                (Some(only), None) | (None, Some(only))
                    if matches!(only.as_ref(), Node::Leaf { .. }) =>
                {
                    Some(only.clone())
                }
                (None, None) => None,
                _ => Some(Node::internal(left, right)),
            }
        }
    }
}

/// The sibling hashes along `path` down to the leaf or empty subtree where it ends.
pub(crate) fn prove(root: Option<&Arc<Node>>, path: &Hash) -> Proof {
    let mut siblings = Vec::new();
    let mut node = root;
    let mut depth = 0;
    loop {
        match node.map(|n| n.as_ref()) {
            None => {
                return Proof {
                    siblings,
                    terminal: Terminal::Empty,
                }
            }
            Some(Node::Leaf {
                path, value_hash, ..
            }) => {
                return Proof {
                    siblings,
                    terminal: Terminal::Leaf {
                        path: *path,
                        value_hash: *value_hash,
                    },
                }
            }
            Some(Node::Internal { left, right, .. }) => {
                if bit(path, depth) {
                    siblings.push(hash_of(left.as_ref()));
                    node = right.as_ref();
                } else {
                    siblings.push(hash_of(right.as_ref()));
                    node = left.as_ref();
                }
                depth += 1;
            }
        }
    }
}
