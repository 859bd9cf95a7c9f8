//! A damaged library must not crash the host. The dynamic loader maps a
//! library's segments from the file: a segment that reaches past the end of
//! a truncated file maps pages with nothing behind them, and the first read
//! of one kills the process with SIGBUS. So before a file is handed to the
//! loader, its ELF header, program headers and section headers are read and
//! every extent they describe is checked against the file's size.
//!
//! Files that are not ELF are left to the loader, which refuses them with an
//! ordinary error.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::Path,
};

/// Most program or section headers read (real libraries have tens).
const MAX_HEADERS: u64 = 65_535;

/// Byte order and word size of an ELF file.
#[derive(Debug, Clone, Copy)]
struct Format {
    wide: bool,
    little: bool,
}

impl Format {
    fn u16(self, b: &[u8], at: usize) -> u64 {
        let bytes = [b[at], b[at + 1]];
        u64::from(if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    }

    fn u32(self, b: &[u8], at: usize) -> u64 {
        let bytes = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        u64::from(if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    }

    fn u64(self, b: &[u8], at: usize) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&b[at..at + 8]);
        if self.little {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        }
    }

    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(self, b: &[u8], at64: usize, at32: usize) -> u64 {
        if self.wide {
            self.u64(b, at64)
        } else {
            self.u32(b, at32)
        }
    }
}

/// Reads `len` bytes at `offset`, which the caller has checked lie in the file.
fn read_at(file: &mut File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// Checks that every extent an ELF file's headers describe lies inside the
/// file. `Ok` for files that are not ELF (the loader refuses those itself).
///
/// # Errors
///
/// A short reason: "truncated or damaged: …".
pub(crate) fn check_extents(path: &Path) -> Result<(), String> {
    let damaged = |what: String| format!("truncated or damaged: {what}");
    let mut file = File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?
        .len();
    let mut ident = [0u8; 6];
    if size < 6 || file.read_exact(&mut ident).is_err() || ident[..4] != *b"\x7fELF" {
        return Ok(());
    }
    let format = Format {
        wide: match ident[4] {
            1 => false,
            2 => true,
            _ => return Err(damaged("unknown ELF class".to_owned())),
        },
        little: match ident[5] {
            1 => true,
            2 => false,
            _ => return Err(damaged("unknown ELF byte order".to_owned())),
        },
    };
    let header_len: u64 = if format.wide { 64 } else { 52 };
    if size < header_len {
        return Err(damaged(format!(
            "the file is {size} bytes, shorter than an ELF header"
        )));
    }
    let header = read_at(&mut file, 0, header_len).map_err(|e| damaged(e.to_string()))?;
    let (phoff, shoff) = (
        format.word(&header, 0x20, 0x1C),
        format.word(&header, 0x28, 0x20),
    );
    let (ph_at, sh_at) = if format.wide {
        (0x36, 0x3A)
    } else {
        (0x2A, 0x2E)
    };
    let (phentsize, phnum) = (format.u16(&header, ph_at), format.u16(&header, ph_at + 2));
    let (shentsize, shnum) = (format.u16(&header, sh_at), format.u16(&header, sh_at + 2));

    let within = |what: &str, offset: u64, len: u64| -> Result<(), String> {
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok(()),
            _ => Err(damaged(format!(
                "{what} at offset {offset} ({len} bytes) ends past the end of the file ({size} bytes)"
            ))),
        }
    };

    let (min_ph, min_sh) = if format.wide { (56, 64) } else { (32, 40) };
    if phnum > 0 {
        if phentsize < min_ph || phnum > MAX_HEADERS {
            return Err(damaged("implausible program header table".to_owned()));
        }
        within("the program header table", phoff, phentsize * phnum)?;
        let table =
            read_at(&mut file, phoff, phentsize * phnum).map_err(|e| damaged(e.to_string()))?;
        for entry in table.chunks_exact(usize::try_from(phentsize).unwrap_or(usize::MAX)) {
            let (offset, filesz) = if format.wide {
                (format.u64(entry, 8), format.u64(entry, 32))
            } else {
                (format.u32(entry, 4), format.u32(entry, 16))
            };
            if filesz > 0 {
                within("a segment", offset, filesz)?;
            }
        }
    }
    if shnum > 0 {
        if shentsize < min_sh || shnum > MAX_HEADERS {
            return Err(damaged("implausible section header table".to_owned()));
        }
        within("the section header table", shoff, shentsize * shnum)?;
        let table =
            read_at(&mut file, shoff, shentsize * shnum).map_err(|e| damaged(e.to_string()))?;
        const SHT_NOBITS: u64 = 8;
        for entry in table.chunks_exact(usize::try_from(shentsize).unwrap_or(usize::MAX)) {
            let kind = format.u32(entry, 4);
            let (offset, len) = if format.wide {
                (format.u64(entry, 24), format.u64(entry, 32))
            } else {
                (format.u32(entry, 16), format.u32(entry, 20))
            };
            if kind != SHT_NOBITS && len > 0 {
                within("a section", offset, len)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test binary itself is a complete ELF file.
    fn own_binary() -> Vec<u8> {
        std::fs::read(std::env::current_exe().expect("exe")).expect("read")
    }

    #[test]
    fn a_whole_library_passes_and_every_truncation_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = own_binary();
        let whole = dir.path().join("whole.so");
        std::fs::write(&whole, &bytes).expect("write");
        assert_eq!(check_extents(&whole), Ok(()));
        for len in [20, 63, 64, 200, 20_000, bytes.len() / 2, bytes.len() - 1] {
            let cut = dir.path().join(format!("cut{len}.so"));
            std::fs::write(&cut, &bytes[..len]).expect("write");
            let err = check_extents(&cut).expect_err("truncated");
            assert!(err.starts_with("truncated or damaged"), "{len}: {err}");
        }
    }

    #[test]
    fn damaged_headers_are_refused_and_other_files_left_to_the_loader() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = own_binary();
        bytes[4] = 9;
        let bad = dir.path().join("class.so");
        std::fs::write(&bad, &bytes).expect("write");
        assert!(check_extents(&bad).is_err());

        let mut bytes = own_binary();
        bytes[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        let far = dir.path().join("phoff.so");
        std::fs::write(&far, &bytes).expect("write");
        assert!(check_extents(&far)
            .expect_err("phoff")
            .contains("program header table"));

        let text = dir.path().join("text.so");
        std::fs::write(&text, b"not a library").expect("write");
        assert_eq!(check_extents(&text), Ok(()));
    }
}
