//! Where authhost keeps files of its own (installed plugins, the default
//! SQLite store and key file), following the XDG base directories.

use std::{env, path::PathBuf};

/// `$XDG_DATA_HOME`, or `$HOME/.local/share`.
pub fn data_dir() -> Option<PathBuf> {
    env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
}
