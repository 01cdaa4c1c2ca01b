//! One `docs/vectors/*.json` file being checked against the code, or regenerated from it
//! (`PHALANX_REGENERATE_VECTORS=1`). Shared by the vector tests of `phalanx-keys` and
//! `phalanx-client` (included by path), so every vector file is checked the same way.

// Each includer uses only the checks its files need.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;

/// Set to rewrite every `expected` from its `input` instead of comparing.
pub const REGENERATE: &str = "PHALANX_REGENERATE_VECTORS";

/// A vector file: `{section: [{input, expected}, …], …}`.
pub struct VectorFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its JSON.
    pub doc: Value,
    regenerate: bool,
    changed: bool,
    mismatches: Vec<String>,
}

impl VectorFile {
    /// Opens `docs/vectors/<name>` of the workspace whose crate runs the test.
    pub fn open(name: &str) -> VectorFile {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/vectors")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let doc = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        VectorFile {
            path,
            doc,
            regenerate: std::env::var_os(REGENERATE).is_some(),
            changed: false,
            mismatches: Vec::new(),
        }
    }

    /// The vectors of the list `section` (which must exist and not be empty).
    pub fn section(&self, section: &str) -> &[Value] {
        let list = self.doc[section]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no list `{section}`", self.path.display()));
        assert!(
            !list.is_empty(),
            "{}: `{section}` is empty",
            self.path.display()
        );
        list
    }

    /// Checks (or fills) `expected` of every vector of `section` whose input `keep` accepts.
    pub fn check_if(
        &mut self,
        section: &str,
        keep: impl Fn(&Value) -> bool,
        mut compute: impl FnMut(&Value) -> Value,
    ) {
        let count = self.section(section).len();
        for index in 0..count {
            let input = self.doc[section][index]["input"].clone();
            if !keep(&input) {
                continue;
            }
            let got = compute(&input);
            let label = format!("{section}[{index}] {input}");
            self.settle(label, |doc| &mut doc[section][index]["expected"], got);
        }
    }

    /// Checks (or fills) `expected` of every vector of `section`.
    pub fn check(&mut self, section: &str, compute: impl FnMut(&Value) -> Value) {
        self.check_if(section, |_| true, compute);
    }

    /// Checks (or fills) `doc[section].expected` of a single-vector section.
    pub fn check_single(&mut self, section: &str, compute: impl FnOnce(&Value) -> Value) {
        let input = self.doc[section]["input"].clone();
        let got = compute(&input);
        self.settle(
            section.to_string(),
            |doc| &mut doc[section]["expected"],
            got,
        );
    }

    /// Checks every vector of `section` against its `expected`, which is never regenerated (it
    /// comes from outside this code, e.g. an RFC).
    pub fn check_external(&mut self, section: &str, mut compute: impl FnMut(&Value) -> Value) {
        let vectors = self.section(section).to_vec();
        for (index, vector) in vectors.iter().enumerate() {
            let got = compute(&vector["input"]);
            assert_eq!(
                got,
                vector["expected"],
                "{}: {section}[{index}] differs from its published value",
                self.path.display()
            );
        }
    }

    fn settle(&mut self, label: String, slot: impl FnOnce(&mut Value) -> &mut Value, got: Value) {
        let regenerate = self.regenerate;
        let pinned = slot(&mut self.doc);
        if *pinned == got {
            return;
        }
        if regenerate {
            *pinned = got;
            self.changed = true;
        } else {
            let line = format!("{label}: pinned {pinned}\n  computed {got}");
            self.mismatches.push(line);
        }
    }

    /// Writes the regenerated file, or fails on any mismatch.
    pub fn finish(self) {
        if self.regenerate {
            if self.changed {
                let text = serde_json::to_string_pretty(&self.doc).expect("serializes") + "\n";
                std::fs::write(&self.path, text)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", self.path.display()));
            }
            return;
        }
        assert!(
            self.mismatches.is_empty(),
            "{}: {} vector(s) differ from the code (a wire format changed? rerun the test with \
             {REGENERATE}=1 and review the diff):\n{}",
            self.path.display(),
            self.mismatches.len(),
            self.mismatches.join("\n")
        );
    }
}
