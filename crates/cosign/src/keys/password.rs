//! Where passwords come from, in cosign's order (`GetPass` in cosign's
//! `generate_key_pair.go`):
//!
//! 1. `COSIGN_PASSWORD`, if set, even to the empty string, used verbatim;
//! 2. a prompt on the terminal, when stdin is one (asked twice for a new key);
//! 3. otherwise all of stdin, raw: `echo pw | airsign …` includes the newline,
//!    exactly as with cosign.
//!
//! Passwords never travel through argv, are never printed, and are zeroized.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use zeroize::Zeroizing;

use crate::{Error, Result};

pub const PASSWORD_VAR: &str = "COSIGN_PASSWORD";
/// The password of an `ENCRYPTED PRIVATE KEY` being imported (not cosign's variable:
/// the import reads one password and writes with another).
pub const IMPORT_PASSWORD_VAR: &str = "AIRSIGN_IMPORT_PASSWORD";

const PROMPT: &str = "Enter password for private key: ";
const PROMPT_AGAIN: &str = "Enter password for private key again: ";
/// A bound on a password read from stdin, so piping a large file by mistake fails
/// instead of filling memory. cosign has no bound; no real password comes near it.
const MAX_STDIN_PASSWORD: u64 = 64 * 1024;

/// Whether the password will be typed twice: for a key being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Opening an existing key (signing, `public-key`).
    No,
    /// Encrypting a new key (`generate-key-pair`, `import-key-pair`).
    Yes,
}

/// The password for a cosign key, by the rules above.
pub fn cosign_password(confirm: Confirm) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(value) = std::env::var_os(PASSWORD_VAR) {
        return Ok(Zeroizing::new(value.into_encoded_bytes()));
    }
    if std::io::stdin().is_terminal() {
        let first = prompt(PROMPT)?;
        if confirm == Confirm::Yes {
            let again = prompt(PROMPT_AGAIN)?;
            if first != again {
                return Err(Error::Key("passwords do not match".into()));
            }
        }
        return Ok(first);
    }
    read_stdin()
}

/// Whether [`cosign_password`] would read the password from stdin (no
/// `COSIGN_PASSWORD`, no terminal): a command that reads its input from stdin (`-`)
/// must then refuse, or the password would be the input's first bytes.
pub fn would_read_stdin() -> bool {
    std::env::var_os(PASSWORD_VAR).is_none() && !std::io::stdin().is_terminal()
}

/// The password of an encrypted key being imported: `AIRSIGN_IMPORT_PASSWORD`, else
/// a terminal prompt, else an error (stdin is kept for the new key's password).
pub fn import_password(key_file: &Path) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(value) = std::env::var_os(IMPORT_PASSWORD_VAR) {
        return Ok(Zeroizing::new(value.into_encoded_bytes()));
    }
    if std::io::stdin().is_terminal() {
        return prompt(&format!(
            "Enter password of the key being imported ({}): ",
            key_file.display()
        ));
    }
    Err(Error::Key(format!(
        "the key is encrypted: set {IMPORT_PASSWORD_VAR} to its password (there is no \
         terminal to ask on)"
    )))
}

/// Asks on the terminal (rpassword opens /dev/tty, so the prompt never lands in
/// a redirected stdout).
fn prompt(text: &str) -> Result<Zeroizing<Vec<u8>>> {
    let typed = rpassword::prompt_password(text)
        .map_err(|e| Error::io("reading the password from the terminal", e))?;
    Ok(Zeroizing::new(typed.into_bytes()))
}

fn read_stdin() -> Result<Zeroizing<Vec<u8>>> {
    // Capacity up front: growing the vector would leave unzeroized copies behind.
    let mut password = Zeroizing::new(Vec::with_capacity(MAX_STDIN_PASSWORD as usize + 1));
    std::io::stdin()
        .lock()
        .take(MAX_STDIN_PASSWORD + 1)
        .read_to_end(&mut password)
        .map_err(|e| Error::io("reading the password from stdin", e))?;
    if password.len() as u64 > MAX_STDIN_PASSWORD {
        return Err(Error::Key(format!(
            "the password on stdin is longer than {MAX_STDIN_PASSWORD} bytes"
        )));
    }
    Ok(password)
}
