//! Refuses plugin files that someone else could have replaced: loading a
//! library runs its code.

use std::{os::unix::fs::PermissionsExt, path::Path};

/// Why a file may not be loaded, or `None` when it is safe to load.
pub(crate) fn insecure_reason(path: &Path) -> Option<String> {
    let real = path.canonicalize().ok()?;
    let meta = std::fs::metadata(&real).ok()?;
    if !meta.is_file() {
        return Some("it is not a regular file".to_owned());
    }
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 {
        return Some(format!(
            "it is world-writable (mode {:o}): any user could replace its code; run `chmod o-w {}`",
            mode & 0o7777,
            real.display()
        ));
    }
    let dir = real.parent()?;
    let dir_mode = std::fs::metadata(dir).ok()?.permissions().mode();
    if dir_mode & 0o002 != 0 && dir_mode & 0o1000 == 0 {
        return Some(format!(
            "its folder {} is world-writable without the sticky bit (mode {:o}): any user could swap the file",
            dir.display(),
            dir_mode & 0o7777
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn world_writable_file_and_folder_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("libauthhost_x.so");
        std::fs::write(&file, b"").expect("write");
        chmod(dir.path(), 0o755);
        chmod(&file, 0o644);
        assert_eq!(insecure_reason(&file), None);

        chmod(&file, 0o666);
        let reason = insecure_reason(&file).expect("refused");
        assert!(
            reason.starts_with("it is world-writable (mode 666)"),
            "{reason}"
        );

        chmod(&file, 0o644);
        chmod(dir.path(), 0o777);
        let reason = insecure_reason(&file).expect("refused");
        assert!(reason.contains("without the sticky bit"), "{reason}");

        chmod(dir.path(), 0o1777);
        assert_eq!(insecure_reason(&file), None);
        chmod(dir.path(), 0o755);
    }
}
